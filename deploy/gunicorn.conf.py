"""gunicorn settings for Archive Vault in production (the Dockerfile, the systemd unit).

    gunicorn --config deploy/gunicorn.conf.py

The same choices as ``archive-vault serve``: sync workers (faster than threads on the
vault's hot path), problem+json answers to requests gunicorn refuses itself, an access
log without query strings and without successful health probes. Environment:
``VAULT_BIND`` (default ``0.0.0.0:8080``), ``VAULT_WORKERS`` (default 2 x cores + 1,
at most 8), ``VAULT_METRICS_BIND`` (serve /metrics from the master on a private
address), ``PROMETHEUS_MULTIPROC_DIR`` (the workers' shared metric files; default
``$VAULT_HOME/run/metrics``), and the vault's own ``VAULT_*`` settings.
"""

import multiprocessing
import os
from pathlib import Path

from vault.cli.setup import ACCESS_LOG_FORMAT
from vault.web.metrics import gunicorn_child_exit, gunicorn_when_ready, prepare_multiprocess

# Before the app or any worker: the workers' shared metric files, emptied.
prepare_multiprocess(Path(os.environ.get("VAULT_HOME", "/var/lib/archive-vault")))

wsgi_app = "vault.web:create_app()"
bind = [os.environ.get("VAULT_BIND", "0.0.0.0:8080")]
workers = int(os.environ.get("VAULT_WORKERS", min(8, 2 * multiprocessing.cpu_count() + 1)))
worker_class = "vault.web.server.ProblemWorker"
logger_class = "vault.web.server.QuietLogger"
accesslog = "-"
errorlog = "-"
access_log_format = ACCESS_LOG_FORMAT
# Behind the reverse proxy: it terminates TLS and sets X-Forwarded-*; trust only it.
forwarded_allow_ips = os.environ.get("VAULT_FORWARDED_ALLOW_IPS", "127.0.0.1")
timeout = 60
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (with jitter), so that memory stays flat.
max_requests = 5000
max_requests_jitter = 500
# gunicorn's heartbeat files: on /tmp (a tmpfs in the container), not the root filesystem.
worker_tmp_dir = os.environ.get("VAULT_WORKER_TMP_DIR", "/tmp")  # noqa: S108


def child_exit(server, worker):  # noqa: ANN001, ANN201 - gunicorn's hook signature
    gunicorn_child_exit(server, worker)


def when_ready(server):  # noqa: ANN001, ANN201
    gunicorn_when_ready(server)

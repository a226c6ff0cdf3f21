"""deploy/, checked without Docker, a cluster or systemd running it (none runs here).

What can only be read is read strictly: the compose file against the Compose
Specification's JSON schema (the copy check-jsonschema ships) and for what a production
shape needs; every Kubernetes manifest against the Kubernetes 1.37 OpenAPI schemas
(kubernetes-validate, strict: an unknown field fails) and for replicas, anti-affinity,
probes, secrets by reference and a default-deny NetworkPolicy; the Dockerfile parsed
(non-root, health check, base image as an argument); the systemd units by
``systemd-analyze verify``; the gunicorn config file loaded into gunicorn's own settings.
The image itself is built and run by ``make image`` (deploy/image-build.sh), not here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VAULT_IMAGE_SERVICES = {"init", "app1", "app2", "worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_file_is_valid_and_production_shaped(compose):
    schema_file = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose, schema)

    services = compose["services"]
    assert {"db", "openbao", "init", "app1", "app2", "worker", "proxy"} <= set(services)
    # Only the TLS proxy is published, and on the loopback interface.
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy"}
    assert all(p.startswith("127.0.0.1:") for p in services["proxy"]["ports"])
    caddy = (DEPLOY / "proxy" / "Caddyfile").read_text()
    assert "app1:8080 app2:8080" in caddy and "tls internal" in caddy
    assert "respond @metrics 404" in caddy
    for name in VAULT_IMAGE_SERVICES:
        s = services[name]
        assert s["read_only"] is True, name
        assert s["user"] == "10001:10001", name
        assert "/tmp" in s["tmpfs"], name
        env = s["environment"]
        assert env["VAULT_KEY_PROVIDER"] == "transit", name
        assert env["VAULT_BACKGROUND"] == "worker", name  # requests never seal
        assert "@db:5432/vault" in env["VAULT_DATABASE_URL"], name
        assert ":" not in env["VAULT_DATABASE_URL"].split("//", 1)[1].split("@")[0], name
        assert all("PASSWORD" not in k and k[-5:] != "TOKEN" for k in env), name
    for name in ("app1", "app2", "worker"):
        assert services[name]["depends_on"]["init"]["condition"] == (
            "service_completed_successfully"
        )
        # The key file's secrets are read-only for every process but init; each keeps
        # its own log volume (audit.jsonl, for the SIEM): no folder is shared.
        assert "keys:/var/lib/archive-vault:ro" in services[name]["volumes"]
        assert f"logs-{name}:/var/log/archive-vault" in services[name]["volumes"]
    assert services["worker"]["command"] == ["archive-vault", "worker"]
    assert services["init"]["command"] == ["archive-vault", "init", "--key-provider", "transit"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/secrets/")
    # Every file the compose file mounts from the repository exists.
    for s in services.values():
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_compose_openbao_is_a_sealed_server_set_up_by_bao_init(compose):
    """Not dev mode: raft storage on a volume, unsealed by bao-init, which alone holds the
    unseal key and root token; the vault's processes get a Transit-only token.
    (tests/deploy/test_compose_openbao.py runs the same config and step on a real server.)"""
    services = compose["services"]
    bao = services["openbao"]
    assert bao["command"] == ["server"]
    assert not [a for a in [*bao["command"], *bao.get("entrypoint", [])] if "-dev" in a]
    assert "openbao-data:/openbao/file" in bao["volumes"]
    assert "./openbao/openbao.hcl:/openbao/config/openbao.hcl:ro" in bao["volumes"]
    assert "ports" not in bao and "secrets:/secrets:ro" not in bao["volumes"]
    hcl = (DEPLOY / "openbao" / "openbao.hcl").read_text()
    assert 'storage "raft"' in hcl and 'path    = "/openbao/file"' in hcl
    assert "tls_disable = true" in hcl  # inside the compose network only, said in the file
    init = services["bao-init"]
    assert init["command"][-1] == "openbao" and init["user"] == "10001:10001"
    assert init["read_only"] is True
    assert init["depends_on"]["openbao"]["condition"] == "service_started"
    # The unseal key and root token: a volume only bao-init mounts.
    holders = {
        name
        for name, s in services.items()
        if any(v.split(":")[0] == "openbao-init" for v in s.get("volumes", []))
    }
    assert holders == {"bao-init"}
    assert "openbao-init" in compose["volumes"] and "openbao-data" in compose["volumes"]
    # Everything of the vault waits for bao-init (through init) and reads only its token.
    assert services["init"]["depends_on"]["bao-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["init"]["depends_on"]["openbao"]["condition"] == "service_healthy"
    for name in VAULT_IMAGE_SERVICES:
        env = services[name]["environment"]
        assert env["VAULT_TRANSIT_TOKEN_FILE"] == "/secrets/transit_token", name
        assert env["VAULT_TRANSIT_URL"] == "http://openbao:8200", name
    # The policy: Transit paths of the vault's three keys, nothing else, no create/delete.
    policy = (DEPLOY / "openbao" / "archive-vault-policy.hcl").read_text()
    paths = re.findall(r'^path "([^"]+)"\s*\{\s*capabilities = \[([^\]]*)\]', policy, re.M)
    assert len(paths) == 12, paths
    for path, caps in paths:
        assert path.startswith("transit/") and "archive-vault" in path, path
        assert set(re.findall(r'"(\w+)"', caps)) <= {"read", "update"}, (path, caps)
        assert "*" not in path.split("/")[2], path  # never a wildcard key name


def _manifests() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def test_kubernetes_manifests_pass_the_schemas_and_keep_the_rules():
    manifests = _manifests()
    for _name, doc in manifests:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)  # raises on any error
    kinds = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in manifests}
    assert not [k for k in kinds if k[0] == "Secret"], "secrets are made by kubectl, not kept"
    app = kinds[("Deployment", "archive-vault-app")]
    worker = kinds[("Deployment", "archive-vault-worker")]
    assert app["spec"]["replicas"] == 3
    anti = app["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == app["spec"]["selector"]["matchLabels"]
    (container,) = app["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (wc,) = worker["spec"]["template"]["spec"]["containers"]
    assert wc["args"] == ["archive-vault", "worker"]
    for deployment in (app, worker, kinds[("Job", "archive-vault-migrate")]):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            # Secrets by reference only: no literal value of a secret-looking variable.
            assert not [e for e in c.get("env", []) if "value" in e]
            assert {"secretRef": {"name": "archive-vault-env"}} in c["envFrom"]
        assert any(v.get("secret") for v in pod["volumes"])
    config = kinds[("ConfigMap", "archive-vault")]["data"]
    # Only names of files (mounted from a Secret), never a secret's value.
    secretish = {k for k in config if any(w in k for w in ("PASSWORD", "SECRET", "TOKEN"))}
    assert secretish == {"VAULT_TRANSIT_TOKEN_FILE"}
    assert config["VAULT_BACKGROUND"] == "worker"
    service = kinds[("Service", "archive-vault")]
    assert service["spec"]["selector"] == app["spec"]["selector"]["matchLabels"]
    pdb = kinds[("PodDisruptionBudget", "archive-vault-app")]
    assert pdb["spec"]["selector"]["matchLabels"] == app["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    deny = kinds[("NetworkPolicy", "default-deny")]
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]


def test_a_broken_manifest_is_refused_by_the_validator():
    """The validator is real: a misspelt field and a wrong type each fail."""
    app = next(d for _, d in _manifests() if d["metadata"]["name"] == "archive-vault-app")
    broken = json.loads(json.dumps(app))
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)
    broken = json.loads(json.dumps(app))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def test_dockerfile_is_slim_non_root_and_checks_its_health():
    parsed = DockerfileParser(path=str(DEPLOY / "Dockerfile"))
    steps = [(i["instruction"], i["value"]) for i in parsed.structure]
    froms = [v for k, v in steps if k == "FROM"]
    assert froms == ["${BASE} AS build", "${BASE}"]
    assert ("ARG", "BASE=python:3.11-slim") in steps
    users = [v for k, v in steps if k == "USER"]
    assert users and users[-1].split(":")[0] == "10001"
    (health,) = [v for k, v in steps if k == "HEALTHCHECK"]
    assert "/healthz" in health
    (cmd,) = [v for k, v in steps if k == "CMD" and "gunicorn" in v]
    assert "/etc/archive-vault/gunicorn.conf.py" in cmd
    copied = [v.split()[0] for k, v in steps if k == "COPY" and not v.startswith("--from")]
    for source in copied:
        assert (ROOT / source).exists(), source
    # The catalogue is compiled during the build: a broken .po fails it.
    assert any("compile_po" in v for k, v in steps if k == "RUN")


def test_gunicorn_config_file_loads_into_gunicorns_settings(tmp_path):
    """Loaded in a process of its own (it sets PROMETHEUS_MULTIPROC_DIR, which must not
    leak into this one): every setting is one gunicorn knows and accepts."""
    code = """
import json, runpy, sys
from gunicorn.config import Config
ns = runpy.run_path(sys.argv[1])
cfg = Config()
known = {k: v for k, v in ns.items() if k in cfg.settings}
for k, v in known.items():
    cfg.set(k, v)
import os
print(json.dumps({"set": sorted(known), "worker_class": cfg.worker_class_str,
                  "wsgi_app": cfg.wsgi_app, "multiproc": os.environ["PROMETHEUS_MULTIPROC_DIR"],
                  "workers": cfg.workers}))
"""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "VAULT_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(DEPLOY / "gunicorn.conf.py")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    got = json.loads(out.stdout)
    assert got["worker_class"] == "vault.web.server.ProblemWorker"
    assert got["wsgi_app"] == "vault.web:create_app()"
    assert got["multiproc"] == str(tmp_path / "run" / "metrics")
    assert (tmp_path / "run" / "metrics").is_dir()
    assert {"child_exit", "when_ready", "access_log_format", "logger_class"} <= set(got["set"])


def test_systemd_units_verify(tmp_path):
    """``systemd-analyze verify`` on the units, with the install prefix pointing at this
    checkout's virtualenv (so that the executables it checks exist): no complaint."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd)"
    venv_bin = Path(sys.executable).parent
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/archive-vault/venv/bin", str(venv_bin))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    assert len(units) == 2
    done = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        # The units name each other and postgresql.service, not installed here.
        if line.strip() and "not found" not in line
    ]
    assert done.returncode == 0 and not complaints, complaints

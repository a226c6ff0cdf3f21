"""The background work of the vault, out of the requests: ``archive-vault worker``.

- ``jobs``: the registry of scheduled jobs (name, interval, leader only or every worker);
  a new check is one ``register(Job(...))`` line.
- ``leader``: one leader at a time across machines (a PostgreSQL session advisory lock;
  a file lock on SQLite), which seals the audit chain and runs the leader's jobs.
- ``outbox``: mail written to ``outbox_messages`` in the act's transaction, sent here
  with retries and exponential backoff; every worker drains it (``SKIP LOCKED``).
- ``process``: the loop, its schedule and its clean stop on SIGTERM.

With ``VAULT_BACKGROUND=app`` (the one-machine default) the same scheduler runs in a
thread of each app process instead, minus what that thread already does.
"""

"""The ``archive-vault`` command line."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.orm import Session

from vault.caller import Caller
from vault.config import Config
from vault.crypto import CryptoError, LocalKeyring
from vault.errors import VaultError
from vault.grants import live, requests
from vault.identity import tokens as tokens_
from vault.people import departures, designations, directory
from vault.policy import PolicyError
from vault.runtime import Vault

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INPUT, EXIT_DENIED, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_FAILED = 2, 3, 4, 5, 1
_EXIT = {
    400: EXIT_INPUT,
    401: EXIT_DENIED,
    403: EXIT_DENIED,
    404: EXIT_NOT_FOUND,
    409: EXIT_CONFLICT,
    413: EXIT_INPUT,
}


def friendly(fn: F) -> F:
    """Turn vault errors into a one-line message and a stable exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VaultError as exc:
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(_EXIT.get(exc.status, EXIT_FAILED))
        except (CryptoError, PolicyError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def config() -> Config:
    """Settings from the environment."""
    return Config.from_env()


@contextmanager
def opened() -> Iterator[tuple[Vault, Session]]:
    """The vault and a session, closed afterwards."""
    v = Vault.open(config())
    try:
        with v.sessions() as db:
            yield v, db
        v.maybe_seal()
    finally:
        v.close()


def parse_day(value: str, what: str) -> date:
    """A YYYY-MM-DD date or a usage error."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{what} must be YYYY-MM-DD, not {value!r}") from None


@click.group()
@click.version_option(package_name="archive-vault")
def main() -> None:
    """Archive Vault: client archives, encrypted, guarded and audited."""
    os.umask(0o077)  # the vault's files (database, blobs, logs, keys) are the owner's alone


@main.command()
@friendly
def init() -> None:
    """Create the data folder, the keyring (0600), the secret key and the database."""
    from vault.migrations import upgrade

    cfg = config()
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if cfg.key_provider == "local" and not cfg.keyring.exists():
        LocalKeyring.create(cfg.keyring)
        click.echo(f"created keyring {cfg.keyring} (mode 0600)")
    cfg.write_secret_key()
    upgrade(cfg.database_url)
    click.echo(f"database ready: {_safe_url(cfg.database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@friendly
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web UI and API with gunicorn (sync workers)."""
    from gunicorn.app.base import BaseApplication

    from vault.web import create_app

    cfg = config()
    Vault.open(cfg).close()  # fail here, with a clear message, if keys/policy/db are unusable

    class App(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("accesslog", "-")

        def load(self) -> Any:
            return create_app(cfg)

    click.echo(f"Archive Vault on http://{host}:{port}/  (Ctrl-C stops)")
    App().run()


@main.group("people")
def people_group() -> None:
    """People and roles."""


@people_group.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--hired-on", "hired_on", required=True, help="YYYY-MM-DD")
@click.option(
    "--role",
    "roles",
    multiple=True,
    default=["employee"],
    show_default=True,
    help="employee, auditor or admin (repeat for several)",
)
@friendly
def people_add(email: str, name: str, hired_on: str, roles: tuple[str, ...]) -> None:
    """Add a person."""
    with opened() as (v, db):
        p = directory.add_person(
            v,
            db,
            Caller.operator(),
            email=email,
            name=name,
            hired_on=parse_day(hired_on, "--hired-on"),
            roles=roles,
        )
        click.echo(f"added {p.email} (id {p.id}, roles {','.join(p.roles)})")


@people_group.command("set-password")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from standard input (one line) instead of a prompt",
)
@friendly
def people_set_password(email: str, password_stdin: bool) -> None:
    """Set EMAIL's local password (argon2id; 12 to 256 characters)."""
    from vault.identity import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        accounts.set_password(v, db, Caller.operator(), person, password)
        click.echo(f"password set for {person.email}")


@people_group.command("enroll-totp")
@click.argument("email")
@friendly
def people_enroll_totp(email: str) -> None:
    """Give EMAIL a new one-time-code (TOTP) secret; prints its otpauth:// URI once."""
    from vault.identity import accounts
    from vault.people import directory

    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        enrollment = accounts.enroll_totp(v, db, Caller.operator(), person)
    click.echo(enrollment.uri)
    click.echo(
        f"Add it to an authenticator app now (or type the secret {enrollment.secret}); "
        "it is stored sealed and cannot be shown again.",
        err=True,
    )


@main.command()
@click.argument("email")
@click.option("--tiers", required=True, help="comma-separated: core,special,general")
@click.option("--by", "by", required=True, help="the designating admin's e-mail")
@friendly
def designate(email: str, tiers: str, by: str) -> None:
    """Designate a person custodian for client tiers (by an admin, never oneself)."""
    with opened() as (v, db):
        admin = directory.get_by_email(db, by)
        person = directory.get_by_email(db, email)
        d = designations.designate(
            v, db, Caller(person=admin, subject="cli"), person, tiers.split(",")
        )
        click.echo(f"{person.email} designated custodian for {','.join(d.tiers)} by {admin.email}")
        minimum = min(v.policy.minimum_days(t) for t in d.tier_list)
        served = (date.today() - person.hired_on).days
        if served < minimum:
            click.echo(
                f"note: {person.email} has served {served} days; custody needs "
                f"{minimum} days, so the policy will deny until then",
                err=True,
            )


@main.group("tokens")
def tokens_group() -> None:
    """API bearer tokens."""


@tokens_group.command("issue")
@click.argument("email")
@click.option("--label", default="cli")
@friendly
def tokens_issue(email: str, label: str) -> None:
    """Issue a bearer token for EMAIL; prints it once on stdout."""
    with opened() as (v, db):
        person = directory.get_by_email(db, email)
        click.echo(tokens_.issue_token(v, db, Caller.operator(), person, label))


@main.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@friendly
def audit_verify() -> None:
    """Check every event, the hash chain and the signed checkpoints (exit 1 if broken)."""
    from tqdm import tqdm

    v = Vault.open(config())
    try:
        with (
            v.engine.connect() as conn,
            tqdm(unit=" events", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
        ):
            report = v.audit.verify(conn, progress=bar.update)
    finally:
        v.close()
    if report.ok:
        click.echo(
            f"audit log intact: {report.events} events ({report.sealed} sealed, "
            f"{report.unsealed} awaiting seal), {report.checkpoints} checkpoints"
        )
        return
    click.echo(
        f"AUDIT LOG BROKEN: {report.problem} at event seq {report.first_bad_seq} "
        f"(id {report.first_bad_event_id}): {report.message}",
        err=True,
    )
    sys.exit(EXIT_FAILED)


@audit_group.command("seal")
@friendly
def audit_seal() -> None:
    """Link all committed events into the chain and sign a checkpoint now."""
    v = Vault.open(config())
    try:
        with v.engine.connect() as conn:
            linked = v.audit.seal(conn)
    finally:
        v.close()
    click.echo(f"sealed {linked} events")


@main.group("keys")
def keys_group() -> None:
    """Key-encryption keys: status, rotation, re-wrapping the data keys."""


@keys_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def keys_status(as_json: bool) -> None:
    """Key ids, the active one, and how many data keys each wraps."""
    import json

    from vault.keys import status

    with opened() as (v, db):
        found = status.status(v, db, Caller.operator())
    if as_json:
        click.echo(json.dumps(found.as_json(), indent=2))
        return
    click.echo(f"provider:   {found.provider.provider}")
    click.echo(f"active key: {found.provider.active_key_id}")
    click.echo(f"keys:       {', '.join(found.provider.key_ids)}")
    for kind, per_key in found.wrapped.items():
        counts = ", ".join(f"{key_id} {n}" for key_id, n in per_key.items()) or "none"
        click.echo(f"{kind + ':':<13} {counts}")
    if found.outdated:
        click.echo(
            f"{found.outdated} data key(s) under older keys: run 'archive-vault keys rewrap'"
        )


@keys_group.command("rotate")
@friendly
def keys_rotate() -> None:
    """Add a new key-encryption key and make it active (old keys are kept)."""
    from vault.keys import rotation

    with opened() as (v, db):
        new_id = rotation.rotate(v, db, Caller.operator())
    click.echo(
        f"new active key {new_id}. Restart the server processes, so that they wrap new "
        "data keys under it, then run 'archive-vault keys rewrap'."
    )


@keys_group.command("rewrap")
@click.option(
    "--batch",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="rows per transaction",
)
@friendly
def keys_rewrap(batch: int) -> None:
    """Re-wrap every data key under the active key (content untouched; rerun to resume)."""
    import time

    from tqdm import tqdm

    from vault.keys import rotation

    started = time.perf_counter()
    with (
        opened() as (v, db),
        tqdm(unit=" keys", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        report = rotation.rewrap(
            v,
            db,
            Caller.operator(),
            batch=batch,
            progress=bar.update,
            on_total=lambda n: bar.reset(total=n),
        )
    per_kind = ", ".join(f"{kind} {n}" for kind, n in report.rewrapped.items())
    click.echo(
        f"re-wrapped {report.total_rewrapped} data keys under {report.active_key_id} "
        f"({per_kind}); {sum(report.current.values())} were under it already; "
        f"{time.perf_counter() - started:.1f} s"
    )
    if report.total_failed:
        for kind, ids in report.failed.items():
            if ids:
                shown = ", ".join(map(str, ids[:20])) + (" ..." if len(ids) > 20 else "")
                click.echo(
                    f"{kind}: {len(ids)} wrapped key(s) could not be unwrapped and were "
                    f"left as they are (ids {shown})",
                    err=True,
                )
        sys.exit(EXIT_FAILED)


@main.group("policy")
def policy_group() -> None:
    """The Cedar policies."""


@policy_group.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def policy_validate(file: Path) -> None:
    """Check a site policy file against the schema (with the shipped policies)."""
    from importlib import resources

    from vault.policy import validate

    base = resources.files("vault.policy").joinpath("vault.cedar").read_text(encoding="utf-8")
    validate(base + "\n" + file.read_text(encoding="utf-8"))
    click.echo(f"{file}: valid")


@main.command()
@click.option("--force", is_flag=True, help="add demo data even if people exist")
@friendly
def demo(force: bool) -> None:
    """Initialise the vault and load demo people, clients and records; print their tokens."""
    from vault.demo import demo_logins, load_demo

    ctx = click.get_current_context()
    ctx.invoke(init)
    with opened() as (v, db):
        tokens = load_demo(v, db, force=force)
        logins = demo_logins(v, db)
    cfg = config()
    env_file = cfg.home / "demo-tokens.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for var, (_email, token) in tokens.items():
            fh.write(f"{var}={token}\n")
    click.echo(f"\nDemo people and their API tokens (also in {env_file}):")
    for var, (email, token) in tokens.items():
        click.echo(f"  {var:<18} {email:<28} {token}")
    login_file = cfg.home / "demo-logins.txt"
    fd = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for login in logins:
            fh.write(
                f"{login.email} {login.password}"
                f"{' totp-secret=' + login.totp_secret if login.totp_secret else ''}\n"
            )
    click.echo(f"\nSign in to the web UI with these passwords (also in {login_file}):")
    for login in logins:
        click.echo(f"  {login.email:<28} {login.password}")
        if login.totp_secret:
            click.echo(
                f"  {'':<28} one-time code secret {login.totp_secret}: get a code with\n"
                f'  {"":<28} .venv/bin/python -c "import pyotp; '
                f"print(pyotp.TOTP('{login.totp_secret}').now())\""
            )


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="import the good rows even if some are bad")
@click.option("--by", "by", default=None, help="file the records as this person (e-mail)")
@friendly
def import_(file: Path, skip_bad: bool, by: str | None) -> None:
    """Import clients and records from an .xlsx or .csv file (checked first, idempotent)."""
    import time

    from tqdm import tqdm

    from vault.archive.importer import import_file

    started = time.perf_counter()
    with (
        opened() as (v, db),
        tqdm(unit=" rows", disable=not sys.stderr.isatty(), file=sys.stderr) as bar,
    ):
        caller = Caller.operator()
        if by:
            caller = Caller(person=directory.get_by_email(db, by), subject="cli")

        def total(n: int) -> None:
            bar.reset(total=n)

        report = import_file(
            v, db, caller, file, skip_bad=skip_bad, progress=bar.update, on_total=total
        )
    for err in report.errors:
        where = f", column {err.column}" if err.column else ""
        click.echo(f"line {err.line}{where}: {err.reason}", err=True)
    if report.rejected:
        click.echo(
            f"{report.bad_rows} of {report.rows} rows are bad: nothing imported "
            "(fix them, or use --skip-bad)",
            err=True,
        )
        sys.exit(EXIT_INPUT)
    click.echo(
        f"imported {report.records_created} records ({report.clients_created} new clients) "
        f"from {report.rows} rows; {report.duplicates} already imported, "
        f"{report.bad_rows} bad rows skipped; {time.perf_counter() - started:.1f} s"
    )


def _as(db: Session, email: str) -> Caller:
    """Act as the person with ``email`` (their rights, not the operator's)."""
    return Caller(person=directory.get_by_email(db, email), subject=f"cli-as:{email}")


@main.command()
@click.argument("email")
@click.option("--on", "on", required=True, help="leaving date YYYY-MM-DD")
@click.option("--by", "by", default=None, help="the admin's e-mail (default: the operator)")
@friendly
def depart(email: str, on: str, by: str | None) -> None:
    """Set EMAIL's leaving date: grants revoked, custody suspended, access ended now."""
    with opened() as (v, db):
        who = _as(db, by) if by else Caller.operator()
        person = directory.get_by_email(db, email)
        revoked = departures.set_departure(v, db, who, person, parse_day(on, "--on"))
        click.echo(
            f"{person.email} leaves on {person.leaving_on}: access ended now, "
            f"{revoked} grant(s) revoked"
        )


@main.group("requests")
def requests_group() -> None:
    """Temporary access requests (acting as a named person)."""


@requests_group.command("new")
@click.option("--as", "as_email", required=True, help="the requester's e-mail")
@click.option("--record", "record_id", type=int, default=None)
@click.option("--client", "client_id", type=int, default=None)
@click.option("--action", "actions", multiple=True, default=["consult"], show_default=True)
@click.option("--reason", required=True)
@click.option("--hours", type=int, default=None)
@click.option("--minutes", type=int, default=None)
@friendly
def requests_new(
    as_email: str,
    record_id: int | None,
    client_id: int | None,
    actions: tuple[str, ...],
    reason: str,
    hours: int | None,
    minutes: int | None,
) -> None:
    """Ask for temporary access to one record or one client file."""

    with opened() as (v, db):
        req = requests.request_access(
            v,
            db,
            _as(db, as_email),
            requests.Ask(
                reason=reason,
                actions=actions,
                record_id=record_id,
                client_id=client_id,
                duration_hours=hours,
                duration_minutes=minutes,
            ),
        )
        click.echo(f"request #{req.id} filed; needs {req.approvals_needed} approval(s)")


@requests_group.command("list")
@click.option("--as", "as_email", required=True)
@click.option("--waiting", is_flag=True, help="requests waiting for me as custodian")
@friendly
def requests_list(as_email: str, waiting: bool) -> None:
    """List my requests, or those waiting for me."""
    # MOVED:grants
    from vault.db import utcnow

    with opened() as (v, db):
        who = _as(db, as_email)
        assert who.person is not None
        now = utcnow()
        for r in requests.requests_for(
            db, who.person, mine=not waiting, status=None, v=v, limit=100, offset=0
        ):
            target = f"record {r.record_id}" if r.record_id else f"client {r.client_id}"
            click.echo(
                f"#{r.id:<5} {r.status_at(now):<9} {target:<14} {','.join(r.actions):<14} "
                f"{len(r.approvals)}/{r.approvals_needed}  {r.reason[:50]}"
            )


@requests_group.command("approve")
@click.argument("request_id", type=int)
@click.option("--as", "as_email", required=True, help="the approving custodian's e-mail")
@click.option("--note", default="")
@friendly
def requests_approve(request_id: int, as_email: str, note: str) -> None:
    """Approve a request (a custodian in scope; never one's own)."""
    # MOVED:grants

    with opened() as (v, db):
        req = requests.approve(v, db, _as(db, as_email), request_id, note)
        click.echo(
            f"request #{req.id}: {req.status} "
            f"({len(req.approvals)}/{req.approvals_needed} approvals)"
        )


@requests_group.command("deny")
@click.argument("request_id", type=int)
@click.option("--as", "as_email", required=True)
@click.option("--note", default="")
@friendly
def requests_deny(request_id: int, as_email: str, note: str) -> None:
    """Turn a request down."""
    # MOVED:grants

    with opened() as (v, db):
        req = requests.deny(v, db, _as(db, as_email), request_id, note)
        click.echo(f"request #{req.id}: {req.status}")


@main.group("grants")
def grants_group() -> None:
    """Grants."""


@grants_group.command("revoke")
@click.argument("grant_id", type=int)
@click.option("--as", "as_email", required=True, help="a custodian in scope or an admin")
@click.option("--reason", default="revoked")
@friendly
def grants_revoke(grant_id: int, as_email: str, reason: str) -> None:
    """Revoke a grant now."""
    # MOVED:grants

    with opened() as (v, db):
        live.revoke(v, db, _as(db, as_email), grant_id, reason)
        click.echo(f"grant #{grant_id} revoked")


@main.group("review")
def review_group() -> None:
    """People under review after crossing the export quota."""


@review_group.command("clear")
@click.argument("email")
@click.option("--as", "as_email", required=True, help="the auditor's e-mail")
@click.option("--note", required=True)
@friendly
def review_clear(email: str, as_email: str, note: str) -> None:
    """Clear EMAIL (an auditor's act)."""
    from vault.oversight import alerts

    with opened() as (v, db):
        alerts.clear_review(v, db, _as(db, as_email), directory.get_by_email(db, email), note)
        click.echo(f"{email} cleared")


@main.group("report")
def report_group() -> None:
    """Reports for auditors."""


@report_group.command("departure")
@click.argument("email")
@click.option("--as", "as_email", required=True, help="the auditor's or admin's e-mail")
@click.option("--days", type=int, default=None)
@click.option("--csv", "as_csv", is_flag=True)
@friendly
def report_departure(email: str, as_email: str, days: int | None, as_csv: bool) -> None:
    """Every record and client EMAIL consulted, copied, borrowed or deposited lately."""
    import csv as csv_mod

    with opened() as (v, db):
        touches = departures.departure_report(
            v, db, _as(db, as_email), directory.get_by_email(db, email), days
        )
    if as_csv:
        writer = csv_mod.writer(sys.stdout)
        writer.writerow(["time", "action", "file_number", "client_code", "client_name", "tier"])
        for t in touches:
            writer.writerow(
                [t.time.isoformat(), t.action, t.file_number, t.client_code, t.client_name, t.tier]
            )
        return
    clients = sorted({(t.client_code, t.client_name, t.tier) for t in touches if t.client_code})
    click.echo(f"{len(touches)} uses of {len(clients)} client(s) by {email}:")
    for t in touches:
        click.echo(
            f"  {t.time:%Y-%m-%d %H:%M}  {t.action:<15} {t.file_number or '-':<22} "
            f"{t.client_code} ({t.tier})"
        )
    click.echo("Clients to call: " + ", ".join(f"{c} {n}" for c, n, _ in clients))


@policy_group.command("explain")
@click.option("--person", "email", required=True)
@click.option("--action", "action_name", required=True, help="e.g. record:consult")
@click.option("--record", "record_id", type=int, default=None)
@friendly
def policy_explain(email: str, action_name: str, record_id: int | None) -> None:
    """Print the decision for PERSON doing ACTION on RECORD, and the rules behind it."""
    from vault import access
    from vault.errors import InvalidInput
    from vault.policy import Action

    try:
        action = Action(action_name)
    except ValueError:
        raise InvalidInput(f"unknown action {action_name!r}", code="invalid_action") from None
    with opened() as (v, db):
        result = access.explain(v, db, directory.get_by_email(db, email), action, record_id)
    verdict = "ALLOW" if result.allowed else "DENY"
    click.echo(f"{verdict}: {result.reason} - {result.message}")
    click.echo(f"policies: {', '.join(result.policy_ids) or '(none matched: deny by default)'}")
    for key, value in sorted(result.facts.items()):
        click.echo(f"  {key}: {value}")
    sys.exit(0 if result.allowed else EXIT_DENIED)


# ---- Custody: reviews, statistics, lending, copies -------------------------------------


@main.group("files")
def files_group() -> None:
    """Dynamic management of client files: review cycles and stale credit reports."""


@files_group.command("due")
@click.option("--as", "as_email", default=None, help="list for this custodian's tiers")
@click.option("--within", default=0, show_default=True, type=int, help="days ahead")
@friendly
def files_due(as_email: str | None, within: int) -> None:
    """Client files due for review (every tier for the operator)."""
    from vault.archive import file_reviews

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        due = file_reviews.due_for_review(v, db, who, within_days=within)
    for d in due:
        last = f"{d.last_reviewed_at:%Y-%m-%d}" if d.last_reviewed_at else "never"
        late = f"{d.days_overdue} days overdue" if d.days_overdue > 0 else f"due {d.due_on}"
        click.echo(f"{d.client.code:<16} {d.client.tier:<8} last reviewed {last:<10}  {late}")
    click.echo(f"{len(due)} client file(s) due for review")


@files_group.command("stale")
@click.option("--as", "as_email", default=None, help="list for this custodian's tiers")
@friendly
def files_stale(as_email: str | None) -> None:
    """Clients whose newest credit report is past its valid_until."""
    from vault.archive import file_reviews

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        stale = file_reviews.stale_credit_reports(v, db, who)
        for r in stale:
            click.echo(f"{r.file_number:<24} valid until {r.valid_until}  {r.client.code}")
    click.echo(f"{len(stale)} stale credit report(s)")


@files_group.command("reviewed")
@click.argument("client_code")
@click.option("--as", "as_email", required=True, help="the reviewing custodian's e-mail")
@friendly
def files_reviewed(client_code: str, as_email: str) -> None:
    """Mark a client file reviewed (custodian in scope; audited)."""
    from sqlalchemy import select

    from vault.archive import file_reviews
    from vault.errors import NotFound
    from vault.models import Client

    with opened() as (v, db):
        client = db.scalar(select(Client).where(Client.code == client_code.strip().upper()))
        if client is None:
            raise NotFound(f"no client {client_code}", code="client_not_found")
        done = file_reviews.mark_reviewed(v, db, _as(db, as_email), client.id)
        click.echo(f"{client.code} reviewed at {done.reviewed_at:%Y-%m-%d %H:%M} UTC")


@main.command("stats")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366))
@click.option("--as", "as_email", default=None, help="an auditor's or admin's e-mail")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@friendly
def stats_cmd(days: int, as_email: str | None, as_json: bool) -> None:
    """Holdings, loans, requests, use, denials, alerts and stale credit reports."""
    import json

    from vault.oversight import statistics

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        data = statistics.collect(v, db, who, days=days).as_json()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(f"Statistics as of {data['as_of'][:16]} UTC (use: last {days} days)")
    click.echo(
        "Holdings by tier:    "
        + ", ".join(
            f"{t} {h['clients']} clients / {h['records']} records"
            for t, h in data["holdings"]["by_tier"].items()
        )
    )
    click.echo(
        "Records by section:  "
        + ", ".join(f"{s} {n}" for s, n in data["holdings"]["by_section"].items())
    )
    click.echo(
        "Records by year:     "
        + ", ".join(f"{y} {n}" for y, n in data["holdings"]["by_year"].items())
    )
    click.echo(
        f"Loans:               {data['loans']['out']} out, {data['loans']['overdue']} overdue"
    )
    click.echo(
        "Requests:            "
        + ", ".join(f"{s} {n}" for s, n in data["requests_by_status"].items())
    )
    click.echo(
        f"Consultations:       {sum(data['consultations_per_day'].values())} "
        f"over {len(data['consultations_per_day'])} day(s); copies {data['copies']}"
    )
    click.echo(
        "Top readers:         "
        + ", ".join(f"{r['email']} {r['consultations']}" for r in data["top_readers"])
    )
    click.echo(
        "Denials:             "
        + ", ".join(f"{a} {n}" for a, n in data["denials_by_action"].items())
    )
    click.echo(
        "Alerts:              "
        + ", ".join(
            f"{k} {a['open']} open/{a['cleared']} cleared" for k, a in data["alerts"].items()
        )
    )
    click.echo(f"Stale credit reports: {data['stale_credit_reports']}")


@main.group("items")
def items_group() -> None:
    """Physical folders and media that hold records."""


@items_group.command("add")
@click.argument("record_id", type=int)
@click.option("--kind", default="folder", show_default=True, help="folder, binder, box, media")
@click.option("--label", required=True)
@click.option("--location", required=True, help="the shelf, e.g. 'Room 2, shelf B4'")
@click.option("--as", "as_email", required=True, help="the custodian's e-mail")
@friendly
def items_add(record_id: int, kind: str, label: str, location: str, as_email: str) -> None:
    """Register an item holding RECORD_ID (custodian in scope)."""
    from vault.custody import loans

    with opened() as (v, db):
        item = loans.add_item(
            v, db, _as(db, as_email), record_id, kind=kind, label=label, location=location
        )
        click.echo(f"item {item.id}: {item.label} at {item.location}")


@main.group("loans")
def loans_group() -> None:
    """Lending: check-out, check-in, renewal, overdue loans and reminders."""


@loans_group.command("checkout")
@click.argument("item_id", type=int)
@click.option("--to", "borrower", required=True, help="the borrower's e-mail")
@click.option("--pages", required=True, type=click.IntRange(0, 100_000))
@click.option("--days", default=None, type=int, help="loan length (default from settings)")
@click.option("--purpose", required=True)
@click.option("--as", "as_email", required=True, help="the lending custodian's e-mail")
@friendly
def loans_checkout(
    item_id: int, borrower: str, pages: int, days: int | None, purpose: str, as_email: str
) -> None:
    """Check ITEM_ID out to a borrower."""
    from vault.custody import loans
    from vault.people import directory

    with opened() as (v, db):
        loan = loans.checkout(
            v,
            db,
            _as(db, as_email),
            item_id,
            directory.get_by_email(db, borrower),
            pages=pages,
            days=days,
            purpose=purpose,
        )
        click.echo(
            f"loan {loan.id}: item {item_id} to {borrower}, due {loan.due_at:%Y-%m-%d %H:%M} UTC"
        )


@loans_group.command("checkin")
@click.argument("item_id", type=int)
@click.option("--pages", required=True, type=click.IntRange(0, 100_000))
@click.option(
    "--condition", default="good", show_default=True, help="good, worn, damaged, incomplete"
)
@click.option("--location", default=None, help="where it goes (default: back where it was)")
@click.option("--as", "as_email", required=True, help="the receiving custodian's e-mail")
@friendly
def loans_checkin(
    item_id: int, pages: int, condition: str, location: str | None, as_email: str
) -> None:
    """Take ITEM_ID back."""
    from vault.custody import loans

    with opened() as (v, db):
        loan = loans.checkin(
            v, db, _as(db, as_email), item_id, pages=pages, condition=condition, location=location
        )
        click.echo(
            f"loan {loan.id} returned: {loan.pages_in} pages ({loan.pages_out} lent), "
            f"condition {loan.condition}"
        )
        if loan.pages_mismatch:
            click.echo(
                f"PAGE COUNT MISMATCH: lent {loan.pages_out}, returned {loan.pages_in}; "
                "the auditors have been alerted",
                err=True,
            )


@loans_group.command("renew")
@click.argument("item_id", type=int)
@click.option("--days", default=None, type=int)
@click.option("--as", "as_email", required=True, help="the custodian's e-mail")
@friendly
def loans_renew(item_id: int, days: int | None, as_email: str) -> None:
    """Renew the loan of ITEM_ID (once)."""
    from vault.custody import loans

    with opened() as (v, db):
        loan = loans.renew(v, db, _as(db, as_email), item_id, days=days)
        click.echo(f"loan {loan.id} renewed: due {loan.due_at:%Y-%m-%d %H:%M} UTC")


@loans_group.command("overdue")
@click.option("--as", "as_email", default=None, help="a custodian's, auditor's or admin's e-mail")
@friendly
def loans_overdue(as_email: str | None) -> None:
    """Loans past their due date."""
    from vault.custody import loans
    from vault.models import Person

    with opened() as (v, db):
        who = _as(db, as_email) if as_email else Caller.operator()
        late = loans.loans(v, db, who, overdue_only=True, limit=10_000)
        for loan in late:
            borrower = db.get(Person, loan.borrower_id)
            click.echo(
                f"loan {loan.id:<5} item {loan.item_id:<5} {loan.item.label[:30]:<30} "
                f"{borrower.email if borrower else '?':<28} due "
                f"{loan.due_at:%Y-%m-%d}  reminders {loan.reminders_sent}"
            )
    click.echo(f"{len(late)} overdue loan(s)")


@loans_group.command("remind")
@friendly
def loans_remind() -> None:
    """Send the reminders now due (first, second, third); run it daily from cron."""
    from vault.custody import loans

    with opened() as (v, db):
        sent = loans.send_reminders(v, db, Caller.operator())
        for r in sent:
            click.echo(
                f"loan {r.loan.id}: reminder {r.number}" + (" (overdue)" if r.overdue else "")
            )
    click.echo(f"{len(sent)} reminder(s) sent")


@audit_group.command("trace-copy")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@friendly
def audit_trace_copy(file: Path) -> None:
    """Name the person, time and grant a watermarked copy was made for."""
    from vault.custody import copies

    with opened() as (v, db):
        t = copies.trace_copy(v, db, Caller.operator(), file.read_bytes())
        who = f"{t.person.name} <{t.person.email}> (id {t.person.id})" if t.person else "unknown"
        record = f"{t.record.file_number} (id {t.record.id})" if t.record else "unknown"
        click.echo(f"copy:    {t.copy_id}")
        click.echo(f"made by: {who}")
        click.echo(f"at:      {t.event.time:%Y-%m-%d %H:%M:%S} UTC")
        click.echo(f"record:  {record}")
        click.echo(f"grant:   {t.event.grant_id or 'none (custodian)'}")
        click.echo(f"purpose: {t.event.purpose}")
        click.echo(f"event:   {t.event.id}")

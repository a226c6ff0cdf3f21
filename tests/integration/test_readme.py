"""The README's walks run as printed, in order, from one fresh ``archive-vault demo``.

A fresh demo home (SQLite, the key file) in ``tmp_path``; ``archive-vault serve`` for real
(gunicorn, one worker); then every ```sh block between "A first walk through the vault"
and "Performance", in the order printed, by bash in one shell (the README's walks say
"continuing in the same terminal"), from a folder laid out as the repository is
(``.venv/bin/archive-vault``, ``var/demo-tokens.env``). Each block must run to its end
(``set -e -o pipefail``), and every answer the README documents in a comment
(``# -> 403 {"code": "no_grant", ...}``, ``# -> "text"``) must be the answer of the call
just before it: the status (an exit code for the command line) and each ``"key": value``
shown, found anywhere in the JSON reply.

Two substitutions only: the base URL (a free port instead of 8080), and ``sleep 120``,
which becomes a script that moves every grant's window two minutes into the past (the
server then refuses on its own clock, as it would after the wait).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIRST, LAST = "## A first walk through the vault", "## Performance"
EXPECT = re.compile(r"#\s*->\s*(.*)$")
PAIR = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+|true|false|null)')

SHIM = """#!/bin/bash
# archive-vault as the README calls it (.venv/bin/archive-vault), on this tree's code.
if [ -z "$WALK" ]; then exec {python} -c 'from vault.cli import main; main()' "$@"; fi
n=$(( $(cat "$WALK/n") + 1 )); echo $n > "$WALK/n"
{python} -c 'from vault.cli import main; main()' "$@" | tee "$WALK/$n.out"
rc=${{PIPESTATUS[0]}}; echo $rc > "$WALK/$n.status"; exit $rc
"""

PROLOGUE = r"""set -e -o pipefail
echo 0 > "$WALK/n"
# Every curl call keeps its status and reply for the checks (its output is unchanged).
curl() {
  local n; n=$(( $(cat "$WALK/n") + 1 )); echo $n > "$WALK/n"
  command curl "$@" -w '%{stderr}%{http_code}' 2>"$WALK/$n.status" | tee "$WALK/$n.out"
  return "${PIPESTATUS[0]}"
}
__check() { cat "$WALK/n" > "$WALK/check.$1"; }
__block_done() { echo "$1" >> "$WALK/blocks"; }
"""

# "sleep 120": the grants' windows move two minutes back instead of waiting for them.
EXPIRE = """
from datetime import timedelta
from sqlalchemy import select
from vault.config import Config
from vault.db import make_engine, make_sessionmaker
from vault.models import Grant

engine = make_engine(Config.from_env().database_url)
with make_sessionmaker(engine)() as db:
    for grant in db.scalars(select(Grant)):
        grant.starts_at -= timedelta(seconds=120)
        grant.expires_at -= timedelta(seconds=120)
    db.commit()
engine.dispose()
"""


@dataclass
class Expectation:
    block: int
    line: str
    answer: str


def walks() -> list[str]:
    """The ```sh blocks of the walks, in the order printed."""
    text = README.read_text()
    start, end = text.index(FIRST), text.index(LAST)
    return re.findall(r"^```sh\n(.*?)^```", text[start:end], flags=re.M | re.S)


def script(blocks: list[str], base: str) -> tuple[str, list[Expectation]]:
    """One bash script of every block, a ``__check`` after each documented answer."""
    out, expectations = [PROLOGUE], []
    for b, block in enumerate(blocks):
        for line in block.replace("http://127.0.0.1:8080", base).splitlines():
            if line.strip() == "sleep 120":
                line = '.venv/bin/python "$WALK_EXPIRE"'
            out.append(line)
            m = EXPECT.search(line)
            if m and not line.rstrip().endswith("\\"):
                out.append(f"__check {len(expectations)}")
                expectations.append(Expectation(b, line.strip(), m.group(1)))
        out.append(f"__block_done {b}")
    return "\n".join(out) + "\n", expectations


def _found(tree: Any, key: str, want: Any) -> bool:
    if isinstance(tree, dict):
        if key in tree and _same(tree[key], want):
            return True
        return any(_found(v, key, want) for v in tree.values())
    if isinstance(tree, list):
        return any(_found(v, key, want) for v in tree)
    return False


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, str) and want.endswith(" ..."):
        return isinstance(got, str) and got.startswith(want[:-4])
    return bool(got == want)


def check(e: Expectation, status: str, reply: str) -> list[str]:
    """What of the documented answer ``e`` the reply does not bear out."""
    answer = e.answer.split(";")[0].strip()
    quoted = re.match(r'"([^"]*)"', answer)
    if quoted:  # what the command prints ("..." stands for the rest)
        text = quoted.group(1).removesuffix("...").rstrip()
        return [] if text in reply else [f"{text!r} not in the output: {reply[:300]!r}"]
    problems = []
    m = re.match(r"(\d{3})\b\s*(.*)", answer)
    if m:
        if status != m.group(1):
            problems.append(f"status {status}, documented {m.group(1)}")
        answer = m.group(2)
    pairs = [(k, json.loads(v)) for k, v in PAIR.findall(answer)]
    if re.fullmatch(r"[a-z_]+", answer):  # "403 person_departing": the problem's code
        pairs.append(("code", answer))
    if pairs:
        try:
            body = json.loads(reply)
        except ValueError:
            return [*problems, f"not JSON: {reply[:200]!r}"]
        problems += [f"no {k}={v!r} in {reply[:300]}" for k, v in pairs if not _found(body, k, v)]
    return problems


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A fresh ``archive-vault demo`` in ``tmp_path/var``, served by gunicorn."""
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "archive-vault").write_text(SHIM.format(python=sys.executable))
    (bin_ / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAULT_")}
    env |= {"PYTHONPATH": str(ROOT), "VAULT_HOME": str(tmp_path / "var")}
    av = [str(bin_ / "archive-vault")]
    first = subprocess.run([*av, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "loaded fresh demo data" in first.stdout
    assert "REUSING" not in first.stdout
    # Run again, it says it kept the data, and how to start afresh.
    again = subprocess.run([*av, "demo"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "REUSING the data already in" in again.stdout
    assert "make clean-demo && make demo" in again.stdout
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [*av, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/healthz", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield tmp_path, env, base
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.mark.long
def test_the_walks_run_in_order_from_a_fresh_demo(demo_home) -> None:
    home, env, base = demo_home
    blocks = walks()
    assert len(blocks) >= 6, "the walks' sh blocks were not found"
    text, expectations = script(blocks, base)
    assert len(expectations) >= 25, "the README documents fewer answers than it did"
    walk = home / "walk"
    walk.mkdir()
    (home / "expire.py").write_text(EXPIRE)
    (home / "walk.sh").write_text(text)
    env = env | {"WALK": str(walk), "WALK_EXPIRE": str(home / "expire.py")}
    run = subprocess.run(
        ["bash", str(home / "walk.sh")],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,  # about 90 s on an idle machine; 2 cores shared with other work
    )
    done = (walk / "blocks").read_text().split() if (walk / "blocks").exists() else []
    assert run.returncode == 0, (
        f"block {len(done)} stopped (exit {run.returncode}):\n"
        f"{blocks[len(done)] if len(done) < len(blocks) else ''}\n"
        f"stdout tail:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )
    assert done == [str(b) for b in range(len(blocks))]
    failures = []
    for k, e in enumerate(expectations):
        n = (walk / f"check.{k}").read_text().strip()
        status = (walk / f"{n}.status").read_text().strip()
        reply = (walk / f"{n}.out").read_text(errors="replace")
        failures += [f"block {e.block}: {e.line}\n    {p}" for p in check(e, status, reply)]
    assert not failures, "\n".join(failures)


def test_the_checker_refuses_a_wrong_answer() -> None:
    """The checks above are not vacuous: a wrong status, code or printed line is caught."""
    e = Expectation(0, "", '403 {"code": "no_grant", "detail": "only ..."}; prose')
    assert check(e, "403", '{"code": "no_grant", "detail": "only designated"}') == []
    assert check(e, "200", '{"code": "no_grant", "detail": "only x"}')
    assert check(e, "403", '{"code": "tenure_too_short", "detail": "only x"}')
    nested = Expectation(0, "", '{"proposals": [{"kind": "hire_date_confirm", ...}]}')
    assert check(nested, "201", '{"proposals": [{"kind": "hire_date_confirm"}]}') == []
    assert check(nested, "201", '{"proposals": []}')
    printed = Expectation(0, "", '"audit log intact: ..." (exit 0)')
    assert check(printed, "0", "audit log intact: 80 events") == []
    assert check(printed, "0", "audit log BROKEN at event 3")
    assert check(Expectation(0, "", "403 person_departing"), "403", '{"code": "x"}')

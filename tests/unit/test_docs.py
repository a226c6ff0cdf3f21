"""docs/DESIGN.md names only what exists, and the project's docs stand on their own.

Every backticked repository path in the design document exists (and a test named as
``path::test_name`` is defined in that file), every ``archive-vault`` command is a
command of the CLI, every ``make`` target is in the Makefile, and every ``/api/v1`` route
is declared by an API module. README.md and docs/ never point outside the repository (a
clone has no ``../shared``).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from vault.cli import main

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
TOP = ("vault", "audit", "tests", "bench", "deploy", "docs", "scripts")
FILES = ("README.md", "Makefile", "pyproject.toml")
PATH = re.compile(rf"(?<![\w$/.])((?:{'|'.join(TOP)})/[\w./-]*(?:::\w+)?|{'|'.join(FILES)})")
ROUTE = re.compile(r"/api/v1(/[^\s?`]*)?")


def spans(text: str) -> list[str]:
    """The backticked spans of a Markdown text, whitespace made single."""
    return [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]


DESIGN_SPANS = spans(DESIGN.read_text())


def test_the_design_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "(docs/DESIGN.md)" in readme
    assert "(docs/CONVENTIONS.md)" in readme


@pytest.mark.parametrize("doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
def test_no_doc_points_outside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    for outside in ("../shared", "/work/shared"):
        assert outside not in text, f"{doc.name} mentions {outside}"


def test_every_path_named_in_the_design_exists() -> None:
    named = {m for s in DESIGN_SPANS for m in PATH.findall(s)}
    assert len(named) > 40, "the design names fewer paths than it did"
    missing, undefined = [], []
    for name in sorted(named):
        path, _, test = name.partition("::")
        file = ROOT / path.rstrip("/")
        if not file.exists():
            missing.append(name)
        elif test and not re.search(rf"^def {test}\(", file.read_text(), flags=re.M):
            undefined.append(name)
    assert not missing, f"named in docs/DESIGN.md but absent: {missing}"
    assert not undefined, f"tests named in docs/DESIGN.md but not defined: {undefined}"


def test_every_command_named_in_the_design_exists() -> None:
    commands = [s.split()[1:] for s in DESIGN_SPANS if s.startswith("archive-vault ")]
    assert len(commands) > 10
    for words in commands:
        command: click.Command = main
        for word in words:
            if not isinstance(command, click.Group) or not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            sub = command.commands.get(word)
            assert sub is not None, f"archive-vault has no command {' '.join(words)!r}"
            command = sub


def test_every_make_target_named_in_the_design_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = {t for s in DESIGN_SPANS for t in re.findall(r"\bmake ([a-z-]+)", s)}
    assert targets
    for target in targets:
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"no make target {target}"


def _declared_routes() -> set[str]:
    rules = set()
    for module in (ROOT / "vault" / "web" / "api").glob("*.py"):
        for rule in re.findall(r'route\(\s*bp,\s*"(/[^"]*)"', module.read_text()):
            rules.add(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule))
    return rules


def test_every_route_named_in_the_design_is_declared() -> None:
    declared = _declared_routes()
    assert "/records/{record_id}/content" in declared, "the route declarations moved"
    named = {m.group(1) or "" for s in DESIGN_SPANS for m in ROUTE.finditer(s)}
    named.discard("")
    assert len(named) > 15
    missing = sorted(n for n in named if n not in declared)
    assert not missing, f"routes named in docs/DESIGN.md but not declared: {missing}"

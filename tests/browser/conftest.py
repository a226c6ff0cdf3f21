"""Real-browser tests: Playwright for Python driving Debian's Chromium (never a downloaded one).

``chromium`` fails the run (never skips) when ``/usr/bin/chromium`` is missing: install it with
``apt-get install -y chromium`` (``scripts/test-deps`` does, as root). The app runs for real
with the demo data and single sign-on through the real test provider (``tests/sso``);
screenshots land in ``test-artifacts/browser/`` (kept out of git).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.live import LiveServer, open_vault, serve, sso_settings
from tests.soak import SOAK
from tests.sso import conftest as sso
from tests.webclient import cheap_passwords
from vault.config import Config
from vault.demo import DemoLogin, demo_logins, load_demo
from vault.runtime import Vault
from vault.uow import unit_of_work
from vault.web import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LANGS = {"en": "en-US", "zh": "zh-CN"}

# The real OpenID provider of tests/sso, registered with this app's callback URLs.
app_port = sso.app_port
oidc_redirect_uris = sso.oidc_redirect_uris
oidc_post_logout_redirect_uris = sso.oidc_post_logout_redirect_uris
oidc_provider = sso.oidc_provider


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright; missing, the run fails."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: run "
            "`apt-get install -y chromium` (scripts/test-deps does it as root).",
            pytrace=False,
        )
    for stale in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier run
        stale.unlink()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Demo:
    """The demo vault served for real, with each demo person's web sign-in."""

    vault: Vault
    server: LiveServer
    logins: dict[str, DemoLogin]

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def demo(
    config: Config,
    oidc_provider,
    app_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Demo]:
    """``archive-vault demo`` data, single sign-on configured, served on ``app_port``."""
    cheap_passwords(monkeypatch)
    v = open_vault(config.with_(auth=sso_settings(oidc_provider)))
    with unit_of_work(v) as db:
        load_demo(v, db)
        logins = {login.email.split("@")[0]: login for login in demo_logins(v, db)}
    try:
        with serve(create_app(v.config, vault=v), app_port) as server:
            yield Demo(vault=v, server=server, logins=logins)
    finally:
        v.close()


class Shots:
    """Screenshots of one test, numbered in order, named for the language and step."""

    def __init__(self, page: Page, name: str) -> None:
        self.page, self.name, self.n = page, name, 0

    def __call__(self, step: str) -> Path:
        self.n += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{self.n:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


# Each flow runs in both languages and on both databases, paired: English on SQLite,
# Chinese on PostgreSQL (the database changes nothing a page shows; the pages' words are
# what differs). A soak run (``make soak``) runs every pair.
PAIRS = {("sqlite", "en"), ("postgresql", "zh")}


@pytest.fixture(params=sorted(LANGS))
def lang(request: pytest.FixtureRequest) -> str:
    """The browser's language: English or Simplified Chinese."""
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside a soak, keep the paired (database, language) runs; the rest is deselected."""
    if SOAK:
        return
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        pair = params and (params.params.get("backend"), params.params.get("lang"))
        if pair and None not in pair and pair not in PAIRS and _browser(item):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _browser(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).parent == Path(__file__).parent


@pytest.fixture
def page(chromium: Browser, lang: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser window whose language is ``lang``; failures leave a screenshot."""
    context = chromium.new_context(locale=LANGS[lang], viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        pg.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def shots(page: Page, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, re.sub(r"[^\w.-]+", "_", request.node.name))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

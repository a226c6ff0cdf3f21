"""Two languages, English and Simplified Chinese (flask-babel).

The language comes from the ``vault_lang`` cookie (set by the switch on every page),
else from the browser's Accept-Language, else English. Translations are read from
``translations/<locale>/LC_MESSAGES/messages.po`` and compiled in memory with
Babel's own compiler the first time a language is used, so no binary ``.mo`` file
is kept in the repository and none can go stale. Fuzzy entries are never used.
"""

from __future__ import annotations

import threading
from functools import cached_property
from io import BytesIO
from pathlib import Path

from babel import support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request
from flask_babel import Babel, Domain, get_locale

TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = {"en": "English", "zh_Hans": "中文"}
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
COOKIE = "vault_lang"


def catalog_path(locale: str) -> Path:
    """The ``.po`` file of ``locale``."""
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def compile_po(locale: str) -> support.NullTranslations:
    """Translations for ``locale`` compiled from its ``.po`` file (English: none needed)."""
    path = catalog_path(locale)
    if not path.exists():
        return support.NullTranslations()
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return support.Translations(fp=buf, domain="messages")


class PoDomain(Domain):
    """flask-babel's domain, fed from the ``.po`` files (compiled once per process)."""

    def __init__(self) -> None:
        super().__init__(domain="messages")
        self._lock = threading.Lock()

    def get_translations(self) -> support.NullTranslations:
        key = str(get_locale() or "en")
        found = self.cache.get(key)
        if found is None:
            with self._lock:
                found = self.cache.get(key)
                if found is None:
                    found = self.cache[key] = compile_po(key)
        return found


class VaultBabel(Babel):
    """flask-babel with the in-memory ``.po`` domain."""

    @cached_property
    def domain_instance(self) -> PoDomain:
        return PoDomain()


def select_locale() -> str:
    """The cookie's language, else the browser's first supported one, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for tag, _quality in request.accept_languages:
        tag = tag.lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return "en"


def current() -> str:
    """The language of this request (a key of ``LANGUAGES``)."""
    return str(get_locale() or "en")


def init_app(app: Flask) -> None:
    """Install flask-babel."""
    VaultBabel(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True

"""Languages of the dashboard, the HTML report and the CLI reports: English, French and Dutch.

Messages live in gettext catalogs, ``cvm/locale/<lang>/LC_MESSAGES/cvm.po`` (``make i18n`` extracts
and updates them, see docs/translating.md). They are read at run time with Babel and compiled in
memory (:func:`translations`), so a fresh clone, an editable install and a wheel work with no build
step and no generated ``.mo`` file to forget.

The language of the work at hand is a context variable (:func:`use_locale`): a dashboard request, a
``cvm report --lang`` command or the HTML report sets it, and :func:`_`, the Jinja2 templates and the
number formats of :mod:`cvm.i18n.formats` read it, so one process can serve several languages at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

#: Languages with a catalog; English is the source language of the messages.
LANGUAGES = ("en", "fr", "nl")
DOMAIN = "cvm"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@dataclass(frozen=True)
class Lang:
    """A language choice: the CLDR locale for formats (``fr_BE``) and the currency of amounts."""

    locale: str = "en"
    currency: str = "EUR"

    @property
    def language(self) -> str:
        """The catalog's language: ``fr`` for ``fr_BE``."""
        return self.locale.split("_")[0]

    @property
    def tag(self) -> str:
        """The BCP 47 tag for ``<html lang>``: ``fr-BE``."""
        return self.locale.replace("_", "-")


_CURRENT: ContextVar[Lang] = ContextVar("cvm_lang", default=Lang())  # noqa: B039 (Lang is frozen)


def parse_locale(text: str | None) -> str | None:
    """``fr-BE``, ``fr_be`` or ``FR`` as a supported CLDR locale (``fr_BE``, ``fr``); ``None`` if not supported.

    Examples
    --------
    >>> parse_locale("nl-be"), parse_locale("FR"), parse_locale("de"), parse_locale("x!")
    ('nl_BE', 'fr', None, None)
    """
    if not text:
        return None
    try:
        found = Locale.parse(text.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    if found.language not in LANGUAGES:
        return None
    return f"{found.language}_{found.territory}" if found.territory else found.language


def current() -> Lang:
    """The language of the work at hand (English unless set by :func:`use_locale`)."""
    return _CURRENT.get()


@contextmanager
def use_locale(lang: Lang) -> Iterator[Lang]:
    """Run the block in ``lang`` (the previous language is restored after)."""
    token = _CURRENT.set(lang)
    try:
        yield lang
    finally:
        _CURRENT.reset(token)


def catalog_path(language: str) -> Path:
    """The ``.po`` file of ``language``."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The messages of ``language``, read from its ``.po`` file and compiled in memory (cached)."""
    path = catalog_path(language)
    if language == "en" or not path.is_file():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(current().language).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """``singular`` or ``plural`` for ``n``, in the current language."""
    return translations(current().language).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in ``context`` (when one English word has two translations), in the current language."""
    return str(translations(current().language).pgettext(context, message))


_ = gettext


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "mark only")
    """Mark ``message`` for extraction without translating it now (it is translated where shown)."""
    return message

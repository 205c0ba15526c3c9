"""``--lang`` of the report commands: the language of the tables and of ``cvm report html``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cvm.i18n import LANGUAGES, Lang, parse_locale

if TYPE_CHECKING:  # imported at start-up: no settings (pydantic) here
    from cvm.config.settings import Settings

LangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help=f"Language and number format: {', '.join(LANGUAGES)} or with a region (fr_BE, nl_NL); "
        "default: reporting.locale of cvm.yaml.",
        show_default=False,
    ),
]


def chosen(lang: str | None, settings: Settings) -> Lang:
    """``--lang`` if given, else ``reporting.locale``; the currency is ``reporting.currency``.

    Raises
    ------
    typer.BadParameter
        ``--lang`` names a language CVM has no catalog for.
    """
    configured = settings.reporting
    if lang is None:
        return Lang(configured.locale, configured.currency)
    locale = parse_locale(lang)
    if locale is None:
        raise typer.BadParameter(
            f"{lang!r}: use one of {', '.join(LANGUAGES)} (or with a region: fr_BE)", param_hint="--lang"
        )
    return Lang(locale, configured.currency)

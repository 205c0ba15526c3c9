"""Numbers, amounts, percentages and dates in the current language, with Babel's CLDR data.

``344 173,55 €`` in French, ``€ 344.173,55`` in Dutch, ``€344,173.55`` in English. A missing or
non-finite value is a dash; negative numbers use the minus sign (−), as the dashboard always did.
"""

from __future__ import annotations

import math
from copy import copy
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import (
    NumberPattern,
    format_compact_currency,
    format_compact_decimal,
    format_decimal,
    parse_pattern,
)

from cvm.i18n import current

DASH = "–"


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (missing, text, NaN, infinite, bool)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@lru_cache(maxsize=64)
def _pattern(locale: str, kind: str, digits: int) -> NumberPattern:
    data = Locale.parse(locale)
    source = {
        "decimal": data.decimal_formats[None],
        "percent": data.percent_formats[None],
        "currency": data.currency_formats["standard"],
    }[kind]
    pattern = copy(parse_pattern(source))
    pattern.frac_prec = (digits, digits)
    return pattern


def _minus(text: str) -> str:
    return text.replace("-", "−")


def money(value: Any, digits: int = 0) -> str:
    """An amount in the current currency: ``344 174 €`` (``digits`` decimals)."""
    number = finite(value)
    if number is None:
        return DASH
    lang = current()
    return _minus(
        _pattern(lang.locale, "currency", digits).apply(
            number, lang.locale, currency=lang.currency, currency_digits=False
        )
    )


def num(value: Any, digits: int = 0, signed: bool = False) -> str:
    """A count or score with the language's separators: ``1 234`` / ``1.234`` / ``1,234`` (``signed``: ``+12,5``)."""
    number = finite(value)
    if number is None:
        return DASH
    text = _minus(_pattern(current().locale, "decimal", digits).apply(number, current().locale))
    return "+" + text if signed and number > 0 else text


def pvalue(value: Any) -> str:
    """A p-value with three significant digits and the language's decimal sign: ``0,0137`` / ``0.0137``.

    Below 0.001 it is ``< 0,001`` (as papers write it), not a long row of zeros.
    """
    number = finite(value)
    if number is None:
        return DASH
    if 0 <= number < 0.001:
        return "< " + format_decimal(0.001, format="0.###", locale=current().locale)
    return _minus(format_decimal(number, format="@##", locale=current().locale))


def pct(value: Any, digits: int = 1) -> str:
    """A ratio (0.953) as a percentage: ``95,3 %`` in French, ``95,3%`` in Dutch, ``95.3%`` in English."""
    number = finite(value)
    if number is None:
        return DASH
    return _minus(_pattern(current().locale, "percent", digits).apply(number, current().locale))


def compact(value: Any) -> str:
    """A large amount in short form for headline tiles: ``1,24 M €``, ``€ 815K``, ``€1.24M``."""
    number = finite(value)
    if number is None:
        return DASH
    if abs(number) < 1000:
        return money(number)
    lang = current()
    digits = 2 if abs(number) < 10 * 10 ** (3 * int(math.log10(abs(number)) // 3)) else 1
    return _minus(format_compact_currency(number, lang.currency, locale=lang.locale, fraction_digits=digits))


def compact_number(value: Any) -> str:
    """A large count in short form: ``1,2 M``."""
    number = finite(value)
    if number is None:
        return DASH
    return _minus(format_compact_decimal(number, locale=current().locale, fraction_digits=1))


def day(value: date | datetime | str | None, style: str = "medium") -> str:
    """A date in the current language: ``6 déc. 2026``, ``6 dec 2026``, ``Dec 6, 2026``."""
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    return str(format_date(value, format=style, locale=current().locale))


def separators() -> str:
    """Plotly's ``layout.separators`` for the current language: the decimal mark, then the group mark.

    Examples
    --------
    >>> from cvm.i18n import Lang, use_locale
    >>> with use_locale(Lang("nl_BE")):
    ...     separators()
    ',.'
    >>> separators()
    '.,'
    """
    symbols = Locale.parse(current().locale).number_symbols["latn"]
    return f"{symbols['decimal']}{symbols['group']}"


def chart_locale() -> dict[str, Any]:
    """A Plotly locale module for the current language (month and day names from CLDR), for dates on axes."""
    from babel.dates import get_day_names, get_month_names

    locale = current().locale
    days = get_day_names("wide", locale=locale)
    short_days = get_day_names("abbreviated", locale=locale)
    return {
        "moduleType": "locale",
        "name": current().language,
        "dictionary": {},
        "format": {
            "days": [days[(i + 6) % 7] for i in range(7)],  # Sunday first, as d3 wants
            "shortDays": [short_days[(i + 6) % 7] for i in range(7)],
            "months": [get_month_names("wide", locale=locale)[m] for m in range(1, 13)],
            "shortMonths": [get_month_names("abbreviated", locale=locale)[m] for m in range(1, 13)],
            "decimal": separators()[0],
            "thousands": separators()[1],
        },
    }

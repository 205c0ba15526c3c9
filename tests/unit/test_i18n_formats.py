"""Numbers, amounts, percentages and dates per locale: the exact strings of Babel's CLDR data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cvm.config.settings import ConfigError, load_settings
from cvm.i18n import Lang, current, parse_locale, use_locale
from cvm.i18n.formats import compact, day, money, num, pct
from cvm.i18n.labels import label
from cvm.web.language import accept_language

NNBSP, NBSP = "\u202f", "\xa0"  # CLDR's French group separator, and the space before €


@pytest.mark.parametrize(
    ("locale", "amount", "amount0", "negative", "percent", "count", "short"),
    [
        ("fr_BE", f"344{NNBSP}173,55{NBSP}€", f"344{NNBSP}174{NBSP}€", f"−1{NNBSP}234{NBSP}€", f"95,3{NBSP}%",
         f"1{NNBSP}234{NNBSP}567", f"1,24{NBSP}M{NBSP}€"),
        ("fr_FR", f"344{NNBSP}173,55{NBSP}€", f"344{NNBSP}174{NBSP}€", f"−1{NNBSP}234{NBSP}€", f"95,3{NBSP}%",
         f"1{NNBSP}234{NNBSP}567", f"1,24{NBSP}M{NBSP}€"),
        ("nl_BE", f"€{NBSP}344.173,55", f"€{NBSP}344.174", f"€{NBSP}−1.234", "95,3%", "1.234.567",
         f"€{NBSP}1,24{NBSP}mln."),
        ("nl_NL", f"€{NBSP}344.173,55", f"€{NBSP}344.174", f"€{NBSP}−1.234", "95,3%", "1.234.567",
         f"€{NBSP}1,24{NBSP}mln."),
        ("en", "€344,173.55", "€344,174", "−€1,234", "95.3%", "1,234,567", "€1.24M"),
    ],
)  # fmt: skip
def test_formats_per_locale(
    locale: str, amount: str, amount0: str, negative: str, percent: str, count: str, short: str
) -> None:
    with use_locale(Lang(locale, "EUR")):
        assert money(344173.55, 2) == amount
        assert money(344173.55) == amount0
        assert money(-1234) == negative
        assert pct(0.953) == percent
        assert num(1234567) == count
        assert compact(1_240_000) == short


def test_missing_values_are_a_dash_and_the_currency_is_configurable() -> None:
    with use_locale(Lang("fr_BE", "USD")):
        assert money(12.5, 2) == f"12,50{NBSP}$US"
        assert [money(None), pct(float("nan")), num("x"), compact(None), day(None)] == ["–"] * 5
    with use_locale(Lang("en_GB", "GBP")):
        assert money(1234.5, 2) == "£1,234.50"


def test_dates_per_locale() -> None:
    when = date(2026, 12, 6)
    shown = {}
    for locale in ("fr_BE", "nl_BE", "en"):
        with use_locale(Lang(locale)):
            shown[locale] = day(when)
    assert shown == {"fr_BE": "6 déc. 2026", "nl_BE": "6 dec 2026", "en": "Dec 6, 2026"}


def test_the_language_is_restored_after_the_block() -> None:
    with use_locale(Lang("nl_BE")):
        with use_locale(Lang("fr")):
            assert current().language == "fr"
        assert current().tag == "nl-BE"
    assert current() == Lang()


def test_locale_tags_and_accept_language() -> None:
    assert [parse_locale(t) for t in ("fr-BE", "nl_nl", "EN", "de", "", None, "zz-!!")] == [
        "fr_BE", "nl_NL", "en", None, None, None, None,
    ]  # fmt: skip
    assert accept_language("de-DE,nl-BE;q=0.8,fr;q=0.9,*;q=0.5") == ["fr", "nl_BE"]
    assert accept_language("en;q=0,nl") == ["nl"]
    assert accept_language("fr;q=abc") == []
    assert accept_language("x" * 10_000) == []


def test_domain_labels_per_language() -> None:
    words = {}
    for lang in ("en", "fr", "nl"):
        with use_locale(Lang(lang)):
            words[lang] = [
                label("too_expensive", "churn_reason"),
                label("new", "movement"),
                label("new", "stage"),
                label("sell", "objective"),
                label("consent_sms", "field"),
                label("churn:high", "segment"),
                label("Brussels", "region"),
            ]
    assert words["en"] == ["too expensive", "new", "new", "sell", "SMS consent", "Churn risk: high", "Brussels"]
    assert words["fr"] == [
        "trop cher", "nouveaux", "nouveau", "vendre", "Consentement SMS", "Risque de départ\u00a0: élevé", "Brussels",
    ]  # fmt: skip
    assert words["nl"] == ["te duur", "nieuw", "nieuw", "verkopen", "Toestemming sms", "Opzegrisico: hoog", "Brussels"]


def test_reporting_settings_are_checked(tmp_path: Path) -> None:
    root = tmp_path
    (root / "cvm.yaml").write_text("reporting:\n  locale: nl-be\n  currency: gbp\n", encoding="utf-8")
    settings = load_settings(root)
    assert (settings.reporting.locale, settings.reporting.currency) == ("nl_BE", "GBP")
    (root / "cvm.yaml").write_text("reporting:\n  locale: de\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"reporting\.locale"):
        load_settings(root)
    (root / "cvm.yaml").write_text("reporting:\n  currency: EURO\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"reporting\.currency"):
        load_settings(root)

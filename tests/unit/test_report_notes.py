"""A report's warnings stay English in its summary (JSON, cache) and are shown in the reader's language."""

from __future__ import annotations

from datetime import date

import polars as pl

from cvm.i18n import Lang, use_locale
from cvm.i18n.notes import note_text
from cvm.reporting.reports import censoring_note, sample_warnings


def test_the_reports_own_warnings_are_said_in_french_and_dutch() -> None:
    censoring = censoring_note(date(2026, 12, 5), 365)
    overall = pl.DataFrame({"segment": ["Brussels"], "responses": [3], "small_sample": [True]})
    per = pl.DataFrame({"small_sample": [True, False]})
    warnings = [censoring, *sample_warnings(overall, per, 30)]
    assert [note_text(w) for w in warnings[1:]] == warnings[1:]  # English stays English (dates in its format)
    with use_locale(Lang("fr_BE")):
        french = [note_text(w) for w in warnings]
    assert french[0].startswith("Censuré à droite après le 5 déc. 2025\u00a0: un client sans contrat")
    assert french[1] == "Le NPS de Brussels repose sur 3 réponses (moins de 30)\u00a0: ce chiffre n'est pas fiable"
    assert french[2] == "Moins de 30 réponses pour 1 des 2 périodes"
    with use_locale(Lang("nl_BE")):
        assert note_text(warnings[0]).startswith("Rechts gecensureerd na 5 dec 2025:")


def test_an_unknown_sentence_is_shown_as_it_is() -> None:
    with use_locale(Lang("fr_BE")):
        assert note_text("a note no catalog knows") == "a note no catalog knows"

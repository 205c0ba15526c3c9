"""Every message the code and the templates use has a French and a Dutch translation.

The messages are extracted with Babel exactly as ``make i18n`` does (babel.cfg and the Makefile's
keywords), then looked up in each catalog: a missing, empty or fuzzy translation fails the test, and so
does a translation whose ``%(name)s`` placeholders differ from the English message's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import cvm
from cvm.i18n import LANGUAGES, catalog_path

ROOT = Path(cvm.__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "NP_": ((1, "c"), 2), "pgettext": ((1, "c"), 2)}
MAKE_KEYWORDS = re.compile(r"^BABEL_KEYWORDS := (.*)$", re.MULTILINE)
PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")
Key = tuple[str | None, str]


def _method_map(cfg: Path) -> list[tuple[str, str]]:
    return [(p.strip(), m.strip()) for m, p in re.findall(r"^\[(\w+):\s*([^\]]+)\]", cfg.read_text(), re.MULTILINE)]


def used_messages(root: Path) -> set[Key]:
    """The (context, message) pairs that the code and the templates of ``root`` mark for translation."""
    options = {"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}}
    found: set[Key] = set()
    method_map = _method_map(ROOT / "babel.cfg")
    for _file, _line, message, _comments, context in extract_from_dir(
        str(root), method_map, options_map=options, keywords=KEYWORDS
    ):
        text = message if isinstance(message, str) else message[0]
        found.add((context, text))
    return found


def missing(language: str, used: set[Key]) -> list[str]:
    """What the ``language`` catalog lacks for ``used``: absent, empty or fuzzy entries, or other placeholders."""
    with catalog_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    problems = []
    for context, text in sorted(used, key=lambda k: (k[0] or "", k[1])):
        entry = catalog.get(text, context=context)
        where = f"{context}|{text!r}" if context else repr(text)
        if entry is None or not entry.string:
            problems.append(f"untranslated: {where}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {where}")
        elif sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(str(entry.string))):
            problems.append(f"placeholders differ: {where}")
    return problems


@pytest.fixture(scope="module")
def used() -> set[Key]:
    return used_messages(ROOT)


def test_the_extraction_sees_the_templates_and_the_code(used: set[Key]) -> None:
    assert (None, "Net revenue retention") in used  # growth.html
    assert ("churn_reason", "too expensive") in used  # cvm.i18n.labels
    assert (None, "paid on average %(value)s days late over the last year") in used  # cvm.scoring.reasons
    assert (None, "Log in to CVM") in used  # login.html
    assert len(used) > 300


def test_the_keywords_are_those_of_the_makefile() -> None:
    line = MAKE_KEYWORDS.search((ROOT / "Makefile").read_text())
    assert line is not None
    assert {k.split(":")[0] for k in line.group(1).split() if k != "-k"} == set(KEYWORDS)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_used_message_is_translated(language: str, used: set[Key]) -> None:
    assert missing(language, used) == []


def test_a_new_untranslated_message_is_found(tmp_path: Path) -> None:
    """The check itself: a template with a message no catalog has fails it."""
    templates = tmp_path / "src" / "cvm" / "web" / "templates"
    templates.mkdir(parents=True)
    (templates / "new.html").write_text('<h1>{{ _("Quarterly steering committee") }}</h1>\n{{ _("Growth") }}\n')
    used = used_messages(tmp_path)
    assert used == {(None, "Quarterly steering committee"), (None, "Growth")}
    assert missing("fr", used) == ["untranslated: 'Quarterly steering committee'"]

"""The definitions behind every report: one Markdown source per report and language, rendered everywhere.

``definitions/<lang>/<report>.md`` (English, French, Dutch) is the only text: ``Report.definitions``
(JSON) carries it as Markdown, the HTML report and the dashboard show it as HTML (:func:`to_html`, raw
HTML in the source is escaped), and ``docs/reports.md`` is generated from it (:func:`reports_markdown`;
a test fails when the file differs). Regenerate the page with ``python -m cvm.reporting.definitions docs/reports.md``.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from markdown_it import MarkdownIt

LANGUAGES = ("en", "fr", "nl")
SOURCES = {
    "growth": "growth",
    "voc": "voc",
    "cohorts": "cohorts",
    "migration": "migration",
    "churn": "churn",
    "silent-churn": "churn",
    "scores": "scores",
}
ORDER = ("growth", "voc", "cohorts", "migration", "churn", "scores")
_MD = MarkdownIt("commonmark", {"html": False, "typographer": False})


@lru_cache(maxsize=64)
def definition(kind: str, lang: str = "en") -> str:
    """The Markdown definitions of report ``kind`` in ``lang`` (``fr``, ``nl-BE`` …; English when it has none)."""
    try:
        name = SOURCES[kind]
    except KeyError:
        raise ValueError(f"no definitions for report {kind!r}; reports: {', '.join(SOURCES)}") from None
    code = lang.replace("_", "-").split("-")[0].lower()
    source = files(__package__) / (code if code in LANGUAGES else "en") / f"{name}.md"
    return source.read_text(encoding="utf-8")


def to_html(markdown: str, top: int = 3) -> str:
    """Markdown as HTML (raw HTML in the text is escaped), headings moved down to start at ``<h{top}>``."""
    html: str = _MD.render(markdown)
    for level in range(6, 0, -1):
        shifted = min(level + top - 1, 6)
        html = html.replace(f"<h{level}>", f"<h{shifted}>").replace(f"</h{level}>", f"</h{shifted}>")
    return html


@lru_cache(maxsize=64)
def definition_html(kind: str, lang: str = "en") -> str:
    """:func:`definition` rendered by :func:`to_html` (once per report and language: pages render it often)."""
    return to_html(definition(kind, lang))


def reports_markdown(lang: str = "en") -> str:
    """The whole ``docs/reports.md`` page: every report's definitions, headings one level down."""
    head = (
        "# Reports: what each figure means\n\n"
        "<!-- Generated from src/cvm/reporting/definitions/ by `python -m cvm.reporting.definitions "
        "docs/reports.md`: edit those files, not this one. -->\n\n"
        "The same text appears under *Definitions* in the dashboard, the HTML report (`cvm report html`) "
        "and `cvm report ... --json` (`definitions`).\n"
    )
    parts = [head]
    for kind in ORDER:
        body = "\n".join(f"#{line}" if line.startswith("#") else line for line in definition(kind, lang).splitlines())
        parts.append(body.strip() + "\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """Write :func:`reports_markdown` to the path given (``docs/reports.md``)."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m cvm.reporting.definitions docs/reports.md\n")
        return 2
    Path(argv[0]).write_text(reports_markdown(), encoding="utf-8")
    return 0

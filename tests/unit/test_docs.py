"""The documentation in docs/ is up to date and every file the sources cite exists."""

from __future__ import annotations

import re
from pathlib import Path

import cvm
from cvm.config.reference import render, template_comments

ROOT = Path(cvm.__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CITED = re.compile(r"\b((?:docs|bench|tests|scripts)/[A-Za-z0-9_/.-]+\.(?:md|py|sh))\b")


def test_configuration_reference_is_generated_from_the_settings() -> None:
    expected = render()
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == expected, (
        "docs/configuration.md is stale: run `python -m cvm.config.reference docs/configuration.md`"
    )


def test_the_reference_describes_keys_from_the_template_comments() -> None:
    comments = template_comments("ingest:\n  # Rows.\n  a: 1\n  b: 2\n\n  c: 3\nstore:\n  # Where.\n  d: x\n")
    assert comments == {"ingest.a": "Rows.", "ingest.b": "Rows.", "store.d": "Where."}
    text = render()
    assert "| `max_reject_ratio` | `float` | `0.05` | A batch whose rejected share exceeds this ratio" in text


def test_every_file_a_source_cites_exists() -> None:
    missing = {
        f"{path.relative_to(ROOT)}: {cited}"
        for path in (ROOT / "src").rglob("*.py")
        for cited in CITED.findall(path.read_text(encoding="utf-8"))
        if not (ROOT / cited).exists()
    }
    assert sorted(missing) == []


def test_the_index_links_pages_that_exist() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", (DOCS / "index.md").read_text(encoding="utf-8"))
    assert {"configuration.md", "tables.md", "reports.md", "../README.md"} <= set(links)
    missing = [link for link in links if not (DOCS / link).exists()]
    assert missing == []

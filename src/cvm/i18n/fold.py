"""Accent- and case-insensitive text matching: one folding rule for the search text and the data.

``fold("Société Générale") == "societe generale"``: Unicode NFKD decomposition (``é`` becomes
``e`` plus a combining accent, ``ﬁ`` becomes ``fi``), non-spacing marks (category Mn) dropped, then lower case.
:func:`fold` applies it to a Python string (the user's search text), :func:`fold_expr` to a Polars
column (the customers' names); a test holds the two to the same answers. The customer search and the
header matching of ``cvm sources suggest`` (:func:`cvm.ingest.synonyms.fold`) both fold with it.
"""

from __future__ import annotations

import unicodedata

import polars as pl


def fold(text: str) -> str:
    """``text`` without accents, in lower case (NFKD, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def fold_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`fold` as a Polars expression on a text column."""
    return expr.str.normalize("NFKD").str.replace_all(r"\p{Mn}", "").str.to_lowercase()

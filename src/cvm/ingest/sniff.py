"""Sniffing raw export bytes: gzip, encoding (BOMs, UTF-8, cp1252, Latin-1), delimiter and preamble."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import itertools
from pathlib import Path

from cvm.errors import InvalidError

_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 1 << 20
_CHUNK = 1 << 24
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SourceError(InvalidError):
    """A source could not be read; the message names the source and the problem."""


def read_bytes(path: Path) -> bytes:
    """File content, gunzipped when it carries the gzip magic number."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read file: {exc}") from exc
    if not raw.strip():
        raise SourceError(f"{path}: empty file")
    return raw


def is_utf8(raw: bytes) -> bool:
    """Validate UTF-8 in chunks without holding the decoded text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(raw), _CHUNK):
            decoder.decode(raw[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(raw: bytes) -> str:
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    if is_utf8(raw):
        return "utf-8"
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def to_utf8(raw: bytes, forced: str | None, source: str) -> tuple[bytes, str]:
    """UTF-8 bytes without BOM, and the encoding used."""
    if forced is None:
        encoding = detect_encoding(raw)
    else:
        try:
            encoding = codecs.lookup(forced).name
        except LookupError as exc:
            raise SourceError(f"{source}: unknown encoding {forced!r}") from exc
    if encoding in ("utf-8", "utf-8-sig"):  # no transcoding: drop the BOM and check validity
        data = raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw
        if (forced is None and encoding == "utf-8") or is_utf8(data):
            return data, encoding
        raise SourceError(f"{source}: cannot decode with encoding {encoding!r}: invalid UTF-8 bytes")
    try:
        return raw.decode(encoding).lstrip("\ufeff").encode("utf-8"), encoding
    except UnicodeDecodeError as exc:
        raise SourceError(f"{source}: cannot decode with encoding {encoding!r}: {exc}") from exc


def sample_text(data: bytes) -> tuple[str, bool]:
    """The first complete lines of ``data`` (about 1 MiB) and whether it was cut."""
    if len(data) <= _SAMPLE_BYTES:
        return data.decode("utf-8", errors="replace"), False
    cut = data.rfind(b"\n", 0, _SAMPLE_BYTES)
    end = cut + 1 if cut > 0 else _SAMPLE_BYTES
    return data[:end].decode("utf-8", errors="replace"), True


def detect_delimiter(sample: str, truncated: bool) -> str:
    """The candidate splitting the sample into the most consistent rows, then the widest."""
    best: tuple[float, int] = (0.0, 1)
    choice = ","
    for delim in _DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delim)
        try:
            rows = [r for r in itertools.islice(reader, 500) if r]
        except csv.Error:
            continue
        if truncated and len(rows) > 2:
            rows = rows[:-1]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best:
            best, choice = score, delim
    return choice


def preamble(data: bytes) -> tuple[bytes, int, str | None]:
    """Drop leading blank lines and Excel's ``sep=;`` hint line: (body, lines dropped, hinted delimiter)."""
    body = data.lstrip(b"\r\n")
    leading = data[: len(data) - len(body)].count(b"\n")
    if body[:4].lower() != b"sep=":
        return body, leading, None
    end = body.find(b"\n") + 1 or len(body)
    hint = body[4:end].strip(b"\r\n").decode()
    rest = body[end:].lstrip(b"\r\n")
    skipped = body[end : len(body) - len(rest)].count(b"\n")
    return rest, leading + 1 + skipped, hint if len(hint) == 1 else None

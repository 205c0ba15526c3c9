"""Erasure of a customer from the data files in a workspace: inbox, exports, demo sources.

The offline and online stores have their own erasure; this module handles the files around them:
the inbox (files waiting, refused or archived under ``inbox/<table>/archive/``), the CSV and
Parquet action exports (``delivery.export_dir``), the demo company's source files and any other
data file in the workspace (``.csv .tsv .txt .parquet .pq .jsonl .ndjson .json``, optionally
``.gz``). The offline store, the model registry (``models/``: aggregates only) and hidden files
are left to their owners.

A record belongs to the customer when one of its cells, trimmed, is the customer id (exactly), the
e-mail (any case), or the phone number (also written with other spaces or punctuation). A cell that
a spreadsheet-safe writer prefixed with ``'`` (``'=...``) is compared without that quote. Such
records are removed; nothing else in the file changes:

* CSV text keeps its bytes: the encoding (UTF-8 with or without BOM, cp1252, Latin-1), the
  delimiter, the quoting, the line ends and any ``sep=`` line are those of the file, as the inbox
  reader detected them. UTF-16/32 files are written back with the same encoding and a BOM.
* JSON lines keep every other line as it was; a ``.json`` array of objects is written back
  normalised (one object per line). Other JSON documents are left alone.
* Parquet files are written back with the same schema (and metadata) and compression codec;
  text columns are searched (cells inside nested list or struct columns are not).
* A text file that cannot be parsed as CSV loses the physical lines with a field that is one of
  the values (fields split at ``, ; tab |`` and quotes) or that contain the e-mail.
* Gzipped files stay gzipped.

Each rewrite is atomic: a temporary file in the same folder, synced, then ``os.replace``, so a crash
leaves either the old or the new file, never half of one. Files without the customer are not touched.

Imports from a sibling stage: :mod:`cvm.ingest.sniff`, so that a file is read with the encoding and
delimiter the inbox reader detected when it ingested it (and written back the same way).
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cvm.ingest.sniff import detect_delimiter, detect_encoding, preamble, sample_text

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet", ".pq")
SKIPPED_DIRS = ("models",)
_PHONE = re.compile(r"^\+?[\d\s().\-/]{7,}$")
_NEUTRALISED = re.compile(r"^'(?=[=+\-@\t\r])")
_GZIP = b"\x1f\x8b"
log = logging.getLogger("cvm.erasure")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass(frozen=True)
class Identifiers:
    """What identifies the customer in a file: the id (exact), the e-mail (any case), the phone (digits)."""

    customer_id: str
    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()  # digits only

    @classmethod
    def of(cls, customer_id: str, email: str | None = None, phone: str | None = None) -> Identifiers:
        emails = frozenset({email.strip().lower()} if email and email.strip() else set())
        phones = frozenset({_digits(phone)} if phone and len(_digits(phone)) >= 7 else set())
        return cls(customer_id, emails, phones)

    def matches(self, cell: str) -> bool:
        """Whether one cell is the customer's id, e-mail or phone."""
        value = _NEUTRALISED.sub("", cell.strip())
        if value == self.customer_id or value.lower() in self.emails:
            return True
        return bool(self.phones) and bool(_PHONE.match(value)) and _digits(value) in self.phones

    def in_text(self, text: str) -> bool:
        """Whether ``text`` may hold a value (a quick test before parsing; phones by their digits)."""
        lower = text.lower()
        if self.customer_id in text or any(e in lower for e in self.emails):
            return True
        digits = _digits(text) if self.phones else ""
        return any(p in digits for p in self.phones)

    def line_hit(self, line: str) -> bool:
        """Whether a physical line holds a value (for text that is not CSV): a field split at ``, ; tab |``
        and quotes is one of the values, or the line contains the e-mail. Ids are never matched inside
        longer text, so that ``C1`` does not take ``C10``'s line with it."""
        lower = line.lower()
        return any(e in lower for e in self.emails) or any(self.matches(p) for p in re.split(r'[,;\t|"]', line))


class _ChangedError(Exception):
    """The file changed while it was being rewritten (a worker appended to an export): read it again."""


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _atomic_write(path: Path, data: bytes, read_as: tuple[int, int, int]) -> None:
    """Replace ``path`` by ``data``: a synced temporary file in the same folder, then ``os.replace``.

    Raises :class:`_ChangedError`, leaving ``path`` alone, when it no longer is the file that was read.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    mode = path.stat().st_mode & 0o777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        if _signature(path) != read_as:
            raise _ChangedError(path)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _lines(text: str) -> list[str]:
    """Physical lines with their ``\\n`` (a ``\\r\\n`` stays whole); the last one may lack it."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _csv_records(text: str, delimiter: str) -> Iterator[tuple[str, list[str]]]:
    """Each CSV record as (its exact text, its cells); raises ``csv.Error`` on text that is not CSV."""
    lines = _lines(text)
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=True)
    start = 0
    for cells in reader:
        end = reader.line_num
        yield "".join(lines[start:end]), cells
        start = end


def _filter_csv(text: str, who: Identifiers) -> tuple[str, int]:
    body, _, hint = preamble(text.lstrip("\ufeff").encode("utf-8"))
    delimiter = hint or detect_delimiter(*sample_text(body))
    kept: list[str] = []
    removed = 0
    try:
        for record, cells in _csv_records(text, delimiter):
            if any(who.matches(c) for c in cells):
                removed += 1
            else:
                kept.append(record)
    except csv.Error:
        return _filter_lines(text, who)
    return "".join(kept), removed


def _filter_lines(text: str, who: Identifiers) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    kept = [ln for ln in lines if not who.line_hit(ln)]
    return "".join(kept), len(lines) - len(kept)


def _cells(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _cells(v)
    elif isinstance(value, list):
        for v in value:
            yield from _cells(v)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _filter_json(text: str, who: Identifiers) -> tuple[str, int]:
    if text.lstrip("\ufeff \t\r\n").startswith("["):
        try:
            records = json.loads(text.lstrip("\ufeff"))
        except json.JSONDecodeError:
            return text, 0
        if not isinstance(records, list):
            return text, 0
        kept = [r for r in records if not any(who.matches(c) for c in _cells(r))]
        lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in kept)
        return f"[\n{lines}\n]\n" if kept else "[]\n", len(records) - len(kept)
    out: list[str] = []
    removed = 0
    for line in _lines(text):
        try:
            hit = any(who.matches(c) for c in _cells(json.loads(line))) if line.strip() else False
        except json.JSONDecodeError:
            hit = who.line_hit(line)
        removed += hit
        if not hit:
            out.append(line)
    return "".join(out), removed


def _rewrite_text(path: Path, who: Identifiers, kind: str) -> int:
    read_as = _signature(path)
    raw = path.read_bytes()
    zipped = raw[:2] == _GZIP
    data = gzip.decompress(raw) if zipped else raw
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    if not who.in_text(text):
        return 0
    new, removed = _filter_json(text, who) if kind == "json" else _filter_csv(text, who)
    if removed:
        encoded = new.encode(encoding)
        _atomic_write(path, gzip.compress(encoded, mtime=0) if zipped else encoded, read_as)
    return removed


def _string_mask(column: pa.ChunkedArray, who: Identifiers) -> pa.ChunkedArray | None:
    """Rows whose cell in a text column is one of the customer's values (None: not a text column)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
        column = column.cast(kind)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(column), pattern=r"^'([=+\-@\t\r])", replacement=r"\1")
    mask = pc.or_(
        pc.is_in(text, value_set=pa.array([who.customer_id], kind)),
        pc.is_in(pc.utf8_lower(text), value_set=pa.array(sorted(who.emails), kind)),
    )
    if who.phones:
        phone = pc.and_(
            pc.match_substring_regex(text, _PHONE.pattern),
            pc.is_in(
                pc.replace_substring_regex(text, pattern=r"\D", replacement=""),
                value_set=pa.array(sorted(who.phones), kind),
            ),
        )
        mask = pc.or_(mask, phone)
    return pc.fill_null(mask, False)


def _rewrite_parquet(path: Path, who: Identifiers) -> int:
    read_as = _signature(path)
    with pq.ParquetFile(path) as source:
        meta = source.metadata
        first = meta.num_row_groups and meta.num_columns
        codec = str(meta.row_group(0).column(0).compression).lower() if first else "zstd"
        table = source.read()
    masks = [m for m in (_string_mask(c, who) for c in table.columns) if m is not None]
    if not masks:
        return 0
    hit = masks[0]
    for m in masks[1:]:
        hit = pc.or_(hit, m)
    removed = int(pc.sum(hit).as_py() or 0)
    if removed:
        kept = table.filter(pc.invert(hit))
        sink = pa.BufferOutputStream()
        pq.write_table(kept, sink, compression=None if codec == "uncompressed" else codec)
        _atomic_write(path, sink.getvalue().to_pybytes(), read_as)
    return removed


def erase_file(path: Path, who: Identifiers, attempts: int = 5) -> int:
    """Remove the customer's records from one data file (atomically); records removed.

    A file that changes between the read and the replace (a worker appending to a CSV export)
    is read again, up to ``attempts`` times. The check narrows the window to the moment between
    the last look and the replace; an append in that moment would go to the replaced file.
    """
    name = path.name.lower().removesuffix(".gz")
    for _ in range(attempts):
        try:
            if name.endswith(PARQUET_SUFFIXES):
                return _rewrite_parquet(path, who)
            if name.endswith(JSON_SUFFIXES):
                return _rewrite_text(path, who, "json")
            if name.endswith(TEXT_SUFFIXES):
                return _rewrite_text(path, who, "csv")
            return 0
        except _ChangedError:
            continue
    raise OSError(f"{path} kept changing while it was being rewritten")


def data_files(workspace: Path, skip: Iterable[Path] = ()) -> Iterator[Path]:
    """Data files under ``workspace``, except hidden ones, ``models/`` and the folders in ``skip``."""
    skipped = {p.resolve() for p in skip} | {(workspace / d).resolve() for d in SKIPPED_DIRS}
    suffixes = TEXT_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
    for folder, dirs, names in os.walk(workspace):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() not in skipped)
        for name in sorted(names):
            if not name.startswith(".") and name.lower().removesuffix(".gz").endswith(suffixes):
                yield here / name


def erase_files(workspace: Path, who: Identifiers, skip: Iterable[Path] = ()) -> dict[str, int]:
    """Remove the customer from every data file in the workspace; records removed per top folder.

    A file that cannot be read or written (damaged, not the format its name says, no permission) is
    left as it was, logged as a warning and counted under ``files.unreadable``, and the others are done.
    """
    counts: dict[str, int] = {}
    root = Path(workspace)
    for path in data_files(root, skip):
        try:
            removed = erase_file(path, who)
        except (OSError, EOFError, UnicodeDecodeError, pa.ArrowException) as exc:
            log.warning("erasure: %s could not be rewritten and was left as it was: %s", path, exc)
            counts["files.unreadable"] = counts.get("files.unreadable", 0) + 1
            continue
        if removed:
            top = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else "."
            counts[f"files.{top}"] = counts.get(f"files.{top}", 0) + removed
    return counts

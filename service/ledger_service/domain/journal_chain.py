"""The hash chain of a book's journal (docs/contract.md#journal): a record's canonical bytes, how its hash
links it to the record before it, the export file's lines, and checking records in order until the first
one that breaks the chain.

Standard library only, and importing nothing of the service: the client package ships this very file
(ledger_client/journal_chain.py) for `ledger-client verify-journal`, so that the service, its exporter
and the offline verifier apply one rule.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import IO, Iterable, Iterator, Mapping

# The "previous hash" of a book's first record.
GENESIS_HASH = "0" * 64
EXPORT_FORMAT = "soap-ledger-journal"
EXPORT_VERSION = 1
# What an export line carries in place of a hash for a history row that no record records.
UNRECORDED = "-"


class Reason(str, Enum):
    """Why a record breaks the chain."""

    HASH_MISMATCH = "hash mismatch"
    MISSING_RECORD = "missing record"
    OUT_OF_ORDER = "record out of order"
    CONTENT_CHANGED = "content changed"


def canonical_bytes(content: Mapping) -> bytes:
    """A record's content as the chain hashes it: JSON with the keys of every object sorted, no
    whitespace, strings as UTF-8 with only the escapes JSON requires (the JSON Canonicalization Scheme,
    RFC 8785, for content that holds only strings, integers, booleans, lists and objects)."""
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def chain_hash(previous_hash: str, content: bytes) -> str:
    """A record's hash: SHA-256, as 64 lowercase hex digits, of the previous record's hash (those 64
    characters, in ASCII) followed by the record's canonical bytes."""
    return hashlib.sha256(previous_hash.encode("ascii") + content).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first record that breaks the chain, and why."""

    sequence: int
    reason: Reason


def _claimed_sequence(content: bytes) -> int | None:
    try:
        claimed = json.loads(content)
    except ValueError:
        return None
    return claimed.get("sequence") if isinstance(claimed, dict) else None


@dataclass
class Chain:
    """Checks a book's records in order, starting after the record `sequence` whose hash is `hash` (at
    the book's start: 0 and GENESIS_HASH). `check` each record in turn; the first break is kept in
    `broken`, and nothing after it is judged."""

    sequence: int = 0
    hash: str = GENESIS_HASH
    checked: int = 0
    broken: Break | None = field(default=None)

    def check(self, sequence: int, hash: str | None, content: bytes, rows: bytes | None = None) -> Break | None:
        """The record numbered `sequence` with its stored `hash` (None: a history row that no record
        records, standing here) and its canonical `content` as recorded; `rows`: the content rebuilt
        from the rows of entries, lines and outcomes as they are now, when the caller can (the service
        can; an export holds only the rebuilt content, as `content`). Returns the break, if this is one."""
        if self.broken is None:
            self.broken = self._judge(sequence, hash, content, rows)
            if self.broken is None:
                self.sequence, self.hash, self.checked = sequence, hash, self.checked + 1
        return self.broken

    def _judge(self, sequence: int, hash: str | None, content: bytes, rows: bytes | None) -> Break | None:
        expected = self.sequence + 1
        if hash is None:
            return Break(sequence, Reason.MISSING_RECORD)
        if sequence > expected:
            return Break(expected, Reason.MISSING_RECORD)
        claimed = _claimed_sequence(content)
        if sequence < expected or (claimed is not None and claimed != sequence):
            return Break(sequence, Reason.OUT_OF_ORDER)
        if rows is not None and rows != content:
            return Break(sequence, Reason.CONTENT_CHANGED)
        if chain_hash(self.hash, content) != hash:
            return Break(sequence, Reason.HASH_MISMATCH)
        return None


# --- the export file ---

def export_header(book: str) -> str:
    """The first line of an export: which format, and whose journal."""
    return json.dumps({"book": book, "format": EXPORT_FORMAT, "version": EXPORT_VERSION}, sort_keys=True) + "\n"


def export_line(sequence: int, hash: str | None, content: bytes) -> str:
    """One record of an export: its sequence, its hash (UNRECORDED for a row no record records), and its
    canonical content, separated by single spaces, on one line (canonical JSON holds no line break)."""
    return f"{sequence} {hash or UNRECORDED} {content.decode('utf-8')}\n"


class ExportError(ValueError):
    """A file that is not a journal export."""


@dataclass(frozen=True)
class ExportCheck:
    """What checking an export found."""

    book: str
    records: int
    last_sequence: int
    last_hash: str
    broken: Break | None
    # With a head to look for: whether a record before any break has that hash.
    head_found: bool | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None and self.head_found is not False


def _records(lines: Iterable[str]) -> Iterator[tuple[int, str | None, bytes]]:
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        try:
            sequence, hash, content = line.rstrip("\n").split(" ", 2)
            yield int(sequence), None if hash == UNRECORDED else hash, content.encode("utf-8")
        except ValueError:
            raise ExportError(f"line {number} is not `SEQUENCE HASH CONTENT`") from None


def check_export(file: IO[str], head: str | None = None) -> ExportCheck:
    """Checks a journal export from its first record on; with `head` (a record's hash obtained earlier),
    also whether that record is in the export with nothing before it changed."""
    try:
        header = json.loads(file.readline())
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise ExportError(f"the first line is not a {EXPORT_FORMAT} header")
    if header.get("version") != EXPORT_VERSION:
        raise ExportError(f"version {header.get('version')} of {EXPORT_FORMAT} is not one this verifier reads")
    chain, head_found = Chain(), None if head is None else False
    for sequence, hash, content in _records(file):
        if chain.check(sequence, hash, content) is not None:
            break
        if hash == head:
            head_found = True
    return ExportCheck(header.get("book", ""), chain.checked, chain.sequence, chain.hash, chain.broken, head_found)

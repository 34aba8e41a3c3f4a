"""`ledger-service import`: a chart of accounts and the entries an ERP migration starts with, from CSV.

Accounts: `code,name,type,currency,parentCode,noNegativeBalance`, a row an account, in any order (a
parent is opened before its children). Entries: `reference,effectiveDate,description,account,side,
amount,memo`, a row a line, consecutive rows of one reference forming one entry. Both are UTF-8 with a
header row. The work goes in chunks, each one transaction; a row that cannot be loaded is reported
with its line number and the rest go on. A load run again does nothing twice: an account already open
as its row says is left alone, and an entry's reference finds it already posted.
"""
from __future__ import annotations

import csv
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Callable, Iterator

from ..domain.currencies import currency
from ..domain.errors import FaultCode, LedgerError
from ..domain.model import AccountSpec, AccountType, EntryInput, LineInput, MAX_BATCH, Side

ACCOUNT_COLUMNS = ("code", "name", "type", "currency", "parentCode", "noNegativeBalance")
ENTRY_COLUMNS = ("reference", "effectiveDate", "description", "account", "side", "amount", "memo")
ACCOUNTS_PER_CHUNK = 500
ENTRIES_PER_CHUNK = MAX_BATCH
# Chunks between two refreshes of the database's statistics (see Store.refresh_statistics).
CHUNKS_PER_STATISTICS = 10


class ImportFileError(Exception):
    """The file cannot be read as the import it was given for."""


@dataclass
class Report:
    """What a load did: of the accounts or entries in its `rows`, `done` loaded now, `unchanged` found
    loaded already, and each refused one's line number with the reason."""

    rows: int = 0
    done: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """The file's rows with their line numbers (the header is line 1)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [column for column in columns if column not in (reader.fieldnames or [])]
        if missing:
            raise ImportFileError(f"{path} needs the header {','.join(columns)} (missing {', '.join(missing)})")
        try:
            for row in reader:
                yield reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}
        except (UnicodeDecodeError, csv.Error) as error:
            raise ImportFileError(f"{path}, line {reader.line_num}: {error}") from None


def count_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


_LINE_FIELD = re.compile(r"entry\.lines\[(\d+)\]\.?")


def _refusal(line: int, error: LedgerError, what: str = "") -> tuple[int, str]:
    """A refused row: its line (an entry's field entry.lines[N].amount names its row, the Nth after the
    entry's first) and why."""
    field = error.field or ""
    located = _LINE_FIELD.match(field)
    if located:
        line, field = line + int(located.group(1)), field[located.end():]
    where = f" ({field})" if field else ""
    return line, f"{what}{error.code.value}: {error.message}{where}"


def _invalid(message: str, field: str) -> LedgerError:
    return LedgerError(FaultCode.SchemaValidation, message, field)


# --- accounts ---

def _account_spec(row: dict) -> AccountSpec:
    if not row["code"] or not row["name"]:
        raise _invalid("code and name are required", "code" if not row["code"] else "name")
    try:
        kind = AccountType(row["type"].upper())
    except ValueError:
        raise _invalid(f"type is one of {', '.join(t.value for t in AccountType)}, not {row['type']!r}", "type") from None
    guard = row["noNegativeBalance"].lower()
    if guard not in ("", "true", "false", "yes", "no", "1", "0"):
        raise _invalid(f"noNegativeBalance is true or false, not {row['noNegativeBalance']!r}", "noNegativeBalance")
    return AccountSpec(row["code"], row["name"], kind, currency(row["currency"].upper()), row["parentCode"] or None,
                       guard in ("true", "yes", "1"))


def _parents_first(specs: list[tuple[int, AccountSpec]]) -> list[tuple[int, AccountSpec]]:
    """The rows with every parent the file opens before its children, otherwise in file order."""
    in_file = {spec.code for _, spec in specs}
    placed: set[str] = set()
    ordered, waiting = [], list(specs)
    while waiting:
        ready = [(line, spec) for line, spec in waiting
                 if spec.parent_code is None or spec.parent_code not in in_file or spec.parent_code in placed]
        if not ready:  # a cycle of parents: let them fail, in file order
            ordered += waiting
            break
        ordered += ready
        placed |= {spec.code for _, spec in ready}
        waiting = [item for item in waiting if item not in ready]
    return ordered


def import_accounts(ledger, book: str, path: Path, progress: Callable[[int], None] = lambda rows: None) -> Report:
    report, specs = Report(), []
    for line, row in _rows(path, ACCOUNT_COLUMNS):
        report.rows += 1
        try:
            specs.append((line, _account_spec(row)))
        except LedgerError as error:
            report.refused.append(_refusal(line, error))
            progress(1)
    request_id = f"import-{uuid.uuid4().hex[:12]}"
    ordered = _parents_first(specs)
    for start in range(0, len(ordered), ACCOUNTS_PER_CHUNK):
        chunk = ordered[start:start + ACCOUNTS_PER_CHUNK]
        for (line, spec), outcome in zip(chunk, ledger.import_accounts(book, [spec for _, spec in chunk], request_id)):
            if isinstance(outcome, LedgerError):
                report.refused.append(_refusal(line, outcome, f"account {spec.code}: "))
            elif outcome:
                report.done += 1
            else:
                report.unchanged += 1
        progress(len(chunk))
    report.refused.sort()
    return report


# --- entries ---

def _line(row: dict) -> LineInput:
    try:
        side = Side(row["side"].upper())
    except ValueError:
        raise _invalid(f"side is DEBIT or CREDIT, not {row['side']!r}", "side") from None
    try:
        amount = Decimal(row["amount"])
    except InvalidOperation:
        raise _invalid(f"{row['amount']!r} is not an amount", "amount") from None
    if not row["account"]:
        raise _invalid("account is required", "account")
    return LineInput(row["account"], side, amount, row["memo"] or None)


def _entries(path: Path) -> Iterator[tuple[int, int, str, EntryInput | LedgerError]]:
    """Each entry of the file: (its first line, or the refused row's; its number of rows; its reference;
    the entry or why its rows are not one)."""
    for reference, group in groupby(_rows(path, ENTRY_COLUMNS), key=lambda item: item[1]["reference"]):
        rows = list(group)
        line, first = rows[0]
        try:
            if not reference:
                raise _invalid("reference is required", "reference")
            try:
                effective = date.fromisoformat(first["effectiveDate"])
            except ValueError:
                raise _invalid(f"effectiveDate is YYYY-MM-DD, not {first['effectiveDate']!r}", "effectiveDate") from None
            lines = []
            for line, row in rows:
                lines.append(_line(row))
            yield rows[0][0], len(rows), reference, EntryInput(reference, effective, tuple(lines),
                                                               first["description"] or None)
        except LedgerError as error:
            yield line, len(rows), reference, error


def import_entries(ledger, book: str, path: Path, progress: Callable[[int], None] = lambda rows: None) -> Report:
    report = Report()
    request_id = f"import-{uuid.uuid4().hex[:12]}"
    chunk: list[tuple[int, int, EntryInput]] = []

    chunks = 0

    def load() -> None:
        nonlocal chunks
        outcomes = ledger.import_entries(book, [entry for _, _, entry in chunk], request_id)
        chunks += 1
        if chunks % CHUNKS_PER_STATISTICS == 1:
            ledger.refresh_statistics()
        for (line, rows, entry), outcome in zip(chunk, outcomes):
            if outcome.error is not None:
                report.refused.append(_refusal(line, outcome.error, f"entry {entry.reference}: "))
            elif outcome.new:
                report.done += 1
            else:
                report.unchanged += 1
        progress(sum(rows for _, rows, _ in chunk))
        chunk.clear()

    for line, rows, reference, entry in _entries(path):
        report.rows += 1
        if isinstance(entry, LedgerError):
            report.refused.append(_refusal(line, entry, f"entry {reference}: " if reference else ""))
            progress(rows)
            continue
        chunk.append((line, rows, entry))
        if len(chunk) == ENTRIES_PER_CHUNK:
            load()
    if chunk:
        load()
    report.refused.sort()
    return report

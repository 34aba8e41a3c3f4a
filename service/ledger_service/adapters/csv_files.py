"""The files `ledger-service import` loads: a chart of accounts and the entries an ERP migration starts
with, as CSV (the ImportFile port of service_layer/ports.py; service_layer/operator.py loads them).

Accounts: `code,name,type,currency,parentCode,noNegativeBalance`, a row an account, in any order.
Entries: `reference,effectiveDate,description,account,side,amount,memo`, a row a line, consecutive rows of
one reference forming one entry, and optionally a column `meta.KEY` for each metadata key: the entry
carries KEY with the value its first row gives, if any (like its description). Both are UTF-8 with a
header row. A row that does not say what its
column should is handed on as the refusal of its account or entry, with its line number, and the rest
go on.
"""
from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from itertools import groupby
from pathlib import Path
from typing import Iterator

from ..domain.accounts import AccountSpec, AccountType, Side
from ..domain.currencies import currency
from ..domain.entries import EntryInput, LineInput, MetadataItem, ensure_metadata
from ..domain.errors import FaultCode, LedgerError
from ..service_layer.ports import AccountLine, EntryLines

ACCOUNT_COLUMNS = ("code", "name", "type", "currency", "parentCode", "noNegativeBalance")
ENTRY_COLUMNS = ("reference", "effectiveDate", "description", "account", "side", "amount", "memo")
METADATA_COLUMN_PREFIX = "meta."


class ImportFileError(Exception):
    """The file cannot be read as the import it was given for."""


def _invalid(message: str, column: str) -> LedgerError:
    return LedgerError(FaultCode.SchemaValidation, message, (column,))


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


def _metadata(row: dict) -> tuple[MetadataItem, ...]:
    """An entry's metadata from the meta.* columns of its first row; a refusal names the column."""
    items = tuple(MetadataItem(column[len(METADATA_COLUMN_PREFIX):], value)
                  for column, value in row.items() if column.startswith(METADATA_COLUMN_PREFIX) and value)
    try:
        ensure_metadata(items)
    except LedgerError as error:
        position = error.location[2] if len(error.location) > 2 else 0
        raise _invalid(error.message, METADATA_COLUMN_PREFIX + items[position].key) from None
    return items


class CsvFile:
    def __init__(self, path: Path):
        self.path = path

    def count_rows(self) -> int:
        """The rows below the header (for a progress bar)."""
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            return max(0, sum(1 for _ in csv.reader(handle)) - 1)

    def accounts(self) -> Iterator[AccountLine]:
        for line, row in self._rows(ACCOUNT_COLUMNS):
            try:
                yield AccountLine(line, _account_spec(row))
            except LedgerError as error:
                yield AccountLine(line, error)

    def entries(self) -> Iterator[EntryLines]:
        for reference, group in groupby(self._rows(ENTRY_COLUMNS), key=lambda item: item[1]["reference"]):
            rows = list(group)
            line, first = rows[0]
            try:
                if not reference:
                    raise _invalid("reference is required", "reference")
                try:
                    effective = date.fromisoformat(first["effectiveDate"])
                except ValueError:
                    raise _invalid(f"effectiveDate is YYYY-MM-DD, not {first['effectiveDate']!r}",
                                   "effectiveDate") from None
                metadata = _metadata(first)
                lines = []
                for line, row in rows:
                    lines.append(_line(row))
                yield EntryLines(rows[0][0], len(rows), reference,
                                 EntryInput(reference, effective, tuple(lines), first["description"] or None,
                                            metadata=metadata))
            except LedgerError as error:
                yield EntryLines(line, len(rows), reference, error)

    def _rows(self, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
        """The file's rows with their line numbers (the header is line 1)."""
        try:
            handle = self.path.open(encoding="utf-8-sig", newline="")
        except OSError as error:
            raise ImportFileError(f"cannot read {self.path}: {error.strerror}") from None
        with handle:
            reader = csv.DictReader(handle)
            missing = [column for column in columns if column not in (reader.fieldnames or [])]
            if missing:
                raise ImportFileError(f"{self.path} needs the header {','.join(columns)} (missing {', '.join(missing)})")
            try:
                for row in reader:
                    yield reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}
            except (UnicodeDecodeError, csv.Error) as error:
                raise ImportFileError(f"{self.path}, line {reader.line_num}: {error}") from None

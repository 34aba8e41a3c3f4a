"""The lines and metadata of entries as the domain has them: posted lines from `lines`, pending ones as
submitted from `pending_lines`, each in its entry's order; metadata in key order. Entries read them, and
so does the journal when it rebuilds a record from the rows."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Connection, select

from ...domain.accounts import Side
from ...domain.currencies import currency
from ...domain.entries import Line, Metadata, MetadataItem
from ..orm import AccountRow, EntryMetadataRow, LineRow, PendingLineRow
from .sql import over_lists

_LINES = over_lists(lambda one_of: {
    table: (select(table.entry_id, AccountRow.code, table.side, table.amount, AccountRow.currency, table.memo)
            .join(AccountRow, AccountRow.id == table.account_id)
            .where(one_of(table.entry_id, "entry_ids")).order_by(table.entry_id, table.position))
    for table in (LineRow, PendingLineRow)})
_METADATA = over_lists(lambda one_of: select(EntryMetadataRow.entry_id, EntryMetadataRow.key, EntryMetadataRow.value)
                       .where(one_of(EntryMetadataRow.entry_id, "entry_ids"))
                       .order_by(EntryMetadataRow.entry_id, EntryMetadataRow.key))


def lines_of(connection: Connection, entry_ids: Iterable[int], *, pending: bool) -> dict[int, list[Line]]:
    """The lines of these entries, by entry id, in order: as posted, or (`pending`) as submitted."""
    entry_ids = sorted(set(entry_ids))
    found: dict[int, list[Line]] = {}
    if not entry_ids:
        return found
    statement = _LINES[connection.dialect.name][PendingLineRow if pending else LineRow]
    for entry_id, code, side, amount, cur, memo in connection.execute(statement, {"entry_ids": entry_ids}):
        found.setdefault(entry_id, []).append(Line(code, Side(side), currency(cur).to_decimal(amount), cur, memo))
    return found


def metadata_of(connection: Connection, entry_ids: Iterable[int]) -> dict[int, Metadata]:
    """The metadata of these entries that carry some, by entry id."""
    entry_ids = sorted(set(entry_ids))
    found: dict[int, list[MetadataItem]] = {}
    if entry_ids:
        for entry_id, key, value in connection.execute(_METADATA[connection.dialect.name], {"entry_ids": entry_ids}):
            found.setdefault(entry_id, []).append(MetadataItem(key, value))
    return {entry_id: tuple(items) for entry_id, items in found.items()}

"""What reports read: posted totals as of a date (from the per-day totals), an account's statement
lines a page at a time, and a book's entries in journal order (ListEntries)."""
from __future__ import annotations

import functools
from datetime import date
from typing import Sequence

from sqlalchemy import Connection, bindparam, exists, func, or_, select, tuple_

from ...domain.accounts import Side
from ...domain.entries import Metadata
from ...domain.journal import RecordKind
from ...service_layer.ports import EntryQuery, StatementRow
from ..orm import AccountDayRow, EntryMetadataRow, EntryRow, JournalRecordRow, LineRow, PendingLineRow
from .lines import metadata_of
from .sql import SqlStore, over_lists

_TOTALS_AS_OF = over_lists(lambda one_of: (
    select(AccountDayRow.account_id, func.sum(AccountDayRow.debits), func.sum(AccountDayRow.credits))
    .where(one_of(AccountDayRow.account_id, "account_ids"), AccountDayRow.day <= bindparam("as_of"))
    .group_by(AccountDayRow.account_id)
))
_STATEMENT_LINES = (
    select(LineRow.entry_id, LineRow.position, EntryRow.reference, LineRow.effective_date, EntryRow.description,
           LineRow.side, LineRow.amount, EntryRow.reversal_of_id.is_not(None).label("reversal"))
    .join(EntryRow, EntryRow.id == LineRow.entry_id)
    .where(LineRow.account_id == bindparam("account_id"), LineRow.effective_date >= bindparam("from_date"),
           LineRow.effective_date <= bindparam("to_date"))
    .order_by(LineRow.effective_date, LineRow.entry_id, LineRow.position).limit(bindparam("limit"))
)
_STATEMENT_LINES_AFTER = _STATEMENT_LINES.where(
    tuple_(LineRow.effective_date, LineRow.entry_id, LineRow.position)
    > tuple_(bindparam("after_date"), bindparam("after_entry"), bindparam("after_position")))


@functools.cache
def _journal_entries(by_account: bool, by_key: bool, by_value: bool):
    """The statement of ListEntries with these filters: the book's EntryRecorded records in a stretch of
    sequences, in order, whose entries the filters keep. The stretch bounds what one page reads, and the
    primary key (book, sequence) is where it starts, whichever page it is."""
    statement = (
        select(JournalRecordRow.sequence, EntryRow.reference)
        .join(EntryRow, EntryRow.id == JournalRecordRow.entry_id)
        .where(JournalRecordRow.book_id == bindparam("book_id"),
               JournalRecordRow.sequence > bindparam("after_sequence"),
               JournalRecordRow.sequence <= bindparam("through_sequence"),
               JournalRecordRow.kind == RecordKind.ENTRY_RECORDED.value,
               EntryRow.effective_date >= bindparam("from_date"), EntryRow.effective_date <= bindparam("to_date"))
        .order_by(JournalRecordRow.sequence).limit(bindparam("limit")))
    if by_account:
        # Its lines as posted, or as submitted while it was pending (a partial commit may post fewer).
        statement = statement.where(or_(
            exists().where(LineRow.entry_id == EntryRow.id, LineRow.account_id == bindparam("account_id")),
            exists().where(PendingLineRow.entry_id == EntryRow.id,
                           PendingLineRow.account_id == bindparam("account_id"))))
    if by_key:
        carries = exists().where(EntryMetadataRow.entry_id == EntryRow.id, EntryMetadataRow.key == bindparam("key"))
        if by_value:
            carries = carries.where(EntryMetadataRow.value == bindparam("value"))
        statement = statement.where(carries)
    return statement


class SqlReportStore(SqlStore):
    def __init__(self, connection: Connection):
        super().__init__(connection)
        self._totals_as_of = _TOTALS_AS_OF[self.dialect]

    def totals_as_of(self, account_ids: Sequence[int], as_of: date) -> dict[int, tuple[int, int]]:
        """Posted (debits, credits) per account, counting entries effective on or before `as_of`."""
        rows = self._run(self._totals_as_of, {"account_ids": list(account_ids), "as_of": as_of}).all()
        return {account_id: (int(debits), int(credits)) for account_id, debits, credits in rows}

    def statement_rows(self, account_id: int, from_date: date, to_date: date,
                       after: tuple[date, int, int] | None, limit: int) -> list[StatementRow]:
        """Posted lines of the account in the date range, in (date, entry, position) order, after a cursor."""
        parameters = {"account_id": account_id, "from_date": from_date, "to_date": to_date, "limit": limit}
        if after is not None:
            parameters.update(zip(("after_date", "after_entry", "after_position"), after))
        return [StatementRow(r.entry_id, r.position, r.reference, r.effective_date, r.description, Side(r.side), r.amount,
                             bool(r.reversal))
                for r in self._run(_STATEMENT_LINES if after is None else _STATEMENT_LINES_AFTER, parameters)]

    def entry_metadata(self, entry_ids: Sequence[int]) -> dict[int, Metadata]:
        return metadata_of(self.connection, entry_ids)

    def journal_entries(self, book_id: int, query: EntryQuery, after_sequence: int, through_sequence: int,
                        limit: int) -> list[tuple[int, str]]:
        """(sequence, reference) of at most `limit` of the book's entries that `query` finds, in journal
        order, among the records after `after_sequence` up to `through_sequence`."""
        statement = _journal_entries(query.account_id is not None, query.metadata_key is not None,
                                     query.metadata_value is not None)
        parameters = {"book_id": book_id, "after_sequence": after_sequence, "through_sequence": through_sequence,
                      "from_date": query.from_date, "to_date": query.to_date, "limit": limit}
        if query.account_id is not None:
            parameters["account_id"] = query.account_id
        if query.metadata_key is not None:
            parameters["key"] = query.metadata_key
        if query.metadata_value is not None:
            parameters["value"] = query.metadata_value
        return [(sequence, reference) for sequence, reference in self._run(statement, parameters)]

"""Use cases of reports: an account's balance and statement (paged, or whole as camt.053 reports it), a book's
trial balance, and its entries in journal order."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Mapping, Sequence

from ..domain.accounts import Account, AccountStatus, signed_balance
from ..domain.books import Book
from ..domain.entries import EntryPage, Metadata
from ..domain.errors import FaultCode, LedgerError
from ..domain.limits import MAX_RECORDS_SEARCHED_PER_PAGE, MAX_STATEMENT_DOCUMENT_LINES
from ..domain.reports import (Balance, PeriodStatement, Statement, StatementLine, TrialBalance, statement_movement,
                              trial_balance)
from .authentication import Authentication, use_case
from .context import Context, RequestContext, find_account
from .journal import seal_queued
from .paging import Paging
from .ports import EntryQuery, StatementRow, Stores


def _ensure_period(from_date: date, to_date: date) -> None:
    if from_date > to_date:
        raise LedgerError(FaultCode.SchemaValidation, "fromDate must not be after toDate", ("toDate",))


def _opening_and_closing(stores: Stores, account: Account, from_date: date, to_date: date) -> tuple[int, int]:
    """The account's balance on its normal side (minor units) before `from_date` and at the end of `to_date`."""
    _ensure_period(from_date, to_date)
    reports = stores.reports
    closing = signed_balance(account.normal_side, *reports.totals_as_of([account.id], to_date).get(account.id, (0, 0)))
    opening = 0
    if from_date > date.min:
        before = reports.totals_as_of([account.id], from_date - timedelta(days=1))
        opening = signed_balance(account.normal_side, *before.get(account.id, (0, 0)))
    return opening, closing


def _statement_lines(account: Account, rows: Sequence[StatementRow], running: int,
                     metadata: Mapping[int, Metadata] | None = None) -> tuple[tuple[StatementLine, ...], int]:
    """The rows as statement lines, each with the balance after it from `running` on (and its entry's
    metadata, when given by entry id); and the last balance."""
    to_decimal = account.currency.to_decimal
    lines = []
    for row in rows:
        running += statement_movement(account.normal_side, row.side, row.amount)
        lines.append(StatementLine(row.reference, row.effective_date, row.description, row.side,
                                   to_decimal(row.amount), to_decimal(running), row.reversal,
                                   (metadata or {}).get(row.entry_id, ())))
    return tuple(lines), running


def period_statement(context: Context, book: Book, account: str, from_date: date, to_date: date) -> PeriodStatement:
    """The account's statement for the whole period, not paged: at most MAX_STATEMENT_DOCUMENT_LINES lines,
    or TooManyLines."""
    found = find_account(context.stores, book, account, context.now, ("account",))
    opening, closing = _opening_and_closing(context.stores, found, from_date, to_date)
    rows = context.stores.reports.statement_rows(found.id, from_date, to_date, None, MAX_STATEMENT_DOCUMENT_LINES + 1)
    if len(rows) > MAX_STATEMENT_DOCUMENT_LINES:
        raise LedgerError(FaultCode.TooManyLines, f"the period has more than {MAX_STATEMENT_DOCUMENT_LINES} statement "
                          "lines, more than one camt.053 document holds: ask for shorter periods", ("toDate",))
    metadata = context.stores.reports.entry_metadata(sorted({row.entry_id for row in rows}))
    lines, _ = _statement_lines(found, rows, opening, metadata)
    to_decimal = found.currency.to_decimal
    statement = Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening),
                          to_decimal(closing), lines)
    return PeriodStatement(book.code, book.name, found.name, found.normal_side, statement, context.now)


class Reports:
    def __init__(self, authentication: Authentication, paging: Paging):
        self.authentication = authentication
        self.paging = paging

    @use_case("GetBalance", write=False, snapshot=False)
    def get_balance(self, context: Context, book: str, account: str, as_of: date | None = None) -> Balance:
        found = context.account(book, account, ("account",))
        if as_of is None:
            return Balance.of(found)
        debits, credits = context.stores.reports.totals_as_of([found.id], as_of).get(found.id, (0, 0))
        return Balance.of(found.as_of(debits, credits), as_of)

    @use_case("GetStatement", write=False)
    def get_statement(self, context: Context, book: str, account: str, from_date: date, to_date: date,
                      page_size: int | None = None, page_token: str | None = None) -> Statement:
        found = context.account(book, account, ("account",))
        opening, closing = _opening_and_closing(context.stores, found, from_date, to_date)
        limit = self.paging.size(page_size)
        query = {"kind": "statement", "book": book, "account": account,
                 "from": from_date.isoformat(), "to": to_date.isoformat()}
        cursor, running = None, opening
        position = self.paging.cursor(context.stores, query, page_token)
        if position is not None:
            cursor = (date.fromisoformat(position["date"]), position["entry"], position["line"])
            running = position["running"]
        rows = context.stores.reports.statement_rows(found.id, from_date, to_date, cursor, limit + 1)
        lines, running = _statement_lines(found, rows[:limit], running)
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = self.paging.token(context.stores, query, {
                "date": last.effective_date.isoformat(), "entry": last.entry_id, "line": last.position,
                "running": running})
        to_decimal = found.currency.to_decimal
        return Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening), to_decimal(closing),
                         lines, token)

    @use_case("GetCamtStatement", write=False)
    def get_camt_statement(self, context: Context, book: str, account: str, from_date: date,
                           to_date: date) -> PeriodStatement:
        return period_statement(context, context.book(book), account, from_date, to_date)

    def list_entries(self, request: RequestContext, book: str, from_date: date, to_date: date,
                     account: str | None = None, metadata_key: str | None = None, metadata_value: str | None = None,
                     page_size: int | None = None, page_token: str | None = None) -> EntryPage:
        # Journal order is the order of sealed records: what was committed before the call is sealed first.
        seal_queued(self.authentication.unit_of_work, book)
        return self._list_entries(request, book, from_date, to_date, account, metadata_key, metadata_value,
                                  page_size, page_token)

    @use_case("ListEntries", write=False)
    def _list_entries(self, context: Context, book: str, from_date: date, to_date: date, account: str | None,
                      metadata_key: str | None, metadata_value: str | None, page_size: int | None,
                      page_token: str | None) -> EntryPage:
        """The book's entries effective from `from_date` to `to_date`, in journal order, a page at a time;
        a page looks through at most MAX_RECORDS_SEARCHED_PER_PAGE records of the journal
        (docs/contract.md#listentries)."""
        found_book = context.book(book)
        _ensure_period(from_date, to_date)
        if metadata_value is not None and metadata_key is None:
            raise LedgerError(FaultCode.SchemaValidation, "metadataValue needs the metadataKey it is the value of",
                              ("metadataValue",))
        account_id = None
        if account is not None:
            account_id = find_account(context.stores, found_book, account, context.now, ("account",)).id
        limit = self.paging.size(page_size)
        query = {"kind": "entries", "book": book, "from": from_date.isoformat(), "to": to_date.isoformat(),
                 "account": account, "key": metadata_key, "value": metadata_value}
        position = self.paging.cursor(context.stores, query, page_token)
        after = position["sequence"] if position is not None else 0
        head = context.stores.journal.head(found_book.id)
        last = head[0] if head else 0
        through = min(last, after + MAX_RECORDS_SEARCHED_PER_PAGE)
        found = context.stores.reports.journal_entries(
            found_book.id, EntryQuery(from_date, to_date, account_id, metadata_key, metadata_value), after, through,
            limit + 1)
        next_after = None
        if len(found) > limit:
            found = found[:limit]
            next_after = found[-1][0]
        elif through < last:
            next_after = through
        entries = context.stores.entries.entries(found_book.id, [reference for _, reference in found], context.now)
        token = self.paging.token(context.stores, query, {"sequence": next_after}) if next_after is not None else None
        return EntryPage(tuple(entries[reference] for _, reference in found), token)

    @use_case("GetTrialBalance", write=False)
    def get_trial_balance(self, context: Context, book: str, as_of: date | None = None) -> TrialBalance:
        accounts = context.stores.accounts.book_accounts(context.book(book).id, context.now)
        if as_of is None:
            positions = [(a, a.posted_debits, a.posted_credits) for a in accounts
                         if a.status is AccountStatus.OPEN or a.balance]
        else:
            totals = context.stores.reports.totals_as_of([a.id for a in accounts], as_of)
            positions = []
            for account in accounts:
                debits, credits = totals.get(account.id, (0, 0))
                if account.opened_at.date() <= as_of or debits or credits:
                    positions.append((account, debits, credits))
        return trial_balance(as_of, positions)

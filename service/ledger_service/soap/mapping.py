"""Domain results as values of the contract's types, and contract inputs as domain values.

Each function names the contract's fields as `types.py` declares them; the codec writes the records
as the type the operation returns, and reads requests into records of the same names.
"""
from __future__ import annotations

from ..adapters.camt053 import CamtDocument
from ..domain.accounts import Account, AccountPage, Side
from ..domain.books import Book
from ..domain.entries import Entry, EntryAudit, EntryInput, EntryPage, LineInput, MetadataItem
from ..domain.journal import JournalHead, JournalVerification
from ..domain.reports import Balance, Statement, TrialBalance
from .codec import Record
from .faults import fault_record


def book(value: Book) -> Record:
    return Record(code=value.code, name=value.name, closedThrough=value.closed_through)


def account(value: Account) -> Record:
    return Record(
        code=value.code, name=value.name, type=value.type.value, currency=value.currency.code,
        parentCode=value.parent_code, noNegativeBalance=value.no_negative_balance, status=value.status.value,
        openedAt=value.opened_at,
    )


def account_page(value: AccountPage) -> Record:
    return Record(accounts=[account(a) for a in value.accounts], nextPageToken=value.next_page_token)


def line_inputs(lines: list[Record] | None) -> tuple[LineInput, ...] | None:
    """The lines of a request as the domain takes them; None where the request has none (an optional
    list left out)."""
    if lines is None:
        return None
    return tuple(LineInput(line.account, Side(line.side), line.amount, line.memo) for line in lines)


def entry_input(value: Record) -> EntryInput:
    return EntryInput(
        reference=value.reference,
        effective_date=value.effectiveDate,
        description=value.description,
        lines=line_inputs(value.lines),
        pending=bool(value.pending),
        pending_timeout_seconds=value.pendingTimeoutSeconds,
        metadata=tuple(MetadataItem(item.key, item.value) for item in value.metadata or ()),
    )


def entry(value: Entry) -> Record:
    return Record(
        id=value.id, reference=value.reference, effectiveDate=value.effective_date, recordedAt=value.recorded_at,
        description=value.description, status=value.status.value,
        lines=[Record(account=line.account, side=line.side.value, amount=line.amount, currency=line.currency,
                      memo=line.memo) for line in value.lines],
        pendingExpiresAt=value.lapses_at, reversalOf=value.reversal_of, reversedBy=value.reversed_by,
        metadata=value.metadata or None,
    )


def entry_page(value: EntryPage) -> Record:
    return Record(entries=[entry(e) for e in value.entries], nextPageToken=value.next_page_token)


def entry_results(values) -> list[Record]:
    """A PostEntries batch's outcomes: each the entry, or its fault as a LedgerFault."""
    return [Record(reference=value.reference, entry=entry(value.entry) if value.entry is not None else None,
                   fault=fault_record(value.error) if value.error is not None else None) for value in values]


def entry_audit(value: EntryAudit) -> Record:
    return Record(reference=value.reference, postedBy=value.posted_by, requestId=value.request_id,
                  recordedAt=value.recorded_at, settledBy=value.settled_by, settledRequestId=value.settled_request_id,
                  settledAt=value.settled_at, voidReason=value.void_reason, journalSequence=value.journal_sequence)


def balance(value: Balance) -> Record:
    return Record(
        account=value.account, currency=value.currency, asOf=value.as_of, postedDebits=value.posted_debits,
        postedCredits=value.posted_credits, pendingDebits=value.pending_debits, pendingCredits=value.pending_credits,
        balance=value.balance, availableBalance=value.available_balance,
    )


def statement(value: Statement) -> Record:
    return Record(
        account=value.account, currency=value.currency, fromDate=value.from_date, toDate=value.to_date,
        openingBalance=value.opening_balance, closingBalance=value.closing_balance,
        lines=[Record(reference=line.reference, effectiveDate=line.effective_date, description=line.description,
                      side=line.side.value, amount=line.amount, runningBalance=line.running_balance)
               for line in value.lines],
        nextPageToken=value.next_page_token,
    )


def camt_statement(value: CamtDocument) -> Record:
    return Record(messageId=value.message_id, document=value.document)


def trial_balance(value: TrialBalance) -> Record:
    return Record(
        asOf=value.as_of,
        rows=[Record(account=row.account, name=row.name, type=row.type.value, currency=row.currency, debit=row.debit,
                     credit=row.credit) for row in value.rows],
        totals=[Record(currency=total.currency, debit=total.debit, credit=total.credit) for total in value.totals],
    )


def journal_head(value: JournalHead) -> Record:
    return Record(book=value.book, sequence=value.sequence, hash=value.hash, recordedAt=value.recorded_at)


def journal_verification(value: JournalVerification) -> Record:
    broken = value.first_break
    return Record(book=value.book, fromSequence=value.from_sequence, toSequence=value.to_sequence,
                  recordsChecked=value.records_checked, headHash=value.head_hash, intact=value.intact,
                  firstBreak=Record(sequence=broken.sequence, reason=broken.reason.value) if broken else None)

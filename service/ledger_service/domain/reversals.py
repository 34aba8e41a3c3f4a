"""Reversals: corrections are new entries that undo old ones, never edits (docs/contract.md#invariants,
invariant 3)."""
from __future__ import annotations

from datetime import date, timedelta

from .books import Book
from .entries import Entry, EntryInput, EntryStatus, LineInput
from .errors import FaultCode, LedgerError


def reversal_of(book: Book, original: Entry, reversal_reference: str, effective_date: date | None = None,
                reason: str | None = None) -> EntryInput:
    """The entry that undoes `original`: every line on the other side, same account, amount and memo,
    and the original's metadata, so that a report by any of its dimensions nets the two out.

    Only a POSTED entry that is not itself a reversal can be reversed, and only once. Without an
    effective date the reversal takes the original's or, when that day is closed, the first open day
    after the closed period; an explicit date must be open.
    """
    if original.status is not EntryStatus.POSTED or original.reversal_of is not None:
        kind = "a reversal" if original.reversal_of is not None else original.status.value
        raise LedgerError(FaultCode.NotReversible,
                          f"entry {original.reference} is {kind}; only a posted entry that is not itself a reversal "
                          "can be reversed", ("reference",))
    if original.reversed_by is not None and original.reversed_by != reversal_reference:
        raise LedgerError(FaultCode.AlreadyReversed,
                          f"entry {original.reference} was already reversed by {original.reversed_by}", ("reference",))
    if effective_date is None:
        effective_date = original.effective_date
        if book.closed_through is not None and effective_date <= book.closed_through:
            effective_date = book.closed_through + timedelta(days=1)
    book.ensure_open_on(effective_date, ("effectiveDate",))
    return EntryInput(
        reference=reversal_reference,
        effective_date=effective_date,
        lines=tuple(LineInput(line.account, line.side.opposite, line.amount, line.memo) for line in original.lines),
        description=reversal_description(original, reason),
        metadata=original.metadata,
    )


def reversal_description(original: Entry, reason: str | None) -> str:
    return reason or f"Reversal of {original.reference}"


def repeats_reversal(existing: Entry, original: Entry, effective_date: date | None, reason: str | None) -> bool:
    """Whether `existing` is what reversing `original` with this date and reason made: a retry, to be
    answered with `existing` (an omitted date means the default one, whatever it was)."""
    return (existing.reversal_of == original.reference
            and effective_date in (None, existing.effective_date)
            and existing.description == reversal_description(original, reason))

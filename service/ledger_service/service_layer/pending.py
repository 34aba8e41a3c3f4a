"""Use cases of pending (two-phase) entries: committing and voiding them, and tidying the holds of the
ones that expired."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Callable, Sequence

from ..domain.entries import (Entry, EntryStatus, LineInput, committed_postings, held_postings, needs_settling,
                              pending_expired, posted_line, settle_postings)
from .accounts import lock_accounts
from .authentication import Authentication, use_case
from .context import Context
from .entries import find_entry
from .ports import UnitOfWork


class Pending:
    def __init__(self, authentication: Authentication, unit_of_work: UnitOfWork, clock: Callable[[], datetime]):
        self.authentication = authentication
        self.unit_of_work = unit_of_work
        self.clock = clock

    @use_case("CommitPending", write=True)
    def commit_pending(self, context: Context, book: str, reference: str,
                       lines: Sequence[LineInput] | None = None) -> Entry:
        """Posts the pending entry, or with `lines` only those amounts (see `committed_postings`),
        releasing the rest of what it reserved."""
        return _settle(context, book, reference, EntryStatus.POSTED, lines=lines)

    @use_case("VoidPending", write=True)
    def void_pending(self, context: Context, book: str, reference: str, reason: str | None = None) -> Entry:
        return _settle(context, book, reference, EntryStatus.VOIDED, reason)

    def release_expired_holds(self, at_most: int = 500) -> int:
        """Tidies the reservations of pending entries that expired: releases them on up to `at_most`
        accounts and says on how many. Nothing waits for this to run (every read and write already
        treats an expired entry's reservation as gone); it keeps the table of holds small."""
        return self.unit_of_work.run(lambda stores: stores.entries.release_expired_holds(self.clock(), at_most),
                                     write=True)


def _settle(context: Context, book: str, reference: str, outcome: EntryStatus, reason: str | None = None,
            lines: Sequence[LineInput] | None = None) -> Entry:
    """Commits (POSTED) or voids (VOIDED) a pending entry. Its accounts are locked first and the entry
    read again after: of a commit and a void racing, the second sees what the first did, and an entry
    whose timeout passes meanwhile is judged expired."""
    found = context.book(book)
    entry = find_entry(context, found, reference)
    accounts = lock_accounts(context, found, {line.account for line in entry.lines})
    entry = find_entry(context, found, reference)
    if not needs_settling(found, entry, outcome, lines):
        return entry
    held = held_postings(entry, accounts)
    posted = committed_postings(held, lines) if outcome is EntryStatus.POSTED else []
    settle_postings(held, posted)
    if not context.stores.entries.settle_pending(found.id, entry, held, posted, outcome, reason, context.now,
                                                 context.audit):
        raise pending_expired(reference)
    if outcome is EntryStatus.VOIDED:
        return replace(entry, status=outcome)
    return replace(entry, status=outcome, lines=tuple(posted_line(p) for p in posted))

"""Use cases of journal entries: posting one or a batch, reversing one, reading one and its audit."""
from __future__ import annotations

from datetime import date

from ..domain.accounts import Account
from ..domain.books import Book
from ..domain.entries import (Entry, EntryAudit, EntryInput, EntryOutcome, apply_or_undo, apply_postings,
                              ensure_batch_size, ensure_replay, entry_not_found, prepare_postings)
from ..domain.errors import LedgerError
from ..domain.reversals import repeats_reversal, reversal_of
from .accounts import lock_accounts, lock_accounts_seeing_reference
from .authentication import Authentication, use_case
from .context import Context, RequestContext
from .journal import seal_queued
from .ports import NewEntry


def find_entry(context: Context, book: Book, reference: str) -> Entry:
    entry = context.stores.entries.entry(book.id, reference, context.now)
    if entry is None:
        raise entry_not_found(reference)
    return entry


def _post(context: Context, book: Book, entry: EntryInput, reverses: Entry | None = None) -> Entry:
    """Records a new entry, posted or pending (a reversal of `reverses`, when given): accounts locked in
    id order, every rule checked, balances moved or amounts reserved, rows written."""
    return _record(context, book, entry, lock_accounts(context, book, entry.account_codes), reverses)


def _record(context: Context, book: Book, entry: EntryInput, accounts: dict[str, Account],
            reverses: Entry | None = None) -> Entry:
    """_post, once the entry's accounts are locked."""
    postings = prepare_postings(book, entry, accounts)
    apply_postings(postings, pending=entry.pending)
    return context.stores.entries.add_entries(book.id, [NewEntry(entry, postings, reverses)], context.now,
                                              context.audit)[0]


def post_batch(context: Context, book: Book, entries: list[EntryInput], atomic: bool) -> list[EntryOutcome]:
    """Judges the entries in order, each counting for the ones after it, in one transaction: the existing
    references read in one query, every account locked in one statement (id order), the rules applied to
    the Account objects in memory, and the new entries written in a few statements. Not atomic: an entry
    that fails leaves the accounts as they were and gets its fault (with its index); atomic: the first
    failure is raised with its index, and nothing is written."""
    ensure_batch_size(len(entries))
    existing = context.stores.entries.entries(book.id, {entry.reference for entry in entries}, context.now)
    accounts = lock_accounts(context, book, {code for entry in entries if entry.reference not in existing
                                             for code in entry.account_codes})
    new: list[NewEntry] = []
    in_batch: dict[str, tuple[str, int]] = {}  # a reference posted by this batch: (fingerprint, index in new)
    judged: list[Entry | LedgerError | int] = []  # an int: the index of the entry in `new`
    for index, entry in enumerate(entries):
        try:
            if entry.reference in existing:
                ensure_replay(entry.reference, existing[entry.reference].fingerprint == entry.fingerprint,
                              ("entry", "reference"))
                judged.append(existing[entry.reference])
            elif entry.reference in in_batch:
                ensure_replay(entry.reference, in_batch[entry.reference][0] == entry.fingerprint,
                              ("entry", "reference"))
                judged.append(in_batch[entry.reference][1])
            else:
                postings = prepare_postings(book, entry, accounts)
                apply_or_undo(postings, pending=entry.pending)
                in_batch[entry.reference] = (entry.fingerprint, len(new))
                judged.append(len(new))
                new.append(NewEntry(entry, postings))
        except LedgerError as error:
            error.index = index
            if atomic:
                raise
            judged.append(error)
    posted = context.stores.entries.add_entries(book.id, new, context.now, context.audit) if new else []
    return [EntryOutcome(entry.reference, error=outcome) if isinstance(outcome, LedgerError) else
            EntryOutcome(entry.reference, posted[outcome], new=True) if isinstance(outcome, int) else
            EntryOutcome(entry.reference, outcome)
            for entry, outcome in zip(entries, judged)]


class Entries:
    def __init__(self, authentication: Authentication):
        self.authentication = authentication

    @use_case("PostEntry", write=True)
    def post_entry(self, context: Context, book: str, entry: EntryInput) -> Entry:
        found = context.book(book)
        # A retry is told from a new entry by the statement that locks the accounts: a new entry, nearly
        # every call, then reads no more. A retry waits for the accounts' locks first, as a post does.
        accounts, taken = lock_accounts_seeing_reference(context, found, entry.account_codes, entry.reference)
        if taken is not False:
            existing = context.stores.entries.entry(found.id, entry.reference, context.now)
            if existing is not None:
                ensure_replay(entry.reference, existing.fingerprint == entry.fingerprint, ("entry", "reference"))
                return existing
        return _record(context, found, entry, accounts)

    @use_case("PostEntries", write=True)
    def post_entries(self, context: Context, book: str, entries: list[EntryInput],
                     atomic: bool) -> list[EntryOutcome]:
        return post_batch(context, context.book(book), entries, atomic)

    @use_case("ReverseEntry", write=True)
    def reverse_entry(self, context: Context, book: str, reference: str, reversal_reference: str,
                      effective_date: date | None = None, reason: str | None = None) -> Entry:
        found = context.book(book)
        original = find_entry(context, found, reference)
        # The accounts are locked before the rules are checked, and the original read again: a reversal
        # of it that committed while we waited for the locks is then seen (AlreadyReversed, as in a serial
        # order, rather than a balance check failing first). Unique reversal_of_id settles any other race.
        lock_accounts(context, found, {line.account for line in original.lines})
        original = find_entry(context, found, reference)
        existing = context.stores.entries.entry(found.id, reversal_reference, context.now)
        if existing is not None:
            ensure_replay(reversal_reference, repeats_reversal(existing, original, effective_date, reason),
                          ("reversalReference",))
            return existing
        return _post(context, found, reversal_of(found, original, reversal_reference, effective_date, reason),
                     original)

    @use_case("GetEntry", write=False)
    def get_entry(self, context: Context, book: str, reference: str) -> Entry:
        return find_entry(context, context.book(book), reference)

    def get_entry_audit(self, request: RequestContext, book: str, reference: str) -> EntryAudit:
        seal_queued(self.authentication.unit_of_work, book)  # so that the entry's record has its sequence
        return self._entry_audit(request, book, reference)

    @use_case("GetEntryAudit", write=False)
    def _entry_audit(self, context: Context, book: str, reference: str) -> EntryAudit:
        audit = context.stores.entries.entry_audit(context.book(book).id, reference)
        if audit is None:
            raise entry_not_found(reference)
        return audit

"""The ledger's use cases. Each public method of `Ledger` is one use case in one transaction:
authenticate the caller, check its grant on the book, apply the domain rules, write, commit."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from ..domain.currencies import currency
from ..domain.errors import FaultCode, LedgerError
from ..domain.rate_limits import admit
from ..domain.model import (
    Account,
    AccountPage,
    AccountSpec,
    AccountStatus,
    AccountType,
    Audit,
    Balance,
    Book,
    Entry,
    EntryAudit,
    EntryInput,
    EntryOutcome,
    EntryStatus,
    Line,
    Role,
    Statement,
    StatementLine,
    TrialBalance,
    apply_or_undo,
    apply_postings,
    commit_postings,
    ensure_batch_size,
    held_postings,
    needs_settling,
    open_account,
    prepare_postings,
    release_postings,
    repeats_reversal,
    reversal_of,
    signed_balance,
    statement_movement,
    trial_balance,
)
from . import page_tokens
from .failed_logins import FailedLoginBudget, LoginSubjects
from .password_digest import DigestVerifier
from .passwords import PasswordVerifier
from .secret_box import SecretBox

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PAGE_TOKEN_KEY = "page-token-key"


@dataclass(frozen=True)
class Credentials:
    """What a request's WS-Security UsernameToken carried."""

    username: str
    password: str
    password_type: str = "PasswordText"
    # PasswordDigest's nonce (None when absent or not Base64) and Created timestamp, as sent.
    nonce: bytes | None = None
    created: str | None = None

    def __repr__(self) -> str:
        return f"Credentials({self.username!r}, {self.password_type})"


def authentication_failed() -> LedgerError:
    """The one refusal of every failed authentication, whatever failed: it tells nothing more."""
    return LedgerError(FaultCode.AuthenticationFailed, "authentication failed")


@dataclass(frozen=True)
class RequestContext:
    credentials: Credentials | None
    request_id: str | None = None
    # Where the request came from (the peer, or the client a trusted proxy names): whose budget of
    # failed authentications it spends.
    client_address: str | None = None


@dataclass
class _Transaction:
    """One attempt at a use case: the store, the request, and one clock reading for every row."""

    ledger: "Ledger"
    store: object
    request: RequestContext
    now: datetime
    client_id: int | None = field(default=None)
    # The client whose PasswordDigest was checked, and its nonce spent, before this transaction began.
    digest_client_id: int | None = None
    # The failed-login buckets the request's credentials draw on.
    login: LoginSubjects | None = None
    # Whether this request already took its token from a rate-limited client's bucket.
    token_taken: bool = False

    @property
    def audit(self) -> Audit:
        return Audit(self.client_id, self.request.request_id)

    def authenticate(self, book_code: str | None = None):
        credentials = self.request.credentials
        if credentials is None:
            raise authentication_failed()
        caller, failed_logins = self.store.caller(credentials.username, book_code, self.login.username,
                                                  self.login.address)
        # Before any password is hashed: a spent budget is refused whatever the password.
        self.ledger.failed_logins.ensure_open(failed_logins, self.now)
        if credentials.password_type == "PasswordDigest":
            password_matches = caller is not None and caller.client.id == self.digest_client_id
        else:
            # The password is checked whatever else is wrong, so that every failure takes the same time.
            password_matches = self.ledger.passwords.verify(
                credentials.username, credentials.password, caller.client.password_hash if caller else None
            ) and credentials.password_type == "PasswordText"
        if not password_matches or caller.client.disabled:
            raise _FailedAuthentication()
        if caller.client.rate_limit is not None and not self.token_taken:
            raise _TokenNeeded(caller.client.id)
        self.client_id = caller.client.id
        return caller

    def book(self, code: str, role: Role, **lock):
        """The book, if the caller holds `role` on it. A caller without a grant learns nothing about the
        book, except a system administrator, who manages books and may learn that one does not exist."""
        caller = self.authenticate(code)
        if caller.role is None and caller.client.system_admin and caller.book is None:
            raise LedgerError(FaultCode.BookNotFound, f"book {code} does not exist", "book")
        if caller.role is None or caller.role < role:
            raise LedgerError(FaultCode.NotAuthorized,
                              f"client {caller.client.name} needs the {role.name} role on book {code}", "book")
        return self.store.book(code, **lock) if lock else caller.book

    def account(self, book_id: int, code: str, field: str) -> Account:
        account = self.store.account(book_id, code, self.now)
        if account is None:
            raise _account_not_found(code, field)
        return account

    def entry(self, book_id: int, reference: str):
        stored = self.store.entry(book_id, reference, self.now)
        if stored is None:
            raise _entry_not_found(reference)
        return stored

    def lock_accounts(self, stored, codes) -> dict[str, Account]:
        """The accounts of the book `stored`, locked until commit, and the book's closed-through date as
        it stands then. The clock is read again once the locks are held: a decision that depends on time
        (has a pending entry expired?) is then taken as late as it can be, after any transaction that
        was ahead of this one has committed."""
        accounts = self.store.accounts_for_update(stored, codes, self.now)
        self.now = self.ledger.clock()
        return accounts


def _account_not_found(code: str, field: str) -> LedgerError:
    return LedgerError(FaultCode.AccountNotFound, f"account {code} does not exist", field)


def _entry_not_found(reference: str) -> LedgerError:
    return LedgerError(FaultCode.EntryNotFound, f"no entry has reference {reference}", "reference")


class _TokenNeeded(Exception):
    """A rate-limited client authenticated, and its request has not taken a token yet.

    The token must be spent in a transaction of its own, committed whatever the use case then does: a
    refused or failing request counts too, and reads run in read-only snapshots. It cannot be spent in
    a second transaction nested in the use case's, since on SQLite a writing use case already holds the
    database's one write lock. So `authenticate` (which every use case calls first, before it reads or
    writes anything else) stops the attempt, `use_case` spends the token, then runs the use case again,
    once, without stopping; retries after a conflict do not spend another. A limited client pays one
    extra short transaction and its first authentication query twice; an unlimited one pays nothing,
    and a caller that fails authentication never reaches, nor learns anything of, the bucket.
    """

    def __init__(self, client_id: int):
        super().__init__(client_id)
        self.client_id = client_id


class _FailedAuthentication(Exception):
    """The credentials did not authenticate, and the failure is not counted yet. `use_case` counts it
    against the username's and the address's budgets in a transaction of its own, committed although
    the request fails (the use case's own rolls back, or only reads), then answers
    AuthenticationFailed, whatever was wrong."""


def use_case(*, write: bool) -> Callable:
    def decorate(method):
        @functools.wraps(method)
        def run(self: "Ledger", request: RequestContext, *args, **kwargs):
            credentials = request.credentials
            login = self.failed_logins.subjects(credentials.username, request.client_address) if credentials else None
            digest_client_id = self.digests.admit(credentials, login)

            token_taken = False

            def attempt(store):
                tx = _Transaction(self, store, request, self.clock(), digest_client_id=digest_client_id,
                                  login=login, token_taken=token_taken)
                return method(self, tx, *args, **kwargs)

            try:
                try:
                    return self.database.run(attempt, write=write)
                except _TokenNeeded as needed:
                    self._take_token(needed.client_id)
                    token_taken = True
                    return self.database.run(attempt, write=write)
            except _FailedAuthentication:
                self.database.run(lambda store: self.failed_logins.count_failure(store, login, self.clock),
                                  write=True)
                raise authentication_failed() from None

        return run

    return decorate


def _post(tx: _Transaction, stored, entry: EntryInput, reversed_entry=None) -> Entry:
    """Records a new entry, posted or pending (a reversal of `reversed_entry`, a StoredEntry, when given):
    accounts locked in id order, every rule checked, balances moved or amounts reserved, rows written."""
    accounts = tx.lock_accounts(stored, entry.account_codes)
    postings = prepare_postings(stored.book, entry, accounts)
    apply_postings(postings, pending=entry.pending)
    entry_id = tx.store.add_entry(stored.id, entry, postings, tx.now, tx.audit,
                                  reversal_of_id=reversed_entry.row_id if reversed_entry else None)
    return _recorded_entry(entry_id, entry, postings, tx.now,
                           reversed_entry.entry.reference if reversed_entry else None)


def _recorded_entry(public_id: str, entry: EntryInput, postings, recorded_at: datetime,
                    reversal_of: str | None = None) -> Entry:
    return Entry(
        id=public_id, reference=entry.reference, effective_date=entry.effective_date, recorded_at=recorded_at,
        description=entry.description, status=EntryStatus.PENDING if entry.pending else EntryStatus.POSTED,
        lines=tuple(Line(p.account.code, p.side, p.account.currency.to_decimal(p.minor), p.account.currency.code,
                         p.memo) for p in postings),
        pending_expires_at=entry.expires_at(recorded_at) if entry.pending else None,
        reversal_of=reversal_of, two_phase=entry.pending,
    )


def _ensure_same_content(reference: str, used_fingerprint: str, fingerprint: str) -> None:
    """A reference already used: the same content is a replay, anything else ReferenceConflict."""
    if used_fingerprint != fingerprint:
        raise LedgerError(FaultCode.ReferenceConflict, f"reference {reference} was already used for a different entry",
                          "entry.reference")


def _post_batch(tx: _Transaction, stored, entries: list[EntryInput], atomic: bool) -> list[EntryOutcome]:
    """Judges the entries in order, each counting for the ones after it, in one transaction: the existing
    references read in one query, every account locked in one statement (id order), the rules applied to
    the Account objects in memory, and the new entries written in a few statements. Not atomic: an entry
    that fails leaves the accounts as they were and gets its fault (with its index); atomic: the first
    failure is raised with its index, and nothing is written."""
    ensure_batch_size(len(entries))
    existing = tx.store.entries(stored.id, {entry.reference for entry in entries}, tx.now)
    accounts = tx.lock_accounts(stored, {code for entry in entries if entry.reference not in existing
                                         for code in entry.account_codes})
    new: list[tuple[EntryInput, list, None]] = []
    in_batch: dict[str, tuple[str, int]] = {}  # a reference posted by this batch: (fingerprint, index in new)
    judged: list[Entry | LedgerError | int] = []  # an int: the index of the entry in `new`
    for index, entry in enumerate(entries):
        try:
            fingerprint = entry.fingerprint
            if entry.reference in existing:
                _ensure_same_content(entry.reference, existing[entry.reference].fingerprint, fingerprint)
                judged.append(existing[entry.reference].entry)
            elif entry.reference in in_batch:
                _ensure_same_content(entry.reference, in_batch[entry.reference][0], fingerprint)
                judged.append(in_batch[entry.reference][1])
            else:
                postings = prepare_postings(stored.book, entry, accounts)
                apply_or_undo(postings, pending=entry.pending)
                in_batch[entry.reference] = (fingerprint, len(new))
                judged.append(len(new))
                new.append((entry, postings, None))
        except LedgerError as error:
            error.index = index
            if atomic:
                raise
            judged.append(error)
    public_ids = tx.store.add_entries(stored.id, new, tx.now, tx.audit) if new else []
    posted = [_recorded_entry(public_id, entry, postings, tx.now)
              for public_id, (entry, postings, _) in zip(public_ids, new)]
    return [EntryOutcome(entry.reference, error=outcome) if isinstance(outcome, LedgerError) else
            EntryOutcome(entry.reference, posted[outcome], new=True) if isinstance(outcome, int) else
            EntryOutcome(entry.reference, outcome)
            for entry, outcome in zip(entries, judged)]


def _page_size(page_size: int | None) -> int:
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise LedgerError(FaultCode.SchemaValidation, f"pageSize must lie between 1 and {MAX_PAGE_SIZE}", "pageSize")
    return page_size


class Ledger:
    def __init__(self, database, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 secret_box: SecretBox | None = None, failed_logins: FailedLoginBudget = FailedLoginBudget()):
        self.database = database
        self.clock = clock
        self.passwords = PasswordVerifier()
        self.failed_logins = failed_logins
        self.digests = DigestVerifier(database, secret_box, clock, failed_logins)
        self._page_token_key: bytes | None = None

    def _take_token(self, client_id: int) -> None:
        """Spends one token of the client's bucket, or refuses the request with RateLimited."""
        def spend(store):
            limit, bucket = store.rate_bucket(client_id)
            if limit is None:
                return  # lifted since the request authenticated
            admission = admit(limit, bucket, self.clock())
            if not admission.admitted:
                raise LedgerError(FaultCode.RateLimited,
                                  f"over the rate limit of {limit}; retry after {admission.retry_after} s",
                                  retry_after=admission.retry_after)
            store.save_rate_bucket(client_id, admission.bucket, new=bucket is None)

        self.database.run(spend, write=True)

    def _token_key(self, tx: _Transaction) -> bytes:
        if self._page_token_key is None:
            self._page_token_key = tx.store.secret(PAGE_TOKEN_KEY)
        return self._page_token_key

    # --- books ---

    @use_case(write=True)
    def create_book(self, tx: _Transaction, code: str, name: str) -> Book:
        caller = tx.authenticate()
        if not caller.client.system_admin:
            raise LedgerError(FaultCode.NotAuthorized, "only a system administrator can create books")
        if tx.store.book(code) is not None:
            raise LedgerError(FaultCode.BookExists, f"book {code} already exists", "code")
        book = Book(code, name)
        book_id = tx.store.add_book(book, tx.now, tx.audit)
        tx.store.grant(caller.client.id, book_id, Role.admin)
        return book

    @use_case(write=True)
    def close_period(self, tx: _Transaction, book: str, through_date: date) -> Book:
        stored = tx.book(book, Role.admin, for_update=True)
        if stored.book.close_through(through_date, tx.now.date()):
            tx.store.close_period(stored, tx.now, tx.audit)
        return stored.book

    # --- accounts ---

    @use_case(write=True)
    def open_account(self, tx: _Transaction, book: str, code: str, name: str, type: AccountType,
                     currency_code: str, parent_code: str | None = None, no_negative_balance: bool = False) -> Account:
        stored = tx.book(book, Role.admin)
        spec = AccountSpec(code, name, type, currency(currency_code, "account.currency"), parent_code,
                           no_negative_balance)
        if tx.store.account(stored.id, code, tx.now) is not None:
            raise LedgerError(FaultCode.AccountExists, f"account {code} already exists in book {book}", "account.code")
        parent = tx.store.account(stored.id, parent_code, tx.now) if parent_code else None
        account = open_account(spec, parent, tx.now)
        tx.store.add_account(stored.id, account, tx.audit)
        return account

    @use_case(write=False)
    def get_account(self, tx: _Transaction, book: str, code: str) -> Account:
        return tx.account(tx.book(book, Role.reader).id, code, "code")

    @use_case(write=False)
    def list_accounts(self, tx: _Transaction, book: str, type: AccountType | None = None,
                      code_prefix: str | None = None, page_size: int | None = None,
                      page_token: str | None = None) -> AccountPage:
        stored = tx.book(book, Role.reader)
        limit = _page_size(page_size)
        query = {"kind": "accounts", "book": book, "type": type.value if type else None, "prefix": code_prefix}
        after = page_tokens.decode(self._token_key(tx), query, page_token)["code"] if page_token else None
        accounts = tx.store.accounts(stored.id, type, code_prefix, after, limit + 1, tx.now)
        token = None
        if len(accounts) > limit:
            accounts = accounts[:limit]
            token = page_tokens.encode(self._token_key(tx), query, {"code": accounts[-1].code})
        return AccountPage(tuple(accounts), token)

    @use_case(write=True)
    def close_account(self, tx: _Transaction, book: str, code: str) -> Account:
        stored = tx.book(book, Role.admin)
        account = tx.lock_accounts(stored, {code}).get(code)
        if account is None:
            raise _account_not_found(code, "code")
        if account.status is AccountStatus.OPEN:
            account.close()
            tx.store.close_account(account, tx.now, tx.audit)
        return account

    # --- entries ---

    @use_case(write=True)
    def post_entry(self, tx: _Transaction, book: str, entry: EntryInput) -> Entry:
        stored = tx.book(book, Role.poster)
        existing = tx.store.entry(stored.id, entry.reference, tx.now)
        if existing is not None:
            _ensure_same_content(entry.reference, existing.fingerprint, entry.fingerprint)
            return existing.entry
        return _post(tx, stored, entry)

    @use_case(write=True)
    def post_entries(self, tx: _Transaction, book: str, entries: list[EntryInput], atomic: bool) -> list[EntryOutcome]:
        return _post_batch(tx, tx.book(book, Role.poster), entries, atomic)

    @use_case(write=True)
    def reverse_entry(self, tx: _Transaction, book: str, reference: str, reversal_reference: str,
                      effective_date: date | None = None, reason: str | None = None) -> Entry:
        stored = tx.book(book, Role.poster)
        original = tx.entry(stored.id, reference)
        # The accounts are locked before the rules are checked, and the original read again: a reversal
        # of it that committed while we waited for the locks is then seen (AlreadyReversed, as in a serial
        # order, rather than a balance check failing first). Unique reversal_of_id settles any other race.
        tx.lock_accounts(stored, {line.account for line in original.entry.lines})
        original = tx.entry(stored.id, reference)
        existing = tx.store.entry(stored.id, reversal_reference, tx.now)
        if existing is not None:
            if not repeats_reversal(existing.entry, original.entry, effective_date, reason):
                raise LedgerError(FaultCode.ReferenceConflict,
                                  f"reference {reversal_reference} was already used for a different entry",
                                  "reversalReference")
            return existing.entry
        reversal = reversal_of(stored.book, original.entry, reversal_reference, effective_date, reason)
        return _post(tx, stored, reversal, original)

    @use_case(write=True)
    def commit_pending(self, tx: _Transaction, book: str, reference: str) -> Entry:
        return self._settle(tx, book, reference, EntryStatus.POSTED)

    @use_case(write=True)
    def void_pending(self, tx: _Transaction, book: str, reference: str, reason: str | None = None) -> Entry:
        return self._settle(tx, book, reference, EntryStatus.VOIDED, reason)

    def _settle(self, tx: _Transaction, book: str, reference: str, outcome: EntryStatus,
                reason: str | None = None) -> Entry:
        """Commits (POSTED) or voids (VOIDED) a pending entry. Its accounts are locked first and the
        entry read again after: of a commit and a void racing, the second sees what the first did, and
        an entry whose timeout passes meanwhile is judged expired."""
        stored = tx.book(book, Role.poster)
        found = tx.entry(stored.id, reference)
        accounts = tx.lock_accounts(stored, {line.account for line in found.entry.lines})
        found = tx.entry(stored.id, reference)
        if not needs_settling(stored.book, found.entry, outcome):
            return found.entry
        postings = held_postings(found.entry, accounts)
        (commit_postings if outcome is EntryStatus.POSTED else release_postings)(postings)
        if not tx.store.settle_pending(found, postings, outcome, reason, tx.now, tx.audit):
            raise LedgerError(FaultCode.PendingExpired,
                              f"pending entry {reference} expired and its amounts were released", "reference")
        return replace(found.entry, status=outcome)

    def release_expired_holds(self, at_most: int = 500) -> int:
        """Tidies the reservations of pending entries that expired: releases them on up to `at_most`
        accounts and says on how many. Nothing waits for this to run (every read and write already
        treats an expired entry's reservation as gone); it keeps the table of holds small."""
        return self.database.run(lambda store: store.release_expired_holds(self.clock(), at_most), write=True)

    @use_case(write=False)
    def get_entry(self, tx: _Transaction, book: str, reference: str) -> Entry:
        return tx.entry(tx.book(book, Role.reader).id, reference).entry

    @use_case(write=False)
    def get_entry_audit(self, tx: _Transaction, book: str, reference: str) -> EntryAudit:
        audit = tx.store.entry_audit(tx.book(book, Role.reader).id, reference)
        if audit is None:
            raise _entry_not_found(reference)
        return audit

    # --- an operator's bulk loads (ledger-service import): no client, so no grant to check ---

    def _as_operator(self, book: str, work: Callable, request_id: str):
        def attempt(store):
            tx = _Transaction(self, store, RequestContext(None, request_id), self.clock())
            stored = store.book(book)
            if stored is None:
                raise LedgerError(FaultCode.BookNotFound, f"book {book} does not exist", "book")
            return work(tx, stored)

        return self.database.run(attempt, write=True)

    def import_entries(self, book: str, entries: list[EntryInput], request_id: str) -> list[EntryOutcome]:
        """Posts a batch as PostEntries does, not atomic: each entry posted, found already posted under
        its reference (a load run again posts nothing twice), or refused."""
        return self._as_operator(book, lambda tx, stored: _post_batch(tx, stored, entries, atomic=False), request_id)

    def refresh_statistics(self) -> None:
        """After a bulk load's chunks: the database's planner statistics measured again."""
        self.database.run(lambda store: store.refresh_statistics(), write=True)

    def import_accounts(self, book: str, specs: list[AccountSpec], request_id: str) -> list[bool | LedgerError]:
        """Opens each account in order, a parent before its children: True, opened now; False, found open
        as the spec says (a load run again changes nothing); or why not (one open otherwise is
        AccountExists)."""
        def work(tx: _Transaction, stored) -> list[bool | LedgerError]:
            outcomes: list[bool | LedgerError] = []
            for spec in specs:
                try:
                    existing = tx.store.account(stored.id, spec.code, tx.now)
                    if existing is not None:
                        if not existing.is_opened_as(spec):
                            raise LedgerError(FaultCode.AccountExists,
                                              f"account {spec.code} already exists, not as this row says", "code")
                        outcomes.append(False)
                        continue
                    parent = tx.store.account(stored.id, spec.parent_code, tx.now) if spec.parent_code else None
                    account = open_account(spec, parent, tx.now)
                    tx.store.add_account(stored.id, account, tx.audit)
                    outcomes.append(True)
                except LedgerError as error:
                    outcomes.append(error)
            return outcomes

        return self._as_operator(book, work, request_id)

    # --- reports ---

    @use_case(write=False)
    def get_balance(self, tx: _Transaction, book: str, account: str, as_of: date | None = None) -> Balance:
        found = tx.account(tx.book(book, Role.reader).id, account, "account")
        if as_of is None:
            return Balance.of(found)
        return Balance.of(self._as_of(tx, found, as_of), as_of)

    def _as_of(self, tx: _Transaction, account: Account, as_of: date) -> Account:
        """The account with its posted totals as they stood at the end of `as_of`, nothing pending."""
        account_id = tx.store.account_id(account)
        debits, credits = tx.store.totals_as_of([account_id], as_of).get(account_id, (0, 0))
        account.posted_debits, account.posted_credits = debits, credits
        account.pending_debits = account.pending_credits = 0
        return account

    @use_case(write=False)
    def get_statement(self, tx: _Transaction, book: str, account: str, from_date: date, to_date: date,
                      page_size: int | None = None, page_token: str | None = None) -> Statement:
        found = tx.account(tx.book(book, Role.reader).id, account, "account")
        if from_date > to_date:
            raise LedgerError(FaultCode.SchemaValidation, "fromDate must not be after toDate", "toDate")
        limit = _page_size(page_size)
        account_id = tx.store.account_id(found)
        totals = tx.store.totals_as_of([account_id], to_date)
        closing = signed_balance(found.normal_side, *totals.get(account_id, (0, 0)))
        opening = 0
        if from_date > date.min:
            before = tx.store.totals_as_of([account_id], from_date - timedelta(days=1))
            opening = signed_balance(found.normal_side, *before.get(account_id, (0, 0)))
        query = {"kind": "statement", "book": book, "account": account,
                 "from": from_date.isoformat(), "to": to_date.isoformat()}
        cursor, running = None, opening
        if page_token:
            position = page_tokens.decode(self._token_key(tx), query, page_token)
            cursor = (date.fromisoformat(position["date"]), position["entry"], position["line"])
            running = position["running"]
        rows = tx.store.statement_rows(account_id, from_date, to_date, cursor, limit + 1)
        lines = []
        for row in rows[:limit]:
            running += statement_movement(found.normal_side, row.side, row.amount)
            lines.append(StatementLine(row.reference, row.effective_date, row.description, row.side,
                                       found.currency.to_decimal(row.amount), found.currency.to_decimal(running)))
        token = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = page_tokens.encode(self._token_key(tx), query, {
                "date": last.effective_date.isoformat(), "entry": last.entry_id, "line": last.position,
                "running": running})
        to_decimal = found.currency.to_decimal
        return Statement(found.code, found.currency.code, from_date, to_date, to_decimal(opening), to_decimal(closing),
                         tuple(lines), token)

    @use_case(write=False)
    def get_trial_balance(self, tx: _Transaction, book: str, as_of: date | None = None) -> TrialBalance:
        accounts = tx.store.book_accounts(tx.book(book, Role.reader).id, tx.now)
        if as_of is None:
            positions = [(a, a.posted_debits, a.posted_credits) for a in accounts
                         if a.status is AccountStatus.OPEN or a.balance]
        else:
            totals = tx.store.totals_as_of([tx.store.account_id(a) for a in accounts], as_of)
            positions = []
            for account in accounts:
                debits, credits = totals.get(tx.store.account_id(account), (0, 0))
                if account.opened_at.date() <= as_of or debits or credits:
                    positions.append((account, debits, credits))
        return trial_balance(as_of, positions)

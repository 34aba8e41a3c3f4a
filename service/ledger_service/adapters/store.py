"""The store: every read and write the use cases make, as SQL over one connection in one transaction.

It turns rows into domain objects and back and holds no rules of its own. Locks are taken here,
named by what the caller is about to do: `for_update` rows are about to change and must not change
under us; the book of accounts locked for a posting must not have its closed-through date moved until
we commit.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, Sequence

from sqlalchemy import Connection, and_, any_, bindparam, delete, func, insert, literal_column, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from ..domain.currencies import currency
from ..domain.rate_limits import Bucket, RateLimit
from ..domain.model import (
    Account,
    AccountStatus,
    Audit,
    AccountType,
    Book,
    Entry,
    EntryAudit,
    EntryInput,
    EntryStatus,
    Line,
    Posting,
    Role,
    Side,
    entry_status,
)
from .bulk_writes import Rows, bulk_writes
from .orm import (
    AccountDayRow,
    AccountRow,
    BookRow,
    ClientRow,
    EntryRow,
    FailedLoginBucketRow,
    GrantRow,
    HoldRow,
    LineRow,
    PendingLineRow,
    PendingOutcomeRow,
    PeriodCloseRow,
    RateBucketRow,
    SeenNonceRow,
    ServerSecretRow,
)


def utc(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without a zone; every stored timestamp is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ClientRecord:
    id: int
    name: str
    password_hash: str
    system_admin: bool
    disabled: bool
    rate_limit: RateLimit | None = None

    @classmethod
    def of(cls, row) -> "ClientRecord":
        """A record from a row that starts with `_CLIENT_COLUMNS`."""
        rate_per_minute, burst = row[5], row[6]
        limit = RateLimit(rate_per_minute, burst) if rate_per_minute is not None else None
        return cls(*row[:5], rate_limit=limit)


@dataclass(frozen=True)
class Caller:
    """A client as one request sees it: who, the book it asked about, and its role there."""

    client: ClientRecord
    role: Role | None
    book: "StoredBook | None"


@dataclass(frozen=True)
class FailedLoginBuckets:
    """The failed-authentication buckets of a request's username and source address (None: full)."""

    username: Bucket | None
    address: Bucket | None


@dataclass(frozen=True)
class StoredBook:
    id: int
    book: Book


@dataclass(frozen=True)
class StoredEntry:
    entry: Entry
    fingerprint: str
    row_id: int | None = None


@dataclass(frozen=True)
class StatementRow:
    entry_id: int
    position: int
    reference: str
    effective_date: date
    description: str | None
    side: Side
    amount: int


_CLIENT_COLUMNS = (
    ClientRow.id, ClientRow.name, ClientRow.password_hash, ClientRow.system_admin, ClientRow.disabled,
    ClientRow.rate_per_minute, ClientRow.burst,
)
_ACCOUNT_COLUMNS = (
    AccountRow.id, AccountRow.code, AccountRow.name, AccountRow.type, AccountRow.currency, AccountRow.parent_code,
    AccountRow.no_negative_balance, AccountRow.status, AccountRow.opened_at, AccountRow.posted_debits,
    AccountRow.posted_credits, AccountRow.pending_debits, AccountRow.pending_credits,
)



# The statements every request runs are built once, with bind parameters: building a statement
# costs more than SQLAlchemy's cached compilation and the round trip together.

def _expired_holds(side: Side):
    return (select(func.coalesce(func.sum(HoldRow.amount), 0))
            .where(HoldRow.account_id == AccountRow.id, HoldRow.side == side.value,
                   HoldRow.expires_at <= bindparam("now"))
            .scalar_subquery())


# The account's columns, its pending totals less the holds that have expired by :now but that nobody
# has released yet: every read sees a lapsed reservation gone the moment it lapses.
_LIVE_ACCOUNT_COLUMNS = _ACCOUNT_COLUMNS[:-2] + (
    (AccountRow.pending_debits - _expired_holds(Side.DEBIT)).label("pending_debits"),
    (AccountRow.pending_credits - _expired_holds(Side.CREDIT)).label("pending_credits"),
)
_USERNAME_BUCKET = aliased(FailedLoginBucketRow, name="username_bucket")
_ADDRESS_BUCKET = aliased(FailedLoginBucketRow, name="address_bucket")
_FAILED_LOGIN_BUCKET_COLUMNS = (_USERNAME_BUCKET.milli_tokens, _USERNAME_BUCKET.refilled_at,
                                _ADDRESS_BUCKET.milli_tokens, _ADDRESS_BUCKET.refilled_at)


def _login(*columns):
    """`columns` of the client named :name, and the failed-login buckets of :username_key and
    :address_key, in one row: built on a one-row source, so that a name no client has still yields
    its row (the client's columns null) and meets its budget in the same query as a known one."""
    return (
        select(*columns, *_FAILED_LOGIN_BUCKET_COLUMNS)
        .select_from(select(literal_column("1").label("one")).subquery("login"))
        .outerjoin(ClientRow, ClientRow.name == bindparam("name"))
        .outerjoin(_USERNAME_BUCKET, _USERNAME_BUCKET.subject == bindparam("username_key"))
        .outerjoin(_ADDRESS_BUCKET, _ADDRESS_BUCKET.subject == bindparam("address_key"))
    )


def _failed_login_buckets(row) -> FailedLoginBuckets:
    """The buckets at the end of a row from `_login`."""
    username_tokens, username_refilled, address_tokens, address_refilled = row[-len(_FAILED_LOGIN_BUCKET_COLUMNS):]
    return FailedLoginBuckets(
        Bucket(username_tokens, utc(username_refilled)) if username_tokens is not None else None,
        Bucket(address_tokens, utc(address_refilled)) if address_tokens is not None else None,
    )


_CALLER = (
    _login(*_CLIENT_COLUMNS, GrantRow.role, BookRow.id, BookRow.code, BookRow.name, BookRow.closed_through)
    .outerjoin(BookRow, BookRow.code == bindparam("book_code"))
    .outerjoin(GrantRow, and_(GrantRow.client_id == ClientRow.id, GrantRow.book_id == BookRow.id))
)
_CLIENT_SECRET = _login(ClientRow.id, ClientRow.secret_ciphertext)
_BOOK = select(BookRow.id, BookRow.code, BookRow.name, BookRow.closed_through).where(BookRow.code == bindparam("code"))
_BOOK_FOR_UPDATE = _BOOK.with_for_update()
_ACCOUNT = select(*_LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == bindparam("book_id"),
                                               AccountRow.code == bindparam("code"))
def _expanding_in(column, name: str):
    return column.in_(bindparam(name, expanding=True))


def _equals_any(column, name: str):
    return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))


def _statements_over_lists(one_of) -> dict:
    """The statements that take a list of values, each `one_of(column, name)`: on PostgreSQL one array
    parameter (= ANY), so that the statement it prepares is planned for a list of any length, never for
    a book's first few rows; SQLite has no arrays, and SQLAlchemy writes IN (?, ?, ...)."""
    original, reversal = aliased(EntryRow), aliased(EntryRow)
    return {
        "accounts_for_update": (
            select(*_ACCOUNT_COLUMNS, select(HoldRow.account_id)
                   .where(HoldRow.account_id == AccountRow.id, HoldRow.expires_at <= bindparam("now"))
                   .exists().label("has_expired_holds"), BookRow.closed_through)
            .join(BookRow, BookRow.id == AccountRow.book_id)
            .where(AccountRow.book_id == bindparam("book_id"), one_of(AccountRow.code, "codes"))
            .order_by(AccountRow.id).with_for_update(of=AccountRow)
            # SQLAlchemy writes one locking clause; SQLite takes none (a writer holds the whole database).
            .suffix_with("FOR SHARE OF books", dialect="postgresql")
        ),
        "totals_as_of": (
            select(AccountDayRow.account_id, func.sum(AccountDayRow.debits), func.sum(AccountDayRow.credits))
            .where(one_of(AccountDayRow.account_id, "account_ids"), AccountDayRow.day <= bindparam("as_of"))
            .group_by(AccountDayRow.account_id)
        ),
        "entry_heads": (
            select(EntryRow.id, EntryRow.public_id, EntryRow.reference, EntryRow.effective_date, EntryRow.recorded_at,
                   EntryRow.description, EntryRow.status, EntryRow.fingerprint, EntryRow.pending_expires_at,
                   PendingOutcomeRow.status.label("outcome"),
                   original.reference.label("reversal_of"), reversal.reference.label("reversed_by"))
            .outerjoin(PendingOutcomeRow, PendingOutcomeRow.entry_id == EntryRow.id)
            .outerjoin(original, original.id == EntryRow.reversal_of_id)
            .outerjoin(reversal, reversal.reversal_of_id == EntryRow.id)
            .where(EntryRow.book_id == bindparam("book_id"), one_of(EntryRow.reference, "references"))
        ),
        # Lines of entries (posted ones from `lines`, pending ones as submitted from `pending_lines`), in order.
        **{f"lines_of_{table.__tablename__}": (
            select(table.entry_id, AccountRow.code, table.side, table.amount, AccountRow.currency, table.memo)
            .join(AccountRow, AccountRow.id == table.account_id)
            .where(one_of(table.entry_id, "entry_ids")).order_by(table.entry_id, table.position))
           for table in (LineRow, PendingLineRow)},
    }


_OVER_LISTS = {"postgresql": _statements_over_lists(_equals_any), "sqlite": _statements_over_lists(_expanding_in)}
_BOOK_ACCOUNTS = select(*_LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == bindparam("book_id")).order_by(AccountRow.code)
_STATEMENT_LINES = (
    select(LineRow.entry_id, LineRow.position, EntryRow.reference, LineRow.effective_date, EntryRow.description,
           LineRow.side, LineRow.amount)
    .join(EntryRow, EntryRow.id == LineRow.entry_id)
    .where(LineRow.account_id == bindparam("account_id"), LineRow.effective_date >= bindparam("from_date"),
           LineRow.effective_date <= bindparam("to_date"))
    .order_by(LineRow.effective_date, LineRow.entry_id, LineRow.position).limit(bindparam("limit"))
)
_STATEMENT_LINES_AFTER = _STATEMENT_LINES.where(
    tuple_(LineRow.effective_date, LineRow.entry_id, LineRow.position)
    > tuple_(bindparam("after_date"), bindparam("after_entry"), bindparam("after_position")))


class Store:
    def __init__(self, connection: Connection):
        self.connection = connection
        self.dialect = connection.dialect.name
        self._writes = bulk_writes(connection)
        self._over_lists = _OVER_LISTS[self.dialect]
        # Row ids of the accounts this transaction loaded, by object; each object is held so that
        # its id() cannot be reused by another while the transaction lasts.
        self._account_ids: dict[int, tuple[Account, int]] = {}

    def _run(self, statement, parameters=None):
        return self.connection.execute(statement, parameters)

    # --- clients and grants ---

    def caller(self, name: str, book_code: str | None, username_key: str,
               address_key: str) -> tuple[Caller | None, FailedLoginBuckets]:
        """The client named `name` (None: no such client), with the book `book_code` (if it exists) and
        the client's role on it, and the failed-login buckets of the request's username and address, in
        one query: every request needs all of them before anything else."""
        row = self._run(_CALLER, {"name": name, "book_code": book_code, "username_key": username_key,
                                  "address_key": address_key}).one()
        buckets = _failed_login_buckets(row)
        if row[0] is None:
            return None, buckets
        role, book_id, *book = row[len(_CLIENT_COLUMNS):-len(_FAILED_LOGIN_BUCKET_COLUMNS)]
        book = StoredBook(book_id, Book(*book)) if book_id is not None else None
        return Caller(ClientRecord.of(row), Role[role] if role else None, book), buckets

    def client(self, name: str) -> ClientRecord | None:
        row = self._run(select(*_CLIENT_COLUMNS).where(ClientRow.name == name)).first()
        return ClientRecord.of(row) if row else None

    def add_client(self, name: str, password_hash: str, system_admin: bool, now: datetime) -> int:
        return self._run(
            insert(ClientRow).values(name=name, password_hash=password_hash, system_admin=system_admin,
                                     disabled=False, created_at=now).returning(ClientRow.id)
        ).scalar_one()

    def client_secret(self, name: str, username_key: str,
                      address_key: str) -> tuple[tuple[int, bytes | None] | None, FailedLoginBuckets]:
        """The client's id and its encrypted secret (None when it has none; None for both when there is
        no such client), for PasswordDigest, and the request's failed-login buckets, in one query."""
        row = self._run(_CLIENT_SECRET, {"name": name, "username_key": username_key,
                                         "address_key": address_key}).one()
        return ((row[0], row[1]) if row[0] is not None else None), _failed_login_buckets(row)

    def secret_ciphertexts(self) -> list[tuple[int, str, bytes]]:
        return [tuple(row) for row in self._run(
            select(ClientRow.id, ClientRow.name, ClientRow.secret_ciphertext)
            .where(ClientRow.secret_ciphertext.is_not(None)).order_by(ClientRow.name))]

    def set_secret_ciphertext(self, client_id: int, ciphertext: bytes | None) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(secret_ciphertext=ciphertext))

    def spend_nonce(self, nonce_digest: str, expires_at: datetime) -> bool:
        """Records a WS-Security nonce; False when it was already recorded (a replay)."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return self._run(dialect_insert(SeenNonceRow).values(nonce_digest=nonce_digest, expires_at=expires_at)
                         .on_conflict_do_nothing(index_elements=[SeenNonceRow.nonce_digest])
                         .returning(SeenNonceRow.nonce_digest)).first() is not None

    def prune_nonces(self, now: datetime, at_most: int) -> None:
        expired = select(SeenNonceRow.nonce_digest).where(SeenNonceRow.expires_at < now).limit(at_most)
        self._run(delete(SeenNonceRow).where(SeenNonceRow.nonce_digest.in_(expired)))

    def set_rate_limit(self, client_id: int, limit: RateLimit | None) -> None:
        """Sets or lifts the client's limit; its budget starts again from a full bucket."""
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(
            rate_per_minute=limit.per_minute if limit else None, burst=limit.burst if limit else None))
        self._run(delete(RateBucketRow).where(RateBucketRow.client_id == client_id))

    def rate_bucket(self, client_id: int) -> tuple[RateLimit | None, Bucket | None]:
        """The client's limit as it stands now and its bucket (None: full), locked until commit so that
        every worker on every host spends one budget. The lock is on the client's row, which exists
        before its bucket does (FOR NO KEY UPDATE: not waiting for transactions that merely insert rows
        referring to the client). The bucket is read by a second statement, after the lock is held: in
        one statement joining both, PostgreSQL would recheck the locked row only and hand back the
        bucket as it stood before the wait."""
        per_minute, burst = self._run(
            select(ClientRow.rate_per_minute, ClientRow.burst).where(ClientRow.id == client_id)
            .with_for_update(key_share=True)
        ).one()
        row = self._run(select(RateBucketRow.milli_tokens, RateBucketRow.refilled_at)
                        .where(RateBucketRow.client_id == client_id)).first()
        return (RateLimit(per_minute, burst) if per_minute is not None else None,
                Bucket(row[0], utc(row[1])) if row else None)

    def save_rate_bucket(self, client_id: int, bucket: Bucket, *, new: bool) -> None:
        values = dict(milli_tokens=bucket.milli_tokens, refilled_at=bucket.refilled_at)
        if new:
            self._run(insert(RateBucketRow).values(client_id=client_id, **values))
        else:
            self._run(update(RateBucketRow).where(RateBucketRow.client_id == client_id).values(**values))

    def failed_login_buckets_for_update(self, fresh: dict[str, Bucket]) -> dict[str, Bucket]:
        """The failed-login buckets of these subjects, locked until commit, each made `fresh[subject]`
        (a full bucket) if it has no row yet.

        One statement creates the missing rows and locks the others: INSERT .. ON CONFLICT DO UPDATE
        with an update that changes nothing. A bucket's row may not exist yet and no other row stands
        for it (a rate-limited client's bucket is locked through the client's row; a username may be
        nobody's), so FOR UPDATE could lock nothing, and two first failures would both count from
        full. On PostgreSQL the upsert waits for any transaction that holds the row (or is inserting
        it), then locks it, FOR NO KEY UPDATE, and hands back its latest committed values, even when
        that transaction updated it or pruned it meanwhile: every failure on every worker and host
        is counted once, in turn. The rows are taken in subject order, so that two transactions never
        wait on each other in a cycle. (SQLite: a writer holds the whole database anyway.)"""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(FailedLoginBucketRow).values([
            dict(subject=subject, milli_tokens=fresh[subject].milli_tokens, refilled_at=fresh[subject].refilled_at)
            for subject in sorted(fresh)])
        rows = self._run(statement.on_conflict_do_update(
            index_elements=[FailedLoginBucketRow.subject],
            set_={"milli_tokens": FailedLoginBucketRow.milli_tokens},
        ).returning(FailedLoginBucketRow.subject, FailedLoginBucketRow.milli_tokens, FailedLoginBucketRow.refilled_at))
        return {subject: Bucket(milli_tokens, utc(refilled_at)) for subject, milli_tokens, refilled_at in rows}

    def save_failed_login_buckets(self, buckets: dict[str, Bucket]) -> None:
        """Stores buckets locked by `failed_login_buckets_for_update`."""
        table = FailedLoginBucketRow.__table__
        self._run(update(table).where(table.c.subject == bindparam("key"))
                  .values(milli_tokens=bindparam("tokens"), refilled_at=bindparam("at")),
                  [dict(key=subject, tokens=bucket.milli_tokens, at=bucket.refilled_at)
                   for subject, bucket in sorted(buckets.items())])

    def prune_failed_login_buckets(self, full_before: datetime, at_most: int) -> None:
        """Drops up to `at_most` buckets left alone since before `full_before`, full again by then: no
        row stands for a full bucket. Rows another transaction holds are skipped (it is using them)."""
        stale = (select(FailedLoginBucketRow.subject).where(FailedLoginBucketRow.refilled_at < full_before)
                 .limit(at_most).with_for_update(skip_locked=True))
        self._run(delete(FailedLoginBucketRow).where(FailedLoginBucketRow.subject.in_(stale)))

    def disable_client(self, client_id: int) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(disabled=True))

    def clients(self) -> list[tuple[ClientRecord, list[tuple[str, Role]]]]:
        rows = self._run(select(*_CLIENT_COLUMNS).order_by(ClientRow.name)).all()
        grants = self._run(
            select(GrantRow.client_id, BookRow.code, GrantRow.role).join(BookRow, BookRow.id == GrantRow.book_id)
            .order_by(BookRow.code)
        ).all()
        by_client: dict[int, list[tuple[str, Role]]] = {}
        for client_id, book_code, role in grants:
            by_client.setdefault(client_id, []).append((book_code, Role[role]))
        return [(ClientRecord.of(row), by_client.get(row[0], [])) for row in rows]

    def grant(self, client_id: int, book_id: int, role: Role) -> None:
        """Sets the client's role on the book, replacing any earlier one."""
        exists = self._run(
            select(GrantRow.role).where(GrantRow.client_id == client_id, GrantRow.book_id == book_id)
        ).first()
        if exists:
            self._run(update(GrantRow).where(GrantRow.client_id == client_id, GrantRow.book_id == book_id)
                      .values(role=role.name))
        else:
            self._run(insert(GrantRow).values(client_id=client_id, book_id=book_id, role=role.name))

    # --- books ---

    def book(self, code: str, *, for_update: bool = False) -> StoredBook | None:
        row = self._run(_BOOK_FOR_UPDATE if for_update else _BOOK, {"code": code}).first()
        return StoredBook(row[0], Book(row[1], row[2], row[3])) if row else None

    def add_book(self, book: Book, now: datetime, audit: Audit) -> int:
        return self._run(
            insert(BookRow).values(code=book.code, name=book.name, closed_through=book.closed_through, created_at=now,
                                   created_by=audit.client_id, request_id=audit.request_id).returning(BookRow.id)
        ).scalar_one()

    def close_period(self, stored: StoredBook, now: datetime, audit: Audit) -> None:
        through = stored.book.closed_through
        self._run(update(BookRow).where(BookRow.id == stored.id).values(closed_through=through))
        self._run(insert(PeriodCloseRow).values(book_id=stored.id, through_date=through, closed_at=now,
                                                client_id=audit.client_id, request_id=audit.request_id))

    def secret(self, name: str) -> bytes | None:
        return self._run(select(ServerSecretRow.value).where(ServerSecretRow.name == name)).scalar()

    # --- accounts ---

    def _account(self, row) -> Account:
        account = Account(
            code=row.code, name=row.name, type=AccountType(row.type), currency=currency(row.currency),
            parent_code=row.parent_code, no_negative_balance=row.no_negative_balance,
            status=AccountStatus(row.status), opened_at=utc(row.opened_at), posted_debits=row.posted_debits,
            posted_credits=row.posted_credits, pending_debits=row.pending_debits, pending_credits=row.pending_credits,
        )
        self._account_ids[id(account)] = (account, row.id)
        return account

    def account_id(self, account: Account) -> int:
        return self._account_ids[id(account)][1]

    def account(self, book_id: int, code: str, now: datetime) -> Account | None:
        row = self._run(_ACCOUNT, {"book_id": book_id, "code": code, "now": now}).first()
        return self._account(row) if row else None

    def accounts_for_update(self, stored: StoredBook, codes: Iterable[str], now: datetime) -> dict[str, Account]:
        """The accounts, locked in id order so that concurrent postings never wait on each other in a cycle,
        with the holds that have expired by `now` released; and their book locked for share (ClosePeriod
        waits until we commit), its closed-through date read as it stands once the lock is held.

        Whether an account has expired holds is asked in the locking statement itself, which saves a
        round trip on every posting. After a wait for the lock, PostgreSQL answers that subquery from
        the snapshot taken before the wait; a hold committed during the wait could only have expired
        meanwhile if the wait outlasted its timeout, and then this transaction still counts it as
        reserved: stricter for one write, never looser, and the next one releases it."""
        rows = self._run(self._over_lists["accounts_for_update"], {"book_id": stored.id, "codes": sorted(codes), "now": now}).all()
        if rows:
            stored.book.closed_through = rows[0].closed_through
        accounts = {row.id: self._account(row) for row in rows}
        lapsed = [row.id for row in rows if row.has_expired_holds]
        for account_id, (debits, credits) in self._release_expired_holds(lapsed, now).items():
            accounts[account_id].release(Side.DEBIT, debits)
            accounts[account_id].release(Side.CREDIT, credits)
        return {account.code: account for account in accounts.values()}

    def _release_expired_holds(self, account_ids: list[int], now: datetime) -> dict[int, tuple[int, int]]:
        """Drops the expired holds on these locked accounts and takes their amounts off the accounts'
        pending totals; returns the (debits, credits) released per account."""
        if not account_ids:
            return {}
        released: dict[int, list[int]] = {}
        for account_id, side, amount in self._run(
            delete(HoldRow).where(HoldRow.account_id.in_(account_ids), HoldRow.expires_at <= now)
            .returning(HoldRow.account_id, HoldRow.side, HoldRow.amount)
        ):
            released.setdefault(account_id, [0, 0])[0 if side == Side.DEBIT.value else 1] += amount
        if released:
            self._run(
                update(AccountRow.__table__).where(AccountRow.__table__.c.id == bindparam("account_id"))
                .values(pending_debits=AccountRow.__table__.c.pending_debits - bindparam("debits"),
                        pending_credits=AccountRow.__table__.c.pending_credits - bindparam("credits")),
                [dict(account_id=account_id, debits=debits, credits=credits)
                 for account_id, (debits, credits) in sorted(released.items())],
            )
        return {account_id: (debits, credits) for account_id, (debits, credits) in released.items()}

    def release_expired_holds(self, now: datetime, at_most: int) -> int:
        """Tidies up: releases the expired holds of up to `at_most` accounts, skipping accounts another
        transaction holds (it releases them itself). Returns how many accounts it released holds on."""
        account_ids = self._run(
            select(HoldRow.account_id).where(HoldRow.expires_at <= now).distinct().limit(at_most)).scalars().all()
        if not account_ids:
            return 0
        lock = select(AccountRow.id).where(AccountRow.id.in_(account_ids)).order_by(AccountRow.id)
        locked = self._run(lock.with_for_update(skip_locked=True)).scalars().all()
        return len(self._release_expired_holds(list(locked), now))

    def accounts(self, book_id: int, type: AccountType | None, code_prefix: str | None, after_code: str | None,
                 limit: int, now: datetime) -> list[Account]:
        query = select(*_LIVE_ACCOUNT_COLUMNS).where(AccountRow.book_id == book_id)
        if type is not None:
            query = query.where(AccountRow.type == type.value)
        if code_prefix:
            query = query.where(AccountRow.code >= code_prefix, AccountRow.code < code_prefix + "\U0010ffff")
        if after_code is not None:
            query = query.where(AccountRow.code > after_code)
        return [self._account(row) for row in self._run(query.order_by(AccountRow.code).limit(limit), {"now": now})]

    def add_account(self, book_id: int, account: Account, audit: Audit) -> None:
        self._run(insert(AccountRow).values(
            book_id=book_id, code=account.code, name=account.name, type=account.type.value,
            currency=account.currency.code, parent_code=account.parent_code,
            no_negative_balance=account.no_negative_balance, status=account.status.value, opened_at=account.opened_at,
            posted_debits=0, posted_credits=0, pending_debits=0, pending_credits=0,
            created_by=audit.client_id, request_id=audit.request_id,
        ))

    def close_account(self, account: Account, now: datetime, audit: Audit) -> None:
        self._run(update(AccountRow).where(AccountRow.id == self.account_id(account))
                  .values(status=account.status.value, closed_at=now, closed_by=audit.client_id,
                          closed_request_id=audit.request_id))

    def totals_as_of(self, account_ids: Sequence[int], as_of: date) -> dict[int, tuple[int, int]]:
        """Posted (debits, credits) per account, counting entries effective on or before `as_of`."""
        rows = self._run(self._over_lists["totals_as_of"], {"account_ids": list(account_ids), "as_of": as_of}).all()
        return {account_id: (int(debits), int(credits)) for account_id, debits, credits in rows}

    def book_accounts(self, book_id: int, now: datetime) -> list[Account]:
        return [self._account(row) for row in self._run(_BOOK_ACCOUNTS, {"book_id": book_id, "now": now})]

    # --- entries ---

    def entry(self, book_id: int, reference: str, now: datetime) -> StoredEntry | None:
        return self.entries(book_id, [reference], now).get(reference)

    def entries(self, book_id: int, references: Iterable[str], now: datetime) -> dict[str, StoredEntry]:
        """The book's entries with these references, by reference, each with its status at `now`: at most
        three queries however many are asked for."""
        heads = self._run(self._over_lists["entry_heads"],
                          {"book_id": book_id, "references": sorted(set(references))}).all()
        if not heads:
            return {}
        lines: dict[int, list[Line]] = {head.id: [] for head in heads}
        # A pending entry's lines are kept as submitted in pending_lines (and reach `lines` if committed).
        two_phase = {head.id for head in heads if head.status == EntryStatus.PENDING.value}
        for table, entry_ids in ((LineRow, set(lines) - two_phase), (PendingLineRow, two_phase)):
            if not entry_ids:
                continue
            lines_of = self._over_lists[f"lines_of_{table.__tablename__}"]
            for entry_id, code, side, amount, cur, memo in self._run(lines_of, {"entry_ids": sorted(entry_ids)}):
                lines[entry_id].append(Line(code, Side(side), currency(cur).to_decimal(amount), cur, memo))
        stored = {}
        for head in heads:
            expires_at = utc(head.pending_expires_at)
            outcome = EntryStatus(head.outcome) if head.outcome else None
            stored[head.reference] = StoredEntry(Entry(
                id=head.public_id, reference=head.reference, effective_date=head.effective_date,
                recorded_at=utc(head.recorded_at), description=head.description,
                status=entry_status(head.id in two_phase, outcome, expires_at, now), lines=tuple(lines[head.id]),
                pending_expires_at=expires_at, reversal_of=head.reversal_of, reversed_by=head.reversed_by,
                two_phase=head.id in two_phase,
            ), head.fingerprint, head.id)
        return stored

    def entry_audit(self, book_id: int, reference: str) -> EntryAudit | None:
        settler = aliased(ClientRow)
        row = self._run(
            select(EntryRow.reference, ClientRow.name, EntryRow.request_id, EntryRow.recorded_at,
                   settler.name, PendingOutcomeRow.request_id, PendingOutcomeRow.settled_at, PendingOutcomeRow.reason)
            .outerjoin(ClientRow, ClientRow.id == EntryRow.client_id)
            .outerjoin(PendingOutcomeRow, PendingOutcomeRow.entry_id == EntryRow.id)
            .outerjoin(settler, settler.id == PendingOutcomeRow.client_id)
            .where(EntryRow.book_id == book_id, EntryRow.reference == reference)
        ).first()
        if row is None:
            return None
        return EntryAudit(row[0], row[1], row[2], utc(row[3]), settled_by=row[4], settled_request_id=row[5],
                          settled_at=utc(row[6]), void_reason=row[7])

    def add_entry(self, book_id: int, entry: EntryInput, postings: Sequence[Posting], now: datetime,
                  audit: Audit, reversal_of_id: int | None = None) -> str:
        """Writes the entry, its lines, the per-day totals and the accounts' new running totals;
        returns the entry's public id. A second reversal of one entry fails on the unique
        reversal_of_id (IntegrityError: the use case runs again and finds the first)."""
        return self.add_entries(book_id, [(entry, postings, reversal_of_id)], now, audit)[0]

    def add_entries(self, book_id: int, entries: Sequence[tuple[EntryInput, Sequence[Posting], int | None]],
                    now: datetime, audit: Audit) -> list[str]:
        """Writes entries (each with its postings and the row id of the entry it reverses, if any) in a
        few statements however many (see bulk_writes): the entries; the posted ones' lines and per-day
        totals; the pending ones' lines and holds; the accounts' new running totals (as the postings left
        the Account objects). Returns the entries' public ids, in order."""
        public_ids = [str(uuid.uuid4()) for _ in entries]
        row_ids = self._writes.entries(
            dict(book_id=book_id, recorded_at=now, client_id=audit.client_id, request_id=audit.request_id),
            [(public_id, entry.reference, entry.effective_date, entry.description,
              (EntryStatus.PENDING if entry.pending else EntryStatus.POSTED).value, entry.fingerprint,
              entry.expires_at(now) if entry.pending else None, reversal_of_id)
             for public_id, (entry, _, reversal_of_id) in zip(public_ids, entries)])
        rows = Rows()
        for public_id, (entry, postings, _) in zip(public_ids, entries):
            if entry.pending:
                self._pending_rows(rows, row_ids[public_id], entry.expires_at(now), postings)
            else:
                self._posted_rows(rows, row_ids[public_id], entry.effective_date, postings)
        self._account_total_rows(rows, [p.account for _, postings, _ in entries for p in postings])
        self._writes.rows(rows)
        return public_ids

    def _posted_rows(self, rows: Rows, entry_id: int, effective_date: date, postings: Sequence[Posting]) -> None:
        """A posted entry's lines, and what they add to the per-day totals."""
        for p in postings:
            account_id = self.account_id(p.account)
            rows.lines.append((entry_id, p.position, account_id, effective_date, p.side.value, p.minor, p.memo))
            rows.add_to_day(account_id, effective_date, p.side is Side.DEBIT, p.minor)

    def _pending_rows(self, rows: Rows, entry_id: int, expires_at: datetime | None,
                      postings: Sequence[Posting]) -> None:
        """A pending entry's lines as submitted, and a hold for each."""
        for p in postings:
            account_id = self.account_id(p.account)
            rows.pending_lines.append((entry_id, p.position, account_id, p.side.value, p.minor, p.memo))
            rows.holds.append((entry_id, p.position, account_id, p.side.value, p.minor, expires_at))

    def _account_total_rows(self, rows: Rows, accounts: Iterable[Account]) -> None:
        """The running totals of these (locked) accounts as the domain left them, in id order."""
        touched = {self.account_id(account): account for account in accounts}
        rows.account_totals = [(account_id, *touched[account_id].totals()) for account_id in sorted(touched)]

    def settle_pending(self, stored: StoredEntry, postings: Sequence[Posting], outcome: EntryStatus,
                       reason: str | None, now: datetime, audit: Audit) -> bool:
        """Records a pending entry's outcome: its holds released, and for POSTED its lines and per-day
        totals written; the accounts' totals as the domain left them. False when a hold of the entry is
        gone already: it expired, by the clock of whoever released it, and the caller must refuse (its
        transaction then undoes what this began)."""
        released = self._run(delete(HoldRow).where(HoldRow.entry_id == stored.row_id)
                             .returning(HoldRow.position)).scalars().all()
        if len(released) != len(postings):
            return False
        self._run(insert(PendingOutcomeRow).values(entry_id=stored.row_id, status=outcome.value, reason=reason,
                                                   settled_at=now, client_id=audit.client_id,
                                                   request_id=audit.request_id))
        rows = Rows()
        if outcome is EntryStatus.POSTED:
            self._posted_rows(rows, stored.row_id, stored.entry.effective_date, postings)
        self._account_total_rows(rows, [p.account for p in postings])
        self._writes.rows(rows)
        return True

    def refresh_statistics(self) -> None:
        """Has PostgreSQL measure the tables a posting writes. A bulk load grows them faster than
        autovacuum measures them, and a plan made for the few rows they held would scan them all."""
        if self.dialect == "postgresql":
            self.connection.exec_driver_sql("ANALYZE entries, lines, account_days, pending_lines, holds")

    def statement_rows(self, account_id: int, from_date: date, to_date: date,
                       after: tuple[date, int, int] | None, limit: int) -> list[StatementRow]:
        """Posted lines of the account in the date range, in (date, entry, position) order, after a cursor."""
        parameters = {"account_id": account_id, "from_date": from_date, "to_date": to_date, "limit": limit}
        if after is not None:
            parameters.update(zip(("after_date", "after_entry", "after_position"), after))
        return [StatementRow(r.entry_id, r.position, r.reference, r.effective_date, r.description, Side(r.side), r.amount)
                for r in self._run(_STATEMENT_LINES if after is None else _STATEMENT_LINES_AFTER, parameters)]

"""What authenticating a request reads and spends: the caller with its book and role, PasswordDigest
nonces, rate-limit buckets and failed-login buckets, and the server's own secrets."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, insert, literal_column, select, update
from sqlalchemy.orm import aliased

from ...domain.access import Caller, Client, Role
from ...domain.books import Book
from ...domain.rate_limits import Bucket, RateLimit
from ...service_layer.ports import FailedLoginBuckets, LoginSubjects
from ..orm import BookRow, ClientRow, FailedLoginBucketRow, GrantRow, RateBucketRow, SeenNonceRow, ServerSecretRow
from .sql import DIALECT_INSERT, SqlStore, utc

CLIENT_COLUMNS = (
    ClientRow.id, ClientRow.name, ClientRow.password_hash, ClientRow.system_admin, ClientRow.disabled,
    ClientRow.rate_per_minute, ClientRow.burst,
)


def client_of(row) -> Client:
    """A client from a row that starts with CLIENT_COLUMNS."""
    rate_per_minute, burst = row[5], row[6]
    return Client(*row[:5], rate_limit=RateLimit(rate_per_minute, burst) if rate_per_minute is not None else None)


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
    _login(*CLIENT_COLUMNS, GrantRow.role, BookRow.id, BookRow.code, BookRow.name, BookRow.closed_through)
    .outerjoin(BookRow, BookRow.code == bindparam("book_code"))
    .outerjoin(GrantRow, and_(GrantRow.client_id == ClientRow.id, GrantRow.book_id == BookRow.id))
)
_CLIENT_SECRET = _login(ClientRow.id, ClientRow.secret_ciphertext)


def _nonce_key(username: str, nonce: bytes) -> str:
    """What `seen_nonces` keeps of a nonce: bounded in size, and one client's nonce never spends another's."""
    return hashlib.sha256(len(nonce).to_bytes(4, "big") + nonce + username.encode()).hexdigest()


class SqlAccessStore(SqlStore):
    def __init__(self, connection: Connection):
        super().__init__(connection)
        self._insert = DIALECT_INSERT[self.dialect]

    def _login_parameters(self, name: str, subjects: LoginSubjects) -> dict:
        return {"name": name, "username_key": subjects.username, "address_key": subjects.address}

    def caller(self, name: str, book_code: str | None,
               subjects: LoginSubjects) -> tuple[Caller | None, FailedLoginBuckets]:
        """The client named `name` (None: no such client), with the book `book_code` (if it exists) and
        the client's role on it, and the failed-login buckets of the request's username and address, in
        one query: every request needs all of them before anything else."""
        row = self._run(_CALLER, {**self._login_parameters(name, subjects), "book_code": book_code}).one()
        buckets = _failed_login_buckets(row)
        if row[0] is None:
            return None, buckets
        role, book_id, code, book_name, closed_through = row[len(CLIENT_COLUMNS):-len(_FAILED_LOGIN_BUCKET_COLUMNS)]
        book = Book(code, book_name, closed_through, id=book_id) if book_id is not None else None
        return Caller(client_of(row), Role[role] if role else None, book), buckets

    def client_secret(self, name: str,
                      subjects: LoginSubjects) -> tuple[tuple[int, bytes | None] | None, FailedLoginBuckets]:
        """The client's id and its encrypted secret (None when it has none; None for both when there is
        no such client), for PasswordDigest, and the request's failed-login buckets, in one query."""
        row = self._run(_CLIENT_SECRET, self._login_parameters(name, subjects)).one()
        return ((row[0], row[1]) if row[0] is not None else None), _failed_login_buckets(row)

    def spend_nonce(self, username: str, nonce: bytes, keep_until: datetime) -> bool:
        """Records a client's WS-Security nonce until `keep_until`; False when it was already recorded (a replay)."""
        return self._run(self._insert(SeenNonceRow).values(nonce_digest=_nonce_key(username, nonce),
                                                           expires_at=keep_until)
                         .on_conflict_do_nothing(index_elements=[SeenNonceRow.nonce_digest])
                         .returning(SeenNonceRow.nonce_digest)).first() is not None

    def prune_nonces(self, now: datetime, at_most: int) -> None:
        expired = select(SeenNonceRow.nonce_digest).where(SeenNonceRow.expires_at < now).limit(at_most)
        self._run(delete(SeenNonceRow).where(SeenNonceRow.nonce_digest.in_(expired)))

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
        statement = self._insert(FailedLoginBucketRow).values([
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

    def replace_password_hash(self, client_id: int, old: str, new: str) -> None:
        """Stores `new` as the client's password hash, if `old` still is (no one changed it meanwhile)."""
        self._run(update(ClientRow).where(ClientRow.id == client_id, ClientRow.password_hash == old)
                  .values(password_hash=new))

    def server_secret(self, name: str) -> bytes | None:
        return self._run(select(ServerSecretRow.value).where(ServerSecretRow.name == name)).scalar()

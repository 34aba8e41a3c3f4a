"""What authenticating a request reads and spends: the caller with its book and role, PasswordDigest
nonces, rate-limit buckets and failed-login buckets, the registered certificates a signature's key
reference names, and the server's own secrets."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, delete, insert, literal_column, select, update
from sqlalchemy.orm import aliased

from ...domain.access import Caller, Client, RegisteredCertificate, Role
from ...domain.books import Book
from ...domain.rate_limits import Bucket, RateLimit
from ...service_layer.ports import FailedLoginBuckets, LoginSubjects
from ..certificates import issued_by
from ..driver import DriverSelect
from ..orm import (AccountRow, BookRow, ClientCertificateRow, ClientRow, FailedLoginBucketRow, GrantRow, RateBucketRow,
                   SeenNonceRow, ServerSecretRow)
from .accounts import LIVE_ACCOUNT_COLUMNS, account_of
from .sql import DIALECT_INSERT, SqlStore, utc

# A client's columns, its certificate's (outer-joined: null when it has none) among them.
CLIENT_COLUMNS = (
    ClientRow.id, ClientRow.name, ClientRow.password_hash, ClientRow.system_admin, ClientRow.disabled,
    ClientRow.rate_per_minute, ClientRow.burst, ClientRow.require_signature,
    ClientCertificateRow.sha256, ClientCertificateRow.subject, ClientCertificateRow.issuer,
    ClientCertificateRow.serial_number, ClientCertificateRow.not_before, ClientCertificateRow.not_after,
)
# Joins a client's certificate to its row.
CLIENT_CERTIFICATE = (ClientCertificateRow, ClientCertificateRow.client_id == ClientRow.id)


def client_of(row) -> Client:
    """A client from a row that starts with CLIENT_COLUMNS."""
    client_id, name, password_hash, system_admin, disabled, rate_per_minute, burst, require_signature = row[:8]
    sha256, subject, issuer, serial_number, not_before, not_after = row[8:len(CLIENT_COLUMNS)]
    certificate = RegisteredCertificate(sha256, subject, issuer, int(serial_number), utc(not_before),
                                        utc(not_after)) if sha256 is not None else None
    return Client(client_id, name, password_hash or None, system_admin, disabled,
                  RateLimit(rate_per_minute, burst) if rate_per_minute is not None else None, certificate,
                  require_signature)


_USERNAME_BUCKET = aliased(FailedLoginBucketRow, name="username_bucket")
_ADDRESS_BUCKET = aliased(FailedLoginBucketRow, name="address_bucket")
_FAILED_LOGIN_BUCKET_COLUMNS = (_USERNAME_BUCKET.milli_tokens, _USERNAME_BUCKET.refilled_at,
                                _ADDRESS_BUCKET.milli_tokens, _ADDRESS_BUCKET.refilled_at)


# The client named :name and its certificate; the client whose certificate's fingerprint is :sha256.
_BY_NAME = ((ClientRow, ClientRow.name == bindparam("name")), CLIENT_CERTIFICATE)
_BY_CERTIFICATE = ((ClientCertificateRow, ClientCertificateRow.sha256 == bindparam("sha256")),
                   (ClientRow, ClientRow.id == ClientCertificateRow.client_id))


def _login(client, *columns):
    """`columns` of the client that `client` (_BY_NAME or _BY_CERTIFICATE) joins, and the failed-login
    buckets of :username_key and :address_key, in one row: built on a one-row source, so that a name no
    client has still yields its row (the client's columns null) and meets its budget in the same query
    as a known one."""
    login = select(*columns, *_FAILED_LOGIN_BUCKET_COLUMNS).select_from(
        select(literal_column("1").label("one")).subquery("login"))
    for table, on in client:
        login = login.outerjoin(table, on)
    return (login.outerjoin(_USERNAME_BUCKET, _USERNAME_BUCKET.subject == bindparam("username_key"))
            .outerjoin(_ADDRESS_BUCKET, _ADDRESS_BUCKET.subject == bindparam("address_key")))


def _failed_login_buckets(row) -> FailedLoginBuckets:
    """The buckets at the end of a row from `_login`."""
    username_tokens, username_refilled, address_tokens, address_refilled = row[-len(_FAILED_LOGIN_BUCKET_COLUMNS):]
    return FailedLoginBuckets(
        Bucket(username_tokens, utc(username_refilled)) if username_tokens is not None else None,
        Bucket(address_tokens, utc(address_refilled)) if address_tokens is not None else None,
    )


_CALLER_BOOK_COLUMNS = (GrantRow.role, BookRow.id, BookRow.code, BookRow.name, BookRow.closed_through)
# The book's account :account_code as a read sees it at :now, beside the caller's columns (whose names
# its own repeat).
_CALLER_ACCOUNT_COLUMNS = tuple(column.label(f"account_{column.name}") for column in LIVE_ACCOUNT_COLUMNS)


def _caller(client, with_account: bool):
    caller = (
        _login(client, *CLIENT_COLUMNS, *_CALLER_BOOK_COLUMNS, *(_CALLER_ACCOUNT_COLUMNS if with_account else ()))
        .outerjoin(BookRow, BookRow.code == bindparam("book_code"))
        .outerjoin(GrantRow, and_(GrantRow.client_id == ClientRow.id, GrantRow.book_id == BookRow.id))
    )
    if with_account:
        caller = caller.outerjoin(AccountRow, and_(AccountRow.book_id == BookRow.id,
                                                   AccountRow.code == bindparam("account_code")))
    return caller


# By how the client is named, then whether an account is read with it.
_CALLERS = {client: {with_account: DriverSelect(_caller(joins, with_account)) for with_account in (False, True)}
            for client, joins in (("name", _BY_NAME), ("certificate", _BY_CERTIFICATE))}
_CLIENT_SECRET = _login(_BY_NAME[:1], ClientRow.id, ClientRow.secret_ciphertext)


def _nonce_key(username: str, nonce: bytes) -> str:
    """What `seen_nonces` keeps of a nonce: bounded in size, and one client's nonce never spends another's."""
    return hashlib.sha256(len(nonce).to_bytes(4, "big") + nonce + username.encode()).hexdigest()


class SqlAccessStore(SqlStore):
    def __init__(self, connection: Connection):
        super().__init__(connection)
        self._insert = DIALECT_INSERT[self.dialect]

    def _login_parameters(self, subjects: LoginSubjects, **parameters) -> dict:
        return {"username_key": subjects.username, "address_key": subjects.address, **parameters}

    def caller(self, name: str, book_code: str | None, subjects: LoginSubjects, now: datetime,
               account_code: str | None = None) -> tuple[Caller | None, FailedLoginBuckets]:
        """The client named `name` (None: no such client), with the book `book_code` (if it exists), the
        client's role on it, the book's account `account_code` as it stands at `now` (if asked for and
        it exists), and the failed-login buckets of the request's username and address, in one query:
        every request needs all of them but the account before anything else, and a read of one account
        then needs no second round trip."""
        return self._caller("name", account_code, self._login_parameters(subjects, name=name, book_code=book_code),
                            now)

    def certificate_caller(self, sha256: str, book_code: str | None, subjects: LoginSubjects, now: datetime,
                           account_code: str | None = None) -> tuple[Caller | None, FailedLoginBuckets]:
        """As `caller`, for the client whose registered certificate's SHA-256 fingerprint is `sha256`."""
        return self._caller("certificate", account_code,
                            self._login_parameters(subjects, sha256=sha256, book_code=book_code), now)

    def _caller(self, named_by: str, account_code: str | None, parameters: dict,
                now: datetime) -> tuple[Caller | None, FailedLoginBuckets]:
        with_account = account_code is not None
        if with_account:
            parameters.update(account_code=account_code, now=now)
        row, = _CALLERS[named_by][with_account].rows(self.connection, parameters)
        buckets = _failed_login_buckets(row)
        if row[0] is None:
            return None, buckets
        book_at = len(CLIENT_COLUMNS)
        role, book_id, code, book_name, closed_through = row[book_at:book_at + len(_CALLER_BOOK_COLUMNS)]
        book = Book(code, book_name, closed_through, id=book_id) if book_id is not None else None
        account = None
        if with_account:
            account_columns = row[book_at + len(_CALLER_BOOK_COLUMNS):][:len(_CALLER_ACCOUNT_COLUMNS)]
            account = account_of(account_columns) if account_columns[0] is not None else None
        return Caller(client_of(row), Role[role] if role else None, book, account), buckets

    def client_secret(self, name: str,
                      subjects: LoginSubjects) -> tuple[tuple[int, bytes | None] | None, FailedLoginBuckets]:
        """The client's id and its encrypted secret (None when it has none; None for both when there is
        no such client), for PasswordDigest, and the request's failed-login buckets, in one query."""
        row = self._run(_CLIENT_SECRET, self._login_parameters(subjects, name=name)).one()
        return ((row[0], row[1]) if row[0] is not None else None), _failed_login_buckets(row)

    def certificate_by_sha256(self, sha256: str) -> bytes | None:
        """The DER encoding of the registered certificate whose SHA-256 fingerprint (lower-case hex) is `sha256`."""
        return self._run(select(ClientCertificateRow.der).where(ClientCertificateRow.sha256 == sha256)).scalar()

    def certificate_by_issuer_serial(self, issuer: str, serial_number: int) -> bytes | None:
        """The DER encoding of the registered certificate with this serial number issued by `issuer`, RFC
        4514 text (adapters/certificates.py `issued_by` says how names are compared)."""
        candidates = self._run(select(ClientCertificateRow.der)
                               .where(ClientCertificateRow.serial_number == str(serial_number))).scalars()
        return next((der for der in candidates if issued_by(der, issuer)), None)

    def certificate_by_subject_key_identifier(self, identifier: bytes) -> bytes | None:
        """The DER encoding of the registered certificate with this subject key identifier (its extension's
        value, or RFC 5280's method 1 for a certificate without one)."""
        return self._run(select(ClientCertificateRow.der)
                         .where(ClientCertificateRow.subject_key_identifier == identifier)).scalar()

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

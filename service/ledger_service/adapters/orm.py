"""The database schema as SQLAlchemy 2 models. Migrations in `migrations/` create exactly this."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BigInteger ids that are also rowid aliases on SQLite, so they autoincrement there too.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ClientRow(Base):
    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # '' for a client without a password, which authenticates with its certificate only.
    password_hash: Mapped[str] = mapped_column(String(200))
    system_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The password encrypted under LEDGER_SECRET_KEY: PasswordDigest needs the secret itself.
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Requests a client may make: a sustained rate and a burst; no limit when null.
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    burst: Mapped[int | None] = mapped_column(Integer)
    # Refuse every request of the client not signed with its registered certificate's key.
    require_signature: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ClientCertificateRow(Base):
    """The X.509 certificate registered to a client, one at most, with what a signature's key reference
    finds it by: its SHA-256 fingerprint, its issuer and serial number, its subject key identifier. Each
    names one certificate of one client only."""

    __tablename__ = "client_certificates"
    __table_args__ = (UniqueConstraint("serial_number", "issuer_der"),)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    # Of the DER encoding, in lower-case hex, as the request log's `certificate` writes it.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)
    # Distinguished names as RFC 4514 text, for people; the issuer also as its DER encoding.
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    issuer_der: Mapped[bytes] = mapped_column(LargeBinary)
    # Decimal: a serial number may be 20 bytes long, more than any integer column holds.
    serial_number: Mapped[str] = mapped_column(String(50))
    # The certificate's extension, or where it has none, RFC 5280's method 1: SHA-1 of the public key.
    subject_key_identifier: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RateBucketRow(Base):
    """Each rate-limited client's token bucket, shared by every worker on every host."""

    __tablename__ = "rate_buckets"
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    # Thousandths of a request, so that refills between two requests stay exact integers.
    milli_tokens: Mapped[int] = mapped_column(BigInteger)
    refilled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FailedLoginBucketRow(Base):
    """The budget of failed authentications of one username or one source address, as a token bucket
    shared by every worker on every host. No row is a full bucket."""

    __tablename__ = "failed_login_buckets"
    # SHA-256 (hex) of which it is and the username or address: bounded in size whatever a request
    # sends, and no name or password typed into the username field is kept as it was sent.
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    milli_tokens: Mapped[int] = mapped_column(BigInteger)
    # Buckets untouched for longer than a refill takes are full again, and pruned by this index.
    refilled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SeenNonceRow(Base):
    """WS-Security nonces already accepted, kept until their Created time is out of the window."""

    __tablename__ = "seen_nonces"
    nonce_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class BookRow(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    closed_through: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    request_id: Mapped[str | None] = mapped_column(String(64))


class GrantRow(Base):
    __tablename__ = "grants"
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))


class PeriodCloseRow(Base):
    """Every ClosePeriod that moved a book's closed-through date, kept as history."""

    __tablename__ = "period_closes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    through_date: Mapped[date] = mapped_column(Date)
    closed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    request_id: Mapped[str | None] = mapped_column(String(64))


class AccountRow(Base):
    """An account and its running totals in minor units, kept as entries post."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("book_id", "code"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    no_negative_balance: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(8))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    closed_request_id: Mapped[str | None] = mapped_column(String(64))
    posted_debits: Mapped[int] = mapped_column(BigInteger, default=0)
    posted_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_debits: Mapped[int] = mapped_column(BigInteger, default=0)
    pending_credits: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    request_id: Mapped[str | None] = mapped_column(String(64))


class AccountDayRow(Base):
    """Posted debits and credits per account and effective date: balances as of a date sum these
    rows, one per active day, instead of every line in the history."""

    __tablename__ = "account_days"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    debits: Mapped[int] = mapped_column(BigInteger, default=0)
    credits: Mapped[int] = mapped_column(BigInteger, default=0)


class EntryRow(Base):
    __tablename__ = "entries"
    __table_args__ = (UniqueConstraint("book_id", "reference"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    reference: Mapped[str] = mapped_column(String(128))
    effective_date: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    description: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(8))
    fingerprint: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The entry this one reverses. Unique, so that of two reversals of one entry racing, the database
    # lets one commit; the original row is never updated (its reversedBy is this column looked up).
    reversal_of_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), unique=True)
    # `status` is what the entry was recorded as, POSTED or PENDING, and never changes: what became of
    # a pending entry is its row in pending_outcomes, or the passing of this moment.
    pending_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LineRow(Base):
    """One line of an entry. The effective date is repeated here so that a statement page is one
    index range scan from its cursor, whatever page it is."""

    __tablename__ = "lines"
    __table_args__ = (Index("lines_statement_order", "account_id", "effective_date", "entry_id", "position"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    effective_date: Mapped[date] = mapped_column(Date)
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)
    memo: Mapped[str | None] = mapped_column(String(200))


class EntryMetadataRow(Base):
    """One item of an entry's metadata (docs/contract.md#metadata), found by its entry and key, which is
    how ListEntries asks whether an entry carries it."""

    __tablename__ = "entry_metadata"
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class _PendingLine:
    """The columns of one line of a pending entry."""

    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    side: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int] = mapped_column(BigInteger)


class PendingLineRow(_PendingLine, Base):
    """One line of an entry recorded pending, as submitted. Its amount reaches `lines`, the per-day
    totals and the posted balances only if the entry is committed."""

    __tablename__ = "pending_lines"
    memo: Mapped[str | None] = mapped_column(String(200))


class PendingOutcomeRow(Base):
    """How a pending entry was settled, once: committed (POSTED) or voided (VOIDED), by whom and when;
    or that its timeout passed (EXPIRED), written when its reservation was released (settled_at then
    says when that was, and no client did it). The primary key lets exactly one of two racing
    settlements commit."""

    __tablename__ = "pending_outcomes"
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(500))
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"))
    request_id: Mapped[str | None] = mapped_column(String(64))


class HoldRow(_PendingLine, Base):
    """A pending line's reservation on its account while it stands. Derived state, like the running
    totals: an account's pending_debits and pending_credits are the sums of its holds. A hold goes
    when its entry is committed or voided, or once it has expired; reads subtract the expired holds
    nobody has released yet, so no reader waits for that. The history is pending_lines and
    pending_outcomes, which keep everything."""

    __tablename__ = "holds"
    __table_args__ = (Index("holds_by_account_expiry", "account_id", "expires_at"),)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class JournalRecordRow(Base):
    """A book's journal, one record per change, hash-chained (docs/contract.md#journal). Each record names
    the history row it is about (by kind: the entry, whose outcome or lines it may be, the account, or the
    period close; none for the book's first record, which is about the book), so that verifying the
    chain rebuilds every record's content from those rows."""

    __tablename__ = "journal_records"
    __table_args__ = (Index("journal_records_by_entry", "entry_id", "kind"),)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(24))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The record's canonical bytes (UTF-8 JSON), as they were hashed.
    content: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    period_close_id: Mapped[int | None] = mapped_column(ForeignKey("period_closes.id"))


class JournalHeadRow(Base):
    """The last record of each book's journal: derived, like an account's running totals, and the row
    that sealing locks to take the next sequence (adapters/stores/journal.py)."""

    __tablename__ = "journal_heads"
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JournalQueueRow(Base):
    """On PostgreSQL, the records of committed changes that are not sealed yet: written by the change's
    own statement with no lock (so that writers of one book do not queue for its head), then taken out,
    in the order of `id`, by whoever seals the book next (adapters/stores/journal.py). Not history: a
    queued record is deleted once the journal holds it."""

    __tablename__ = "journal_queue"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    book_id: Mapped[int] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(24))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The record's canonical bytes before and after its sequence, which it is given when sealed.
    before_sequence: Mapped[str] = mapped_column(Text)
    after_sequence: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[int | None] = mapped_column(Id)
    account_id: Mapped[int | None] = mapped_column(Id)
    period_close_id: Mapped[int | None] = mapped_column(Id)


class ServerSecretRow(Base):
    """Keys every worker shares (page-token signing), made once when the schema is created."""

    __tablename__ = "server_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)

"""The ports the use cases reach the outside through: a store per job, the unit of work that gives one
transaction's stores, and the cryptography, page tokens and import files they use. adapters/ implements
them; nothing here knows SQL, a file format or a cipher."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable, Iterable, Iterator, NamedTuple, Protocol, Sequence, TypeVar

from ..domain.access import Audit, Caller, Client, RegisteredCertificate, Role
from ..domain.accounts import Account, AccountSpec, AccountType, Side
from ..domain.books import Book
from ..domain.entries import Entry, EntryAudit, EntryInput, EntryStatus, Metadata, Posting
from ..domain.errors import LedgerError
from ..domain.rate_limits import Bucket, RateLimit

T = TypeVar("T")


@dataclass(frozen=True)
class LoginSubjects:
    """The keys of the two failed-login buckets one authentication attempt draws on."""

    username: str
    address: str


@dataclass(frozen=True)
class FailedLoginBuckets:
    """The failed-authentication buckets of a request's username and source address (None: full)."""

    username: Bucket | None
    address: Bucket | None


class AccessStore(Protocol):
    """What authenticating a request reads and spends: the caller, nonces, rate and failed-login buckets,
    and the registered certificates a signature's key reference names."""

    def caller(self, name: str, book_code: str | None, subjects: LoginSubjects, now: datetime,
               account_code: str | None = None) -> tuple[Caller | None, FailedLoginBuckets]: ...
    def certificate_caller(self, sha256: str, book_code: str | None, subjects: LoginSubjects, now: datetime,
                           account_code: str | None = None) -> tuple[Caller | None, FailedLoginBuckets]: ...
    def certificate_by_sha256(self, sha256: str) -> bytes | None: ...
    def certificate_by_issuer_serial(self, issuer: str, serial_number: int) -> bytes | None: ...
    def certificate_by_subject_key_identifier(self, identifier: bytes) -> bytes | None: ...
    def client_secret(self, name: str,
                      subjects: LoginSubjects) -> tuple[tuple[int, bytes | None] | None, FailedLoginBuckets]: ...
    def spend_nonce(self, username: str, nonce: bytes, keep_until: datetime) -> bool: ...
    def prune_nonces(self, now: datetime, at_most: int) -> None: ...
    def rate_bucket(self, client_id: int) -> tuple[RateLimit | None, Bucket | None]: ...
    def save_rate_bucket(self, client_id: int, bucket: Bucket, *, new: bool) -> None: ...
    def failed_login_buckets_for_update(self, fresh: dict[str, Bucket]) -> dict[str, Bucket]: ...
    def save_failed_login_buckets(self, buckets: dict[str, Bucket]) -> None: ...
    def prune_failed_login_buckets(self, full_before: datetime, at_most: int) -> None: ...
    def replace_password_hash(self, client_id: int, old: str, new: str) -> None: ...
    def server_secret(self, name: str) -> bytes | None: ...


@dataclass(frozen=True)
class NewCertificate:
    """A certificate to register to a client: what the client then shows of it, its DER encoding, and
    what else a signature's key reference may find it by (adapters/certificates.py reads them)."""

    certificate: RegisteredCertificate
    der: bytes
    issuer_der: bytes
    subject_key_identifier: bytes


class ClientStore(Protocol):
    """The registered clients, their grants, limits, certificates and stored secrets: what an operator manages."""

    def client(self, name: str) -> Client | None: ...
    def clients(self) -> list[tuple[Client, list[tuple[str, Role]]]]: ...
    def add_client(self, name: str, password_hash: str | None, system_admin: bool, now: datetime) -> int: ...
    def disable_client(self, client_id: int) -> None: ...
    def set_certificate(self, client_id: int, certificate: NewCertificate | None, now: datetime) -> None: ...
    def certificate_holders(self, certificate: NewCertificate) -> list[tuple[int, str, str]]: ...
    def set_require_signature(self, client_id: int, required: bool) -> None: ...
    def grant(self, client_id: int, book_id: int, role: Role) -> None: ...
    def set_rate_limit(self, client_id: int, limit: RateLimit | None) -> None: ...
    def secret_ciphertexts(self) -> list[tuple[int, str, bytes]]: ...
    def set_secret_ciphertext(self, client_id: int, ciphertext: bytes | None) -> None: ...


class BookStore(Protocol):
    def book(self, code: str, *, for_update: bool = False) -> Book | None: ...
    def add_book(self, book: Book, now: datetime, audit: Audit) -> int: ...
    def close_period(self, book: Book, now: datetime, audit: Audit) -> None: ...


class AccountStore(Protocol):
    def account(self, book_id: int, code: str, now: datetime) -> Account | None: ...
    def accounts(self, book_id: int, type: AccountType | None, code_prefix: str | None, after_code: str | None,
                 limit: int, now: datetime) -> list[Account]: ...
    def book_accounts(self, book_id: int, now: datetime) -> list[Account]: ...
    def for_update(self, book: Book, codes: Iterable[str], now: datetime,
                   reference: str | None = None) -> tuple[dict[str, Account], bool | None]:
        """The accounts, locked; with `reference`, whether it is an entry of the book already (None:
        unknown, an account being missing)."""
    def add_account(self, book_id: int, account: Account, audit: Audit) -> int: ...
    def close_account(self, book_id: int, account: Account, now: datetime, audit: Audit) -> None: ...


@dataclass(frozen=True)
class NewEntry:
    """An entry to record: its input, its postings, and the entry it reverses, if it is a reversal."""

    entry: EntryInput
    postings: Sequence[Posting]
    reverses: Entry | None = None


class EntryStore(Protocol):
    def entry(self, book_id: int, reference: str, now: datetime) -> Entry | None: ...
    def entries(self, book_id: int, references: Iterable[str], now: datetime) -> dict[str, Entry]: ...
    def add_entries(self, book_id: int, entries: Sequence[NewEntry], now: datetime, audit: Audit) -> list[Entry]: ...
    def settle_pending(self, book_id: int, entry: Entry, held: Sequence[Posting], posted: Sequence[Posting],
                       outcome: EntryStatus, reason: str | None, now: datetime, audit: Audit) -> bool: ...
    def entry_audit(self, book_id: int, reference: str) -> EntryAudit | None: ...
    def release_expired_holds(self, now: datetime, at_most: int) -> int: ...
    def refresh_statistics(self) -> None: ...


class JournalStore(Protocol):
    """The books' hash-chained journals (adapters/stores/journal.py): appended to by the stores that
    write history, as they write it (queued, where the database lets writers of a book run side by
    side, and sealed later); read back with each record's content as the rows say now."""

    def head(self, book_id: int) -> tuple[int, str, datetime] | None: ...
    def last_record(self, book_id: int, at_most: int) -> tuple[int, str] | None: ...
    def records(self, book: Book, from_sequence: int, to_sequence: int, limit: int) -> list: ...
    def unrecorded(self, book: Book) -> list: ...
    def place_of(self, book_id: int, moment: datetime) -> int: ...
    def books_with_queued_records(self, book_id: int | None = None) -> list[int]: ...
    def seal_queued(self, book_id: int, at_most: int) -> int: ...


@dataclass(frozen=True)
class StatementRow:
    """A posted line of an account, as a statement lists it (amount in minor units)."""

    entry_id: int
    position: int
    reference: str
    effective_date: date
    description: str | None
    side: Side
    amount: int
    reversal: bool


@dataclass(frozen=True)
class EntryQuery:
    """What ListEntries looks for: a book's entries effective in a date range, and optionally only those
    with a line on one account (its row id) or carrying one metadata key (with that value, if given)."""

    from_date: date
    to_date: date
    account_id: int | None = None
    metadata_key: str | None = None
    metadata_value: str | None = None


class ReportStore(Protocol):
    def totals_as_of(self, account_ids: Sequence[int], as_of: date) -> dict[int, tuple[int, int]]: ...
    def statement_rows(self, account_id: int, from_date: date, to_date: date,
                       after: tuple[date, int, int] | None, limit: int) -> list[StatementRow]: ...
    def entry_metadata(self, entry_ids: Sequence[int]) -> dict[int, Metadata]: ...
    def journal_entries(self, book_id: int, query: EntryQuery, after_sequence: int, through_sequence: int,
                        limit: int) -> list[tuple[int, str]]: ...


class Stores(Protocol):
    """The stores of one transaction."""

    access: AccessStore
    clients: ClientStore
    books: BookStore
    accounts: AccountStore
    entries: EntryStore
    reports: ReportStore
    journal: JournalStore


class UnitOfWork(Protocol):
    queues_journal_records: bool
    """Whether a change's journal records wait in a queue to be sealed (seal_queued) rather than being
    sealed by the change itself."""

    def run(self, work: Callable[[Stores], T], *, write: bool, standby: bool = False, snapshot: bool = True) -> T:
        """`work` in one transaction: committed if it returns, rolled back if it raises, and run again
        from the start after a conflict that a retry resolves. A read with `standby` may be served by a
        standby of the database that holds every write the request must see. A read without `snapshot`
        may see each statement's own moment rather than one for all: it costs no transaction."""


class Passwords(Protocol):
    """Clients' passwords as the store keeps them: slow hashes, compared in constant time."""

    def hash(self, password: str) -> str: ...
    def verify(self, name: str, password: str, stored: str | None) -> bool:
        """Whether `password` is the one `stored` was made from; with no stored hash (no such client),
        as long as a wrong password takes, so that the time tells nothing."""
    def needs_rehash(self, stored: str) -> bool:
        """Whether `stored` was made otherwise than `hash` makes hashes now."""


class SecretBox(Protocol):
    """Client secrets the server can recover (for PasswordDigest), encrypted under keys outside the database."""

    def encrypt(self, secret: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes | None) -> str | None:
        """The secret, or None when there is none or no key decrypts it, after the same work."""
    def rekey(self, ciphertext: bytes) -> bytes | None:
        """The same secret encrypted under the first key; None when no key decrypts it."""


class PasswordDigests(Protocol):
    """WS-Security UsernameToken PasswordDigest."""

    def created_at(self, created: str | None) -> datetime | None:
        """A token's Created as an aware UTC moment; None when it is not an xs:dateTime."""
    def matches(self, nonce: bytes, created: str, digest: str, password: str | None) -> bool:
        """Whether `digest` is the token's digest of `password`, computed (and compared in constant
        time) even when there is no password, so that the time tells nothing."""


class PageTokens(Protocol):
    """Opaque page tokens: a keyset cursor, bound to the query that made it and signed under `key`."""

    def encode(self, key: bytes, query: dict, cursor: dict) -> str: ...
    def decode(self, key: bytes, query: dict, token: str) -> dict:
        """The cursor; SchemaValidation unless this server made `token` for this very query."""


class AccountLine(NamedTuple):
    """An account of an import file: the line it is on, and what it says or why it cannot be read."""

    line: int
    spec: AccountSpec | LedgerError


class EntryLines(NamedTuple):
    """An entry of an import file: its first line, how many it spans, its reference, and what they say
    or why they cannot be read (then `line` is the first line that cannot)."""

    line: int
    lines: int
    reference: str
    entry: EntryInput | LedgerError


class ImportFile(Protocol):
    """A file an operator loads (`ledger-service import`), read one item at a time."""

    def accounts(self) -> Iterator[AccountLine]: ...
    def entries(self) -> Iterator[EntryLines]: ...

"""Operator use cases behind the `ledger-service` command: books and clients, each in one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..domain.model import Audit, Book, Role
from ..domain.rate_limits import RateLimit
from cryptography.fernet import InvalidToken

from .passwords import hash_password
from .secret_box import SecretBox

CLIENT_NAME_MAX = 64
PASSWORD_MAX = 1024
RATE_UNITS = {"s": 60, "min": 1}  # requests per unit, to requests per minute
RATE_PER_MINUTE_MAX = 6_000_000
BURST_MAX = 1_000_000


class AdminError(Exception):
    """An operator's request that cannot be carried out, said in a sentence."""


@dataclass(frozen=True)
class Grant:
    book: str
    role: Role

    @classmethod
    def parse(cls, text: str) -> "Grant":
        book, _, role = text.partition(":")
        if not book or role not in Role.__members__:
            raise AdminError(f"{text!r} is not BOOK:ROLE with ROLE one of {', '.join(Role.__members__)}")
        return cls(book, Role[role])


def parse_rate_limit(rate: str, burst: int | None = None) -> RateLimit:
    """`N/s` or `N/min`, and a burst (default: one second's worth of requests, at least one)."""
    count, _, unit = rate.partition("/")
    per_minute = int(count) * RATE_UNITS[unit] if count.isascii() and count.isdigit() and unit in RATE_UNITS else 0
    if not 1 <= per_minute <= RATE_PER_MINUTE_MAX:
        raise AdminError(f"{rate!r} is not a rate: say N/s or N/min, from 1/min to {RATE_PER_MINUTE_MAX}/min")
    if burst is None:
        burst = max(1, -(-per_minute // 60))
    if not 1 <= burst <= BURST_MAX:
        raise AdminError(f"the burst is 1 to {BURST_MAX} requests, not {burst}")
    return RateLimit(per_minute, burst)


@dataclass(frozen=True)
class ClientSummary:
    name: str
    system_admin: bool
    disabled: bool
    grants: tuple[Grant, ...]
    rate_limit: RateLimit | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def create_book(database, code: str, name: str) -> Book:
    def work(store):
        if store.book(code) is not None:
            raise AdminError(f"book {code} already exists")
        book = Book(code, name)
        store.add_book(book, _now(), Audit(None, None))
        return book

    return database.run(work, write=True)


def _grant(store, client_id: int, grant: Grant) -> None:
    stored = store.book(grant.book)
    if stored is None:
        raise AdminError(f"book {grant.book} does not exist")
    store.grant(client_id, stored.id, grant.role)


def add_client(database, name: str, password: str, system_admin: bool, grants: list[Grant], *,
               secret_box: SecretBox | None = None, rate_limit: RateLimit | None = None) -> None:
    """Adds a client; with a secret box, its password is also kept encrypted, for PasswordDigest."""
    if not name or len(name) > CLIENT_NAME_MAX or not name.isprintable() or " " in name:
        raise AdminError(f"a client name is 1 to {CLIENT_NAME_MAX} printable characters without spaces")
    if not password or len(password) > PASSWORD_MAX:
        raise AdminError(f"the password is 1 to {PASSWORD_MAX} characters")
    password_hash = hash_password(password)

    def work(store):
        if store.client(name) is not None:
            raise AdminError(f"client {name} already exists")
        client_id = store.add_client(name, password_hash, system_admin, _now())
        if secret_box is not None:
            store.set_secret_ciphertext(client_id, secret_box.encrypt(password))
        if rate_limit is not None:
            store.set_rate_limit(client_id, rate_limit)
        for grant in grants:
            _grant(store, client_id, grant)

    database.run(work, write=True)


def rekey_secrets(database, secret_box: SecretBox) -> int:
    """Encrypts every stored client secret again under the first key; how many there were. Changes
    nothing when a secret is found that no key decrypts."""
    def work(store) -> int:
        stored = store.secret_ciphertexts()
        unreadable = []
        for client_id, name, ciphertext in stored:
            try:
                store.set_secret_ciphertext(client_id, secret_box.rekey(ciphertext))
            except InvalidToken:
                unreadable.append(name)
        if unreadable:
            raise AdminError(f"no key in LEDGER_SECRET_KEY decrypts the secret of {', '.join(unreadable)}: "
                             "put back the key they were encrypted under; nothing was changed")
        return len(stored)

    return database.run(work, write=True)


def _existing_client(store, name: str):
    client = store.client(name)
    if client is None:
        raise AdminError(f"there is no client {name}")
    return client


def grant(database, name: str, grant: Grant) -> None:
    database.run(lambda store: _grant(store, _existing_client(store, name).id, grant), write=True)


def limit_client(database, name: str, rate_limit: RateLimit | None) -> None:
    """Sets (None: lifts) the client's rate limit, from a full bucket; every worker sees it at its next request."""
    database.run(lambda store: store.set_rate_limit(_existing_client(store, name).id, rate_limit), write=True)


def disable_client(database, name: str) -> None:
    database.run(lambda store: store.disable_client(_existing_client(store, name).id), write=True)


def list_clients(database) -> list[ClientSummary]:
    return [
        ClientSummary(client.name, client.system_admin, client.disabled,
                      tuple(Grant(book, role) for book, role in grants), client.rate_limit)
        for client, grants in database.run(lambda store: store.clients(), write=False)
    ]

"""Operator use cases behind the `ledger-service` command: books and clients, each in one transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..domain.model import Audit, Book, Role
from .passwords import hash_password

CLIENT_NAME_MAX = 64


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


@dataclass(frozen=True)
class ClientSummary:
    name: str
    system_admin: bool
    disabled: bool
    grants: tuple[Grant, ...]


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


def add_client(database, name: str, password: str, system_admin: bool, grants: list[Grant]) -> None:
    if not name or len(name) > CLIENT_NAME_MAX or not name.isprintable() or " " in name:
        raise AdminError(f"a client name is 1 to {CLIENT_NAME_MAX} printable characters without spaces")
    if not password:
        raise AdminError("the password must not be empty")
    password_hash = hash_password(password)

    def work(store):
        if store.client(name) is not None:
            raise AdminError(f"client {name} already exists")
        client_id = store.add_client(name, password_hash, system_admin, _now())
        for grant in grants:
            _grant(store, client_id, grant)

    database.run(work, write=True)


def _existing_client(store, name: str):
    client = store.client(name)
    if client is None:
        raise AdminError(f"there is no client {name}")
    return client


def grant(database, name: str, grant: Grant) -> None:
    database.run(lambda store: _grant(store, _existing_client(store, name).id, grant), write=True)


def disable_client(database, name: str) -> None:
    database.run(lambda store: store.disable_client(_existing_client(store, name).id), write=True)


def list_clients(database) -> list[ClientSummary]:
    return [
        ClientSummary(client.name, client.system_admin, client.disabled,
                      tuple(Grant(book, role) for book, role in grants))
        for client, grants in database.run(lambda store: store.clients(), write=False)
    ]

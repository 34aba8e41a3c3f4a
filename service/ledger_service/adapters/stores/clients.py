"""The registered clients, their grants and rate limits, and their secrets encrypted for PasswordDigest."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select, update

from ...domain.access import Client, Role
from ...domain.rate_limits import RateLimit
from ..orm import BookRow, ClientRow, GrantRow, RateBucketRow
from .access import CLIENT_COLUMNS, client_of
from .sql import SqlStore


class SqlClientStore(SqlStore):
    def client(self, name: str) -> Client | None:
        row = self._run(select(*CLIENT_COLUMNS).where(ClientRow.name == name)).first()
        return client_of(row) if row else None

    def clients(self) -> list[tuple[Client, list[tuple[str, Role]]]]:
        rows = self._run(select(*CLIENT_COLUMNS).order_by(ClientRow.name)).all()
        grants = self._run(
            select(GrantRow.client_id, BookRow.code, GrantRow.role).join(BookRow, BookRow.id == GrantRow.book_id)
            .order_by(BookRow.code)
        ).all()
        by_client: dict[int, list[tuple[str, Role]]] = {}
        for client_id, book_code, role in grants:
            by_client.setdefault(client_id, []).append((book_code, Role[role]))
        return [(client_of(row), by_client.get(row[0], [])) for row in rows]

    def add_client(self, name: str, password_hash: str, system_admin: bool, now: datetime) -> int:
        return self._run(
            insert(ClientRow).values(name=name, password_hash=password_hash, system_admin=system_admin,
                                     disabled=False, created_at=now).returning(ClientRow.id)
        ).scalar_one()

    def disable_client(self, client_id: int) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(disabled=True))

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

    def set_rate_limit(self, client_id: int, limit: RateLimit | None) -> None:
        """Sets or lifts the client's limit; its budget starts again from a full bucket."""
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(
            rate_per_minute=limit.per_minute if limit else None, burst=limit.burst if limit else None))
        self._run(delete(RateBucketRow).where(RateBucketRow.client_id == client_id))

    def secret_ciphertexts(self) -> list[tuple[int, str, bytes]]:
        return [tuple(row) for row in self._run(
            select(ClientRow.id, ClientRow.name, ClientRow.secret_ciphertext)
            .where(ClientRow.secret_ciphertext.is_not(None)).order_by(ClientRow.name))]

    def set_secret_ciphertext(self, client_id: int, ciphertext: bytes | None) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(secret_ciphertext=ciphertext))

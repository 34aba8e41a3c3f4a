"""The registered clients, their grants, rate limits and certificates, and their secrets encrypted for
PasswordDigest."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update

from ...domain.access import Client, Role
from ...domain.rate_limits import RateLimit
from ...service_layer.ports import NewCertificate
from ..orm import BookRow, ClientCertificateRow, ClientRow, GrantRow, RateBucketRow
from .access import CLIENT_CERTIFICATE, CLIENT_COLUMNS, client_of
from .sql import SqlStore

_CLIENTS = select(*CLIENT_COLUMNS).select_from(ClientRow).outerjoin(*CLIENT_CERTIFICATE)


class SqlClientStore(SqlStore):
    def client(self, name: str) -> Client | None:
        row = self._run(_CLIENTS.where(ClientRow.name == name)).first()
        return client_of(row) if row else None

    def clients(self) -> list[tuple[Client, list[tuple[str, Role]]]]:
        rows = self._run(_CLIENTS.order_by(ClientRow.name)).all()
        grants = self._run(
            select(GrantRow.client_id, BookRow.code, GrantRow.role).join(BookRow, BookRow.id == GrantRow.book_id)
            .order_by(BookRow.code)
        ).all()
        by_client: dict[int, list[tuple[str, Role]]] = {}
        for client_id, book_code, role in grants:
            by_client.setdefault(client_id, []).append((book_code, Role[role]))
        return [(client_of(row), by_client.get(row[0], [])) for row in rows]

    def add_client(self, name: str, password_hash: str | None, system_admin: bool, now: datetime) -> int:
        return self._run(
            insert(ClientRow).values(name=name, password_hash=password_hash or "", system_admin=system_admin,
                                     disabled=False, created_at=now).returning(ClientRow.id)
        ).scalar_one()

    def disable_client(self, client_id: int) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(disabled=True))

    def set_certificate(self, client_id: int, certificate: NewCertificate | None, now: datetime) -> None:
        """Registers `certificate` to the client in place of any it had (None: removes it)."""
        self._run(delete(ClientCertificateRow).where(ClientCertificateRow.client_id == client_id))
        if certificate is not None:
            registered = certificate.certificate
            self._run(insert(ClientCertificateRow).values(
                client_id=client_id, sha256=registered.sha256, der=certificate.der, subject=registered.subject,
                issuer=registered.issuer, issuer_der=certificate.issuer_der,
                serial_number=str(registered.serial_number),
                subject_key_identifier=certificate.subject_key_identifier, not_before=registered.not_before,
                not_after=registered.not_after, registered_at=now))

    def certificate_holders(self, certificate: NewCertificate) -> list[tuple[int, str, str]]:
        """The clients whose registered certificate is `certificate`, or has its issuer and serial number,
        or its subject key identifier: each client's id and name, and which of these it is."""
        row, registered = ClientCertificateRow, certificate.certificate
        clashes = {
            "the same certificate": row.sha256 == registered.sha256,
            "the same issuer and serial number": and_(row.serial_number == str(registered.serial_number),
                                                      row.issuer_der == certificate.issuer_der),
            "the same subject key identifier": row.subject_key_identifier == certificate.subject_key_identifier,
        }
        found = self._run(select(ClientRow.id, ClientRow.name, *clashes.values()).join(*CLIENT_CERTIFICATE)
                          .where(or_(*clashes.values()))).all()
        return [(client_id, name, next(what for what, clash in zip(clashes, matches) if clash))
                for client_id, name, *matches in found]

    def set_require_signature(self, client_id: int, required: bool) -> None:
        self._run(update(ClientRow).where(ClientRow.id == client_id).values(require_signature=required))

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

"""The certificates registered to clients, as a signed request's key reference names one: by the SHA-256
fingerprint of its DER encoding, by its issuer and serial number, or by its subject key identifier. Each
lookup is a short read transaction of its own, before the request's use case runs; finding a certificate
authenticates nobody (service_layer/authentication.py decides what its signature proves)."""
from __future__ import annotations

from typing import Callable

from .context import ClientCertificate
from .ports import AccessStore, UnitOfWork


class RegisteredCertificates:
    def __init__(self, unit_of_work: UnitOfWork):
        self.unit_of_work = unit_of_work

    def _find(self, lookup: Callable[[AccessStore], bytes | None]) -> ClientCertificate | None:
        der = self.unit_of_work.run(lambda stores: lookup(stores.access), write=False)
        return ClientCertificate(der) if der is not None else None

    def by_sha256(self, sha256: str) -> ClientCertificate | None:
        """The registered certificate whose DER encoding's SHA-256 fingerprint is `sha256` (lower-case hex)."""
        return self._find(lambda access: access.certificate_by_sha256(sha256.lower()))

    def by_issuer_serial(self, issuer: str, serial_number: int) -> ClientCertificate | None:
        """The registered certificate with this serial number issued by `issuer`, a distinguished name as
        RFC 4514 text (WS-Security's X509IssuerName)."""
        return self._find(lambda access: access.certificate_by_issuer_serial(issuer, serial_number))

    def by_subject_key_identifier(self, identifier: bytes) -> ClientCertificate | None:
        """The registered certificate with this subject key identifier: its extension's value, or for a
        certificate without the extension, SHA-1 of its subjectPublicKey (RFC 5280, 4.2.1.2, method 1)."""
        return self._find(lambda access: access.certificate_by_subject_key_identifier(identifier))

"""What admitting a signed request takes of the database and of the clock (docs/contract.md#signed-requests):
the registered certificate a signature names, its Timestamp's window, and its signature value spent once,
by all workers on all hosts together. Checking the XML Signature itself is wsse/'s job, between looking the
certificate up and spending the value.

Each look-up and each spend is a short transaction of its own, before the use case's begins: a spent value
stays spent when the use case then fails or only reads, as a PasswordDigest's nonce does."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from .authentication import CLOCK_SKEW, PRUNE_NONCES_AT_MOST
from .certificates import RegisteredCertificates
from .context import ClientCertificate
from .ports import Stores, UnitOfWork

# A Timestamp may span at most this long: what WSS4J and CXF send by default, and the longest a replayed
# signature value must be remembered, beyond the skew.
MAX_TIMESTAMP_LIFETIME = timedelta(minutes=5)
# seen_nonces keeps a nonce under the name of whoever spent it. No client's name holds a space: signature
# values never meet a client's PasswordDigest nonces.
SIGNATURE_VALUES = "signature values"


@dataclass(frozen=True)
class Timestamp:
    """A request's wsu:Timestamp: when it was created and when it expires, aware and in UTC."""

    created: datetime
    expires: datetime

    def admits(self, now: datetime) -> bool:
        """Whether a request so stamped is acceptable `now`: not expired, not created beyond the clock skew
        in the future, and not valid for longer than MAX_TIMESTAMP_LIFETIME."""
        return (self.created < self.expires and self.expires - self.created <= MAX_TIMESTAMP_LIFETIME
                and self.created <= now + CLOCK_SKEW and now < self.expires)

    @property
    def remembered_until(self) -> datetime:
        """Until when a signature value so stamped is kept: past its expiry on the slowest clock the skew allows."""
        return self.expires + CLOCK_SKEW


@dataclass(frozen=True)
class IssuerSerial:
    """A certificate named by its issuer (an RFC 4514 string, as cryptography writes names) and serial number."""

    issuer: str
    serial: int


@dataclass(frozen=True)
class SubjectKeyIdentifier:
    """A certificate named by its subject key identifier extension's value."""

    identifier: bytes


# How a signature names the certificate whose key made it: the certificate itself (a BinarySecurityToken),
# or a reference to one registered.
CertificateReference = ClientCertificate | IssuerSerial | SubjectKeyIdentifier


class SignedRequests:
    """A worker's door to the database for signed requests."""

    def __init__(self, unit_of_work: UnitOfWork, clock: Callable[[], datetime], certificates: RegisteredCertificates):
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.certificates = certificates

    def certificate(self, reference: CertificateReference) -> ClientCertificate | None:
        """The certificate a signature names: one it carries, as it is (whether registered is for `spend` to
        say), or the registered one it refers to (None: none is)."""
        if isinstance(reference, ClientCertificate):
            return reference
        if isinstance(reference, IssuerSerial):
            return self.certificates.by_issuer_serial(reference.issuer, reference.serial)
        return self.certificates.by_subject_key_identifier(reference.identifier)

    def spend(self, certificate: ClientCertificate, signature_value: bytes, timestamp: Timestamp) -> bool:
        """Spends a verified signature's value, signed with the key of `certificate`: False when no client
        is registered with that certificate, or when the value was spent before (a replay)."""
        def work(stores: Stores) -> bool:
            if stores.access.certificate_by_sha256(certificate.sha256) is None:
                return False
            if not stores.access.spend_nonce(SIGNATURE_VALUES, signature_value, timestamp.remembered_until):
                return False
            stores.access.prune_nonces(self.clock(), PRUNE_NONCES_AT_MOST)
            return True

        return self.unit_of_work.run(work, write=True)

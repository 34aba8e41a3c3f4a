"""Who signed a request: the certificate whose key made the ds:Signature in the Security block addressed to
the service, once everything docs/contract.md#signed-requests asks of it holds. Reading the signature
(`read`) and checking it against a certificate (`made_with`) need nothing but the envelope and the clock;
`SignatureVerifier` puts them together with the database's part (service_layer/signatures.py): which
registered certificate is meant, and the signature value spent once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from ..ns import DS, qualified
from ..service_layer.authentication import authentication_failed
from ..service_layer.context import ClientCertificate
from ..service_layer.signatures import CertificateReference, SignedRequests, Timestamp
from . import xmldsig
from .security_header import SecurityHeader, base64_value, certificate_reference, timestamp
from .signed_info import covered

# Shorter RSA keys are within reach of factoring.
MIN_RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class Signed:
    """A request's signature as read: the parts it covers (each with its id attribute), its Timestamp, how
    it names the certificate of its key, and its value (the bytes that must not come twice)."""

    signature: etree._Element
    covered: list[xmldsig.Identified]
    timestamp: Timestamp
    certificate: CertificateReference
    value: bytes


def read(root: etree._Element, body: etree._Element, header: SecurityHeader, now: datetime) -> Signed | None:
    """The signature of `header`, in the envelope `root` whose Body is `body`, when it covers what it must
    as it must (signed_info.py), its Timestamp admits `now`, and its KeyInfo names a certificate; else None."""
    signature = header.signature
    parts = covered(signature, root, body, header)
    stamp = timestamp(header.timestamp)
    reference = certificate_reference(signature, header.token)
    values = signature.findall(qualified(DS, "SignatureValue"))
    value = base64_value(values[0]) if len(values) == 1 else None
    if parts is None or stamp is None or not stamp.admits(now) or reference is None or value is None:
        return None
    return Signed(signature, parts, stamp, reference, value)


def made_with(signed: Signed, certificate: ClientCertificate, now: datetime) -> bool:
    """Whether the signature is intact and made with the key of `certificate`, valid `now`."""
    try:
        parsed = x509.load_der_x509_certificate(certificate.der)
    except ValueError:
        return False
    key = parsed.public_key()
    if not parsed.not_valid_before_utc <= now <= parsed.not_valid_after_utc \
            or (isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_KEY_BITS):
        return False
    return xmldsig.verifies(signed.signature, signed.covered, certificate.der)


class SignatureVerifier:
    def __init__(self, requests: SignedRequests, clock: Callable[[], datetime]):
        self.requests = requests
        self.clock = clock

    def signer(self, root: etree._Element, body: etree._Element, header: SecurityHeader) -> ClientCertificate:
        """The registered certificate whose key signed the request, its signature value now spent; any
        failure is the AuthenticationFailed of every failed authentication (a LedgerError)."""
        now = self.clock()
        signed = read(root, body, header, now)
        certificate = self.requests.certificate(signed.certificate) if signed is not None else None
        if certificate is None or not made_with(signed, certificate, now) \
                or not self.requests.spend(certificate, signed.value, signed.timestamp):
            raise authentication_failed()
        return certificate

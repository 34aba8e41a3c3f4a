"""X.509 certificates as the service reads them, with the `cryptography` package: exactly one PEM
certificate (a file an operator registers, a header a proxy forwards), what a client's certificate is
registered with (adapters/stores/clients.py), and issuer names compared as names, not as text."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from cryptography import x509

from ..domain.access import RegisteredCertificate
from ..service_layer.admin_input import AdminError
from ..service_layer.ports import NewCertificate

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n((?:[A-Za-z0-9+/=]{1,76}\r?\n)+)"
                              rb"-----END CERTIFICATE-----(?:\r?\n)?")


def one_pem_certificate(pem: bytes) -> bytes | None:
    """The DER encoding of the one certificate `pem` is, armoured as PEM and nothing else; None when it is
    anything else (several certificates, a key, text around it, a certificate that cannot be read)."""
    block = _PEM_CERTIFICATE.fullmatch(pem)
    if block is None:
        return None
    try:
        der = base64.b64decode(b"".join(block[1].split()), validate=True)
        x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return der


def subject_key_identifier(certificate: x509.Certificate) -> bytes:
    """The certificate's subject key identifier extension, or where it has none, what RFC 5280
    (4.2.1.2, method 1) derives: SHA-1 of the subjectPublicKey bit string."""
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest


def registered(der: bytes) -> NewCertificate:
    """What a certificate, DER, is registered with."""
    certificate = x509.load_der_x509_certificate(der)
    return NewCertificate(
        RegisteredCertificate(hashlib.sha256(der).hexdigest(), certificate.subject.rfc4514_string(),
                              certificate.issuer.rfc4514_string(), certificate.serial_number,
                              certificate.not_valid_before_utc, certificate.not_valid_after_utc),
        der, certificate.issuer.public_bytes(), subject_key_identifier(certificate))


def read_certificate_file(path: Path) -> NewCertificate:
    """The certificate in the file `path`, which must hold exactly one PEM certificate (surrounding
    blank lines aside). Raises AdminError, saying what is wrong."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise AdminError(f"{path}: {error.strerror}") from None
    der = one_pem_certificate(content.strip() + b"\n")
    if der is None:
        raise AdminError(f"{path} is not one PEM certificate: it must hold exactly one "
                         "-----BEGIN CERTIFICATE----- block, and no key, other certificate or text")
    return registered(der)


def issued_by(der: bytes, issuer: str) -> bool:
    """Whether the certificate `der` was issued by `issuer`, a distinguished name as RFC 4514 text (as a
    signature's X509IssuerName carries it): the same attributes with the same values in the same order,
    however each value's string type is encoded; or, for text cryptography cannot read as a name, the
    issuer's RFC 4514 text exactly."""
    name = x509.load_der_x509_certificate(der).issuer
    try:
        return x509.Name.from_rfc4514_string(issuer) == name
    except ValueError:
        return issuer == name.rfc4514_string()

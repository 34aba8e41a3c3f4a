"""X.509 certificates for the tests, made with the `cryptography` package: a certificate authority of a
test's own, and the server certificates (TLS at nginx) and client certificates (mutual TLS, signed
requests) it issues. Each certificate is written to the authority's directory as PEM, with its private
key as unencrypted PKCS#8 PEM, and as PKCS#12 on demand. Every certificate carries a subject key
identifier (unless a test asks for one without), and every issued one the authority's key identifier,
as a real CA's do."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
# Signed requests are RSA-SHA256; TLS is as happy with an EC key, which is quicker to make.
KEY_TYPES = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
             "ec": lambda: ec.generate_private_key(ec.SECP256R1()),
             # too short to trust: what the service refuses to take a signature from
             "rsa-1024": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024)}
LIFETIME = datetime.timedelta(days=1)
# Before now, so that a host whose clock is a little behind still accepts a certificate made just now.
BACKDATED = datetime.timedelta(minutes=5)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, and the files they are written to."""

    certificate: x509.Certificate
    key: PrivateKey = field(repr=False)
    certificate_path: Path
    key_path: Path

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> str:
        """The SHA-256 fingerprint of the certificate's DER encoding, in lower-case hex."""
        return hashlib.sha256(self.der).hexdigest()

    def pkcs12(self, password: str) -> Path:
        """The key and certificate as a PKCS#12 file protected by `password`, beside the PEM files."""
        path = self.certificate_path.with_suffix(".p12")
        path.write_bytes(pkcs12.serialize_key_and_certificates(
            self.certificate_path.stem.encode(), self.key, self.certificate, None,
            serialization.BestAvailableEncryption(password.encode())))
        return path


class CertificateAuthority:
    """A CA of the test's own, its certificate self-signed and written to `directory`/ca.pem."""

    def __init__(self, directory: Path, name: str = "soap-ledger test CA"):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        key = KEY_TYPES["ec"]()
        subject = _name(name)
        self.issued = self._write("ca", key, _builder(subject, subject, key, LIFETIME)
                                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                                  .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
                                  .sign(key, hashes.SHA256()))

    @property
    def certificate_path(self) -> Path:
        return self.issued.certificate_path

    def server(self, addresses: tuple[str, ...] = ("127.0.0.1",), name: str = "127.0.0.1") -> Issued:
        """A TLS server certificate for these IP addresses."""
        names = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address)) for address in addresses])
        return self.issue(name, ExtendedKeyUsageOID.SERVER_AUTH, key_type="ec", extensions=[names])

    def client(self, name: str, *, not_before: datetime.datetime | None = None,
               not_after: datetime.datetime | None = None, key_identifier: bytes | bool = True) -> Issued:
        """A client certificate with an RSA key, for TLS client authentication and for signing; valid from a
        few minutes ago for a day unless `not_before` and `not_after` say otherwise (an expired one), with
        a subject key identifier extension: RFC 5280's method 1 (True), this value (bytes), or none (False)."""
        return self.issue(name, ExtendedKeyUsageOID.CLIENT_AUTH, key_type="rsa", not_before=not_before,
                          not_after=not_after, key_identifier=key_identifier)

    def issue(self, name: str, usage: x509.ObjectIdentifier, *, key_type: str, extensions=(),
              not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
              key_identifier: bytes | bool = True) -> Issued:
        """A certificate for `usage` (an extended key usage), signed by this authority."""
        key = KEY_TYPES[key_type]()
        builder = _builder(_name(name), self.issued.certificate.subject, key, LIFETIME, not_before, not_after,
                           key_identifier)
        builder = (builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(_key_usage(digital_signature=True), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.issued.certificate.public_key()), critical=False))
        for extension in extensions:
            builder = builder.add_extension(extension, critical=False)
        return self._write(_file_stem(name), key, builder.sign(self.issued.key, hashes.SHA256()))

    def _write(self, stem: str, key: PrivateKey, certificate: x509.Certificate) -> Issued:
        certificate_path, key_path = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        if certificate_path.exists():
            raise FileExistsError(f"{certificate_path}: this authority already issued a certificate named so")
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return Issued(certificate, key, certificate_path, key_path)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "soap-ledger tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(**allowed: bool) -> x509.KeyUsage:
    usages = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
              "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{usage: allowed.get(usage, False) for usage in usages})


def _builder(subject: x509.Name, issuer: x509.Name, key: PrivateKey, lifetime: datetime.timedelta,
             not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None,
             key_identifier: bytes | bool = True) -> x509.CertificateBuilder:
    start = not_before or utc_now() - BACKDATED
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(not_after or start + BACKDATED + lifetime))
    if key_identifier is True:
        return builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if key_identifier:
        return builder.add_extension(x509.SubjectKeyIdentifier(key_identifier), critical=False)
    return builder


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", name).strip("-") or "certificate"

"""The service's own signing identity, LEDGER_SIGNING_KEY and LEDGER_SIGNING_CERTIFICATE: read from their PEM
files and checked to belong together when the settings are read, so that a process refuses to start with
them wrong rather than fail on its first answer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class SigningIdentity:
    """The service's private key (PEM) and its certificate (DER), checked to belong together."""

    key_pem: bytes
    certificate_der: bytes

    @classmethod
    def from_files(cls, key_path: Path, certificate_path: Path) -> "SigningIdentity":
        """The key and certificate of two PEM files; ValueError, saying which file and what is wrong, when
        one cannot be read, the key is not an unencrypted RSA private key (responses are RSA-SHA256), the
        certificate is not one, or the certificate is not the key's."""
        key_pem, certificate_pem = _read(key_path), _read(certificate_path)
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except TypeError:
            raise ValueError(f"{key_path} is encrypted; give the service the key unencrypted (PKCS#8 or PKCS#1 "
                             "PEM), readable only by its user") from None
        except ValueError:
            raise ValueError(f"{key_path} holds no PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} is not an RSA key; responses are signed with RSA-SHA256")
        try:
            certificate = x509.load_pem_x509_certificate(certificate_pem)
        except ValueError:
            raise ValueError(f"{certificate_path} holds no PEM certificate") from None
        if certificate.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError(f"{certificate_path} is not the certificate of the key in {key_path}")
        return cls(key_pem, certificate.public_bytes(serialization.Encoding.DER))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path} cannot be read: {error.strerror}") from None

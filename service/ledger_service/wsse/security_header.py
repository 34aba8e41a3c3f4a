"""What the service reads of the wsse:Security header block addressed to it: its parts (soap/envelope.py
finds them, at most one of each), and what they say for a signature: the Timestamp's two moments, the
certificate a BinarySecurityToken carries, and how the signature's KeyInfo names the signer's certificate
(X.509 Token Profile 1.0, section 3.3). Each reader answers None for anything it cannot take at its word;
the request is then refused as any failed authentication is."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from ..adapters.password_digest import created_at
from ..ns import BASE64_BINARY, DS, WSSE, WSU, X509_SUBJECT_KEY_IDENTIFIER, X509_TOKEN, qualified
from ..service_layer.context import ClientCertificate
from ..service_layer.signatures import CertificateReference, IssuerSerial, SubjectKeyIdentifier, Timestamp

USERNAME_TOKEN = qualified(WSSE, "UsernameToken")
TIMESTAMP = qualified(WSU, "Timestamp")
BINARY_SECURITY_TOKEN = qualified(WSSE, "BinarySecurityToken")
SIGNATURE = qualified(DS, "Signature")
# The attributes an element's id may be in: WS-Security's, and the plain one XML Signature's own elements and
# some stacks use. (xml:id is one too, for libxml2: see signed_info.py.)
WSU_ID = qualified(WSU, "Id")
ID_ATTRIBUTES = (WSU_ID, "Id")
_SECURITY_TOKEN_REFERENCE = qualified(WSSE, "SecurityTokenReference")
_SERIAL_NUMBER = re.compile(r"\d{1,64}")


@dataclass(frozen=True)
class SecurityHeader:
    """The parts of the wsse:Security block addressed to the service that it reads (None: absent)."""

    username_token: etree._Element | None = None
    timestamp: etree._Element | None = None
    token: etree._Element | None = None  # a BinarySecurityToken
    signature: etree._Element | None = None


# Each field of SecurityHeader, and the element it is.
PARTS = {"username_token": USERNAME_TOKEN, "timestamp": TIMESTAMP, "token": BINARY_SECURITY_TOKEN,
         "signature": SIGNATURE}


def element_id(element: etree._Element) -> str | None:
    """The id an element carries (wsu:Id, else Id), by which a reference names it."""
    return next((element.get(attribute) for attribute in ID_ATTRIBUTES if element.get(attribute) is not None), None)


def base64_value(element: etree._Element | None) -> bytes | None:
    """The bytes an element holds in Base64, the one EncodingType accepted (and the default); None when it
    is absent, empty, encoded otherwise or not Base64."""
    if element is None or element.get("EncodingType", BASE64_BINARY) != BASE64_BINARY:
        return None
    try:
        return base64.b64decode("".join((element.text or "").split()), validate=True) or None
    except (binascii.Error, ValueError):
        return None


def timestamp(element: etree._Element | None) -> Timestamp | None:
    """A wsu:Timestamp's Created and Expires, exactly one each, as xs:dateTime."""
    if element is None:
        return None
    moments = []
    for name in ("Created", "Expires"):
        found = element.findall(qualified(WSU, name))
        moment = created_at(found[0].text.strip() if len(found) == 1 and found[0].text else None)
        if moment is None:
            return None
        moments.append(moment)
    return Timestamp(*moments)


def certificate_reference(signature: etree._Element, token: etree._Element | None) -> CertificateReference | None:
    """How the signature's KeyInfo names the certificate: a SecurityTokenReference holding a direct reference
    to the header's X.509 BinarySecurityToken, an X509IssuerSerial, or an X509SubjectKeyIdentifier."""
    key_info = [child for child in signature.iterchildren(qualified(DS, "KeyInfo"))]
    if len(key_info) != 1 or len(key_info[0]) != 1 or key_info[0][0].tag != _SECURITY_TOKEN_REFERENCE:
        return None
    pointers = [child for child in key_info[0][0] if isinstance(child.tag, str)]
    if len(pointers) != 1:
        return None
    pointer = pointers[0]
    if pointer.tag == qualified(WSSE, "Reference"):
        return _carried(pointer, token)
    if pointer.tag == qualified(DS, "X509Data"):
        return _issuer_serial(pointer)
    if pointer.tag == qualified(WSSE, "KeyIdentifier") and pointer.get("ValueType") == X509_SUBJECT_KEY_IDENTIFIER:
        identifier = base64_value(pointer)
        return SubjectKeyIdentifier(identifier) if identifier else None
    return None


def _carried(pointer: etree._Element, token: etree._Element | None) -> ClientCertificate | None:
    """The certificate of the BinarySecurityToken a wsse:Reference points to, in the same header."""
    if token is None or pointer.get("ValueType", X509_TOKEN) != X509_TOKEN or token.get("ValueType") != X509_TOKEN:
        return None
    identifier = element_id(token)
    if identifier is None or pointer.get("URI") != f"#{identifier}":
        return None
    der = base64_value(token)
    return ClientCertificate(der) if der else None


def _issuer_serial(data: etree._Element) -> IssuerSerial | None:
    """ds:X509Data holding one X509IssuerSerial (and perhaps the certificate, as zeep sends it, which is
    not used: the registered one is)."""
    children = [child.tag for child in data if isinstance(child.tag, str)]
    if sorted(set(children)) != sorted(children) or not set(children) <= {
            qualified(DS, "X509IssuerSerial"), qualified(DS, "X509Certificate")}:
        return None
    issuer = data.findtext(f"{{{DS}}}X509IssuerSerial/{{{DS}}}X509IssuerName")
    serial = (data.findtext(f"{{{DS}}}X509IssuerSerial/{{{DS}}}X509SerialNumber") or "").strip()
    if issuer is None or not _SERIAL_NUMBER.fullmatch(serial):
        return None
    try:
        name = x509.Name.from_rfc4514_string(issuer.strip())
    except ValueError:
        return None
    return IssuerSerial(name.rfc4514_string(), int(serial))

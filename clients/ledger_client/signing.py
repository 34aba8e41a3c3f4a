"""WS-Security X.509 signatures for zeep, as the service checks them on requests and makes them on its
answers (docs/contract.md#signed-requests): two zeep `wsse` plugins, which `LedgerClient` composes with a
UsernameToken and which plain zeep takes as they are (`Client(wsdl, wsse=Compose([...]))`).

- `RequestSignature` signs every request: a fresh `wsu:Timestamp` (5 minutes) in the Security header, then
  zeep's own signature (python-xmlsec underneath) over the Body and the Timestamp, exclusive C14N,
  RSA-SHA256 and SHA-256 digests rather than zeep's RSA-SHA1, which the service refuses.
- `AnswerVerification` checks every answer, faults included, with the service's certificate the operator
  gave, never with the one the answer carries: one signature, intact, covering the Envelope's Body found
  by its place and the Timestamp, no id carried twice (so that no reference can mean another element
  than the one read), and the Timestamp not expired. Anything else is `AnswerNotVerified`.

They need python-xmlsec, the package's `signing` extra: `pip install 'soap-ledger-client[signing]'`.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from os import PathLike

from lxml import etree
from zeep import ns
from zeep.wsse.signature import BinarySignature, Signature
from zeep.wsse.utils import WSU, get_security_header

from .errors import AnswerNotVerified

_INSTALL = "signing needs python-xmlsec: pip install 'soap-ledger-client[signing]'"
try:
    import xmlsec
except ImportError as missing:
    raise ImportError(_INSTALL) from missing
except Exception as mismatch:  # python-xmlsec refuses to load beside an lxml built on another libxml2
    raise ImportError(f"{_INSTALL}, whose pins give lxml and python-xmlsec one libxml2 ({mismatch})") from mismatch

# As long as the service accepts a request's Timestamp, and as long as it makes its answers'.
LIFETIME = timedelta(minutes=5)
# How far the service's clock and this host's may be apart.
CLOCK_SKEW = timedelta(minutes=1)
# How each reference names the certificate: a BinarySecurityToken carrying it, or its issuer and serial number.
CERTIFICATE_REFERENCES = {"token": BinarySignature, "issuer-serial": Signature}
_SIGNATURE_METHODS = (xmlsec.Transform.RSA_SHA256, xmlsec.Transform.RSA_SHA384, xmlsec.Transform.RSA_SHA512,
                      xmlsec.Transform.ECDSA_SHA256, xmlsec.Transform.ECDSA_SHA384, xmlsec.Transform.ECDSA_SHA512)
_DIGEST_METHODS = (xmlsec.Transform.SHA256, xmlsec.Transform.SHA384, xmlsec.Transform.SHA512)
_WSU_ID = f"{{{ns.WSU}}}Id"
# Every attribute libxml2 or a WS-Security reader may take an element's id from.
_ID_ATTRIBUTES = (_WSU_ID, "Id", "ID", "{http://www.w3.org/XML/1998/namespace}id")

Path = str | PathLike


def _xs_datetime(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _read(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise ValueError(f"cannot read the {what} {path}: {error.strerror}") from None


class RequestSignature:
    """Signs each request with the key of `certificate_file` (both PEM; `key_password` if the key is
    encrypted), the certificate named by `reference` ("token" or "issuer-serial"). `signature_method` and
    `digest_method` are python-xmlsec transforms; the service accepts SHA-256 and up only."""

    def __init__(self, key_file: Path, certificate_file: Path, *, key_password: str | None = None,
                 reference: str = "token", signature_method=xmlsec.Transform.RSA_SHA256,
                 digest_method=xmlsec.Transform.SHA256):
        if reference not in CERTIFICATE_REFERENCES:
            raise ValueError(f"reference is one of {', '.join(CERTIFICATE_REFERENCES)}, not {reference!r}")
        key, certificate = _read(key_file, "signing key"), _read(certificate_file, "signing certificate")
        try:  # a wrong password or a file that is no key fails here rather than at the first call
            xmlsec.Key.from_memory(key, xmlsec.KeyFormat.PEM, key_password)
            xmlsec.Key.from_memory(certificate, xmlsec.KeyFormat.CERT_PEM)
        except xmlsec.Error:
            raise ValueError(f"cannot sign with {key_file} and {certificate_file}: not a PEM key (or not its "
                             "password) and a PEM certificate") from None
        self._signature = CERTIFICATE_REFERENCES[reference](key_file, certificate_file, key_password,
                                                            signature_method, digest_method)

    def apply(self, envelope: etree._Element, headers: dict):
        created = datetime.now(timezone.utc)
        get_security_header(envelope).append(
            WSU.Timestamp(WSU.Created(_xs_datetime(created)), WSU.Expires(_xs_datetime(created + LIFETIME))))
        return self._signature.apply(envelope, headers)

    def verify(self, envelope: etree._Element) -> etree._Element:
        return envelope


class AnswerVerification:
    """Checks each answer's signature with the service's certificate (`service_certificate_file`, PEM)."""

    def __init__(self, service_certificate_file: Path):
        self._certificate = _read(service_certificate_file, "service certificate")
        try:
            xmlsec.Key.from_memory(self._certificate, xmlsec.KeyFormat.CERT_PEM)
        except xmlsec.Error:
            raise ValueError(f"{service_certificate_file} is not a PEM certificate") from None

    def apply(self, envelope: etree._Element, headers: dict):
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        soap = etree.QName(envelope).namespace
        body = envelope[-1] if len(envelope) else None
        if body is None or body.tag != f"{{{soap}}}Body":
            raise AnswerNotVerified("the answer has no Body in its place")
        security = envelope.findall(f"{{{soap}}}Header/{{{ns.WSSE}}}Security")
        signature = security[0].findall(f"{{{ns.DS}}}Signature") if len(security) == 1 else []
        timestamp = security[0].findall(f"{{{ns.WSU}}}Timestamp") if len(security) == 1 else []
        if len(signature) != 1 or len(timestamp) != 1:
            raise AnswerNotVerified("the answer is not signed (one Security header with one Signature and one "
                                    "Timestamp)")
        [signature], [timestamp] = signature, timestamp
        repeated = [value for value, count in Counter(
            element.get(attribute) for element in envelope.iter(etree.Element) for attribute in _ID_ATTRIBUTES
            if element.get(attribute) is not None).items() if count > 1]
        if repeated:
            raise AnswerNotVerified(f"the answer carries the id {repeated[0]!r} twice")
        signable = {f"#{element.get(_WSU_ID)}": element for element in
                    (body, timestamp, *security[0].iterfind(f"{{{ns.WSSE}}}BinarySecurityToken"))
                    if element.get(_WSU_ID) is not None}
        references = [reference.get("URI") for reference in signature.iterfind(f"{{{ns.DS}}}SignedInfo/"
                                                                               f"{{{ns.DS}}}Reference")]
        if not set(references) <= set(signable) or not {f"#{body.get(_WSU_ID)}",
                                                        f"#{timestamp.get(_WSU_ID)}"} <= set(references):
            raise AnswerNotVerified("the answer's signature does not cover its Body and its Timestamp alone")
        context = xmlsec.SignatureContext()
        for transform in (xmlsec.Transform.EXCL_C14N, *_SIGNATURE_METHODS):
            context.enable_signature_transform(transform)
        for transform in (xmlsec.Transform.EXCL_C14N, *_DIGEST_METHODS):
            context.enable_reference_transform(transform)
        for element in signable.values():
            context.register_id(element, "Id", ns.WSU)
        try:
            context.key = xmlsec.Key.from_memory(self._certificate, xmlsec.KeyFormat.CERT_PEM)
            context.verify(signature)
        except xmlsec.Error:
            raise AnswerNotVerified("the answer's signature does not verify with the service's certificate") \
                from None
        _check_fresh(timestamp)
        return envelope


def _check_fresh(timestamp: etree._Element) -> None:
    """The signed Timestamp's window holds now, give or take the clocks' skew."""
    try:
        created, expires = (datetime.fromisoformat(timestamp.findtext(f"{{{ns.WSU}}}{name}") or "")
                            for name in ("Created", "Expires"))
    except ValueError:
        raise AnswerNotVerified("the answer's Timestamp is not two xs:dateTime") from None
    now = datetime.now(timezone.utc)
    created, expires = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
                        for moment in (created, expires))
    if expires + CLOCK_SKEW < now:
        raise AnswerNotVerified(f"the answer expired at {_xs_datetime(expires)}")
    if created - CLOCK_SKEW > now:
        raise AnswerNotVerified(f"the answer was signed in the future, at {_xs_datetime(created)}")

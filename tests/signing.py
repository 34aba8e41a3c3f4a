"""Signed requests for the tests, made as clients make them: zeep's BinarySignature and Signature (python-xmlsec
underneath) with a wsu:Timestamp, through the client package's plugins (ledger_client.signing), as
docs/integrators.md ("Signing with zeep") shows; and, for what no
well-behaved client sends, python-xmlsec's template calls with whatever references, algorithms and key
information a test needs. With the fixtures of the modules that call a signing service: a test CA, the
service's certificate, the service signing with it, and a client registered with a certificate."""
from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
import xmlsec
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from zeep.wsse import Compose
from zeep.wsse.utils import WSU, ensure_id, get_security_header
from ledger_client.signing import AnswerVerification, RequestSignature

from certificates import CertificateAuthority, Issued
from conftest import WSSE_NS, LiveServer, cli, envelope, start_server, unique
from xmlsec_cli import DSIG_NS, WSU_NS, X509_TOKEN

WSU_ID = f"{{{WSU_NS}}}Id"
SKI_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509SubjectKeyIdentifier"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
LIFETIME = datetime.timedelta(minutes=5)


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("signing-ca"))


@pytest.fixture(scope="module")
def service_certificate(authority) -> Issued:
    """The service's own key and certificate (LEDGER_SIGNING_KEY, LEDGER_SIGNING_CERTIFICATE)."""
    return authority.issue("soap-ledger service", ExtendedKeyUsageOID.SERVER_AUTH, key_type="rsa")


def signing_env(service_certificate: Issued) -> dict:
    return {"LEDGER_SIGNING_KEY": str(service_certificate.key_path),
            "LEDGER_SIGNING_CERTIFICATE": str(service_certificate.certificate_path)}


@pytest.fixture(scope="module")
def signing_server(request, tmp_path_factory, service_certificate) -> LiveServer:
    """A service that signs its answers, with several workers for a replay to be sent to."""
    return start_server(request, tmp_path_factory, "sqlite", workers=3, extra_env=signing_env(service_certificate))


def registered(server: LiveServer, issued: Issued, *options: str) -> Issued:
    """`issued` registered as a client with its certificate (and `options` of `clients add`)."""
    added = cli("clients", "add", issued.certificate_path.stem, "--certificate", str(issued.certificate_path),
                *options, env={"LEDGER_DATABASE_URL": server.database_url})
    assert added.returncode == 0, added.stderr
    return issued


def get_balance(book_code: str, account: str = "cash") -> str:
    return f"<l:GetBalance><l:book>{book_code}</l:book><l:account>{account}</l:account></l:GetBalance>"


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def add_timestamp(root: etree._Element, created: datetime.datetime | None = None,
                  lifetime: datetime.timedelta = LIFETIME) -> etree._Element:
    """A wsu:Timestamp in the envelope's Security header (made if missing), from `created` (now) for `lifetime`."""
    created = created or utc_now()
    timestamp = WSU.Timestamp(WSU.Created(_xs_datetime(created)), WSU.Expires(_xs_datetime(created + lifetime)))
    get_security_header(root).append(timestamp)
    return timestamp


def _xs_datetime(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def zeep_wsse(signer: Issued, service_certificate: Path | None = None, *, reference: str = "token",
              key: Issued | None = None, **methods) -> Compose:
    """What zeep is given to sign as `signer` (with the key of `key` instead, if given), naming the certificate
    as `reference` says, with `methods` (signature_method, digest_method) instead of RSA-SHA256 and SHA-256; and
    to check answers with `service_certificate`, if given."""
    plugins = [RequestSignature((key or signer).key_path, signer.certificate_path, reference=reference, **methods)]
    return Compose(plugins + ([AnswerVerification(service_certificate)] if service_certificate else []))


def assert_covers_body_and_timestamp(root: etree._Element) -> None:
    """The signature of a verified envelope references its Body, found by position, and its Timestamp."""
    references = {reference.get("URI") for reference in root.iter(f"{{{DSIG_NS}}}Reference")}
    body = root[-1]
    assert etree.QName(body).localname == "Body", "the envelope's last element is not its Body"
    [timestamp] = root.iter(f"{{{WSU_NS}}}Timestamp")
    assert {f"#{body.get(WSU_ID)}", f"#{timestamp.get(WSU_ID)}"} <= references, references


def zeep_signed(version: str, body: str, signer: Issued, **options) -> bytes:
    """An envelope around `body` signed as zeep signs it with a Timestamp (`options` of `zeep_wsse`), as it
    would go on the wire."""
    root = etree.fromstring(envelope(version, body, username=None))
    zeep_wsse(signer, **options).apply(root, {})
    return etree.tostring(root)


def body_of(root: etree._Element) -> etree._Element:
    return root.find(f"{{{etree.QName(root).namespace}}}Body")


def signed(version: str, body: str, signer: Issued, *, covering=("body", "timestamp"), key_info: str = "token",
           method=xmlsec.Transform.RSA_SHA256, digest=xmlsec.Transform.SHA256,
           transforms=(xmlsec.Transform.EXCL_C14N,), uri: str | None = None,
           created: datetime.datetime | None = None, lifetime: datetime.timedelta = LIFETIME,
           timestamp: bool = True, header_extra: str = "") -> bytes:
    """An envelope around `body` with a Security header signed by `signer` through python-xmlsec: a Timestamp
    (unless `timestamp` is False) from `created` for `lifetime`, and a ds:Signature with `method`, one
    reference per part named in `covering` ("body", "timestamp", "token") with `transforms` and `digest`, and
    one more to `uri` if given (`#id`: an element of `header_extra` carrying that wsu:Id); its KeyInfo names
    the certificate as `key_info` says: "token" (a BinarySecurityToken), "issuer-serial" or "ski"."""
    root = etree.fromstring(envelope(version, body, username=None, header_extra=header_extra))
    security = get_security_header(root)
    parts = {"body": body_of(root)}
    if timestamp:
        parts["timestamp"] = add_timestamp(root, created, lifetime)
    token = etree.SubElement(security, f"{{{WSSE_NS}}}BinarySecurityToken", EncodingType=BASE64_BINARY,
                             ValueType=X509_TOKEN)
    token.text = base64.b64encode(signer.der).decode()
    parts["token"] = token
    signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, method)
    security.insert(0, signature)
    context = xmlsec.SignatureContext()
    for name in covering:
        reference = xmlsec.template.add_reference(signature, digest, uri=f"#{ensure_id(parts[name])}")
        for transform in transforms:
            xmlsec.template.add_transform(reference, transform)
        context.register_id(parts[name], "Id", WSU_NS)
    if uri is not None:
        for element in root.iter():
            if uri == f"#{element.get(WSU_ID)}":
                context.register_id(element, "Id", WSU_NS)
        if uri and not uri.startswith("#"):
            xmlsec.register_default_callbacks()  # in the test's process, to read what the service will not
        reference = xmlsec.template.add_reference(signature, digest, uri=uri)
        for transform in (xmlsec.Transform.ENVELOPED, *transforms) if uri == "" else transforms:
            xmlsec.template.add_transform(reference, transform)
    xmlsec.template.ensure_key_info(signature).append(_key_info(key_info, signer, token))
    if key_info != "token":
        security.remove(token)
    context.key = xmlsec.Key.from_file(str(signer.key_path), xmlsec.KeyFormat.PEM)
    context.sign(signature)
    return etree.tostring(root)


def _key_info(kind: str, signer: Issued, token: etree._Element) -> etree._Element:
    """A wsse:SecurityTokenReference naming the signer's certificate as `kind` says."""
    reference = etree.Element(f"{{{WSSE_NS}}}SecurityTokenReference")
    if kind == "token":
        etree.SubElement(reference, f"{{{WSSE_NS}}}Reference", URI=f"#{ensure_id(token)}", ValueType=X509_TOKEN)
    elif kind == "issuer-serial":
        serial = etree.SubElement(etree.SubElement(reference, f"{{{DSIG_NS}}}X509Data"), f"{{{DSIG_NS}}}X509IssuerSerial")
        etree.SubElement(serial, f"{{{DSIG_NS}}}X509IssuerName").text = signer.certificate.issuer.rfc4514_string()
        etree.SubElement(serial, f"{{{DSIG_NS}}}X509SerialNumber").text = str(signer.certificate.serial_number)
    else:
        identifier = signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        etree.SubElement(reference, f"{{{WSSE_NS}}}KeyIdentifier", ValueType=SKI_TYPE,
                         EncodingType=BASE64_BINARY).text = base64.b64encode(identifier).decode()
    return reference

"""The xmlsec1 command-line tool (Debian's xmlsec1: libxmlsec1 on OpenSSL) on WS-Security envelopes: it
verifies a signed one with the signer's certificate, and signs a template (a `ds:Signature` whose
digests and value it fills in). xmlsec1 knows nothing of WS-Security, so it is told which attributes are
IDs (wsu:Id, on the Body of either SOAP version, the Timestamp and the BinarySecurityToken); it takes the
key from the command line, not from the token."""
from __future__ import annotations

import base64
import datetime
import subprocess
from pathlib import Path

from certificates import Issued
from conftest import SOAP_ENV, WSSE_NS

WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
X509_TOKEN = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ID_ATTRIBUTES = [argument for element in (*(f"{namespace}:Body" for namespace in SOAP_ENV.values()),
                                          f"{WSU_NS}:Timestamp", f"{WSSE_NS}:BinarySecurityToken")
                 for argument in ("--id-attr:Id", element)]
# The wsu:Id values of a template's Body, Timestamp and BinarySecurityToken.
BODY_ID, TIMESTAMP_ID, TOKEN_ID = "id-body", "id-timestamp", "id-token"


def _xmlsec1(*arguments: object) -> subprocess.CompletedProcess:
    return subprocess.run(["xmlsec1", *map(str, arguments)], capture_output=True, text=True, timeout=60)


def verify(envelope: Path, certificate: Path) -> subprocess.CompletedProcess:
    """xmlsec1 checking the envelope's signature with the public key of `certificate` (PEM)."""
    return _xmlsec1("--verify", *ID_ATTRIBUTES, "--pubkey-cert-pem", certificate, envelope)


def sign(template: Path, signer: Issued, signed: Path) -> subprocess.CompletedProcess:
    return _xmlsec1("--sign", *ID_ATTRIBUTES, "--privkey-pem", f"{signer.key_path},{signer.certificate_path}",
                    "--output", signed, template)


def signature_template(version: str, body: str, signer: Issued, *, created: datetime.datetime | None = None,
                       lifetime: datetime.timedelta = datetime.timedelta(minutes=5),
                       signed: tuple[str, ...] = (BODY_ID, TIMESTAMP_ID)) -> bytes:
    """An envelope of `version` around `body` (elements of the prefix l:, the contract's namespace) with a
    wsse:Security header to sign: the signer's certificate as a BinarySecurityToken, a Timestamp from
    `created` (now) for `lifetime`, and a ds:Signature template (RSA-SHA256, exclusive C14N, SHA-256)
    referencing the `signed` ids, its KeyInfo a reference to the token."""
    created = created or datetime.datetime.now(datetime.timezone.utc)
    when = {"Created": created, "Expires": created + lifetime}
    timestamp = "".join(f"<wsu:{name}>{moment.strftime('%Y-%m-%dT%H:%M:%SZ')}</wsu:{name}>"
                        for name, moment in when.items())
    references = "".join(
        f'<ds:Reference URI="#{reference}"><ds:Transforms><ds:Transform Algorithm="{EXCLUSIVE_C14N}"/>'
        f'</ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/></ds:Reference>'
        for reference in signed)
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP_ENV[version]}" '
            f'xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU_NS}" xmlns:l="urn:soap-ledger:v1"><env:Header>'
            f'<wsse:Security env:mustUnderstand="{"1" if version == "11" else "true"}">'
            f'<wsse:BinarySecurityToken EncodingType="{BASE64_BINARY}" ValueType="{X509_TOKEN}" wsu:Id="{TOKEN_ID}">'
            f'{base64.b64encode(signer.der).decode()}</wsse:BinarySecurityToken>'
            f'<ds:Signature xmlns:ds="{DSIG_NS}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXCLUSIVE_C14N}"/>'
            f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/>{references}</ds:SignedInfo><ds:SignatureValue/>'
            f'<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#{TOKEN_ID}" ValueType="{X509_TOKEN}"/>'
            f'</wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>'
            f'<wsu:Timestamp wsu:Id="{TIMESTAMP_ID}">{timestamp}</wsu:Timestamp></wsse:Security></env:Header>'
            f'<env:Body wsu:Id="{BODY_ID}">{body}</env:Body></env:Envelope>').encode()

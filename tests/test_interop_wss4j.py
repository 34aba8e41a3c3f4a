"""Java integrators who sign with Apache WSS4J (docs/integrators.md, "Java with WSS4J"): the harness of
tests/interop/wss4j, compiled against Debian's libwss4j-java and libxml-security-java, signs a request
envelope as Apache CXF does by default (a Timestamp, the certificate as an X.509 BinarySecurityToken,
RSA-SHA256 and exclusive C14N over the Body and the Timestamp) and verifies a signed response. Both halves
are proved here against an independent implementation of XML Signature, the xmlsec1 command-line tool
(libxmlsec1 on OpenSSL): xmlsec1 verifies what WSS4J signed, from PEM files and from PKCS#12, and WSS4J
verifies what xmlsec1 signed from a template; each refuses the envelope once its Body is changed, or with
another certificate, and the verifier refuses a signature that leaves out the Body or the Timestamp, an
expired Timestamp, and a signed Body moved into the header with another put in its place (wrapping)."""
from __future__ import annotations

import base64
import datetime

import pytest
from lxml import etree

import xmlsec_cli
from certificates import CertificateAuthority, Issued
from conftest import SOAP_ENV, TNS, WSSE_NS, envelope, require_tools
from wss4j import Harness, compiled_harness
from xmlsec_cli import (BODY_ID, DSIG_NS, EXCLUSIVE_C14N, RSA_SHA256, SHA256, TIMESTAMP_ID, WSU_NS, X509_TOKEN,
                        signature_template)

pytestmark = pytest.mark.interop

VERSIONS = ["11", "12"]
BODY = "<l:GetBalance><l:book>WSS4J</l:book><l:account>cash</l:account></l:GetBalance>"
TAMPERED_BODY = "<l:GetBalance><l:book>WSS4J</l:book><l:account>bank</l:account></l:GetBalance>"
WSU_ID = f"{{{WSU_NS}}}Id"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    require_tools("xmlsec1", packages="xmlsec1")
    return compiled_harness(tmp_path_factory.mktemp("wss4j-classes"))


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("wss4j-ca"))


@pytest.fixture(scope="module")
def signer(authority) -> Issued:
    return authority.client("integrator")


@pytest.fixture(scope="module")
def someone_else(authority) -> Issued:
    return authority.client("someone else")


def tampered(signed: bytes) -> bytes:
    changed = signed.replace(b"<l:account>cash</l:account>", b"<l:account>bank</l:account>")
    assert changed != signed
    return changed


def assert_signed_as_cxf_does(signed: bytes, version: str, signer: Issued) -> None:
    """The shape of a WSS4J-signed request: what a service that accepts CXF's signatures relies on."""
    root = etree.fromstring(signed)
    soap = SOAP_ENV[version]
    [security] = root.findall(f"{{{soap}}}Header/{{{WSSE_NS}}}Security")
    [token] = security.findall(f"{{{WSSE_NS}}}BinarySecurityToken")
    assert token.get("ValueType") == X509_TOKEN and token.text == base64.b64encode(signer.der).decode()
    [timestamp] = security.findall(f"{{{WSU_NS}}}Timestamp")
    [signature] = security.findall(f"{{{DSIG_NS}}}Signature")
    info = signature.find(f"{{{DSIG_NS}}}SignedInfo")
    assert info.find(f"{{{DSIG_NS}}}CanonicalizationMethod").get("Algorithm") == EXCLUSIVE_C14N
    assert info.find(f"{{{DSIG_NS}}}SignatureMethod").get("Algorithm") == RSA_SHA256
    references = info.findall(f"{{{DSIG_NS}}}Reference")
    body = root.find(f"{{{soap}}}Body")
    assert sorted(reference.get("URI") for reference in references) == \
        sorted(f"#{element.get(WSU_ID)}" for element in (body, timestamp))
    for reference in references:
        assert reference.find(f"{{{DSIG_NS}}}DigestMethod").get("Algorithm") == SHA256
        assert [transform.get("Algorithm") for transform in reference.iter(f"{{{DSIG_NS}}}Transform")] == \
            [EXCLUSIVE_C14N]
    [pointer] = signature.findall(f"{{{DSIG_NS}}}KeyInfo/{{{WSSE_NS}}}SecurityTokenReference/{{{WSSE_NS}}}Reference")
    assert pointer.get("URI") == f"#{token.get(WSU_ID)}"


@pytest.mark.parametrize("key_form", ["pem", "pkcs12"])
@pytest.mark.parametrize("version", VERSIONS)
def test_an_envelope_wss4j_signs_verifies_with_xmlsec1(harness, signer, someone_else, tmp_path, version, key_form):
    request = tmp_path / "request.xml"
    request.write_bytes(envelope(version, BODY, username=None))
    signed = harness.sign(request, tmp_path / "signed.xml", signer, key_form)
    assert_signed_as_cxf_does(signed.read_bytes(), version, signer)
    checked = xmlsec_cli.verify(signed, signer.certificate_path)
    assert checked.returncode == 0, checked.stderr
    assert xmlsec_cli.verify(signed, someone_else.certificate_path).returncode != 0
    changed = tmp_path / "changed.xml"
    changed.write_bytes(tampered(signed.read_bytes()))
    assert xmlsec_cli.verify(changed, signer.certificate_path).returncode != 0
    assert harness.verify(signed, signer.certificate_path) == "OK"  # and the harness's own two halves agree


def signed_by_xmlsec1(directory, version: str, signer: Issued, **template) -> bytes:
    path = directory / "template.xml"
    path.write_bytes(signature_template(version, BODY, signer, **template))
    signed = directory / "signed-by-xmlsec1.xml"
    result = xmlsec_cli.sign(path, signer, signed)
    assert result.returncode == 0, result.stderr
    return signed.read_bytes()


def verified_by_wss4j(harness: Harness, directory, document: bytes, certificate: Issued) -> str:
    path = directory / "to-verify.xml"
    path.write_bytes(document)
    return harness.verify(path, certificate.certificate_path)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_envelope_xmlsec1_signs_from_a_template_verifies_with_wss4j(harness, signer, someone_else, tmp_path,
                                                                       version):
    signed = signed_by_xmlsec1(tmp_path, version, signer)
    assert verified_by_wss4j(harness, tmp_path, signed, signer) == "OK"
    assert verified_by_wss4j(harness, tmp_path, signed, someone_else).startswith("FAILED: ")
    assert verified_by_wss4j(harness, tmp_path, tampered(signed), signer).startswith("FAILED: ")


def wrapped(signed: bytes, version: str) -> bytes:
    """The signed Body moved into the header, and another Body, unsigned, in its place."""
    root = etree.fromstring(signed)
    soap = SOAP_ENV[version]
    etree.SubElement(root.find(f"{{{soap}}}Header"), "{urn:example:wrapper}Wrapper").append(root.find(f"{{{soap}}}Body"))
    etree.SubElement(root, f"{{{soap}}}Body").append(etree.fromstring(
        TAMPERED_BODY.replace("<l:GetBalance>", f'<l:GetBalance xmlns:l="{TNS}">', 1)))
    return etree.tostring(root)


NOW = datetime.datetime.now(datetime.timezone.utc)
REFUSED = {
    "the Body left out": ({"signed": (TIMESTAMP_ID,)}, None, "FAILED: the signature does not cover the envelope's Body"),
    "the Timestamp left out": ({"signed": (BODY_ID,)}, None, "FAILED: the signature does not cover the Timestamp"),
    "an expired Timestamp": ({"created": NOW - datetime.timedelta(minutes=10)}, None, "FAILED: "),
    "a wrapped Body": ({}, wrapped, "FAILED: the signature does not cover the envelope's Body"),
}


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("version", VERSIONS)
def test_the_wss4j_verifier_refuses_what_a_client_must_refuse(harness, signer, tmp_path, version, case):
    template, afterwards, said = REFUSED[case]
    signed = signed_by_xmlsec1(tmp_path, version, signer, **template)
    document = afterwards(signed, version) if afterwards else signed
    assert verified_by_wss4j(harness, tmp_path, document, signer).startswith(said)

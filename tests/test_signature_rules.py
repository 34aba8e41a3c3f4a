"""The rules a request's signature is held to (docs/contract.md#signed-requests), as ledger_service.wsse reads
and checks envelopes the service's own envelope reader has read: signed by zeep (BinarySignature, Signature)
and through python-xmlsec with the variations no well-behaved client sends. Each case is one the service
accepts or refuses; tests/test_signatures.py sends the ones a client meets to a live service.

`read` (what the signature covers, how, its Timestamp, how it names its certificate) and `made_with` (the
signature intact, by that certificate's key, the certificate valid and its key long enough) need neither
the database nor a server: the registered certificates and the spent signature values are the service's
part (service_layer/signatures.py), tested live."""
from __future__ import annotations

import datetime

import pytest
import xmlsec
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree

from certificates import Issued
from conftest import SOAP_ENV, TNS
from ledger_service.service_layer.context import ClientCertificate
from ledger_service.service_layer.signatures import IssuerSerial, SubjectKeyIdentifier
from ledger_service.soap.envelope import Limits, parse, read_envelope
from ledger_service.wsse.verification import made_with, read
from signing import WSU_ID, authority, body_of, signed, utc_now, zeep_signed  # noqa: F401
from xmlsec_cli import WSU_NS

VERSIONS = ["11", "12"]
BODY = "<l:GetBalance><l:book>B</l:book><l:account>cash</l:account></l:GetBalance>"
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(scope="module")
def signer(authority) -> Issued:
    return authority.client("signer")


@pytest.fixture(scope="module")
def someone_else(authority) -> Issued:
    return authority.client("someone else")


def read_signature(document: bytes, version: str):
    root = parse(document, SOAP_ENV[version], Limits())
    request = read_envelope(root, SOAP_ENV[version])
    return read(root, request.body, request.security, utc_now())


def verdict(document: bytes, version: str, certificate: Issued) -> str:
    """What the service makes of a request signed with the key of `certificate`."""
    found = read_signature(document, version)
    if found is None:
        return "refused as read"
    return "accepted" if made_with(found, ClientCertificate(certificate.der), utc_now()) else "does not verify"


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_binary_signature_carries_the_certificate_and_verifies_with_its_key_only(signer, someone_else,
                                                                                      version):
    document = zeep_signed(version, BODY, signer)
    assert read_signature(document, version).certificate == ClientCertificate(signer.der)
    assert verdict(document, version, signer) == "accepted"
    assert verdict(document, version, someone_else) == "does not verify"


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_signature_names_the_certificate_by_issuer_and_serial_number(signer, version):
    document = zeep_signed(version, BODY, signer, reference="issuer-serial")
    assert read_signature(document, version).certificate == IssuerSerial(
        signer.certificate.issuer.rfc4514_string(), signer.certificate.serial_number)
    assert verdict(document, version, signer) == "accepted"


def test_an_issuer_is_read_as_a_name_not_compared_as_text(signer):
    issuer = signer.certificate.issuer.rfc4514_string()
    spelled_otherwise = issuer.replace("CN=", "2.5.4.3=").replace("soap-ledger test CA", r"soap\2dledger test CA")
    document = signed("11", BODY, signer, key_info="issuer-serial").replace(issuer.encode(), spelled_otherwise.encode())
    assert spelled_otherwise.encode() in document
    assert read_signature(document, "11").certificate.issuer == issuer


@pytest.mark.parametrize("version", VERSIONS)
def test_a_subject_key_identifier_names_the_certificate(signer, version):
    document = signed(version, BODY, signer, key_info="ski")
    identifier = signer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert read_signature(document, version).certificate == SubjectKeyIdentifier(identifier)
    assert verdict(document, version, signer) == "accepted"


@pytest.mark.parametrize("method, digest, key_type", [
    (xmlsec.Transform.RSA_SHA256, xmlsec.Transform.SHA256, "rsa"),
    (xmlsec.Transform.RSA_SHA384, xmlsec.Transform.SHA384, "rsa"),
    (xmlsec.Transform.RSA_SHA512, xmlsec.Transform.SHA512, "rsa"),
    (xmlsec.Transform.ECDSA_SHA256, xmlsec.Transform.SHA256, "ec"),
    (xmlsec.Transform.ECDSA_SHA512, xmlsec.Transform.SHA512, "ec"),
], ids=lambda value: getattr(value, "name", value))
def test_rsa_and_ecdsa_with_sha2_are_accepted(authority, method, digest, key_type):
    issued = authority.issue(f"{key_type} {method.name}", ExtendedKeyUsageOID.CLIENT_AUTH, key_type=key_type)
    assert verdict(signed("12", BODY, issued, method=method, digest=digest), "12", issued) == "accepted"


@pytest.mark.parametrize("method, digest", [
    (xmlsec.Transform.RSA_SHA1, xmlsec.Transform.SHA256),
    (xmlsec.Transform.RSA_SHA256, xmlsec.Transform.SHA1),
    (xmlsec.Transform.RSA_SHA224, xmlsec.Transform.SHA256),
    (xmlsec.Transform.RSA_MD5, xmlsec.Transform.SHA256),
], ids=lambda value: value.name)
def test_sha1_and_weaker_are_refused(signer, method, digest):
    assert verdict(signed("11", BODY, signer, method=method, digest=digest), "11", signer) == "refused as read"


@pytest.mark.parametrize("transforms", [
    (), (xmlsec.Transform.C14N,), (xmlsec.Transform.EXCL_C14N, xmlsec.Transform.EXCL_C14N),
    (xmlsec.Transform.C14N11,), (xmlsec.Transform.EXCL_C14N_COMMENTS,),
], ids=lambda transforms: "+".join(transform.name for transform in transforms) or "none")
def test_a_reference_is_transformed_by_exclusive_c14n_alone(signer, transforms):
    assert verdict(signed("11", BODY, signer, transforms=transforms), "11", signer) == "refused as read"


@pytest.mark.parametrize("covering, accepted", [
    (("body", "timestamp"), True), (("timestamp", "body", "token"), True),
    (("body",), False), (("timestamp",), False), (("body", "timestamp", "body"), False),
], ids=lambda value: "+".join(value) if isinstance(value, tuple) else str(value))
def test_the_body_and_the_timestamp_are_covered_each_once(signer, covering, accepted):
    assert verdict(signed("12", BODY, signer, covering=covering), "12", signer) == \
        ("accepted" if accepted else "refused as read")


@pytest.mark.parametrize("moved, lifetime, accepted", [
    (-4 * MINUTE, 5 * MINUTE, True),  # still valid for a minute
    (-6 * MINUTE, 5 * MINUTE, False),  # expired
    (MINUTE / 2, 5 * MINUTE, True),  # created a little ahead: within the clock skew
    (2 * MINUTE, 5 * MINUTE, False),  # created further ahead
    (0 * MINUTE, 6 * MINUTE, False),  # valid for longer than 5 minutes
    (0 * MINUTE, 0 * MINUTE, False),  # expiring as it is created
    (0 * MINUTE, -MINUTE, False),  # expiring before it is created
], ids=["fresh", "expired", "within-skew", "future", "too-long", "empty", "backwards"])
def test_the_timestamp_window(signer, moved, lifetime, accepted):
    document = signed("11", BODY, signer, created=utc_now() + moved, lifetime=lifetime)
    assert verdict(document, "11", signer) == ("accepted" if accepted else "refused as read")


def test_a_timestamp_needs_its_expiry(signer):
    document = signed("11", BODY, signer)
    root = etree.fromstring(document)
    expires = next(root.iter("{*}Expires"))
    expires.getparent().remove(expires)  # after signing: no matter, it is refused before any digest
    assert verdict(etree.tostring(root), "11", signer) == "refused as read"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_body_changed_after_signing_does_not_verify(signer, version):
    document = zeep_signed(version, BODY, signer).replace(b"<l:account>cash<", b"<l:account>bank<")
    assert verdict(document, version, signer) == "does not verify"


def _wrapped(document: bytes, same_id: bool) -> bytes:
    """The signed Body moved into a header block, and another Body (with the moved one's id, or none)."""
    root = etree.fromstring(document)
    original = body_of(root)
    etree.SubElement(root[0], "{urn:example:wrapper}Wrapper").append(original)
    other = etree.SubElement(root, original.tag)
    etree.SubElement(other, f"{{{TNS}}}GetBalance").text = "bank"
    if same_id:
        other.set(WSU_ID, original.get(WSU_ID))
    return etree.tostring(root)


@pytest.mark.parametrize("same_id", [False, True], ids=["new-body-without-id", "new-body-with-the-same-id"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_signed_body_moved_away_signs_nothing_the_service_processes(signer, version, same_id):
    assert verdict(_wrapped(zeep_signed(version, BODY, signer), same_id), version, signer) == "refused as read"


def test_an_id_carried_twice_anywhere_is_refused(signer):
    root = etree.fromstring(signed("11", BODY, signer))
    timestamp_id = next(root.iter("{*}Timestamp")).get(WSU_ID)
    etree.SubElement(root[0], "{urn:example:other}Block", Id=timestamp_id)
    assert verdict(etree.tostring(root), "11", signer) == "refused as read"


@pytest.mark.parametrize("outside", ["", "file", "xpointer", "header block"])
def test_a_reference_to_anything_but_the_parts_a_signature_may_cover_is_refused(signer, tmp_path, outside):
    elsewhere = tmp_path / "elsewhere.xml"
    elsewhere.write_text("<elsewhere/>")
    uri = {"": "", "file": elsewhere.as_uri(), "xpointer": "#xpointer(/)", "header block": "#block"}[outside]
    block = f'<x:Block xmlns:x="urn:example:block" xmlns:wsu="{WSU_NS}" wsu:Id="block">on</x:Block>'
    assert verdict(signed("11", BODY, signer, uri=uri, header_extra=block), "11", signer) == "refused as read"


@pytest.mark.parametrize("validity", ["expired", "not yet valid"])
def test_a_certificate_out_of_its_validity_does_not_verify(authority, validity):
    now = utc_now()
    start, end = (now - 2 * datetime.timedelta(days=1), now - datetime.timedelta(days=1)) if validity == "expired" \
        else (now + datetime.timedelta(days=1), now + 2 * datetime.timedelta(days=1))
    issued = authority.client(f"{validity} client", not_before=start, not_after=end)
    assert verdict(signed("11", BODY, issued), "11", issued) == "does not verify"


def test_an_rsa_key_shorter_than_2048_bits_does_not_verify(authority):
    issued = authority.issue("short key", ExtendedKeyUsageOID.CLIENT_AUTH, key_type="rsa-1024")
    assert verdict(signed("11", BODY, issued), "11", issued) == "does not verify"

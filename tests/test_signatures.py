"""Signed requests and signed answers (docs/contract.md#signed-requests), with zeep: a request signed with the key
of a registered client's certificate (zeep's BinarySignature, the certificate in a BinarySecurityToken; zeep's
Signature, named by issuer and serial number; a subject key identifier) is accepted as that client, on
SOAP 1.1 and 1.2, and the service's signed answer, faults included, verifies with zeep. Each way a signature
can be wrong is AuthenticationFailed, on both versions: another key, an unregistered certificate, the Body
changed, the Body wrapped, the Timestamp expired, in the future, missing or not signed, the Body not signed,
a reference outside the envelope, RSA-SHA1 (zeep's default); and a signed request counts once, however many
workers it is sent to. A service given only half of its signing identity, or one it cannot use, does not
start."""
from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import xmlsec
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Fault, SignatureVerificationFailed
from zeep.transports import Transport
from zeep.wsse.signature import verify_envelope

from certificates import Issued
from conftest import CONTENT_TYPE, SERVE, TNS, assert_refused_to_start, envelope, fault_detail, post_raw, unique
from signing import (WSU_ID, assert_covers_body_and_timestamp, authority, body_of, get_balance,  # noqa: F401
                     registered, service_certificate, signed, signing_env, signing_server, utc_now, zeep_signed,
                     zeep_wsse)

VERSIONS = ["11", "12"]
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture(scope="module")
def book(signing_server):
    book = signing_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("SIGNED-1", [("cash", "DEBIT", "12.50"), ("sales", "CREDIT", "12.50")])
    return book


@pytest.fixture(scope="module")
def integrator(signing_server, authority, book) -> Issued:
    """A client registered with its certificate alone, reading the book."""
    return registered(signing_server, authority.client(unique("integrator")), "--grant", f"{book.code}:reader")


@pytest.fixture(scope="module")
def stranger(authority) -> Issued:
    return authority.client("stranger")  # never registered


def signing_client(server, version: str, wsse) -> Client:
    return Client(f"{server.endpoint(version)}?wsdl", wsse=wsse, settings=Settings(strict=True),
                  transport=Transport(timeout=60, operation_timeout=60))


def verified(answer: requests.Response, certificate: Issued) -> etree._Element:
    """The answer's envelope, once zeep has verified its signature with `certificate` and it covers the Body
    and the Timestamp."""
    root = etree.fromstring(answer.content)
    verify_envelope(root, str(certificate.certificate_path))
    assert_covers_body_and_timestamp(root)
    return root


def fault_code(answer: requests.Response) -> str | None:
    return etree.fromstring(answer.content).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


# --- accepted ---

@pytest.mark.parametrize("reference", ["token", "issuer-serial"])
@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_signs_as_the_registered_client_and_verifies_the_signed_answer(signing_server, integrator,
                                                                            service_certificate, book, version,
                                                                            reference):
    service = signing_client(signing_server, version,
                             zeep_wsse(integrator, service_certificate.certificate_path, reference=reference)).service
    assert str(service.GetBalance(book.code, "cash").balance) == "12.50"  # zeep verified the answer first
    with pytest.raises(Fault) as fault:  # a fault's answer verifies too, or zeep would not read it
        service.GetBalance(book.code, "nowhere")
    assert fault_detail(fault.value)["code"] == "AccountNotFound"


@pytest.mark.parametrize("version", VERSIONS)
def test_zeep_refuses_an_answer_signed_by_anyone_but_the_service(signing_server, integrator, stranger, book, version):
    service = signing_client(signing_server, version, zeep_wsse(integrator, stranger.certificate_path)).service
    with pytest.raises(SignatureVerificationFailed):
        service.GetBalance(book.code, "cash")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_subject_key_identifier_names_the_registered_certificate(signing_server, integrator, service_certificate,
                                                                  book, version):
    answer = post_raw(signing_server, signed(version, get_balance(book.code), integrator, key_info="ski"), version)
    assert answer.status_code == 200, answer.text
    assert body_of(verified(answer, service_certificate)).find(f"{{{TNS}}}GetBalanceResponse") is not None


# --- refused ---

def wrapped(document: bytes) -> bytes:
    """The signed Body moved into a header block, and another Body in its place, asking for another account."""
    root = etree.fromstring(document)
    original = body_of(root)
    etree.SubElement(root[0], "{urn:example:wrapper}Wrapper").append(original)
    root.append(etree.fromstring(etree.tostring(original).replace(b">cash<", b">sales<")))
    del root[-1].attrib[WSU_ID]
    return etree.tostring(root)


REFUSED = {
    "another key": lambda v, b, signer, other: zeep_signed(v, b, signer, key=other),
    "an unregistered certificate": lambda v, b, signer, other: zeep_signed(v, b, other),
    "the Body changed after signing": lambda v, b, signer, other: zeep_signed(v, b, signer).replace(
        b">cash<", b">sales<"),
    "the signed Body moved into a header": lambda v, b, signer, other: wrapped(zeep_signed(v, b, signer)),
    "an expired Timestamp": lambda v, b, signer, other: signed(v, b, signer, created=utc_now() - 6 * MINUTE),
    "a Timestamp in the future": lambda v, b, signer, other: signed(v, b, signer, created=utc_now() + 2 * MINUTE),
    "no Timestamp": lambda v, b, signer, other: signed(v, b, signer, timestamp=False, covering=("body",)),
    "the Timestamp not signed": lambda v, b, signer, other: signed(v, b, signer, covering=("body",)),
    "the Body not signed": lambda v, b, signer, other: signed(v, b, signer, covering=("timestamp",)),
    "a reference outside the envelope": lambda v, b, signer, other: signed(v, b, signer, uri=""),
    "RSA-SHA1, zeep's default": lambda v, b, signer, other: zeep_signed(
        v, b, signer, signature_method=xmlsec.Transform.RSA_SHA1, digest_method=xmlsec.Transform.SHA1),
}


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("version", VERSIONS)
def test_a_signature_that_is_wrong_in_any_way_is_authentication_failed(signing_server, integrator, stranger,
                                                                       service_certificate, book, version, case):
    request = REFUSED[case](version, get_balance(book.code), integrator, stranger)
    answer = post_raw(signing_server, request, version)
    assert fault_code(answer) == "AuthenticationFailed", answer.text
    verified(answer, service_certificate)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_signed_request_counts_once_however_many_workers_it_reaches(signing_server, integrator, book, version):
    request = zeep_signed(version, get_balance(book.code), integrator)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post_raw(signing_server, request, version), range(12)))
    assert sorted(answer.status_code for answer in answers) == [200] + [500] * 11
    assert {fault_code(answer) for answer in answers if answer.status_code == 500} == {"AuthenticationFailed"}
    assert fault_code(post_raw(signing_server, request, version)) == "AuthenticationFailed"
    # the same content signed again is another signature: accepted
    assert post_raw(signing_server, zeep_signed(version, get_balance(book.code), integrator),
                    version).status_code == 200


# --- every answer signed ---

@pytest.mark.parametrize("version", VERSIONS)
def test_every_answer_is_signed_faults_and_unsigned_requests_included(signing_server, service_certificate, stranger,
                                                                     book, version):
    password = post_raw(signing_server, envelope(version, get_balance(book.code)), version)
    assert password.status_code == 200
    assert body_of(verified(password, service_certificate)).find(f"{{{TNS}}}GetBalanceResponse") is not None
    not_xml = requests.post(signing_server.endpoint(version), data=b"<oops", timeout=60,
                            headers={"Content-Type": CONTENT_TYPE[version]})
    assert fault_code(not_xml) == "MalformedRequest"
    mandatory = post_raw(signing_server, envelope(version, get_balance(book.code), header_extra=(
        '<x:Trace xmlns:x="urn:example:trace" env:mustUnderstand="1"/>')), version)
    assert fault_code(mandatory) == "MalformedRequest"
    for answer in (not_xml, mandatory):
        verified(answer, service_certificate)
    with pytest.raises(SignatureVerificationFailed):
        verified(password, stranger)


# --- the service's own key ---

def _encrypted_copy(issued: Issued, directory) -> str:
    path = directory / "encrypted.key"
    path.write_bytes(issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(b"secret")))
    return str(path)


@pytest.mark.parametrize("case", ["key only", "certificate only", "unreadable key", "another key's certificate",
                                  "encrypted key", "EC key", "not a certificate"])
def test_a_signing_identity_that_cannot_sign_stops_the_service(authority, service_certificate, stranger, tmp_path,
                                                               case):
    env = signing_env(service_certificate)
    ec = authority.issue("ec service", ExtendedKeyUsageOID.SERVER_AUTH, key_type="ec") if case == "EC key" else None
    changes = {
        "key only": {"LEDGER_SIGNING_CERTIFICATE": ""},
        "certificate only": {"LEDGER_SIGNING_KEY": ""},
        "unreadable key": {"LEDGER_SIGNING_KEY": str(tmp_path / "missing.key")},
        "another key's certificate": {"LEDGER_SIGNING_CERTIFICATE": str(stranger.certificate_path)},
        "encrypted key": {"LEDGER_SIGNING_KEY": _encrypted_copy(service_certificate, tmp_path)},
        "EC key": ec and {"LEDGER_SIGNING_KEY": str(ec.key_path), "LEDGER_SIGNING_CERTIFICATE": str(ec.certificate_path)},
        "not a certificate": {"LEDGER_SIGNING_CERTIFICATE": str(service_certificate.key_path)},
    }[case]
    assert_refused_to_start(SERVE, tmp_path, {**env, **changes}, "LEDGER_SIGNING_")

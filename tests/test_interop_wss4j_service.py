"""Java integrators who sign with Apache WSS4J, against the service (docs/integrators.md, "Java with
WSS4J"): a request the harness of tests/interop/wss4j signs as Apache CXF does is accepted as the client
registered with that certificate, on SOAP 1.1 and 1.2, with the key from PEM files and from PKCS#12; the
service's signed answers, a fault too, verify with the harness's WSS4J verifier and the service's
certificate. Changed after signing, or signed by an unregistered certificate, the request is refused with
AuthenticationFailed (the harness itself is proved against xmlsec1 in test_interop_wss4j.py)."""
from __future__ import annotations

import pytest
from lxml import etree

from conftest import SOAP_ENV, TNS, envelope, post_raw, unique
from signing import authority, get_balance, registered, service_certificate, signing_server  # noqa: F401
from wss4j import compiled_harness

pytestmark = pytest.mark.interop

VERSIONS = ["11", "12"]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    return compiled_harness(tmp_path_factory.mktemp("wss4j-classes"))


@pytest.fixture(scope="module")
def book(signing_server):
    return signing_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))


@pytest.fixture(scope="module")
def integrator(signing_server, authority, book):
    """A client registered with its certificate alone, which must sign, reading the book."""
    return registered(signing_server, authority.client(unique("integrator")), "--require-signature",
                      "--grant", f"{book.code}:reader")


def signed_request(harness, directory, version: str, body: str, signer, key_form: str = "pem") -> bytes:
    unsigned = directory / "request.xml"
    unsigned.write_bytes(envelope(version, body, username=None))
    return harness.sign(unsigned, directory / "signed.xml", signer, key_form).read_bytes()


def verified_answer(harness, directory, answer: bytes, service_certificate) -> str:
    path = directory / "answer.xml"
    path.write_bytes(answer)
    return harness.verify(path, service_certificate.certificate_path)


def fault_code(body: bytes) -> str | None:
    return etree.fromstring(body).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


@pytest.mark.parametrize("key_form", ["pem", "pkcs12"])
@pytest.mark.parametrize("version", VERSIONS)
def test_a_request_wss4j_signs_is_accepted_and_the_signed_answer_verifies_with_wss4j(
        signing_server, harness, integrator, service_certificate, book, tmp_path, version, key_form):
    book.post("WSS4J-1", [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")])
    request = signed_request(harness, tmp_path, version, get_balance(book.code, "cash"), integrator, key_form)
    answer = post_raw(signing_server, request, version)
    assert answer.status_code == 200, answer.text
    balance = etree.fromstring(answer.content).find(f"{{{SOAP_ENV[version]}}}Body/{{{TNS}}}GetBalanceResponse")
    assert balance is not None, answer.text
    assert verified_answer(harness, tmp_path, answer.content, service_certificate) == "OK"
    # a fault is signed too
    request = signed_request(harness, tmp_path, version, get_balance(book.code, "nowhere"), integrator, key_form)
    answer = post_raw(signing_server, request, version)
    assert fault_code(answer.content) == "AccountNotFound"
    assert verified_answer(harness, tmp_path, answer.content, service_certificate) == "OK"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_wss4j_request_changed_or_signed_by_a_stranger_is_refused(signing_server, harness, integrator, authority,
                                                                    book, tmp_path, version):
    request = signed_request(harness, tmp_path, version, get_balance(book.code, "cash"), integrator)
    changed = request.replace(b"<l:account>cash</l:account>", b"<l:account>sales</l:account>")
    assert changed != request
    assert fault_code(post_raw(signing_server, changed, version).content) == "AuthenticationFailed"
    stranger = authority.client(unique("stranger"))  # never registered
    request = signed_request(harness, tmp_path, version, get_balance(book.code, "cash"), stranger)
    assert fault_code(post_raw(signing_server, request, version).content) == "AuthenticationFailed"

"""The xmlsec1 command-line tool (Debian's xmlsec1, libxmlsec1 on OpenSSL) against the service
(docs/integrators.md, "Signing with xmlsec1"): xmlsec1 verifies the service's signed answers, a fault's too,
with the service's certificate, and not with another or once changed; and a request template xmlsec1 signs
with a registered client's key (tests/xmlsec_cli.py) is accepted as that client on SOAP 1.1 and 1.2, and
refused with AuthenticationFailed changed after signing or signed with an unregistered certificate's key."""
from __future__ import annotations

import pytest
from lxml import etree

import xmlsec_cli
from conftest import SOAP_ENV, TNS, envelope, post_raw, require_tools, unique
from signing import (assert_covers_body_and_timestamp, authority, get_balance, registered,  # noqa: F401
                     service_certificate, signing_server)

pytestmark = pytest.mark.interop

VERSIONS = ["11", "12"]


@pytest.fixture(scope="module", autouse=True)
def tool():
    require_tools("xmlsec1", packages="xmlsec1")


@pytest.fixture(scope="module")
def book(signing_server):
    book = signing_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    book.post("XMLSEC1-1", [("cash", "DEBIT", "7.00"), ("sales", "CREDIT", "7.00")])
    return book


@pytest.fixture(scope="module")
def integrator(signing_server, authority, book):
    return registered(signing_server, authority.client(unique("integrator")), "--grant", f"{book.code}:reader")


def fault_code(answer) -> str | None:
    return etree.fromstring(answer.content).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


def checked_by_xmlsec1(directory, document: bytes, certificate) -> int:
    path = directory / "answer.xml"
    path.write_bytes(document)
    return xmlsec_cli.verify(path, certificate.certificate_path).returncode


@pytest.mark.parametrize("version", VERSIONS)
def test_xmlsec1_verifies_the_signed_answers(signing_server, service_certificate, authority, book, tmp_path, version):
    someone_else = authority.client(unique("someone-else"))
    for account, status in (("cash", 200), ("nowhere", 500)):
        answer = post_raw(signing_server, envelope(version, get_balance(book.code, account)), version)
        assert answer.status_code == status, answer.text
        assert checked_by_xmlsec1(tmp_path, answer.content, service_certificate) == 0
        assert_covers_body_and_timestamp(etree.fromstring(answer.content))
        assert checked_by_xmlsec1(tmp_path, answer.content, someone_else) != 0
        changed = answer.content.replace(b"USD", b"EUR") if status == 200 else \
            answer.content.replace(b"AccountNotFound", b"BookNotFound")
        assert changed != answer.content
        assert checked_by_xmlsec1(tmp_path, changed, service_certificate) != 0


def signed_by_xmlsec1(directory, version: str, body: str, signer) -> bytes:
    template = directory / "template.xml"
    template.write_bytes(xmlsec_cli.signature_template(version, body, signer))
    signed = directory / "signed.xml"
    result = xmlsec_cli.sign(template, signer, signed)
    assert result.returncode == 0, result.stderr
    return signed.read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_request_xmlsec1_signs_is_accepted_as_the_registered_client(signing_server, integrator, book, tmp_path,
                                                                      version):
    answer = post_raw(signing_server, signed_by_xmlsec1(tmp_path, version, get_balance(book.code), integrator), version)
    assert answer.status_code == 200, answer.text
    balance = etree.fromstring(answer.content).find(f"{{{SOAP_ENV[version]}}}Body/{{{TNS}}}GetBalanceResponse")
    assert balance.findtext(f"{{{TNS}}}balance/{{{TNS}}}balance") == "7.00"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_request_xmlsec1_signs_is_refused_changed_or_by_a_stranger(signing_server, integrator, authority, book,
                                                                     tmp_path, version):
    request = signed_by_xmlsec1(tmp_path, version, get_balance(book.code), integrator)
    changed = request.replace(b">cash<", b">sales<")
    assert changed != request
    assert fault_code(post_raw(signing_server, changed, version)) == "AuthenticationFailed"
    stranger = authority.client(unique("stranger"))
    request = signed_by_xmlsec1(tmp_path, version, get_balance(book.code), stranger)
    assert fault_code(post_raw(signing_server, request, version)) == "AuthenticationFailed"

"""The client package signing its requests and checking the service's signed answers (clients/README.md, "Signed
requests"; ledger_client/signing.py), against a live service that signs (LEDGER_SIGNING_KEY): a client registered
with its certificate alone, that requires signatures, reads and posts with `LedgerClient` on SOAP 1.1 and 1.2, its
answers and faults verified with the service's certificate; a client with a password signs beside its
UsernameToken; an answer signed by another certificate, or not signed at all, is `AnswerNotVerified`, as is a real
signed answer changed, wrapped, expired or not covering its Timestamp; and `ledger-client` reads the same settings
from its environment and its config file. (Mutual TLS: test_mutual_tls_client.py.)"""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from lxml import etree

from certificates import Issued
from conftest import ADMIN, ADMIN_PASSWORD, cli, envelope, post_raw, unique
from ledger_client import (AccountNotFound, AnswerNotVerified, AuthenticationFailed, EntryInput, LedgerClient, LineInput,
                           ReferenceConflict, Side)
from ledger_client.signing import AnswerVerification
from signing import (WSU_ID, authority, body_of, get_balance, registered, service_certificate,  # noqa: F401
                     signed, signing_server, utc_now)
from test_client import ledger_client_command

VERSIONS = [11, 12]


@pytest.fixture(scope="module")
def book(signing_server) -> str:
    return signing_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD")).code


@pytest.fixture(scope="module")
def strict(signing_server, authority, book) -> Issued:
    """A client registered with its certificate alone, whose requests must be signed, posting to the book."""
    return registered(signing_server, authority.client(unique("erp")), "--require-signature", "--grant",
                      f"{book}:poster")


@pytest.fixture(scope="module")
def stranger(authority) -> Issued:
    return authority.client(unique("stranger"))


def signing_as(server, signer: Issued, service: Issued, version: int = 11, **options) -> LedgerClient:
    return LedgerClient(server.url, soap_version=version, signing_key=str(signer.key_path),
                        signing_certificate=str(signer.certificate_path),
                        service_certificate=str(service.certificate_path), **options)


def sale(reference: str, amount: str) -> EntryInput:
    return EntryInput(reference, date(2026, 1, 15), (LineInput("cash", Side.DEBIT, amount),
                                                     LineInput("sales", Side.CREDIT, amount)))


# --- signed requests, verified answers ---

@pytest.mark.parametrize("version", VERSIONS)
def test_a_certificate_only_client_posts_and_reads_with_signed_requests_and_verified_answers(
        signing_server, strict, service_certificate, book, version):
    with signing_as(signing_server, strict, service_certificate, version) as client:
        before = client.get_balance(book, "cash").balance
        posted = client.post_entry(book, sale(unique("SIGNED"), "12.50"))
        assert posted.reference.startswith("SIGNED")
        assert client.get_balance(book, "cash").balance == before + Decimal("12.50")
        with pytest.raises(AccountNotFound):  # a fault's answer is signed and verifies too
            client.get_balance(book, "nowhere")
        with pytest.raises(ReferenceConflict):
            client.post_entry(book, sale(posted.reference, "99.00"))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_with_a_password_signs_beside_its_username_token(signing_server, authority, service_certificate,
                                                                 book, version):
    signer = authority.client(unique("both"))
    added = cli("clients", "add", signer.certificate_path.stem, "--certificate", str(signer.certificate_path),
                "--password-stdin", "--grant", f"{book}:reader", env={"LEDGER_DATABASE_URL": signing_server.database_url},
                input="its password\n")
    assert added.returncode == 0, added.stderr
    with signing_as(signing_server, signer, service_certificate, version,
                    username=signer.certificate_path.stem, password="its password") as client:
        assert client.get_balance(book, "cash").currency == "USD"
    with signing_as(signing_server, signer, service_certificate, version,
                    username=signer.certificate_path.stem, password="not its password") as client:
        with pytest.raises(AuthenticationFailed):  # the UsernameToken is checked beside the signature
            client.get_balance(book, "cash")


# --- answers refused ---

@pytest.mark.parametrize("version", VERSIONS)
def test_an_answer_signed_by_another_certificate_is_refused_though_the_request_was_carried_out(
        signing_server, strict, stranger, service_certificate, book, version):
    reference = unique("UNVERIFIED")
    with signing_as(signing_server, strict, stranger, version) as misled:
        with pytest.raises(AnswerNotVerified, match="does not verify with the service's certificate"):
            misled.post_entry(book, sale(reference, "1.00"))
    with signing_as(signing_server, strict, service_certificate, version) as client:
        assert client.get_entry(book, reference).reference == reference  # posted once: never retried


@pytest.mark.parametrize("version", VERSIONS)
def test_an_unsigned_answer_is_refused(sqlite_server, service_certificate, version):
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD, soap_version=version,
                      service_certificate=str(service_certificate.certificate_path)) as client:
        with pytest.raises(AnswerNotVerified, match="not signed"):
            client.get_journal_head(unique("NONE"))


def signed_answer(server, book: str, version: str) -> bytes:
    answer = post_raw(server, envelope(version, get_balance(book)), version)
    assert answer.status_code == 200, answer.text
    return answer.content


def _wrapped(document: bytes, keep_id: bool) -> bytes:
    """The signed Body moved into a header block, another Body in its place (with the old id, or none)."""
    root = etree.fromstring(document)
    original = body_of(root)
    root[0].append(etree.Element("{urn:example:wrapper}Wrapper"))
    root[0][-1].append(original)
    forged = etree.SubElement(root, original.tag)
    forged.append(etree.fromstring(etree.tostring(original[0]).replace(b"USD", b"EUR")))
    if keep_id:
        forged.set(WSU_ID, original.get(WSU_ID))
    return etree.tostring(root)


def _unsigned(document: bytes) -> bytes:
    root = etree.fromstring(document)
    for signature in root.iter("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        signature.getparent().remove(signature)
    return etree.tostring(root)


# A real signed answer made wrong in each way, or signed with the service's key but wrongly; what the client says.
TAMPERED = {
    "the Body changed": (lambda answer, service: answer.replace(b"USD", b"EUR"), "does not verify"),
    "the Body wrapped, without its id": (lambda answer, service: _wrapped(answer, False), "does not cover"),
    "the Body wrapped, with its id": (lambda answer, service: _wrapped(answer, True), "twice"),
    "the signature removed": (lambda answer, service: _unsigned(answer), "not signed"),
    "expired": (lambda answer, service: signed("11", "<l:answer/>", service,
                                               created=utc_now() - timedelta(minutes=7)), "expired"),
    "the Timestamp not signed": (lambda answer, service: signed("11", "<l:answer/>", service, covering=("body",)),
                                 "does not cover"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_signed_answer_made_wrong_is_refused(signing_server, service_certificate, book, case):
    verification = AnswerVerification(service_certificate.certificate_path)
    answer = signed_answer(signing_server, book, "11")
    verification.verify(etree.fromstring(answer))  # as it came, and signed anew now: both verify
    verification.verify(etree.fromstring(signed("11", "<l:answer/>", service_certificate)))
    change, said = TAMPERED[case]
    with pytest.raises(AnswerNotVerified, match=said):
        verification.verify(etree.fromstring(change(answer, service_certificate)))


def test_what_a_client_is_given_must_make_sense(service_certificate, tmp_path):
    url = "http://127.0.0.1:1"
    for missing in ({}, {"username": "erp"}, {"signing_key": str(service_certificate.key_path)},
                    {"signing_certificate": str(service_certificate.certificate_path), "username": "erp",
                     "password": "x"}):
        with pytest.raises(ValueError):
            LedgerClient(url, **missing)
    with pytest.raises(ValueError, match="not a PEM certificate"):
        LedgerClient(url, ADMIN, ADMIN_PASSWORD, service_certificate=str(service_certificate.key_path))
    with pytest.raises(ValueError, match="cannot read the signing key"):
        LedgerClient(url, signing_key=str(tmp_path / "missing.key"),
                     signing_certificate=str(service_certificate.certificate_path))


# --- the command ---

def test_the_command_signs_with_the_files_its_environment_or_config_names(signing_server, strict, stranger,
                                                                         service_certificate, book, tmp_path):
    settings = {"LEDGER_CLIENT_URL": signing_server.url, "LEDGER_CLIENT_SIGNING_KEY": str(strict.key_path),
                "LEDGER_CLIENT_SIGNING_CERTIFICATE": str(strict.certificate_path),
                "LEDGER_CLIENT_SERVICE_CERTIFICATE": str(service_certificate.certificate_path),
                "LEDGER_CLIENT_SOAP_VERSION": "12"}
    reference = unique("CLI-SIGNED")
    posted = ledger_client_command("post", book, "--reference", reference, "--date", "2026-02-01", "cash:DEBIT:3.00",
                                   "sales:CREDIT:3.00", "--format", "json", env=settings)
    assert posted.returncode == 0, posted.stderr
    assert json.loads(posted.stdout)["reference"] == reference
    misled = ledger_client_command("balance", book, "cash", env={
        **settings, "LEDGER_CLIENT_SERVICE_CERTIFICATE": str(stranger.certificate_path)})
    assert misled.returncode == 5 and "not the service's answer" in misled.stderr, misled.stderr
    unsigned = ledger_client_command("balance", book, "cash", env={"LEDGER_CLIENT_URL": signing_server.url})
    assert unsigned.returncode == 2 and "LEDGER_CLIENT_USERNAME" in unsigned.stderr

    config = tmp_path / "client.ini"
    config.write_text("[ledger]\n" + "".join(f"{key.removeprefix('LEDGER_CLIENT_').lower()} = {value}\n"
                                             for key, value in settings.items()))
    balance = ledger_client_command("balance", book, "cash", "--format", "json",
                                    env={"LEDGER_CLIENT_CONFIG": str(config)})
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["account"] == "cash" and balance.stderr == ""

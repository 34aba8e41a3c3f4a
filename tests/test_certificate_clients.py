"""Clients registered with X.509 certificates, as the service layer authenticates them
(docs/contract.md#security), on both databases, with a clock of the test's own: the certificate a trusted
proxy forwarded for mutual TLS, or the one whose key signed the request (`RequestContext.signed_by`, set
once the signature verified), authenticates as the client registered with it, while it is valid; every
identity a request carries must name the same client; a client that requires a signature is refused
without its certificate's; failures by certificate spend the failed-login budget; and a signature's key
reference finds the registered certificate by fingerprint, issuer and serial number, or key identifier.
Over HTTP, through nginx: test_mutual_tls_client.py."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

import pytest
from cryptography import x509

from certificates import CertificateAuthority, Issued, utc_now
from conftest import BACKENDS, database_url, unique
from ledger_service import admin
from ledger_service.adapters import page_tokens, password_digest
from ledger_service.adapters.certificates import registered
from ledger_service.adapters.database import Database
from ledger_service.adapters.passwords import PasswordHashes
from ledger_service.domain.accounts import AccountType, Side
from ledger_service.domain.entries import EntryInput, LineInput
from ledger_service.domain.errors import LedgerError
from ledger_service.domain.rate_limits import RateLimit
from ledger_service.service_layer.context import ClientCertificate, Credentials, RequestContext
from ledger_service.service_layer.failed_logins import FailedLoginBudget
from ledger_service.service_layer.ledger import Ledger

ALICE_PASSWORD = "alice's password"


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("authority"))


@dataclass
class World:
    """A database with two system administrators: alice, with a password and a certificate, and bob,
    with a certificate only, who requires signed requests; a certificate registered to no one; and the
    service layer on that database, its clock at `now`."""

    database: Database
    alice: Issued
    bob: Issued
    stranger: Issued
    now: datetime.datetime
    failed_logins: FailedLoginBudget = FailedLoginBudget()

    def ledger(self) -> Ledger:
        return Ledger(self.database, passwords=PasswordHashes(), digests=password_digest, page_tokens=page_tokens,
                      failed_logins=self.failed_logins, clock=lambda: self.now)

    def request(self, password: str | None = None, mutual_tls: Issued | None = None, signer: Issued | None = None,
                username: str = "alice") -> RequestContext:
        return RequestContext(Credentials(username, password) if password is not None else None, unique("request"),
                              "192.0.2.7", ClientCertificate(mutual_tls.der) if mutual_tls else None,
                              ClientCertificate(signer.der) if signer else None)

    def create_book(self, request: RequestContext) -> str:
        """What creating a book with `request` comes to: "ok", or the code of the fault."""
        try:
            self.ledger().books.create_book(request, unique("C"), "By certificate")
        except LedgerError as error:
            return error.code.value
        return "ok"


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path_factory, authority) -> World:
    database = Database(database_url(request.param, request, tmp_path_factory))
    request.addfinalizer(database.dispose)
    database.migrate()
    alice, bob, stranger = (authority.client(unique(name)) for name in ("alice", "bob", "stranger"))
    admin.add_client(database, "alice", ALICE_PASSWORD, True, [], certificate=registered(alice.der))
    admin.add_client(database, "bob", None, True, [], certificate=registered(bob.der), require_signature=True)
    return World(database, alice, bob, stranger, utc_now())


def test_a_certificate_authenticates_as_its_client_and_writes_in_its_name(world):
    ledger = world.ledger()
    for identity in ({"signer": world.alice}, {"mutual_tls": world.alice}):
        request = world.request(**identity)
        book = ledger.books.create_book(request, unique("C"), "By certificate").code
        for code, type in (("cash", AccountType.ASSET), ("sales", AccountType.INCOME)):
            ledger.accounts.open_account(request, book, code, code, type, "EUR")
        ledger.entries.post_entry(request, book, EntryInput("SALE", datetime.date(2026, 3, 1), (
            LineInput("cash", Side.DEBIT, Decimal("5")), LineInput("sales", Side.CREDIT, Decimal("5")))))
        audit = ledger.entries.get_entry_audit(world.request(ALICE_PASSWORD), book, "SALE")
        assert (audit.posted_by, audit.request_id) == ("alice", request.request_id)


IDENTITIES: dict[str, tuple[Callable[[World], RequestContext], str]] = {
    "password": (lambda w: w.request(ALICE_PASSWORD), "ok"),
    "password and its mutual TLS": (lambda w: w.request(ALICE_PASSWORD, mutual_tls=w.alice), "ok"),
    "password and its signature": (lambda w: w.request(ALICE_PASSWORD, signer=w.alice), "ok"),
    "mutual TLS and its signature": (lambda w: w.request(mutual_tls=w.alice, signer=w.alice), "ok"),
    "password and another's certificates": (lambda w: w.request(ALICE_PASSWORD, mutual_tls=w.bob, signer=w.bob),
                                            "fail"),
    "password and another's mutual TLS": (lambda w: w.request(ALICE_PASSWORD, mutual_tls=w.bob), "fail"),
    "password and another's signature": (lambda w: w.request(ALICE_PASSWORD, signer=w.bob), "fail"),
    "mutual TLS and another's signature": (lambda w: w.request(mutual_tls=w.alice, signer=w.bob), "fail"),
    "another's mutual TLS and a signature": (lambda w: w.request(mutual_tls=w.bob, signer=w.alice), "fail"),
    "password and an unregistered mutual TLS": (lambda w: w.request(ALICE_PASSWORD, mutual_tls=w.stranger), "fail"),
    "an unregistered signature": (lambda w: w.request(signer=w.stranger), "fail"),
    "an unregistered mutual TLS": (lambda w: w.request(mutual_tls=w.stranger), "fail"),
    "a wrong password and its signature": (lambda w: w.request("wrong", signer=w.alice), "fail"),
    "nothing": (lambda w: w.request(), "fail"),
}


@pytest.mark.parametrize("case", IDENTITIES)
def test_every_identity_a_request_carries_must_name_the_same_client(world, case):
    identities, outcome = IDENTITIES[case]
    assert world.create_book(identities(world)) == ("ok" if outcome == "ok" else "AuthenticationFailed")


def test_a_client_that_requires_a_signature_is_refused_without_its_certificates(world):
    # bob, who has no password, requires one
    assert world.create_book(world.request(mutual_tls=world.bob)) == "AuthenticationFailed"
    assert world.create_book(world.request(signer=world.bob)) == "ok"
    assert world.create_book(world.request(mutual_tls=world.bob, signer=world.bob)) == "ok"
    # alice from now on: her password, or her certificate at the TLS peer, is not enough
    admin.require_signature(world.database, "alice", True)
    assert world.create_book(world.request(ALICE_PASSWORD)) == "AuthenticationFailed"
    assert world.create_book(world.request(ALICE_PASSWORD, mutual_tls=world.alice)) == "AuthenticationFailed"
    assert world.create_book(world.request(ALICE_PASSWORD, signer=world.alice)) == "ok"
    assert world.create_book(world.request(signer=world.alice)) == "ok"
    admin.require_signature(world.database, "alice", False)
    assert world.create_book(world.request(ALICE_PASSWORD)) == "ok"


def test_a_certificate_authenticates_only_while_it_is_valid(world):
    validity = world.alice.certificate
    for moment, outcome in ((validity.not_valid_before_utc - datetime.timedelta(seconds=1), "AuthenticationFailed"),
                            (validity.not_valid_before_utc, "ok"), (validity.not_valid_after_utc, "ok"),
                            (validity.not_valid_after_utc + datetime.timedelta(seconds=1), "AuthenticationFailed")):
        world.now = moment
        assert world.create_book(world.request(signer=world.alice)) == outcome, moment
        assert world.create_book(world.request(ALICE_PASSWORD, mutual_tls=world.alice)) == outcome, moment
        assert world.create_book(world.request(ALICE_PASSWORD)) == "ok"  # the password is no certificate


def test_a_disabled_client_is_refused_whatever_its_certificate_proves(world):
    admin.disable_client(world.database, "bob")
    assert world.create_book(world.request(signer=world.bob)) == "AuthenticationFailed"


def test_a_replaced_or_removed_certificate_authenticates_no_more(world, authority):
    renewed = authority.client(unique("alice"))
    admin.register_certificate(world.database, "alice", registered(renewed.der))
    assert world.create_book(world.request(signer=world.alice)) == "AuthenticationFailed"
    assert world.create_book(world.request(signer=renewed)) == "ok"
    admin.register_certificate(world.database, "alice", None)
    assert world.create_book(world.request(signer=renewed)) == "AuthenticationFailed"
    assert world.create_book(world.request(ALICE_PASSWORD, mutual_tls=renewed)) == "AuthenticationFailed"
    assert world.create_book(world.request(ALICE_PASSWORD)) == "ok"


def test_failures_by_certificate_spend_the_certificates_and_the_addresss_budget(world, authority):
    """Two failures a certificate, four an address: the third failure with one unregistered certificate is
    refused before anything is looked at, and once the address has failed four times, so is alice's
    own certificate from there."""
    world.failed_logins = FailedLoginBudget(per_username=RateLimit(1, 2), per_address=RateLimit(1, 4))
    assert [world.create_book(world.request(signer=world.stranger)) for _ in range(3)] == \
        ["AuthenticationFailed", "AuthenticationFailed", "RateLimited"]
    other = authority.client(unique("other"))
    assert [world.create_book(world.request(mutual_tls=other)) for _ in range(2)] == \
        ["AuthenticationFailed", "AuthenticationFailed"]
    assert world.create_book(world.request(signer=world.alice)) == "RateLimited"
    world.now += datetime.timedelta(minutes=1)  # a failure's worth refilled
    assert world.create_book(world.request(signer=world.alice)) == "ok"


def test_a_rate_limited_client_spends_its_tokens_by_certificate_too(world, authority):
    limited = authority.client(unique("limited"))
    admin.add_client(world.database, "limited", None, True, [], certificate=registered(limited.der),
                     rate_limit=RateLimit(1, 1))
    assert [world.create_book(world.request(mutual_tls=limited)) for _ in range(2)] == ["ok", "RateLimited"]


def test_a_key_reference_finds_the_registered_certificate(world, authority):
    certificates = world.ledger().certificates
    alice = world.alice.certificate
    issuer = alice.issuer.rfc4514_string()
    method_1 = alice.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    for found in (certificates.by_sha256(world.alice.sha256), certificates.by_sha256(world.alice.sha256.upper()),
                  certificates.by_issuer_serial(issuer, alice.serial_number),
                  certificates.by_subject_key_identifier(method_1)):
        assert found == ClientCertificate(world.alice.der)
    assert certificates.by_sha256(world.stranger.sha256) is None
    assert certificates.by_issuer_serial(issuer, world.stranger.certificate.serial_number) is None
    assert certificates.by_issuer_serial("CN=someone else", alice.serial_number) is None
    assert certificates.by_issuer_serial("not a name", alice.serial_number) is None
    # the extension's value where there is one; RFC 5280's method 1 where there is none
    chosen = authority.client(unique("chosen"), key_identifier=b"chosen by the CA")
    bare = authority.client(unique("bare"), key_identifier=False)
    for name, issued in (("chosen", chosen), ("bare", bare)):
        admin.add_client(world.database, name, None, False, [], certificate=registered(issued.der))
    assert certificates.by_subject_key_identifier(b"chosen by the CA") == ClientCertificate(chosen.der)
    derived = x509.SubjectKeyIdentifier.from_public_key
    assert certificates.by_subject_key_identifier(derived(chosen.certificate.public_key()).digest) is None
    assert certificates.by_subject_key_identifier(derived(bare.certificate.public_key()).digest) == \
        ClientCertificate(bare.der)

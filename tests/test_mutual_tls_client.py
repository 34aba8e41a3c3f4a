"""Mutual TLS authenticates (docs/operations.md, "Mutual TLS"): a request through
deploy/nginx/soap-ledger-mtls.conf that carries no credentials but the certificate nginx verified runs as
the client registered with that certificate (`clients add --certificate`); a certificate the clients' CA
issued to no registered client, a certificate replaced by another, a disabled client's, or one that names
another client than the request's UsernameToken is AuthenticationFailed, from the service; and a client
that requires signed requests gets AuthenticationFailed for its password and certificate alone. The client
package presents a certificate too (`LedgerClient(client_certificate=…)`, the command's LEDGER_CLIENT_TLS_*). (The
rules themselves, signatures included: test_certificate_clients.py.)"""
from __future__ import annotations

import json

import pytest
import requests

from certificates import Issued
from conftest import cli, envelope, post_raw, unique
from ledger_client import AuthenticationFailed, LedgerClient
from test_client import ledger_client_command
from test_mutual_tls import VERSIONS, authorities, certificate_server, fault, mutual_tls, through  # noqa: F401

pytestmark = pytest.mark.interop

PASSWORD = "a client's password"


def balance_request(book: str, version: str, username: str | None = None) -> bytes:
    return envelope(version, f"<l:GetBalance><l:book>{book}</l:book><l:account>cash</l:account></l:GetBalance>",
                    username=username, password=PASSWORD)


def registered_client(server, authorities, book: str, *options: str) -> Issued:
    """A new client with a certificate from the clients' CA, registered with it, the password PASSWORD,
    and the reader role on `book`; its name is the certificate file's stem."""
    issued = authorities.clients.client(unique("client"))
    added = cli("clients", "add", issued.certificate_path.stem, "--certificate", str(issued.certificate_path),
                "--password-stdin", "--grant", f"{book}:reader", *options,
                env={"LEDGER_DATABASE_URL": server.database_url}, input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    return issued


def refused(answer, version: str) -> bool:
    """Whether the service answered AuthenticationFailed, in the SOAP version of the request."""
    return answer.status_code == 500 and fault(answer.content, version) == ("AuthenticationFailed",
                                                                            "authentication failed")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_certificate_nginx_verified_authenticates_as_its_client(certificate_server, mutual_tls, authorities,
                                                                     version):
    book = certificate_server.new_book(cash=("ASSET", "USD"))
    registered = authorities.clients.client(unique("registered"))
    added = cli("clients", "add", registered.certificate_path.stem, "--certificate", str(registered.certificate_path),
                "--grant", f"{book.code}:reader", env={"LEDGER_DATABASE_URL": certificate_server.database_url})
    assert added.returncode == 0, added.stderr
    balance = balance_request(book.code, version)
    answer, request_id = through(mutual_tls, authorities, version, registered, request=balance)
    assert answer.status_code == 200, answer.text
    line = certificate_server.request_log_line(request_id)
    assert (line["operation"], line["certificate"]) == ("GetBalance", registered.sha256)
    unregistered = authorities.clients.client(unique("unregistered"))
    answer, _ = through(mutual_tls, authorities, version, unregistered, request=balance)
    assert refused(answer, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_certificate_and_the_username_token_must_name_the_same_client(certificate_server, mutual_tls,
                                                                          authorities, version):
    book = certificate_server.new_book(cash=("ASSET", "USD")).code
    mine, theirs = (registered_client(certificate_server, authorities, book) for _ in range(2))
    answer, _ = through(mutual_tls, authorities, version, mine,
                        request=balance_request(book, version, mine.certificate_path.stem))
    assert answer.status_code == 200, answer.text
    answer, _ = through(mutual_tls, authorities, version, mine,
                        request=balance_request(book, version, theirs.certificate_path.stem))
    assert refused(answer, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_client_that_requires_a_signature_is_refused_its_password_and_certificate(certificate_server, mutual_tls,
                                                                                    authorities, version):
    book = certificate_server.new_book(cash=("ASSET", "USD")).code
    strict = registered_client(certificate_server, authorities, book, "--require-signature")
    with_password = balance_request(book, version, strict.certificate_path.stem)
    assert refused(post_raw(certificate_server, with_password, version), version)  # the right password, straight in
    answer, _ = through(mutual_tls, authorities, version, strict, request=with_password)
    assert refused(answer, version)
    answer, _ = through(mutual_tls, authorities, version, strict, request=balance_request(book, version))
    assert refused(answer, version)
    lifted = cli("clients", "require-signature", strict.certificate_path.stem, "--off",
                 env={"LEDGER_DATABASE_URL": certificate_server.database_url})
    assert lifted.returncode == 0, lifted.stderr
    assert post_raw(certificate_server, with_password, version).status_code == 200


@pytest.mark.parametrize("version", VERSIONS)
def test_a_replaced_certificate_or_a_disabled_client_is_refused(certificate_server, mutual_tls, authorities, version):
    book = certificate_server.new_book(cash=("ASSET", "USD")).code
    old = registered_client(certificate_server, authorities, book)
    name, env = old.certificate_path.stem, {"LEDGER_DATABASE_URL": certificate_server.database_url}
    renewed = authorities.clients.client(unique("renewed"))
    replaced = cli("clients", "certificate", name, str(renewed.certificate_path), env=env)
    assert replaced.returncode == 0, replaced.stderr
    answer, _ = through(mutual_tls, authorities, version, old, request=balance_request(book, version))
    assert refused(answer, version)
    answer, _ = through(mutual_tls, authorities, version, renewed, request=balance_request(book, version))
    assert answer.status_code == 200, answer.text
    assert cli("clients", "disable", name, env=env).returncode == 0
    answer, _ = through(mutual_tls, authorities, version, renewed, request=balance_request(book, version))
    assert refused(answer, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_ledger_client_presents_its_certificate_and_runs_as_its_client(certificate_server, mutual_tls, authorities,
                                                                       version, monkeypatch):
    # The CA given as `verify` is trusted even where the environment names another (psf/requests#3829).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", requests.certs.where())
    book = certificate_server.new_book(cash=("ASSET", "USD")).code
    mine = registered_client(certificate_server, authorities, book)
    tls = {"soap_version": int(version), "verify": str(authorities.servers.certificate_path)}
    with LedgerClient(mutual_tls.https, client_certificate=(str(mine.certificate_path), str(mine.key_path)),
                      **tls) as client:
        assert client.get_balance(book, "cash").currency == "USD"  # the book only its client may read
    unregistered = authorities.clients.client(unique("unregistered"))
    with LedgerClient(mutual_tls.https, client_certificate=(str(unregistered.certificate_path),
                                                            str(unregistered.key_path)), **tls) as client:
        with pytest.raises(AuthenticationFailed):
            client.get_balance(book, "cash")


def test_the_command_presents_the_certificate_its_environment_names(certificate_server, mutual_tls, authorities):
    book = certificate_server.new_book(cash=("ASSET", "USD")).code
    mine = registered_client(certificate_server, authorities, book)
    settings = {"LEDGER_CLIENT_URL": mutual_tls.https, "REQUESTS_CA_BUNDLE": str(authorities.servers.certificate_path),
                "LEDGER_CLIENT_TLS_CERTIFICATE": str(mine.certificate_path), "LEDGER_CLIENT_TLS_KEY": str(mine.key_path)}
    balance = ledger_client_command("balance", book, "cash", "--format", "json", env=settings)
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["currency"] == "USD"
    without = ledger_client_command("balance", book, "cash", env={**settings, "LEDGER_CLIENT_TLS_CERTIFICATE": "",
                                                                  "LEDGER_CLIENT_TLS_KEY": ""})
    assert without.returncode == 2 and "LEDGER_CLIENT_USERNAME" in without.stderr

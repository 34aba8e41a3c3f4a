"""WS-Security UsernameToken PasswordDigest, end to end: a live server holding LEDGER_SECRET_KEY, clients
added by the real `ledger-service clients add`, and zeep or raw envelopes on the wire.

A digest is accepted once: within five minutes of the server's clock, with a nonce no worker has seen.
Secrets are kept encrypted under the key and survive its rotation by `clients rekey`.
"""
from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from lxml import etree
from cryptography.fernet import Fernet
from sqlalchemy import select
from zeep import Client, Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import (BACKENDS, CONTENT_TYPE, MANY_FAILED_LOGINS, TNS, WSSE_NS, cli, envelope, fault_code, post_raw,
                      start_server, unique)
from ledger_service.adapters.orm import ClientRow
from ledger_service.adapters.password_digest import password_digest

WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
MESSAGE_SECURITY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0"
KEY = Fernet.generate_key().decode()


@pytest.fixture(scope="module")
def digest_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_SECRET_KEY": KEY})


def add_client(server, *grants: str, key: str | None = KEY, password: str | None = None) -> tuple[str, str]:
    """A client added by `ledger-service clients add`, with LEDGER_SECRET_KEY set to `key` (unset when None)."""
    name, password = unique("digest"), password or f"pw-{os.urandom(6).hex()}"
    env = {"LEDGER_DATABASE_URL": server.database_url, "LEDGER_SECRET_KEY": key or ""}
    arguments = [arg for grant in grants for arg in ("--grant", grant)]
    result = cli("clients", "add", name, "--password-stdin", *arguments, env=env, input=password + "\n")
    assert result.returncode == 0, result.stderr
    return name, password


def digest_client(server, username: str, password: str, version: str = "11", **token) -> Client:
    return Client(f"{server.endpoint(version)}?wsdl", transport=Transport(timeout=60, operation_timeout=60),
                  wsse=UsernameToken(username, password, use_digest=True, **token), settings=Settings(strict=True))


def digest_header(username: str, password: str, *, created: datetime | None = None, nonce: bytes | None = None,
                  digest_password: str | None = None, stamp: str | None = None) -> str:
    """A Security header with a valid PasswordDigest UsernameToken; `stamp`, when given, is its Created
    text as sent (and digested)."""
    nonce = nonce or os.urandom(16)
    stamp = stamp or (created or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = password_digest(nonce, stamp, digest_password or password)
    return (f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{username}</wsse:Username>"
            f'<wsse:Password Type="{TOKEN_PROFILE}#PasswordDigest">{digest}</wsse:Password>'
            f'<wsse:Nonce EncodingType="{MESSAGE_SECURITY}#Base64Binary">{base64.b64encode(nonce).decode()}'
            f"</wsse:Nonce><wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>")


def trial_balance(book: str, version: str, header: str) -> bytes:
    return envelope(version, f"<l:GetTrialBalance><l:book>{book}</l:book></l:GetTrialBalance>", username=None,
                    header_extra=header)


def outcome(response: requests.Response) -> str:
    """'ok', or the LedgerFault code of the response."""
    if response.status_code == 200:
        return "ok"
    assert response.status_code == 500, response.text
    return etree.fromstring(response.content).findtext(f".//{{{TNS}}}LedgerFault/{{{TNS}}}code")


@pytest.fixture(scope="module")
def book(digest_server):
    return digest_server.new_book(cash=("ASSET", "EUR"), sales=("INCOME", "EUR"))


@pytest.mark.parametrize("version", ["11", "12"])
def test_zeep_password_digest_makes_full_calls(digest_server, book, version):
    name, password = add_client(digest_server, f"{book.code}:poster")
    service = digest_client(digest_server, name, password, version).service
    reference = unique("R")
    entry = {"reference": reference, "effectiveDate": "2026-01-15",
             "lines": {"line": [{"account": "cash", "side": "DEBIT", "amount": "5.00"},
                                {"account": "sales", "side": "CREDIT", "amount": "5.00"}]}}
    assert service.PostEntry(book.code, entry).reference == reference
    assert service.GetEntry(book.code, reference).reference == reference


@pytest.mark.parametrize("version", ["11", "12"])
def test_a_replayed_envelope_is_refused(digest_server, book, version):
    name, password = add_client(digest_server, f"{book.code}:reader")
    document = trial_balance(book.code, version, digest_header(name, password))
    assert outcome(post_raw(digest_server, document, version)) == "ok"
    assert outcome(post_raw(digest_server, document, version)) == "AuthenticationFailed"
    # A fresh nonce is accepted again.
    assert outcome(post_raw(digest_server, trial_balance(book.code, version, digest_header(name, password)),
                            version)) == "ok"


@pytest.mark.parametrize("created", [timedelta(minutes=-6), timedelta(minutes=6)], ids=["stale", "future"])
def test_created_must_lie_within_five_minutes(digest_server, book, created):
    name, password = add_client(digest_server, f"{book.code}:reader")
    service = digest_client(digest_server, name, password, created=datetime.now(timezone.utc) + created).service
    assert fault_code(service.GetTrialBalance, book.code) == "AuthenticationFailed"
    in_window = digest_client(digest_server, name, password,
                              created=datetime.now(timezone.utc) - timedelta(minutes=4)).service
    in_window.GetTrialBalance(book.code)


def test_every_digest_failure_looks_the_same(digest_server, book):
    name, password = add_client(digest_server, f"{book.code}:reader")
    old = datetime.now(timezone.utc) - timedelta(minutes=6)
    spent = digest_header(name, password)
    assert outcome(post_raw(digest_server, trial_balance(book.code, "11", spent))) == "ok"
    attempts = {
        "wrong password": digest_header(name, password, digest_password=password + "x"),
        "unknown client": digest_header(unique("nobody"), password),
        "stale": digest_header(name, password, created=old),
        "replay": spent,
        "no nonce": digest_header(name, password).replace("<wsse:Nonce", "<wsse:Other").replace(
            "</wsse:Nonce>", "</wsse:Other>"),
        "nonce not base64": digest_header(name, password, nonce=b"n").replace(
            base64.b64encode(b"n").decode(), "!!!"),
        "no created": digest_header(name, password).replace("wsu:Created", "wsu:Other"),
        "created not a dateTime": digest_header(name, password).replace("Z</wsu:Created>", "Q</wsu:Created>"),
    }
    responses = {why: post_raw(digest_server, trial_balance(book.code, "11", header))
                 for why, header in attempts.items()}
    assert {why: outcome(response) for why, response in responses.items()} == dict.fromkeys(attempts,
                                                                                          "AuthenticationFailed")
    assert len({response.content for response in responses.values()}) == 1


def test_password_text_may_carry_nonce_and_created(digest_server, book):
    name, password = add_client(digest_server, f"{book.code}:reader")
    header = (f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
              f"<wsse:Username>{name}</wsse:Username>"
              f'<wsse:Password Type="{TOKEN_PROFILE}#PasswordText">{password}</wsse:Password>'
              f"<wsse:Nonce>{base64.b64encode(os.urandom(16)).decode()}</wsse:Nonce>"
              f"<wsu:Created>{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}</wsu:Created>"
              "</wsse:UsernameToken></wsse:Security>")
    assert outcome(post_raw(digest_server, trial_balance(book.code, "11", header))) == "ok"


def test_a_client_added_without_the_key_uses_password_text_only(digest_server, book):
    name = unique("nokey")
    result = cli("clients", "add", name, "--password-stdin", "--grant", f"{book.code}:reader", input="pw-nokey\n",
                 env={"LEDGER_DATABASE_URL": digest_server.database_url, "LEDGER_SECRET_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "LEDGER_SECRET_KEY is not set" in result.stderr and "PasswordDigest" in result.stderr
    assert fault_code(digest_client(digest_server, name, "pw-nokey").service.GetTrialBalance,
                      book.code) == "AuthenticationFailed"
    digest_server.zeep(name, "pw-nokey").service.GetTrialBalance(book.code)


def test_the_database_holds_no_plaintext_secret(digest_server, book):
    password = f"plain-{os.urandom(8).hex()}"
    name, _ = add_client(digest_server, f"{book.code}:reader", password=password)
    digest_client(digest_server, name, password).service.GetTrialBalance(book.code)
    database = digest_server.database()
    try:
        row = database.run(lambda store: store.connection.execute(
            select(ClientRow.__table__).where(ClientRow.name == name)).one(), write=False)
    finally:
        database.dispose()
    assert row.secret_ciphertext
    for value in row:
        raw = value if isinstance(value, bytes) else str(value).encode()
        assert password.encode() not in raw and base64.b64encode(password.encode()) not in raw
    assert password.encode() not in open(digest_server.database_url.split(":///", 1)[1], "rb").read()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_replay_is_refused_across_workers(request, tmp_path_factory, kind):
    server = start_server(request, tmp_path_factory, kind, workers=4,
                          extra_env={"LEDGER_SECRET_KEY": KEY, **MANY_FAILED_LOGINS})
    book_code = server.new_book().code
    name, password = add_client(server, f"{book_code}:reader")
    document = trial_balance(book_code, "11", digest_header(name, password))

    def send(_):
        # A fresh connection each time, so that the requests spread over the workers.
        with requests.Session() as session:
            return outcome(session.post(server.endpoint("11"), data=document, timeout=60,
                                        headers={"Content-Type": CONTENT_TYPE["11"], "Connection": "close"}))

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(send, range(16)))
    assert sorted(outcomes) == ["AuthenticationFailed"] * 15 + ["ok"]


def test_key_rotation_with_rekey(request, tmp_path_factory):
    old, new = KEY, Fernet.generate_key().decode()
    server = start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_SECRET_KEY": old})
    book_code = server.new_book().code
    name, password = add_client(server, f"{book_code}:reader", key=old)
    digest_client(server, name, password).service.GetTrialBalance(book_code)

    database_env = {"LEDGER_DATABASE_URL": server.database_url}
    refused = cli("clients", "rekey", env={**database_env, "LEDGER_SECRET_KEY": new})
    assert refused.returncode == 1 and name in refused.stderr, refused.stderr
    rekeyed = cli("clients", "rekey", env={**database_env, "LEDGER_SECRET_KEY": f"{new},{old}"})
    assert rekeyed.returncode == 0, rekeyed.stderr
    server.stop()

    for keys in (f"{new},{old}", new):
        server.extra_env["LEDGER_SECRET_KEY"] = keys
        server.start(tmp_path_factory.mktemp("logs"))
        try:
            digest_client(server, name, password).service.GetTrialBalance(book_code)
        finally:
            server.stop()
    server.extra_env["LEDGER_SECRET_KEY"] = old
    server.start(tmp_path_factory.mktemp("logs"))
    assert fault_code(digest_client(server, name, password).service.GetTrialBalance,
                      book_code) == "AuthenticationFailed"
    server.zeep(name, password).service.GetTrialBalance(book_code)


def test_a_malformed_key_is_refused_in_a_sentence(digest_server):
    result = cli("clients", "add", unique("badkey"), "--password-stdin", input="pw\n",
                 env={"LEDGER_DATABASE_URL": digest_server.database_url, "LEDGER_SECRET_KEY": "not-a-key"})
    assert result.returncode == 1
    assert "LEDGER_SECRET_KEY must hold" in result.stderr and "Traceback" not in result.stderr

"""The server's log (SPEC section 7): it never carries a password, a password digest or a page token,
even at DEBUG level, whether the request succeeded or failed; and each request's log line names the
request id its response carried."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from datetime import datetime, timezone

import pytest
import requests

from conftest import ADMIN, ADMIN_PASSWORD, WSSE_NS, envelope, post_raw, start_server, unique

PASSWORD = "Quokka-Lantern-7731-zebra"
WRONG_PASSWORD = "Marmot-Teapot-4406-wrong"
UNKNOWN_USER_PASSWORD = "Heron-Anvil-2290-nobody"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
REQUEST_LOGGER = " ledger_service.requests "


@pytest.fixture(scope="module")
def debug_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_LOG_LEVEL": "DEBUG"})


def digest_header(username: str, password: str) -> tuple[str, str]:
    """A PasswordDigest UsernameToken, and its digest."""
    nonce = os.urandom(16)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    header = (f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
              f"<wsse:Username>{username}</wsse:Username>"
              f'<wsse:Password Type="{TOKEN_PROFILE}#PasswordDigest">{digest}</wsse:Password>'
              f'<wsse:Nonce EncodingType="{TOKEN_PROFILE}#Base64Binary">{base64.b64encode(nonce).decode()}'
              f"</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")
    return header, digest


def request_log_lines(log: str) -> list[dict]:
    return [json.loads(line.split(REQUEST_LOGGER, 1)[1]) for line in log.splitlines() if REQUEST_LOGGER in line]


def test_no_secret_reaches_the_log_and_every_request_line_has_its_request_id(debug_server):
    book = debug_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), bank=("ASSET", "USD"))
    name, _ = debug_server.add_client(unique("quokka"), PASSWORD, grants={book.code: "poster"})
    responses: list[requests.Response] = []

    def send(body: str, username: str | None = name, password: str = PASSWORD, header_extra: str = "") -> str:
        response = post_raw(debug_server, envelope("11", body, username, password, header_extra))
        responses.append(response)
        return response.text

    lines = ("<l:lines><l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>3.00</l:amount></l:line>"
             "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>3.00</l:amount></l:line></l:lines>")
    posted = send(f"<l:PostEntry><l:book>{book.code}</l:book><l:entry><l:reference>LOG-1</l:reference>"
                  f"<l:effectiveDate>2026-03-01</l:effectiveDate>{lines}</l:entry></l:PostEntry>")
    assert "POSTED" in posted
    first_page = send(f"<l:ListAccounts><l:book>{book.code}</l:book><l:pageSize>1</l:pageSize></l:ListAccounts>")
    page_token = first_page.split("nextPageToken>", 1)[1].split("<", 1)[0]
    assert len(page_token) > 20
    second_page = send(f"<l:ListAccounts><l:book>{book.code}</l:book><l:pageSize>1</l:pageSize>"
                       f"<l:pageToken>{page_token}</l:pageToken></l:ListAccounts>")
    assert "<tns:code>cash</tns:code>" in second_page
    get_account = f"<l:GetAccount><l:book>{book.code}</l:book><l:code>cash</l:code></l:GetAccount>"
    failures = {
        "wrong password": send(get_account, password=WRONG_PASSWORD),
        "admin, wrong password": send(get_account, ADMIN, WRONG_PASSWORD),
        "unknown client": send(get_account, unique("nobody"), UNKNOWN_USER_PASSWORD),
        "page token of another query": send(f"<l:ListAccounts><l:book>{book.code}</l:book><l:type>ASSET</l:type>"
                                            f"<l:pageToken>{page_token}</l:pageToken></l:ListAccounts>"),
        "not authorized": send(f"<l:OpenAccount><l:book>{book.code}</l:book><l:account><l:code>x</l:code>"
                               "<l:name>X</l:name><l:type>ASSET</l:type><l:currency>USD</l:currency></l:account>"
                               "</l:OpenAccount>"),
        "schema violation": send(f"<l:GetAccount><l:book>{book.code}</l:book><l:code>{PASSWORD}</l:code>"
                                 f"<l:extra>{PASSWORD}</l:extra></l:GetAccount>"),
        "not XML": send(f"<l:GetAccount>{PASSWORD}"),
    }
    assert all("LedgerFault" in answer for answer in failures.values()), failures
    # Accepted or not (that is for the PasswordDigest tests), its digest must not be logged either.
    digest_security, digest = digest_header(name, PASSWORD)
    send(get_account, username=None, header_extra=digest_security)
    debug_server.zeep().service.GetAccount(book.code, "cash")  # the administrator, over zeep

    given_ids = [response.headers["X-Request-Id"] for response in responses]
    deadline = time.monotonic() + 10
    while not set(given_ids) <= {line["request_id"] for line in request_log_lines(debug_server.log())}:
        assert time.monotonic() < deadline, "a request has no log line with its request id"
        time.sleep(0.1)
    log = debug_server.log()
    assert "DEBUG" in log  # the most talkative level really was on
    for secret in (PASSWORD, WRONG_PASSWORD, UNKNOWN_USER_PASSWORD, ADMIN_PASSWORD, digest, page_token):
        assert secret not in log, f"{secret!r} is in the server log"
    request_lines = request_log_lines(log)
    for line in request_lines:
        assert line["request_id"], line
    # One line per request: the ones above, the administrator's set-up and zeep calls, and no other.
    logged_ids = [line["request_id"] for line in request_lines]
    assert len(logged_ids) == len(set(logged_ids))

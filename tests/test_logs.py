"""The server's log (docs/operations.md, "Logs"): every line, from the workers, the gunicorn master and
`serve` itself, is one JSON object; it never carries a password, a password digest or a page token, even
at DEBUG level, whether the request succeeded or failed, nor what the database says of a row (its
DETAIL, a reference); and each request's log line names the request id its response carried."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import psycopg
import pytest
import requests

from conftest import ADMIN, ADMIN_PASSWORD, WSSE_NS, LiveServer, envelope, post_raw, start_server, unique
from ledger_service.adapters.password_digest import password_digest

PASSWORD = "Quokka-Lantern-7731-zebra"
WRONG_PASSWORD = "Marmot-Teapot-4406-wrong"
UNKNOWN_USER_PASSWORD = "Heron-Anvil-2290-nobody"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
TOKEN_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
REQUEST_LOGGER = "ledger_service.requests"
LINE_FIELDS = {"time", "level", "logger", "message"}
LINES = ("<l:lines><l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>3.00</l:amount></l:line>"
         "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>3.00</l:amount></l:line></l:lines>")


@pytest.fixture(scope="module")
def debug_server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", extra_env={"LEDGER_LOG_LEVEL": "DEBUG"})


def digest_header(username: str, password: str) -> tuple[str, str]:
    """A PasswordDigest UsernameToken, and its digest."""
    nonce = os.urandom(16)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = password_digest(nonce, created, password)
    header = (f'<wsse:Security xmlns:wsse="{WSSE_NS}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
              f"<wsse:Username>{username}</wsse:Username>"
              f'<wsse:Password Type="{TOKEN_PROFILE}#PasswordDigest">{digest}</wsse:Password>'
              f'<wsse:Nonce EncodingType="{TOKEN_PROFILE}#Base64Binary">{base64.b64encode(nonce).decode()}'
              f"</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>")
    return header, digest


def post_entry(book: str, reference: str) -> str:
    return (f"<l:PostEntry><l:book>{book}</l:book><l:entry><l:reference>{reference}</l:reference>"
            f"<l:effectiveDate>2026-03-01</l:effectiveDate>{LINES}</l:entry></l:PostEntry>")


def log_records(log: str) -> list[dict]:
    """Every line of a log, each of which must be one JSON object with at least LINE_FIELDS (but the
    last, while a running server is still writing it)."""
    records = []
    for line in log.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        record = json.loads(line)
        assert isinstance(record, dict) and LINE_FIELDS <= set(record), line
        records.append(record)
    return records


def request_log_lines(log: str) -> list[dict]:
    return [record for record in log_records(log) if record["logger"] == REQUEST_LOGGER]


def test_no_secret_reaches_the_log_and_every_request_line_has_its_request_id(debug_server):
    book = debug_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"), bank=("ASSET", "USD"))
    name, _ = debug_server.add_client(unique("quokka"), PASSWORD, grants={book.code: "poster"})
    responses: list[requests.Response] = []

    def send(body: str, username: str | None = name, password: str = PASSWORD, header_extra: str = "") -> str:
        response = post_raw(debug_server, envelope("11", body, username, password, header_extra))
        responses.append(response)
        return response.text

    posted = send(post_entry(book.code, "LOG-1"))
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
    assert any(record["level"] == "DEBUG" for record in log_records(log))  # the most talkative level was on
    for secret in (PASSWORD, WRONG_PASSWORD, UNKNOWN_USER_PASSWORD, ADMIN_PASSWORD, digest, page_token):
        assert secret not in log, f"{secret!r} is in the server log"
    request_lines = request_log_lines(log)
    for line in request_lines:
        assert line["request_id"], line
    # One line per request: the ones above, the administrator's set-up and zeep calls, and no other.
    logged_ids = [line["request_id"] for line in request_lines]
    assert len(logged_ids) == len(set(logged_ids))


# --- every line JSON, and nothing the database says of a row ---

def wait_for_log(server: LiveServer, wanted, what: str) -> list[dict]:
    deadline = time.monotonic() + 30
    while not wanted(records := log_records(server.log())):
        assert time.monotonic() < deadline, f"the log never showed {what}"
        time.sleep(0.2)
    return records


def booted_workers(records: list[dict]) -> set[int]:
    return {int(record["message"].rsplit(" ", 1)[1]) for record in records
            if record["logger"] == "gunicorn.error" and record["message"].startswith("Booting worker with pid")}


def test_every_line_is_json_and_database_errors_keep_the_rows_to_themselves(postgres_live):
    server = postgres_live
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    references: list[str] = []

    def conflicting_posts(reference: str, writers: int = 16) -> list[int]:
        barrier = threading.Barrier(writers)

        def post(_) -> int:
            barrier.wait()
            return post_raw(server, envelope("11", post_entry(book.code, reference))).status_code
        with ThreadPoolExecutor(writers) as pool:
            return list(pool.map(post, range(writers)))

    def retried(records: list[dict], sqlstate: str) -> list[dict]:
        return [record for record in records
                if record["message"] == "retrying after a conflict" and record.get("sqlstate") == sqlstate]

    # Conflicts: writers posting one new reference at once; all but the first find it on their retry.
    deadline = time.monotonic() + 120
    while not retried(log_records(server.log()), "23505"):
        assert time.monotonic() < deadline, "no conflict was retried"
        references.append(unique("RACE-"))
        assert conflicting_posts(references[-1]) == [200] * 16
    # A fault.
    fault = post_raw(server, envelope("11", f"<l:GetBalance><l:book>{book.code}</l:book>"
                                            "<l:account>nowhere</l:account></l:GetBalance>"))
    assert "AccountNotFound" in fault.text
    # An internal error: the database itself refuses one reference, with a DETAIL that quotes the row.
    poison = unique("POISON-")
    with psycopg.connect(server.database_url, autocommit=True) as connection:
        connection.execute(f"ALTER TABLE entries ADD CONSTRAINT refuses_one_reference CHECK (reference <> '{poison}')")
    try:
        failed = post_raw(server, envelope("11", post_entry(book.code, poison)))
    finally:
        with psycopg.connect(server.database_url, autocommit=True) as connection:
            connection.execute("ALTER TABLE entries DROP CONSTRAINT refuses_one_reference")
    assert failed.status_code == 500 and "InternalError" in failed.text
    # A worker killed, and its successor booting.
    booted = booted_workers(log_records(server.log()))
    victim = max(booted)
    os.kill(victim, signal.SIGKILL)
    wait_for_log(server, lambda records: booted_workers(records) - booted, "a worker booting after one was killed")
    failed_id = failed.headers["X-Request-Id"]
    records = wait_for_log(server, lambda records: any(record["logger"] == REQUEST_LOGGER and
                                                       record.get("request_id") == failed_id for record in records),
                           "the failed request's line")

    log = server.log()
    conflicts = retried(records, "23505")
    assert conflicts and all(record["constraint"] and record["request_id"] for record in conflicts), conflicts
    assert {record.get("constraint") for record in retried(records, "23514")} == {"refuses_one_reference"}
    [failure] = [record for record in records
                 if record.get("request_id") == failed_id and record["level"] == "ERROR"]
    assert failure["exception"].startswith("Traceback") and "CheckViolation" in failure["exception"]
    assert any(record["level"] == "ERROR" and record["logger"] == "gunicorn.error" and str(victim) in record["message"]
               for record in records)
    for told in ("DETAIL", "Failing row", "already exists", poison, *references):
        assert told not in log, f"{told!r} is in the server log"


def test_serve_writes_json_from_its_first_line_to_its_last(tmp_path):
    server = LiveServer(f"sqlite:///{tmp_path / 'fresh.db'}", workers=1)  # an empty database: serve migrates it
    try:
        server.start(tmp_path)
    finally:
        server.stop()
    records = log_records(server.log())
    messages = [record["message"] for record in records]
    assert "empty database: migrating it first" in messages
    assert any(record["logger"].startswith("alembic") for record in records)
    assert messages[-1].startswith("Shutting down")


def test_warnings_and_uncaught_exceptions_are_json_lines_too():
    program = ("import threading, warnings\n"
               "from ledger_service.logs import configure\n"
               "configure('INFO')\n"
               "warnings.warn('a warning, as a library gives one')\n"
               "doomed = threading.Thread(target=lambda: 1 / 0, name='doomed')\n"
               "doomed.start(); doomed.join()\n"
               "raise RuntimeError('nobody caught this')\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    warning, thread, uncaught = log_records(result.stderr)
    assert (warning["level"], warning["logger"]) == ("WARNING", "py.warnings")
    assert "a warning, as a library gives one" in warning["message"]
    assert thread["level"] == "ERROR" and "doomed" in thread["message"]
    assert thread["exception"].endswith("ZeroDivisionError: division by zero")
    assert uncaught["level"] == "CRITICAL" and uncaught["exception"].endswith("RuntimeError: nobody caught this")

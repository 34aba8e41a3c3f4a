"""The client package `ledger_client` (docs/contract.md#client-package): installed alone, its WSDL the contract's, typed
methods against live servers on SQLite and PostgreSQL, faults as exceptions, transport failures,
retries that never post twice, and the `ledger-client` command."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from conftest import ADMIN, ADMIN_PASSWORD, FAULT_CODES, cli, free_port, serve, unique
from ledger_client import (
    AccountStatus, AccountType, AlreadyReversed, AuthenticationFailed, Balance, Entry, EntryInput, EntryStatus,
    InsufficientBalance, JournalHead, JournalVerification, LedgerClient, LedgerError, LineInput, NotAuthorized,
    NotPending, RateLimited, ReferenceConflict, RetryPolicy, SchemaValidation, Side, TransportError, Unbalanced,
    Unavailable,
)
import ledger_client
from ledger_service.domain.errors import FaultCode

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = ROOT / "clients"
WSDL = "http://schemas.xmlsoap.org/wsdl/"


def sale(reference: str, amount: str = "250.00", day: date = date(2026, 1, 15), **extra) -> EntryInput:
    return EntryInput(reference, day, (LineInput("cash", Side.DEBIT, amount), LineInput("sales", Side.CREDIT, amount)),
                      **extra)


def new_book(client: LedgerClient, guarded: bool = False) -> str:
    code = unique("C")
    client.create_book(code, f"Book {code}")
    client.open_account(code, "cash", "Cash", AccountType.ASSET, "USD", no_negative_balance=guarded)
    client.open_account(code, "sales", "Sales", AccountType.INCOME, "USD")
    return code


@pytest.fixture(scope="module", params=["11", "12"])
def client(server, request) -> LedgerClient:
    with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, soap_version=int(request.param)) as made:
        yield made


# --- the package ---

def test_the_bundled_wsdl_is_the_contract():
    for version in ("11", "12"):
        bundled = (CLIENTS / "ledger_client" / "wsdl" / f"soap{version}.wsdl").read_bytes()
        assert bundled == (ROOT / "wsdl" / f"soap{version}.wsdl").read_bytes(), (
            f"clients/ledger_client/wsdl/soap{version}.wsdl differs from wsdl/: cp wsdl/soap1?.wsdl "
            "clients/ledger_client/wsdl/")


def test_the_package_installs_alone_and_needs_nothing_of_the_server(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(CLIENTS)], capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    probe = ("import importlib.util, ledger_client; "
             "print(ledger_client.LedgerClient.__name__, "
             "[m for m in ('spyne', 'sqlalchemy', 'ledger_service') if importlib.util.find_spec(m)])")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)
    assert result.stdout.split() == ["LedgerClient", "[]"], result.stderr
    # Signing needs python-xmlsec, the `signing` extra, and says so to one who has not installed it.
    signing = subprocess.run([str(venv / "bin" / "python"), "-c", "from ledger_client import LedgerClient\n"
                              "LedgerClient('http://127.0.0.1:1', signing_key='k.pem', signing_certificate='c.pem')"],
                             capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "ImportError: signing needs python-xmlsec: pip install 'soap-ledger-client[signing]'" in signing.stderr, \
        signing.stderr
    usage = subprocess.run([str(venv / "bin" / "ledger-client"), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "balance" in usage.stdout
    # The offline check of a journal export needs nothing but the package: the contract's worked example.
    from test_contract_document import worked_example
    export = tmp_path / "acme.journal"
    export.write_text(worked_example()[0], encoding="utf-8")
    checked = subprocess.run([str(venv / "bin" / "ledger-client"), "verify-journal", str(export)], capture_output=True,
                             text=True, timeout=60, env={"PATH": os.environ["PATH"]})
    assert checked.returncode == 0 and "4 records" in checked.stdout, checked.stderr


def test_every_operation_of_the_contract_has_its_method():
    wsdl = ElementTree.parse(CLIENTS / "ledger_client" / "wsdl" / "soap11.wsdl").getroot()
    operations = [operation.get("name") for operation in wsdl.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation")]
    assert "GetBalance" in operations
    methods = {operation: re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower() for operation in operations}
    assert [operation for operation, method in methods.items() if not callable(getattr(LedgerClient, method, None))] \
        == []


def test_every_fault_code_has_its_exception():
    assert {code.value for code in FaultCode} == FAULT_CODES
    for code in FAULT_CODES:
        cls = getattr(ledger_client, code)
        assert issubclass(cls, LedgerError) and cls.code == code
    assert RateLimited("slow down", retry_after=3).retry_after == 3


def test_amounts_are_never_floats():
    with pytest.raises(TypeError):
        sale("R", amount=0.1).to_soap()


# --- against a live server ---

def test_every_operation_with_python_types(client):
    book = new_book(client, guarded=True)
    entry = client.post_entry(book, sale("INV-1", "250.5", description="first sale"))
    assert isinstance(entry, Entry) and entry.status is EntryStatus.POSTED
    assert (entry.reference, entry.effective_date, entry.description) == ("INV-1", date(2026, 1, 15), "first sale")
    assert entry.recorded_at.tzinfo is not None and entry.recorded_at.utcoffset() == timedelta(0)
    assert [(line.account, line.side, line.amount, line.currency) for line in entry.lines] == [
        ("cash", Side.DEBIT, Decimal("250.50"), "USD"), ("sales", Side.CREDIT, Decimal("250.50"), "USD")]

    balance = client.get_balance(book, "cash")
    assert isinstance(balance, Balance) and balance.balance == Decimal("250.50")
    assert str(balance.available_balance) == "250.50"
    assert client.get_balance(book, "cash", date(2026, 1, 14)).balance == Decimal("0.00")

    account = client.get_account(book, "cash")
    assert (account.type, account.status, account.no_negative_balance) == (AccountType.ASSET, AccountStatus.OPEN, True)
    assert isinstance(account.opened_at, datetime)
    assert [a.code for a in client.iter_accounts(book, page_size=1)] == ["cash", "sales"]
    assert [a.code for a in client.list_accounts(book, type=AccountType.INCOME).accounts] == ["sales"]

    for n in range(5):
        client.post_entry(book, sale(f"DAY-{n}", "1.00", date(2026, 2, 1 + n)))
    lines = list(client.iter_statement(book, "cash", date(2026, 1, 1), date(2026, 12, 31), page_size=2))
    assert [line.reference for line in lines] == ["INV-1"] + [f"DAY-{n}" for n in range(5)]
    assert lines[-1].running_balance == Decimal("255.50")
    page = client.get_statement(book, "cash", date(2026, 2, 1), date(2026, 2, 28), page_size=2)
    assert (page.opening_balance, len(page.lines), page.next_page_token is not None) == (Decimal("250.50"), 2, True)

    trial = client.get_trial_balance(book)
    assert [(t.currency, t.debit, t.credit) for t in trial.totals] == [("USD", Decimal("255.50"), Decimal("255.50"))]

    reversal = client.reverse_entry(book, "DAY-0", "REV-0", reason="typo")
    assert (reversal.reversal_of, reversal.description) == ("DAY-0", "typo")
    assert client.get_entry(book, "DAY-0").reversed_by == "REV-0"

    held = client.post_entry(book, EntryInput("HOLD-1", date(2026, 3, 1), (
        LineInput("sales", Side.DEBIT, Decimal("5")), LineInput("cash", Side.CREDIT, 5)), pending=True,
        pending_timeout_seconds=600))
    assert held.status is EntryStatus.PENDING and held.pending_expires_at == held.recorded_at + timedelta(seconds=600)
    assert client.get_balance(book, "cash").pending_credits == Decimal("5.00")
    assert client.commit_pending(book, "HOLD-1").status is EntryStatus.POSTED
    client.post_entry(book, EntryInput("HOLD-2", date(2026, 3, 1), (
        LineInput("sales", Side.DEBIT, "1"), LineInput("cash", Side.CREDIT, "1")), pending=True))
    assert client.void_pending(book, "HOLD-2", "changed my mind").status is EntryStatus.VOIDED
    audit = client.get_entry_audit(book, "HOLD-2")
    assert (audit.posted_by, audit.settled_by, audit.void_reason) == (ADMIN, ADMIN, "changed my mind")
    # The book's record, its two accounts', then the entries': INV-1 is the fourth.
    assert client.get_entry_audit(book, "INV-1").journal_sequence == 4
    assert audit.journal_sequence > client.get_entry_audit(book, "HOLD-1").journal_sequence > 4

    results = client.post_entries(book, [sale("B-1", "1.00"), sale("B-2", "1.00", description="two")], atomic=False)
    assert [(r.reference, r.entry.status, r.error) for r in results] == [
        ("B-1", EntryStatus.POSTED, None), ("B-2", EntryStatus.POSTED, None)]
    assert client.close_period(book, date(2026, 1, 31)).closed_through == date(2026, 1, 31)
    client.open_account(book, "spare", "Spare", AccountType.ASSET, "USD")
    assert client.close_account(book, "spare").status is AccountStatus.CLOSED

    head = client.get_journal_head(book)
    assert isinstance(head, JournalHead) and head.book == book and re.fullmatch("[0-9a-f]{64}", head.hash)
    assert head.sequence > audit.journal_sequence and head.recorded_at.utcoffset() == timedelta(0)
    verification = client.verify_journal(book)
    assert isinstance(verification, JournalVerification)
    assert (verification.from_sequence, verification.to_sequence, verification.records_checked,
            verification.head_hash, verification.intact, verification.first_break) == (
        1, head.sequence, head.sequence, head.hash, True, None)
    stretch = client.verify_journal(book, 2, 3)
    assert (stretch.from_sequence, stretch.to_sequence, stretch.records_checked, stretch.intact) == (2, 3, 2, True)
    with pytest.raises(SchemaValidation) as reversed_range:
        client.verify_journal(book, 3, 2)
    assert reversed_range.value.field == "fromSequence"


def test_a_pending_entry_is_committed_in_part(client):
    book = new_book(client, guarded=True)
    client.post_entry(book, sale("INV-1", "100.00"))
    client.post_entry(book, EntryInput("HOLD-1", date(2026, 3, 1), (
        LineInput("sales", Side.DEBIT, "30"), LineInput("cash", Side.CREDIT, "30")), pending=True))
    committed = client.commit_pending(book, "HOLD-1", [LineInput("sales", Side.DEBIT, "12.5"),
                                                       LineInput("cash", Side.CREDIT, Decimal("12.50"), "part")])
    assert committed.status is EntryStatus.POSTED
    assert [(line.account, line.side, line.amount, line.memo) for line in committed.lines] == [
        ("sales", Side.DEBIT, Decimal("12.50"), None), ("cash", Side.CREDIT, Decimal("12.50"), "part")]
    balance = client.get_balance(book, "cash")
    assert (balance.posted_credits, balance.pending_credits, balance.available_balance) == (
        Decimal("12.50"), Decimal("0.00"), Decimal("87.50"))
    with pytest.raises(NotPending) as caught:
        client.commit_pending(book, "HOLD-1", [LineInput("sales", Side.DEBIT, "1"),
                                               LineInput("cash", Side.CREDIT, "1")])
    assert (caught.value.code, caught.value.field) == ("NotPending", "reference")


def test_metadata_and_list_entries(client):
    book = new_book(client)
    posted = client.post_entry(book, sale("INV-1", metadata={"invoice": "1", "costCentre": "CC-7"}))
    assert list(posted.metadata.items()) == [("costCentre", "CC-7"), ("invoice", "1")]
    assert client.post_entry(book, sale("INV-1", metadata={"costCentre": "CC-7", "invoice": "1"})) == posted
    with pytest.raises(ReferenceConflict):
        client.post_entry(book, sale("INV-1", metadata={"invoice": "2", "costCentre": "CC-7"}))
    plain = client.post_entry(book, sale("INV-2", "1.00", date(2026, 1, 10)))
    assert plain.metadata == {} and client.get_entry(book, "INV-2") == plain
    client.post_entry(book, sale("INV-3", "2.00", date(2026, 2, 1), metadata={"costCentre": "CC-8"}))
    january = date(2026, 1, 1), date(2026, 1, 31)
    assert [e.reference for e in client.iter_entries(book, *january)] == ["INV-1", "INV-2"]
    assert [e.reference for e in client.iter_entries(book, date(2026, 1, 1), date(2026, 12, 31),
                                                     metadata_key="costCentre", page_size=1)] == ["INV-1", "INV-3"]
    page = client.list_entries(book, date(2026, 1, 1), date(2026, 12, 31), "cash", "costCentre", "CC-8")
    assert ([e.reference for e in page.entries], page.next_page_token) == (["INV-3"], None)
    first = client.list_entries(book, date(2026, 1, 1), date(2026, 12, 31), page_size=2)
    assert len(first.entries) == 2 and first.next_page_token
    with pytest.raises(SchemaValidation):
        client.list_entries(book, *january, page_token=first.next_page_token)


def test_faults_are_exceptions_with_their_code_field_and_index(client, server):
    book = new_book(client, guarded=True)
    with pytest.raises(Unbalanced) as caught:
        client.post_entry(book, EntryInput("U-1", date(2026, 1, 15), (
            LineInput("cash", Side.DEBIT, "1.00"), LineInput("sales", Side.CREDIT, "2.00"))))
    assert (caught.value.code, caught.value.field, caught.value.index) == ("Unbalanced", "entry.lines", None)
    assert "unbalanced" in caught.value.message and str(caught.value).startswith("Unbalanced: ")

    client.post_entry(book, sale("R-1", "10.00"))
    with pytest.raises(ReferenceConflict):
        client.post_entry(book, sale("R-1", "11.00"))
    with pytest.raises(InsufficientBalance) as overdraw:
        client.post_entry(book, EntryInput("O-1", date(2026, 1, 15), (
            LineInput("sales", Side.DEBIT, "99.00"), LineInput("cash", Side.CREDIT, "99.00"))))
    assert overdraw.value.field == "entry.lines[1].amount"
    with pytest.raises(NotPending):
        client.commit_pending(book, "R-1")
    client.reverse_entry(book, "R-1", "REV-1")
    with pytest.raises(AlreadyReversed):
        client.reverse_entry(book, "R-1", "REV-2")

    with pytest.raises(LedgerError) as atomic:
        client.post_entries(book, [sale("A-1", "1.00"), sale("A-2", "0.001")])
    assert (atomic.value.code, atomic.value.index, atomic.value.field) == ("InvalidAmount", 1, "entry.lines[0].amount")
    results = client.post_entries(book, [sale("A-1", "1.00"), sale("A-2", "0.001")], atomic=False)
    assert results[0].entry is not None and results[1].entry is None
    assert (results[1].error.code, results[1].error.index) == ("InvalidAmount", 1)

    stranger, password = server.add_client()
    with LedgerClient(server.url, stranger, password) as outsider:
        with pytest.raises(NotAuthorized):
            outsider.get_balance(book, "cash")
    with LedgerClient(server.url, ADMIN, "wrong") as impostor:
        with pytest.raises(AuthenticationFailed):
            impostor.get_balance(book, "cash")


def test_rate_limited_says_how_long_to_wait_and_is_retried_after_it(sqlite_server):
    name, password = sqlite_server.add_client(system_admin=True)
    limited = cli("clients", "limit", name, "--rate", "1/s", "--burst", "1",
                  env={"LEDGER_DATABASE_URL": sqlite_server.database_url})
    assert limited.returncode == 0, limited.stderr
    with LedgerClient(sqlite_server.url, name, password, retry=RetryPolicy(attempts=1)) as impatient:
        book = unique("RL")
        impatient.create_book(book, "Rate limited")
        with pytest.raises(RateLimited) as caught:
            impatient.get_trial_balance(book)
        assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 2
    with LedgerClient(sqlite_server.url, name, password) as patient:
        started = time.monotonic()
        for _ in range(3):
            assert patient.get_trial_balance(book).rows == ()
        assert time.monotonic() - started >= 1.5


def test_password_digest(request, tmp_path_factory):
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    server = serve(f"sqlite:///{tmp_path_factory.mktemp('db') / 'ledger.db'}", tmp_path_factory.mktemp("logs"),
                   extra_env={"LEDGER_SECRET_KEY": key})
    request.addfinalizer(server.stop)
    name = unique("digest")
    added = cli("clients", "add", name, "--password-stdin", "--system-admin", input="digest-secret\n",
                env={"LEDGER_DATABASE_URL": server.database_url, "LEDGER_SECRET_KEY": key})
    assert added.returncode == 0, added.stderr
    with LedgerClient(server.url, name, "digest-secret", digest=True) as client:
        book = new_book(client)
        # every call (and every retry) carries a fresh nonce, which the service accepts once
        for n in range(3):
            client.post_entry(book, sale(f"D-{n}", "1.00"))
        assert client.get_balance(book, "cash").balance == Decimal("3.00")
    with LedgerClient(server.url, name, "not-it", digest=True) as wrong:
        with pytest.raises(AuthenticationFailed):
            wrong.get_balance(book, "cash")


# --- transport failures and retries ---

def test_a_refused_connection_is_a_transport_error_after_the_retries():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with LedgerClient(f"http://127.0.0.1:{port}", "x", "y", retry=RetryPolicy(attempts=3, backoff=0.2)) as client:
        with pytest.raises(TransportError) as caught:
            client.create_book("NOPE", "nope")
    assert caught.value.sent is False and time.monotonic() - started >= 0.2


def test_a_silent_server_times_out():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        with LedgerClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "x", "y", timeout=0.5,
                          retry=RetryPolicy(attempts=1)) as client:
            started = time.monotonic()
            with pytest.raises(TransportError):
                client.get_balance("B", "cash")
            assert time.monotonic() - started < 5
    finally:
        listener.close()


class LosingProxy:
    """Forwards HTTP between the client and the service, and for the next `lose` requests whose body
    names `operation` lets the service answer, then closes the client's connection without passing
    the answer on: the service committed, the client never heard."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lose: dict[bytes, int] = {}
        self.seen: dict[bytes, int] = {}
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    @staticmethod
    def _read_message(stream) -> bytes | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = stream.recv(65536)
            if not chunk:
                return None
            head += chunk
        headers, _, body = head.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += stream.recv(65536)
        return headers + b"\r\n\r\n" + body

    def _relay(self, downstream):
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        try:
            while (request := self._read_message(downstream)) is not None:
                upstream.sendall(request)
                response = self._read_message(upstream)
                operation = next((name for name in self.lose
                                  if re.search(rb"<[\w.-]+:" + name + rb"[\s>]", request)), None)
                if operation is not None:
                    self.seen[operation] = self.seen.get(operation, 0) + 1
                    if self.lose[operation] > 0:
                        self.lose[operation] -= 1
                        return
                downstream.sendall(response)
        finally:
            downstream.close()
            upstream.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy(sqlite_server):
    losing = LosingProxy(sqlite_server.port)
    yield losing
    losing.close()


def test_a_post_whose_answer_was_lost_is_retried_and_posts_once(sqlite_server, proxy):
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as direct:
        book = new_book(direct)
    proxy.lose[b"PostEntry"] = 1
    with LedgerClient(f"http://127.0.0.1:{proxy.port}", ADMIN, ADMIN_PASSWORD,
                      retry=RetryPolicy(attempts=3, backoff=0.05)) as client:
        entry = client.post_entry(book, sale("LOST-1", "7.00"))
    assert proxy.seen[b"PostEntry"] == 2
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as direct:
        assert direct.get_entry(book, "LOST-1").id == entry.id
        assert direct.get_balance(book, "cash").posted_debits == Decimal("7.00")
        statement = list(direct.iter_statement(book, "cash", date(2026, 1, 1), date(2026, 12, 31)))
        assert [line.reference for line in statement] == ["LOST-1"]


def test_an_operation_that_is_not_idempotent_is_not_retried_once_sent(sqlite_server, proxy):
    proxy.lose[b"CreateBook"] = 1
    code = unique("NI")
    with LedgerClient(f"http://127.0.0.1:{proxy.port}", ADMIN, ADMIN_PASSWORD,
                      retry=RetryPolicy(attempts=3, backoff=0.05)) as client:
        with pytest.raises(TransportError) as caught:
            client.create_book(code, "Created, answer lost")
    assert caught.value.sent is True and proxy.seen[b"CreateBook"] == 1
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as direct:
        assert direct.get_trial_balance(code).rows == ()


@pytest.mark.postgres
def test_unavailable_is_retried_until_the_database_is_back(private_postgres, tmp_path):
    with psycopg.connect(private_postgres.url, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "ledger"')
    server = serve(private_postgres.url.rsplit("/", 1)[0] + "/ledger", tmp_path)
    try:
        with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, retry=RetryPolicy(attempts=1)) as once, \
                LedgerClient(server.url, ADMIN, ADMIN_PASSWORD,
                             retry=RetryPolicy(attempts=12, backoff=0.5, longest_wait=2)) as persistent:
            book = new_book(once)
            private_postgres.stop()
            with pytest.raises(Unavailable):
                once.get_balance(book, "cash")
            restart = threading.Timer(2.0, private_postgres.start)
            restart.start()
            entry = persistent.post_entry(book, sale("AFTER-OUTAGE", "3.00"))
            restart.join()
            assert persistent.get_entry(book, "AFTER-OUTAGE").id == entry.id
            assert persistent.get_balance(book, "cash").balance == Decimal("3.00")
    finally:
        server.stop()


# --- the ledger-client command ---

def ledger_client_command(*args: str, env: dict | None = None, server=None, input: str | None = None):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LEDGER_CLIENT_")}
    environment["HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / unique("home"))
    if server is not None:
        environment.update(LEDGER_CLIENT_URL=server.url, LEDGER_CLIENT_USERNAME=ADMIN,
                           LEDGER_CLIENT_PASSWORD=ADMIN_PASSWORD)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "ledger_client.cli", *args], capture_output=True, text=True,
                          env=environment, input=input, timeout=120)


@pytest.fixture(scope="module")
def cli_book(sqlite_server):
    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as client:
        book = new_book(client)
        client.post_entry(book, sale("INV-1", "250.00", description="first, with a comma"))
        client.post_entry(book, sale("INV-2", "0.50", date(2026, 1, 20)))
    return book


def test_the_command_reads_balances_statements_trial_balances_and_accounts(sqlite_server, cli_book):
    balance = ledger_client_command("balance", cli_book, "cash", "--format", "json", server=sqlite_server)
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["balance"] == "250.50"
    table = ledger_client_command("balance", cli_book, "cash", server=sqlite_server)
    assert "250.50" in table.stdout and "availableBalance" in table.stdout

    statement = ledger_client_command("statement", cli_book, "cash", "--from", "2026-01-01", "--to", "2026-01-31",
                                      "--format", "csv", server=sqlite_server)
    assert statement.returncode == 0, statement.stderr
    assert statement.stdout.splitlines() == [
        "reference,effectiveDate,description,side,amount,runningBalance",
        'INV-1,2026-01-15,"first, with a comma",DEBIT,250.00,250.00',
        "INV-2,2026-01-20,,DEBIT,0.50,250.50"]
    as_json = json.loads(ledger_client_command("statement", cli_book, "cash", "--from", "2026-01-16", "--to",
                                               "2026-01-31", "--format", "json", server=sqlite_server).stdout)
    assert (as_json["openingBalance"], as_json["closingBalance"], len(as_json["lines"])) == ("250.00", "250.50", 1)
    as_table = ledger_client_command("statement", cli_book, "cash", "--from", "2026-01-01", "--to", "2026-01-31",
                                     server=sqlite_server).stdout
    assert "opening balance" in as_table and "INV-2" in as_table

    trial = ledger_client_command("trial-balance", cli_book, "--format", "json", server=sqlite_server)
    assert json.loads(trial.stdout)["totals"] == [{"currency": "USD", "debit": "250.50", "credit": "250.50"}]
    accounts = ledger_client_command("accounts", cli_book, "--format", "csv", server=sqlite_server)
    assert [line.split(",")[0] for line in accounts.stdout.splitlines()] == ["code", "cash", "sales"]


def test_the_command_posts_from_arguments_and_from_files(sqlite_server, cli_book, tmp_path):
    posted = ledger_client_command("post", cli_book, "--reference", "CLI-1", "--date", "2026-02-01",
                                   "--description", "by hand", "cash:DEBIT:12.34", "sales:CREDIT:12.34:memo here",
                                   "--format", "json", server=sqlite_server)
    assert posted.returncode == 0, posted.stderr
    # One entry posted from its lines is one object; a file's entries are a list, however many.
    assert (json.loads(posted.stdout)["reference"], json.loads(posted.stdout)["status"]) == ("CLI-1", "POSTED")

    entries = tmp_path / "entries.csv"
    entries.write_text("reference,effectiveDate,description,account,side,amount,memo,meta.invoice\n"
                       "F-1,2026-02-02,from a file,cash,DEBIT,1.00,,F1\n"
                       "F-1,2026-02-02,from a file,sales,CREDIT,1.00,,\n"
                       "F-2,2026-02-03,,cash,DEBIT,2.00,,\nF-2,2026-02-03,,sales,CREDIT,2.00,,\n")
    from_csv = ledger_client_command("post", cli_book, "--file", str(entries), server=sqlite_server)
    assert from_csv.returncode == 0, from_csv.stderr
    assert "F-1" in from_csv.stdout and "F-2" in from_csv.stdout
    again = ledger_client_command("post", cli_book, "--file", str(entries), server=sqlite_server)
    assert again.returncode == 0  # the same references and content: nothing posted twice

    document = tmp_path / "entry.json"
    document.write_text(json.dumps({"reference": "J-1", "effectiveDate": "2026-02-04", "pending": True, "lines": [
        {"account": "sales", "side": "DEBIT", "amount": "3.00"}, {"account": "cash", "side": "CREDIT", "amount": "3"}],
        "metadata": {"order": "SO-1"}}))
    from_json = ledger_client_command("post", cli_book, "--file", str(document), "--format", "csv", server=sqlite_server)
    assert from_json.returncode == 0, from_json.stderr
    assert from_json.stdout.splitlines()[1].startswith("J-1,") and "PENDING" in from_json.stdout
    as_list = ledger_client_command("post", cli_book, "--file", str(document), "--format", "json", server=sqlite_server)
    assert [entry["reference"] for entry in json.loads(as_list.stdout)] == ["J-1"]

    with LedgerClient(sqlite_server.url, ADMIN, ADMIN_PASSWORD) as client:
        assert client.get_balance(cli_book, "cash").balance == Decimal("265.84")
        assert [client.get_entry(cli_book, reference).metadata for reference in ("F-1", "F-2", "J-1")] == [
            {"invoice": "F1"}, {}, {"order": "SO-1"}]


def test_the_command_settles_reverses_and_shows_entries(sqlite_server, cli_book):
    def run(*args: str):
        result = ledger_client_command(*args, server=sqlite_server)
        assert result.returncode == 0, result.stderr
        return result.stdout

    for reference in ("HOLD-1", "HOLD-2"):
        run("post", cli_book, "--reference", reference, "--date", "2026-03-01", "--pending", "--timeout", "3600",
            "cash:DEBIT:5.00", "sales:CREDIT:5.00")
    committed = json.loads(run("commit", cli_book, "HOLD-1", "--format", "json"))
    assert (committed["reference"], committed["status"]) == ("HOLD-1", "POSTED")
    assert [line["amount"] for line in committed["lines"]] == ["5.00", "5.00"]
    voided = run("void", cli_book, "HOLD-2", "--reason", "customer cancelled", "--format", "csv").splitlines()
    assert voided[0] == "reference,status,account,side,amount,currency,memo"
    assert voided[1:] == ["HOLD-2,VOIDED,cash,DEBIT,5.00,USD,", "HOLD-2,VOIDED,sales,CREDIT,5.00,USD,"]
    reversal = run("reverse", cli_book, "HOLD-1", "HOLD-1-R", "--reason", "posted twice")
    assert reversal.splitlines()[0] == "HOLD-1-R POSTED effective 2026-03-01, reversal of HOLD-1"
    assert "posted twice" in reversal and "CREDIT" in reversal
    shown = json.loads(run("entry", cli_book, "HOLD-1", "--format", "json"))
    assert (shown["status"], shown["reversedBy"]) == ("POSTED", "HOLD-1-R")
    run("post", cli_book, "--reference", "HOLD-3", "--date", "2026-03-01", "--pending",
        "cash:DEBIT:5.00", "sales:CREDIT:5.00")
    part = json.loads(run("commit", cli_book, "HOLD-3", "cash:DEBIT:2.00", "sales:CREDIT:2:part", "--format", "json"))
    assert [(line["account"], line["amount"], line["memo"]) for line in part["lines"]] == [
        ("cash", "2.00", None), ("sales", "2.00", "part")]
    refused = ledger_client_command("commit", cli_book, "HOLD-3", "cash:DEBIT:1.00", "sales:CREDIT:1.00",
                                    server=sqlite_server)
    assert refused.returncode == 3 and refused.stderr.startswith("NotPending:"), refused.stderr
    again = ledger_client_command("commit", cli_book, "HOLD-2", server=sqlite_server)
    assert again.returncode == 3 and again.stderr.startswith("NotPending:"), again.stderr
    run("post", cli_book, "--reference", "META-1", "--date", "2026-04-01", "--meta", "costCentre=CC-7",
        "--meta", "invoice=1001", "cash:DEBIT:1.00", "sales:CREDIT:1.00")
    assert "metadata costCentre=CC-7, invoice=1001" in run("entry", cli_book, "META-1")
    listed = run("entries", cli_book, "--from", "2026-04-01", "--to", "2026-04-30", "--meta", "invoice=1001",
                 "--format", "csv").splitlines()
    assert listed[0] == "reference,id,effectiveDate,status,recordedAt,description,metadata"
    assert len(listed) == 2 and listed[1].startswith("META-1,") and listed[1].endswith(
        ',"costCentre=CC-7, invoice=1001"')
    as_json = json.loads(run("entries", cli_book, "--from", "2026-03-01", "--to", "2026-04-30", "--account", "cash",
                             "--meta", "costCentre", "--format", "json"))
    assert [(e["reference"], e["metadata"]) for e in as_json] == [("META-1", {"costCentre": "CC-7", "invoice": "1001"})]
    unknown = ledger_client_command("entry", cli_book, "NOPE", server=sqlite_server)
    assert unknown.returncode == 3 and unknown.stderr.startswith("EntryNotFound:")


def test_the_trial_balance_table_ends_with_a_total_per_currency(sqlite_server, cli_book):
    table = ledger_client_command("trial-balance", cli_book, server=sqlite_server)
    assert table.returncode == 0, table.stderr
    total = table.stdout.splitlines()[-1].split()
    assert total[0] == "total" and total.count("USD") == 1, table.stdout


def test_the_command_exit_status_says_what_went_wrong(sqlite_server, cli_book, tmp_path):
    fault = ledger_client_command("balance", cli_book, "nowhere", server=sqlite_server)
    assert fault.returncode == 3 and fault.stderr.startswith("AccountNotFound:"), fault.stderr
    unbalanced = ledger_client_command("post", cli_book, "--reference", "BAD", "--date", "2026-02-01",
                                       "cash:DEBIT:1.00", "sales:CREDIT:2.00", server=sqlite_server)
    assert unbalanced.returncode == 3 and unbalanced.stderr.startswith("Unbalanced:")
    down = ledger_client_command("balance", cli_book, "cash", env={
        "LEDGER_CLIENT_URL": f"http://127.0.0.1:{free_port()}", "LEDGER_CLIENT_USERNAME": "x",
        "LEDGER_CLIENT_PASSWORD": "y", "LEDGER_CLIENT_RETRIES": "1"})
    assert down.returncode == 4 and "ledger-client:" in down.stderr
    for usage in (["balance", cli_book], ["frobnicate"], ["post", cli_book, "cash:DEBIT"],
                  ["balance", cli_book, "cash", "--password", "secret"],
                  ["statement", cli_book, "cash", "--from", "2026-13-01", "--to", "2026-01-31"]):
        result = ledger_client_command(*usage, server=sqlite_server)
        assert result.returncode == 2, (usage, result.stdout, result.stderr)
    missing = ledger_client_command("balance", cli_book, "cash")
    assert missing.returncode == 2 and "LEDGER_CLIENT_URL" in missing.stderr


def test_the_command_reads_its_credentials_from_a_config_file(sqlite_server, cli_book, tmp_path):
    config = tmp_path / "client.ini"
    config.write_text(f"[ledger]\nurl = {sqlite_server.url}\nusername = {ADMIN}\npassword = {ADMIN_PASSWORD}\n")
    config.chmod(0o600)
    result = ledger_client_command("balance", cli_book, "cash", "--format", "json",
                                   env={"LEDGER_CLIENT_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["account"] == "cash" and result.stderr == ""
    config.chmod(0o644)
    loose = ledger_client_command("balance", cli_book, "cash", env={"LEDGER_CLIENT_CONFIG": str(config)})
    assert loose.returncode == 0 and "readable by others" in loose.stderr

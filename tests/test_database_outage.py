"""PostgreSQL in trouble under load: stopped and started again, restarted (fast and immediate shutdown)
under the client package's retries, made read-only, out of disk space. The service answers Unavailable
(HTTP 503) meanwhile, never InternalError, an HTML page or a hang, recovers by itself once the database
is back, and leaves no partial write behind; with the client's retries every confirmed post exists
exactly once and the books balance.

Each test breaks a PostgreSQL server of its own (initdb in a temporary directory, on a free port), not
the machine's shared cluster that every other PostgreSQL test, and whatever else runs on the machine,
is using: the outage is real (the postmaster goes away; pooled sessions die; new connections are
refused; the server refuses writes; a tablespace's file system is full) and touches nobody else.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import pwd
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
import requests
from lxml import etree

from conftest import (ADMIN, ADMIN_PASSWORD, CONTENT_TYPE, SOAP_ENV, TNS, LiveServer, PrivatePostgres, broken_journals,
                      envelope, serve, unique)
from ledger_client import (EntryInput, EntryNotFound, LedgerClient, LedgerError, RetryPolicy, TransportError,
                           Unavailable)
from ledger_service import admin
from ledger_service.domain.rate_limits import RateLimit
from test_client import new_book, sale

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

REQUEST_TIMEOUT = 30  # no call may take longer, outage or not
RECOVERY_BOUND = 15  # seconds from the database being back to the service answering again
OUTAGE = 2.0  # seconds a restarted PostgreSQL stays down


# --- the load ---

@dataclass
class Call:
    started: float
    ended: float
    operation: str
    reference: str | None
    status: int | None  # None: no HTTP answer at all
    outcome: str  # 'ok', a LedgerFault code, or what went wrong


@dataclass
class Load:
    server: LiveServer
    book: str
    t0: float = field(default_factory=time.monotonic)
    calls: list[Call] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def _reference(self) -> str:
        with self.lock:
            self.counter += 1
            return f"LOAD-{self.counter}"

    def _call(self, session: requests.Session, operation: str, version: str) -> None:
        reference = None
        if operation == "PostEntry":
            reference = self._reference()
            body = (f"<l:PostEntry><l:book>{self.book}</l:book><l:entry><l:reference>{reference}</l:reference>"
                    "<l:effectiveDate>2026-01-15</l:effectiveDate><l:lines>"
                    "<l:line><l:account>cash</l:account><l:side>DEBIT</l:side><l:amount>1.00</l:amount></l:line>"
                    "<l:line><l:account>sales</l:account><l:side>CREDIT</l:side><l:amount>1.00</l:amount></l:line>"
                    "</l:lines></l:entry></l:PostEntry>")
        else:
            body = f"<l:GetBalance><l:book>{self.book}</l:book><l:account>cash</l:account></l:GetBalance>"
        started = time.monotonic()
        try:
            response = session.post(self.server.endpoint(version), data=envelope(version, body),
                                    headers={"Content-Type": CONTENT_TYPE[version]}, timeout=REQUEST_TIMEOUT)
            status, outcome = response.status_code, read_outcome(response, version)
        except requests.RequestException as error:
            status, outcome = None, f"no answer: {error!r}"
        with self.lock:
            self.calls.append(Call(started - self.t0, time.monotonic() - self.t0, operation, reference, status,
                                   outcome))

    def worker(self, operation: str, version: str) -> None:
        with requests.Session() as session:
            while not self.stop.is_set():
                self._call(session, operation, version)
                time.sleep(0.01)

    def now(self) -> float:
        return time.monotonic() - self.t0


def read_outcome(response: requests.Response, version: str) -> str:
    """'ok' for an operation response, the LedgerFault code for a fault; anything else is reported as is."""
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media_type != {"11": "text/xml", "12": "application/soap+xml"}[version]:
        return f"not SOAP: {response.status_code} {media_type} {response.text[:200]!r}"
    try:
        root = etree.fromstring(response.content)
    except etree.XMLSyntaxError:
        return f"not XML: {response.text[:200]!r}"
    soap = SOAP_ENV[version]
    child = root.find(f"{{{soap}}}Body/*")
    if child is None:
        return f"no body: {response.text[:200]!r}"
    if child.tag != f"{{{soap}}}Fault":
        return "ok" if response.status_code == 200 else f"response with {response.status_code}"
    detail = child.find("detail") if version == "11" else child.find(f"{{{soap}}}Detail")
    code = detail.findtext(f"{{{TNS}}}LedgerFault/{{{TNS}}}code") if detail is not None else None
    soap_code = child.findtext("faultcode") if version == "11" else child.findtext(f"{{{soap}}}Code/{{{soap}}}Value")
    if code == "Unavailable" and (response.status_code, soap_code.partition(":")[2]) != \
            (503, {"11": "Server", "12": "Receiver"}[version]):
        return f"Unavailable with {response.status_code} {soap_code}"
    return code or f"fault without LedgerFault: {response.text[:200]!r}"


def _healthz(server: LiveServer) -> int | None:
    try:
        return requests.get(server.url + "/healthz", timeout=REQUEST_TIMEOUT).status_code
    except requests.RequestException:
        return None


def _wait_until(condition, bound: float, what: str) -> float:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {bound} s"
        time.sleep(0.1)
    return time.monotonic()


def ledger_database(cluster: PrivatePostgres) -> str:
    """The URL of a new database on the cluster, for a server to migrate."""
    with psycopg.connect(cluster.url, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "ledger"')
    return cluster.url.rsplit("/", 1)[0] + "/ledger"


def test_postgres_stopping_under_load_is_unavailable_and_the_service_recovers_by_itself(private_postgres,
                                                                                        tmp_path):
    server = serve(ledger_database(private_postgres), tmp_path)
    threads: list[threading.Thread] = []
    load = None
    try:
        admin = server.zeep().service
        book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
        load = Load(server, book.code)
        for operation in ("PostEntry", "GetBalance"):
            for version in ("11", "12"):
                threads.append(threading.Thread(target=load.worker, args=(operation, version), daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(1.5)

        timeline = {}
        try:
            timeline["stop"] = load.now()
            private_postgres.stop("fast")
            timeline["stopped"] = load.now()
            time.sleep(1.0)
            assert _healthz(server) == 503
            time.sleep(2.0)
            timeline["start"] = load.now()
        finally:
            # Whatever happened above, the database comes back.
            if not private_postgres.running():
                private_postgres.start()
        timeline["started"] = load.now()
        _wait_until(lambda: _healthz(server) == 200, RECOVERY_BOUND, "healthz is 200 again")
        timeline["healthy"] = load.now()

        def answering_again() -> bool:
            recent = [call for call in load.calls if call.started > timeline["healthy"]]
            return {"PostEntry", "GetBalance"} <= {call.operation for call in recent if call.outcome == "ok"}

        _wait_until(answering_again, RECOVERY_BOUND, "both operations succeed again")
        timeline["recovered"] = load.now()
        time.sleep(1.5)
    finally:
        if load is not None:
            load.stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    timeline["end"] = load.now()
    assert not any(thread.is_alive() for thread in threads), "a load thread hung"
    try:
        calls = sorted(load.calls, key=lambda call: call.started)
        outcomes = {}
        for call in calls:
            outcomes[call.outcome] = outcomes.get(call.outcome, 0) + 1
        print(f"\ntimeline (s): {timeline}\ncalls: {len(calls)} {outcomes}; "
              f"slowest {max(call.ended - call.started for call in calls):.2f} s")
        # Every answer was the operation's response or Unavailable with 503, never a hang or an HTML page.
        strange = [call for call in calls if call.outcome not in ("ok", "Unavailable")]
        assert not strange, strange[:5]
        assert all(call.ended - call.started < REQUEST_TIMEOUT for call in calls)
        unavailable = [call for call in calls if call.outcome == "Unavailable"]
        assert unavailable, "no call saw the outage"
        assert all(call.status == 503 for call in unavailable)
        # Unavailable only around the outage; before it, and once recovered, every call succeeded.
        assert all(timeline["stop"] <= call.ended and call.started <= timeline["recovered"] for call in unavailable), \
            [(call.started, call.ended) for call in unavailable if call.started > timeline["recovered"]][:5]
        after = [call for call in calls if call.started > timeline["recovered"]]
        assert after and all(call.outcome == "ok" for call in after)

        # No partial write: an accepted entry exists; an Unavailable one exists whole or not at all.
        posts = [call for call in calls if call.operation == "PostEntry"]
        existing = 0
        for call in posts:
            response = requests.post(server.endpoint("11"), timeout=REQUEST_TIMEOUT, data=envelope(
                "11", f"<l:GetEntry><l:book>{book.code}</l:book><l:reference>{call.reference}</l:reference>"
                      "</l:GetEntry>"), headers={"Content-Type": CONTENT_TYPE["11"]})
            found = read_outcome(response, "11")
            if call.outcome == "ok":
                assert found == "ok", (call, found)
            else:
                assert found in ("ok", "EntryNotFound"), (call, found)
            if found == "ok":
                entry = etree.fromstring(response.content).find(f".//{{{TNS}}}entry")
                assert len(entry.find(f"{{{TNS}}}lines")) == 2
                existing += 1
        print(f"posts: {len(posts)} sent, {sum(call.outcome == 'ok' for call in posts)} accepted, {existing} exist")
        assert book.balance("cash").balance == existing
        assert book.balance("sales").balance == existing
        trial = admin.GetTrialBalance(book.code, None)
        assert [(total.currency, total.debit, total.credit) for total in trial.totals.total] == \
            [("USD", existing, existing)]
        assert_ledger_consistent(server.database_url)
    finally:
        server.stop()


# --- what a test looks at afterwards ---

def log_records(server: LiveServer) -> list[dict]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{") and line.endswith("}")]


def soap_answers(server: LiveServer) -> Counter:
    """(operation, HTTP status, fault code) of every SOAP request in the server's request log."""
    return Counter((record["operation"], record["status"], record["fault"]) for record in log_records(server)
                   if record["logger"] == "ledger_service.requests" and record["path"].startswith("/v1/soap"))


def assert_outage_answers_only(server: LiveServer, *asked_for: str) -> Counter:
    """Every SOAP answer was a success, Unavailable with 503, or a fault the test asked for, and the service
    logged no error; returns the answers by (HTTP status, fault code)."""
    by_kind = Counter()
    for (_operation, status, fault), count in soap_answers(server).items():
        by_kind[(status, fault)] += count
    assert set(by_kind) <= {(200, None), (503, "Unavailable"), *((500, code) for code in asked_for)}, by_kind
    errors = [record for record in log_records(server) if record["level"] in ("ERROR", "CRITICAL")]
    assert not errors, errors[:3]
    return by_kind


# What must never be, whatever failed: each check's rows are what breaks it.
INCONSISTENCIES = {
    "posted entries without lines":
        "SELECT e.reference FROM entries e WHERE e.status = 'POSTED'"
        " AND NOT EXISTS (SELECT 1 FROM lines l WHERE l.entry_id = e.id)",
    "entries whose debits are not their credits":
        "SELECT e.reference FROM entries e JOIN lines l ON l.entry_id = e.id JOIN accounts a ON a.id = l.account_id"
        " GROUP BY e.id, e.reference, a.currency"
        " HAVING sum(CASE l.side WHEN 'DEBIT' THEN l.amount ELSE -l.amount END) <> 0",
    "entries not in the journal":
        "SELECT e.reference FROM entries e WHERE NOT EXISTS (SELECT 1 FROM journal_records r WHERE r.entry_id = e.id)"
        " AND NOT EXISTS (SELECT 1 FROM journal_queue q WHERE q.entry_id = e.id)",
    "queued journal records of no entry":
        "SELECT q.id::text FROM journal_queue q WHERE q.entry_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.id = q.entry_id)",
    "accounts whose totals are not their lines":
        "SELECT a.code FROM accounts a LEFT JOIN lines l ON l.account_id = a.id"
        " GROUP BY a.id, a.code, a.posted_debits, a.posted_credits"
        " HAVING a.posted_debits <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0)"
        " OR a.posted_credits <> coalesce(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)",
}


def assert_ledger_consistent(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        broken = {name: rows for name, query in INCONSISTENCIES.items()
                  if (rows := [row[0] for row in connection.execute(query)])}
    assert broken == {}
    assert broken_journals(database_url) == {}


def posted_amounts(database_url: str, book: str) -> dict[str, list[Decimal]]:
    """Each reference of the book's entries: the debit total of every entry that has it (two: posted twice)."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT e.reference, sum(l.amount) FROM entries e JOIN books b ON b.id = e.book_id"
            " JOIN lines l ON l.entry_id = e.id AND l.side = 'DEBIT' WHERE b.code = %s GROUP BY e.id, e.reference",
            [book]).fetchall()
    found: dict[str, list[Decimal]] = {}
    for reference, minor_units in rows:
        found.setdefault(reference, []).append(Decimal(minor_units) / 100)
    return found


def assert_books_balance(client: LedgerClient, book: str, total: Decimal) -> None:
    assert client.get_balance(book, "cash").balance == total
    assert client.get_balance(book, "sales").balance == total
    assert [(row.currency, row.debit, row.credit) for row in client.get_trial_balance(book).totals] == \
        [("USD", total, total)]


# --- PostgreSQL restarted under the client package's load ---

CLIENTS = 8


@dataclass(frozen=True)
class RecordingRetryPolicy(RetryPolicy):
    """The client package's policy, keeping every failed attempt it is asked about, and whether it had
    the call tried again."""

    failures: list = field(default_factory=list, compare=False)

    def wait_before(self, attempt: int, error: Exception, operation: str) -> float | None:
        wait = super().wait_before(attempt, error, operation)
        self.failures.append((error, wait is not None))
        return wait


def failure_kind(error: Exception) -> str:
    if isinstance(error, TransportError):
        return f"TransportError({error.status})"
    return type(error).__name__


@dataclass
class ClientCall:
    operation: str
    entry: EntryInput | None
    outcome: str  # 'ok', or what the call raised once its retries were spent
    started: float
    ended: float


@dataclass
class ClientLoad:
    """CLIENTS threads, each a LedgerClient of its own (SOAP 1.1 and 1.2 in turn, each of the `policies` in
    turn), posting an entry of a reference of its own, then reading the cash balance, until stopped."""

    server: LiveServer
    book: str
    policies: tuple[RetryPolicy, ...]
    t0: float = field(default_factory=time.monotonic)
    calls: list[ClientCall] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._client, args=(index,), daemon=True) for index in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        longest = max(policy.attempts * (REQUEST_TIMEOUT + policy.longest_wait) for policy in self.policies)
        for thread in self.threads:
            thread.join(longest)
        assert not any(thread.is_alive() for thread in self.threads), "a client hung"

    def _client(self, index: int) -> None:
        with LedgerClient(self.server.url, ADMIN, ADMIN_PASSWORD, soap_version=(11, 12)[index % 2],
                          timeout=REQUEST_TIMEOUT, retry=self.policies[index // 2 % len(self.policies)]) as client:
            for number in itertools.count(1):
                if self.stop.is_set():
                    return
                reference = f"C{index}-{number}"
                entry = sale(reference, str(posted_amount(number)))
                self._call("PostEntry", entry, lambda: client.post_entry(self.book, entry))
                self._call("GetBalance", None, lambda: client.get_balance(self.book, "cash"))

    def _call(self, operation: str, entry: EntryInput | None, call) -> None:
        started = self.now()
        try:
            call()
            outcome = "ok"
        except (LedgerError, TransportError) as error:
            outcome = type(error).__name__
        except Exception as error:  # recorded, so that the test reports it instead of losing the thread
            outcome = f"unexpected {error!r}"
        self.calls.append(ClientCall(operation, entry, outcome, started, self.now()))


def posted_amount(number: int) -> Decimal:
    """1.00 to 9.99, so that a wrong sum says that posts are missing or doubled."""
    return Decimal(100 + number * 37 % 900) / 100


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_under_load_costs_clients_retries_and_nothing_else(private_postgres, tmp_path, mode):
    url = ledger_database(private_postgres)
    server = serve(url, tmp_path)
    failed_attempts: list = []
    # Half the clients wait the outage out; the others give up after about a second, and post again later.
    patient = RecordingRetryPolicy(attempts=8, backoff=0.25, longest_wait=2.0, failures=failed_attempts)
    impatient = RecordingRetryPolicy(attempts=3, backoff=0.25, longest_wait=2.0, failures=failed_attempts)
    try:
        with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD) as checker:
            book = new_book(checker)
            load = ClientLoad(server, book, (patient, impatient))
            load.start()
            try:
                time.sleep(1.5)
                timeline = {"stop": load.now()}
                try:
                    private_postgres.stop(mode)
                    timeline["stopped"] = load.now()
                    time.sleep(OUTAGE)
                finally:
                    private_postgres.start()
                timeline["back"] = load.now()

                def answered_since_back() -> list[ClientCall]:
                    return [call for call in list(load.calls)
                            if call.outcome == "ok" and call.ended > timeline["back"]]

                _wait_until(answered_since_back, RECOVERY_BOUND, "a call succeeds after PostgreSQL is back")
                timeline["recovered"] = min(call.ended for call in answered_since_back())
                time.sleep(2.0)
            finally:
                load.finish()
            timeline["end"] = load.now()

            calls = load.calls
            outcomes = Counter((call.operation, call.outcome) for call in calls)
            failures = Counter(failure_kind(error) for error, _retried in failed_attempts)
            answers = assert_outage_answers_only(server)
            recovery = timeline["recovered"] - timeline["back"]
            print(f"\n{mode}: timeline (s) {timeline}; recovery {recovery:.2f} s\n"
                  f"calls {len(calls)} {dict(outcomes)}; HTTP requests {sum(answers.values())} {dict(answers)}\n"
                  f"failed attempts {len(failed_attempts)} {dict(failures)}, "
                  f"retried {sum(retried for _error, retried in failed_attempts)}")
            # The outage was seen, as Unavailable or a transport error only, and every client got over it.
            assert answers[(503, "Unavailable")] > 0
            assert set(failures) <= {"Unavailable", "TransportError(None)", "TransportError(503)"}, failures
            assert {outcome for _operation, outcome in outcomes} <= {"ok", "Unavailable", "TransportError"}, outcomes
            assert all(call.outcome == "ok" for call in calls if call.started > timeline["recovered"])

            # Every confirmed post exists once, as posted; one that failed after its retries at most once.
            posts = [call for call in calls if call.operation == "PostEntry"]
            sent = {call.entry.reference: call.entry.lines[0].amount for call in posts}
            confirmed = {call.entry.reference for call in posts if call.outcome == "ok"}
            existing = posted_amounts(url, book)
            assert set(existing) <= set(sent)
            assert all(len(amounts) == 1 for amounts in existing.values()), \
                {reference: amounts for reference, amounts in existing.items() if len(amounts) > 1}
            assert all(existing.get(reference) == [Decimal(sent[reference])] for reference in confirmed)
            failed_existing = len(set(existing) - confirmed)
            # What its client gave up on, posted again now: the entry, once, whether the first try had posted it.
            for call in posts:
                if call.outcome != "ok":
                    assert checker.post_entry(book, call.entry).reference == call.entry.reference
            after_resending = posted_amounts(url, book)
            assert after_resending == {reference: [Decimal(amount)] for reference, amount in sent.items()}
            print(f"posts: {len(sent)} sent, {len(confirmed)} confirmed and checked; {len(sent) - len(confirmed)} "
                  f"failed after retries, of which {failed_existing} had been posted; all {len(sent)} exist once")
            assert_books_balance(checker, book, sum((Decimal(amount) for amount in sent.values()), Decimal("0.00")))
        assert_ledger_consistent(url)
    finally:
        server.stop()


# --- PostgreSQL refusing writes ---

def test_a_read_only_database_refuses_writes_as_unavailable_and_takes_them_again_once_writable(private_postgres,
                                                                                            tmp_path):
    url = ledger_database(private_postgres)
    server = serve(url, tmp_path)
    limited_name = unique("reader")
    try:
        with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, retry=RetryPolicy(attempts=1)) as client, \
                LedgerClient(server.url, limited_name, "secret", retry=RetryPolicy(attempts=1)) as limited, \
                psycopg.connect(private_postgres.url, autocommit=True) as cluster:
            # This session keeps writing whatever the server's default.
            cluster.execute("SET default_transaction_read_only = off")
            book = new_book(client)
            client.post_entry(book, sale("BEFORE", "5.00"))
            total = Decimal("5.00")
            server.add_client(limited_name, grants={book: "reader"})
            database = server.database()
            try:
                admin.limit_client(database, limited_name, RateLimit(6000, 100))
            finally:
                database.dispose()
            assert limited.get_balance(book, "cash").balance == total

            def concurrent_reads(rounds: int = 3) -> None:
                """Reads from several threads at once, so that the server's pools hold several sessions."""
                def read(index: int) -> list[Decimal]:
                    with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, soap_version=(11, 12)[index % 2],
                                      retry=RetryPolicy(attempts=1)) as reader:
                        return [reader.get_balance(book, "cash").balance for _ in range(rounds)]
                with ThreadPoolExecutor(CLIENTS) as readers:
                    assert list(readers.map(read, range(CLIENTS))) == [[total] * rounds] * CLIENTS

            def writes_are_refused_and_reads_answered(reference: str) -> None:
                with pytest.raises(Unavailable):
                    client.post_entry(book, sale(reference, "1.00"))
                assert client.get_balance(book, "cash").balance == total
                with pytest.raises(EntryNotFound):
                    client.get_entry(book, reference)
                assert _healthz(server) == 200
                # A rate-limited client's request spends a token, a write, before it reads.
                with pytest.raises(Unavailable):
                    limited.get_balance(book, "cash")

            def writes_are_taken(reference: str) -> None:
                nonlocal total
                for number in range(CLIENTS):
                    client.post_entry(book, sale(f"{reference}-{number}", "1.00"))
                    total += Decimal("1.00")
                client.post_entry(book, sale(reference, "1.00"))  # the refused post, sent again
                total += Decimal("1.00")

            # The whole server made read-only: every session, pooled ones too, reads the setting before its
            # next statement.
            concurrent_reads()
            cluster.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            cluster.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            writes_are_refused_and_reads_answered("SYSTEM-READ-ONLY")
            cluster.execute("ALTER SYSTEM RESET default_transaction_read_only")
            cluster.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)
            writes_are_taken("SYSTEM-READ-ONLY")

            # The database made read-only and its sessions cut, as a failover may leave it: the sessions opened
            # since keep refusing writes after the database takes them again, until the service drops them.
            cluster.execute('ALTER DATABASE "ledger" SET default_transaction_read_only = on')
            cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'ledger'")
            # Sessions found dead are not the database down: every worker's first look opens a fresh one.
            assert [_healthz(server) for _ in range(CLIENTS)] == [200] * CLIENTS
            writes_are_refused_and_reads_answered("DATABASE-READ-ONLY")
            concurrent_reads()
            cluster.execute('ALTER DATABASE "ledger" RESET default_transaction_read_only')
            writes_are_taken("DATABASE-READ-ONLY")

            assert_books_balance(client, book, total)
        answers = assert_outage_answers_only(server, "EntryNotFound")
        assert soap_answers(server)[("PostEntry", 503, "Unavailable")] == 2
        print(f"\nread-only: HTTP requests {sum(answers.values())} {dict(answers)}")
        assert_ledger_consistent(url)
    finally:
        server.stop()


# --- PostgreSQL out of disk space ---

@contextlib.contextmanager
def small_file_system(directory: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `directory` (created) for PostgreSQL's user, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system for a full tablespace needs root")
    directory.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(directory)], check=True,
                   capture_output=True, timeout=30)
    try:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "--lazy", str(directory)], check=True, capture_output=True, timeout=30)


def fill(connection: psycopg.Connection, tablespace: str) -> None:
    """Fills the tablespace to its last block with a table of its own, `filler`."""
    connection.execute(f"CREATE TABLE filler (padding text) TABLESPACE {tablespace}")
    for rows in (1000, 1):
        with pytest.raises(psycopg.errors.DiskFull):
            for _ in range(100):
                connection.execute("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, %s)",
                                   [rows])


def test_a_full_disk_refuses_writes_as_unavailable_and_takes_them_again_once_space_is_freed(private_postgres,
                                                                                          tmp_path):
    with small_file_system(private_postgres.root / "small-disk", "8m") as disk:
        url = ledger_database(private_postgres)
        server = serve(url, tmp_path)
        try:
            with LedgerClient(server.url, ADMIN, ADMIN_PASSWORD, retry=RetryPolicy(attempts=1)) as client, \
                    psycopg.connect(url, autocommit=True) as ledger:
                book = new_book(client)
                # Every table and index of the ledger on the small file system; the catalogs stay where they are.
                ledger.execute(f"CREATE TABLESPACE small LOCATION '{disk}'")
                ledger.execute("ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE small")
                ledger.execute("ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE small")
                client.post_entry(book, sale("BEFORE", "5.00"))
                total = Decimal("5.00")
                fill(ledger, "small")

                # Posts are taken while the pages the tables have hold them; the first that needs a page more
                # is refused whole.
                def taken(reference: str) -> bool:
                    try:
                        client.post_entry(book, sale(reference, "1.00"))
                    except Unavailable:
                        return False
                    return True

                taken_while_full = list(itertools.takewhile(taken, (f"FULL-{number}" for number in range(1, 201))))
                assert len(taken_while_full) < 200, "200 posts found room on a full disk"
                refused = f"FULL-{len(taken_while_full) + 1}"
                total += len(taken_while_full) * Decimal("1.00")
                with pytest.raises(EntryNotFound):
                    client.get_entry(book, refused)
                assert_books_balance(client, book, total)
                assert_ledger_consistent(url)

                ledger.execute("DROP TABLE filler")
                for reference in (refused, *(f"AFTER-{number}" for number in range(CLIENTS))):
                    client.post_entry(book, sale(reference, "1.00"))
                    total += Decimal("1.00")
                assert_books_balance(client, book, total)
            answers = assert_outage_answers_only(server, "EntryNotFound")
            print(f"\nfull disk: refused {refused}; HTTP requests {sum(answers.values())} {dict(answers)}")
            assert soap_answers(server)[("PostEntry", 503, "Unavailable")] == 1
            assert_ledger_consistent(url)
        finally:
            server.stop()
            # The file system unmounts only once nothing holds its files open.
            private_postgres.stop("immediate")

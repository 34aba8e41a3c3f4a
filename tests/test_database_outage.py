"""PostgreSQL stops under load and starts again: the service answers Unavailable (HTTP 503) meanwhile,
never an HTML page and never a hang, recovers by itself once the database is back, and leaves no
partial write behind.

The test stops a PostgreSQL server of its own (initdb in a temporary directory, on a free port), not
the machine's shared cluster that every other PostgreSQL test, and whatever else runs on the machine,
is using: the outage is real (the postmaster goes away; pooled sessions die; new connections are
refused) and touches nobody else.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg
import pytest
import requests
from lxml import etree

from conftest import CONTENT_TYPE, SOAP_ENV, TNS, LiveServer, envelope, serve

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

REQUEST_TIMEOUT = 30  # no call may take longer, outage or not
RECOVERY_BOUND = 15  # seconds from the database being back to the service answering again


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


def test_postgres_stopping_under_load_is_unavailable_and_the_service_recovers_by_itself(private_postgres,
                                                                                        tmp_path):
    with psycopg.connect(private_postgres.url, autocommit=True) as connection:
        connection.execute('CREATE DATABASE "ledger"')
    server = serve(private_postgres.url.rsplit("/", 1)[0] + "/ledger", tmp_path)
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
    finally:
        server.stop()

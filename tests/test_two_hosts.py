"""Two hosts on one PostgreSQL behave as one service (docs/operations.md, "Scaling out"): a PasswordDigest
nonce spent on one is refused on the other, a client's rate limit and the failed-login budgets are one budget
for both, one reference posted on both at the same moment is one entry, and a SIGHUP reload of one host
under load loses no request.

Each host is a `ledger-service serve` in a network namespace of the test's own, joined to the test's
namespace by a veth pair, and reaches a PostgreSQL cluster of the test's own (listening on loopback and on
the root side of each pair) over its own link: the hosts share nothing but the database. The test makes
the namespaces and links and removes them, and its processes, however it ends. It needs root.
"""
from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import psycopg
import pytest
import requests
from zeep.helpers import serialize_object

from conftest import Book, LiveServer, broken_journals, post_raw, running_private_postgres, serve, unique
from test_concurrency import database_rows
from test_database_outage import REQUEST_TIMEOUT, Load, read_outcome
from test_failed_logins import _FromAddress, expect_authentication_failed, trial_balance
from test_password_digest import KEY, add_client, digest_header
from test_rate_limits import create_book, expect_rate_limited, limited_client

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

WORKERS = 2
# Refilled a token a minute, so that no budget grows back while the test spends it.
BURST_PER_USERNAME, BURST_PER_ADDRESS = 8, 12
SETTINGS = {
    "LEDGER_SECRET_KEY": KEY,
    "LEDGER_FAILED_LOGINS_PER_USERNAME": "1/min", "LEDGER_FAILED_LOGINS_BURST_PER_USERNAME": str(BURST_PER_USERNAME),
    "LEDGER_FAILED_LOGINS_PER_ADDRESS": "1/min", "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS": str(BURST_PER_ADDRESS),
}
RATE_BURST, RATE_EXTRA = 4, 6
RACES, AMOUNT = 6, Decimal("2.50")
ACCOUNTS = {"cash": ("ASSET", "EUR"), "sales": ("INCOME", "EUR")}


# --- the network ---

@dataclass(frozen=True)
class HostLink:
    namespace: str
    link: str  # the root side of the veth pair; the namespace side is its eth0
    gateway: str  # the root side's address: where the host reaches PostgreSQL
    address: str  # the host's own, in its namespace


def ip(*arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 or not check, f"ip {' '.join(arguments)}: {result.stderr}"
    return result


def unused_network() -> ipaddress.IPv4Network:
    """A /24 of 10.231.0.0/16 that no address or route of this namespace touches."""
    taken = ip("-4", "-o", "addr", "show").stdout + ip("-4", "route", "show", "table", "all").stdout
    for third in random.sample(range(256), 256):
        if f"10.231.{third}." not in taken:
            return ipaddress.IPv4Network(f"10.231.{third}.0/24")
    pytest.fail("every /24 of 10.231.0.0/16 is in use")


@contextlib.contextmanager
def two_namespaces(network: ipaddress.IPv4Network) -> Iterator[tuple[list[HostLink], str]]:
    """Namespaces ledger-TAG-a and ledger-TAG-b, each a /29 of `network` on its link, with a default
    route back to this namespace; and a third address on this side of a's link, for calls from a
    caller of its own. Whatever is left running in them is killed, and all of it removed, afterwards."""
    tag = uuid.uuid4().hex[:6]
    hosts = []
    for index, side in enumerate("ab"):
        block = list(ipaddress.IPv4Network(f"{network.network_address + 8 * index}/29").hosts())
        hosts.append(HostLink(f"ledger-{tag}-{side}", f"lg{tag}{side}", str(block[0]), str(block[1])))
    caller = str(list(ipaddress.IPv4Network(f"{network.network_address}/29").hosts())[2])
    try:
        for host in hosts:
            ip("netns", "add", host.namespace)
            ip("link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            ip("addr", "add", f"{host.gateway}/29", "dev", host.link)
            ip("link", "set", host.link, "up")
            ip("-n", host.namespace, "addr", "add", f"{host.address}/29", "dev", "eth0")
            ip("-n", host.namespace, "link", "set", "eth0", "up")
            ip("-n", host.namespace, "link", "set", "lo", "up")
            ip("-n", host.namespace, "route", "add", "default", "via", host.gateway)
        ip("addr", "add", f"{caller}/29", "dev", hosts[0].link)
        yield hosts, caller
    finally:
        for host in hosts:
            for pid in ip("netns", "pids", host.namespace, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            # Removing a namespace frees its end of the pair only later: the link goes explicitly.
            ip("link", "del", host.link, check=False)
            ip("netns", "del", host.namespace, check=False)


# --- the two hosts ---

@dataclass
class TwoHosts:
    a: LiveServer
    b: LiveServer
    caller: str  # an address of this namespace that only the failed-login test calls from

    @property
    def both(self) -> tuple[LiveServer, LiveServer]:
        return self.a, self.b


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Iterator[TwoHosts]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's ip")
    network = unused_network()
    with contextlib.ExitStack() as stack:
        links, caller = stack.enter_context(two_namespaces(network))
        cluster = stack.enter_context(running_private_postgres(
            addresses=("127.0.0.1", *(link.gateway for link in links)), trusted_networks=(str(network),)))
        with psycopg.connect(cluster.url, autocommit=True) as connection:
            connection.execute('CREATE DATABASE "ledger"')
        servers = []
        for link in links:
            placement = {"host": link.address, "run_under": ["ip", "netns", "exec", link.namespace]}
            url = cluster.url_at(link.gateway, "ledger")
            log_dir = tmp_path_factory.mktemp(link.namespace)
            server = (serve(url, log_dir, WORKERS, SETTINGS, **placement) if not servers else
                      LiveServer(url, WORKERS, SETTINGS, **placement).start(log_dir))
            stack.callback(server.stop)
            servers.append(server)
        yield TwoHosts(*servers, caller)
        print(f"\ntwo hosts: {assert_intact(servers[0].database_url)} entries checked, intact")


def assert_intact(url: str) -> int:
    """Whatever the tests did to the two hosts: every book's journal verifies, every currency of every
    book balances, no entry lacks its lines. The number of entries checked."""
    assert broken_journals(url) == {}
    with psycopg.connect(url) as connection:
        unbalanced = connection.execute("""
            SELECT b.code, a.currency FROM lines l JOIN accounts a ON a.id = l.account_id
            JOIN books b ON b.id = a.book_id GROUP BY b.code, a.currency
            HAVING sum(CASE WHEN l.side = 'DEBIT' THEN l.amount ELSE 0 END)
                <> sum(CASE WHEN l.side = 'CREDIT' THEN l.amount ELSE 0 END)""").fetchall()
        bare = connection.execute(
            "SELECT id FROM entries e WHERE NOT EXISTS (SELECT FROM lines l WHERE l.entry_id = e.id)").fetchall()
        [(entries,)] = connection.execute("SELECT count(*) FROM entries").fetchall()
    assert unbalanced == [] and bare == [], (unbalanced, bare)
    return entries


def at_once(calls: list) -> list:
    """The calls' results, the calls released together, each from a thread of its own."""
    ready = threading.Barrier(len(calls))

    def run(call):
        ready.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# --- the tests ---

def test_a_nonce_spent_on_one_host_is_refused_on_the_other(hosts):
    book = hosts.a.new_book().code
    name, password = add_client(hosts.a, f"{book}:reader")
    for first, second in (hosts.both, reversed(hosts.both)):
        document = trial_balance(book, header=digest_header(name, password))
        assert read_outcome(post_raw(first, document), "11") == "ok"
        assert read_outcome(post_raw(second, document), "11") == "AuthenticationFailed"
    # Sent to both at the same moment, a fresh token is accepted by one of them only.
    for _ in range(3):
        document = trial_balance(book, header=digest_header(name, password))
        responses = at_once([lambda server=server: post_raw(server, document) for server in hosts.both])
        assert sorted(read_outcome(response, "11") for response in responses) == ["AuthenticationFailed", "ok"]


def test_a_clients_rate_limit_is_one_budget_on_both_hosts(hosts):
    name, password = limited_client(hosts.a, "1/min", RATE_BURST)
    calls = [lambda server=server: (server, create_book(server, name, password))
             for server in itertools.islice(itertools.cycle(hosts.both), RATE_BURST + RATE_EXTRA)]
    answered = at_once(calls)
    admitted = Counter(server.host for server, response in answered if response.status_code == 200)
    refused = [response for _, response in answered if response.status_code != 200]
    print(f"\nrate limit: {RATE_BURST + RATE_EXTRA} requests, admitted by host {dict(admitted)}")
    assert sum(admitted.values()) == RATE_BURST
    for response in refused:
        assert expect_rate_limited(response) > 30
    for server in hosts.both:
        expect_rate_limited(create_book(server, name, password))


def test_failed_logins_on_either_host_spend_one_budget(hosts):
    book = hosts.a.new_book().code
    name, password = hosts.a.add_client(grants={book: "reader"})
    turns = itertools.cycle(hosts.both)
    for _ in range(BURST_PER_USERNAME):
        expect_authentication_failed(post_raw(next(turns), trial_balance(book, "11", name, "wrong")))
    for server in hosts.both:
        refused = post_raw(server, trial_balance(book, "11", name, password))
        expect_rate_limited(refused)
        assert "for this username" in refused.text

    # From one address, failures for many usernames, split between the hosts, lock it on both.
    other, other_password = hosts.a.add_client(grants={book: "reader"})
    with requests.Session() as caller:
        caller.mount("http://", _FromAddress(hosts.caller))

        def post(server: LiveServer, document: bytes) -> requests.Response:
            return caller.post(server.endpoint(), data=document, timeout=REQUEST_TIMEOUT,
                               headers={"Content-Type": "text/xml; charset=utf-8"})

        for _ in range(BURST_PER_ADDRESS):
            expect_authentication_failed(post(next(turns), trial_balance(book, "11", unique("nobody"), "wrong")))
        for server in hosts.both:
            refused = post(server, trial_balance(book, "11", other, other_password))
            expect_rate_limited(refused)
            assert "from this address" in refused.text
    for server in hosts.both:
        assert post_raw(server, trial_balance(book, "11", other, other_password)).status_code == 200


def test_one_reference_posted_on_both_hosts_at_once_is_one_entry(hosts):
    code = hosts.a.new_book(**ACCOUNTS).code
    books = [Book(server, code, server.zeep().service) for server in hosts.both]
    for race in range(RACES):
        reference = f"RACE-{race}"
        entries = at_once([lambda book=book: book.post(reference, [("cash", "DEBIT", str(AMOUNT)),
                                                                   ("sales", "CREDIT", str(AMOUNT))])
                           for book in books])
        first, second = (serialize_object(entry) for entry in entries)
        assert first == second and first["reference"] == reference
    [(stored,)] = database_rows(hosts.a, "SELECT count(*) FROM entries e JOIN books b ON b.id = e.book_id "
                                         "WHERE b.code = %s", code)
    assert stored == RACES
    for book in books:
        assert book.balance("cash").balance == book.balance("sales").balance == RACES * AMOUNT


def test_a_sighup_on_one_host_under_load_loses_no_request(hosts):
    server = hosts.a
    book = server.new_book(**ACCOUNTS)
    load = Load(server, book.code)
    threads = [threading.Thread(target=load.worker, args=(operation, version), daemon=True)
               for operation in ("PostEntry", "GetBalance") for version in ("11", "12")]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2):
            time.sleep(1.5)
            server.process.send_signal(signal.SIGHUP)
        time.sleep(2.5)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    assert not any(thread.is_alive() for thread in threads), "a load thread hung"
    outcomes = Counter(call.outcome for call in load.calls)
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    serving = {record["process"] for record in records if record["logger"] == "ledger_service.requests"}
    print(f"\nSIGHUP x2 under load: {len(load.calls)} requests {dict(outcomes)}, served by {len(serving)} workers")
    assert [record["message"] for record in records].count("Handling signal: hup") == 2
    # The reloads replaced the workers while they served.
    assert len(serving) > WORKERS
    assert load.calls and set(outcomes) == {"ok"} and {call.status for call in load.calls} == {200}, \
        [call for call in load.calls if call.outcome != "ok"][:5]
    posted = sum(call.operation == "PostEntry" for call in load.calls)
    assert book.balance("cash").balance == book.balance("sales").balance == posted

"""The budget of failed authentications (README, Security): per username and per source address, shared by
every worker and every server on one database; once it is spent, RateLimited (HTTP 429, Retry-After)
whatever the password, with no password hash computed; and unknown usernames fail exactly as known ones.

Each test's requests come from loopback addresses of its own (127.0.1.1 onwards: all of 127.0.0.0/8 reaches
the server), so that only its own failures count against them.
"""
from __future__ import annotations

import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from requests.adapters import HTTPAdapter

from sqlalchemy import select

from conftest import (BACKENDS, CONTENT_TYPE, LiveServer, cli, database_url, envelope, password_text, start_server,
                      unique)
from ledger_service.adapters.database import Database
from ledger_service.adapters.orm import FailedLoginBucketRow
from ledger_service.domain.rate_limits import MILLI, RateLimit
from ledger_service.service_layer.failed_logins import FailedLoginBudget, budgeted_address
from ledger_service.adapters.passwords import hash_password
from test_faults import expect_fault
from test_password_digest import KEY, add_client, digest_header
from test_rate_limits import all_at_once, expect_rate_limited

BURST_PER_USERNAME, BURST_PER_ADDRESS = 8, 16
# A token every 6 s: no failure is refilled while a test spends a budget, and a refill is soon seen.
SMALL_BUDGET = {
    "LEDGER_FAILED_LOGINS_PER_USERNAME": "10/min", "LEDGER_FAILED_LOGINS_BURST_PER_USERNAME": str(BURST_PER_USERNAME),
    "LEDGER_FAILED_LOGINS_PER_ADDRESS": "10/min", "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS": str(BURST_PER_ADDRESS),
    "LEDGER_SECRET_KEY": KEY,
}
LOCKED_OUT_REQUESTS = 200
_addresses = itertools.count(257)


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


class Peer:
    """An HTTP client calling from a loopback address no other test uses."""

    def __init__(self, server: LiveServer):
        number = next(_addresses)
        self.address = f"127.0.{number // 256}.{number % 256}"
        self.server = server
        self.session = requests.Session()
        self.session.mount("http://", _FromAddress(self.address))

    def post(self, document: bytes, version: str = "11") -> requests.Response:
        return self.session.post(self.server.endpoint(version), data=document, timeout=60,
                                 headers={"Content-Type": CONTENT_TYPE[version]})


def trial_balance(book: str, version: str = "11", username: str | None = None, password: str = "",
                  header: str = "") -> bytes:
    return envelope(version, f"<l:GetTrialBalance><l:book>{book}</l:book></l:GetTrialBalance>", username, password,
                    header)


def expect_authentication_failed(response: requests.Response, version: str = "11") -> None:
    assert expect_fault(response, version, "AuthenticationFailed").message == "authentication failed"


def seconds_per_hash() -> float:
    """What one password hash of the service takes on this machine, now (the fastest of a few: load only adds)."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        hash_password("a password")
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.fixture(scope="module", params=BACKENDS)
def guarded(request, tmp_path_factory) -> LiveServer:
    return start_server(request, tmp_path_factory, request.param, extra_env=SMALL_BUDGET)


@pytest.fixture(scope="module")
def book(guarded) -> str:
    return guarded.new_book().code


def test_failures_for_a_username_lock_it_from_everywhere_until_the_budget_refills(guarded, book):
    name, password = guarded.add_client(grants={book: "reader"})
    other, other_password = guarded.add_client(grants={book: "reader"})
    peer, elsewhere = Peer(guarded), Peer(guarded)
    for _ in range(BURST_PER_USERNAME):
        expect_authentication_failed(peer.post(trial_balance(book, "11", name, "wrong")))

    # The right password is refused too, from any address, on both SOAP versions.
    for caller in (peer, elsewhere):
        for version in ("11", "12"):
            refused = caller.post(trial_balance(book, version, name, password), version)
            wait = expect_rate_limited(refused, version)
            assert 1 <= wait <= 6
    assert "for this username" in refused.text
    # The address itself is not locked: another client calls from it as before.
    assert peer.post(trial_balance(book, "11", other, other_password)).status_code == 200

    time.sleep(wait)
    assert peer.post(trial_balance(book, "11", name, password)).status_code == 200


@pytest.mark.parametrize("version", ["11", "12"])
def test_failures_from_an_address_lock_it_for_every_username(guarded, book, version):
    name, password = guarded.add_client(grants={book: "reader"})
    peer, elsewhere = Peer(guarded), Peer(guarded)
    # One failure each for many usernames, known and unknown: no username's budget is spent.
    for index in range(BURST_PER_ADDRESS):
        someone = guarded.add_client()[0] if index % 2 else unique("nobody")
        expect_authentication_failed(peer.post(trial_balance(book, version, someone, "wrong"), version), version)

    for username, secret in ((name, password), (unique("nobody"), "wrong")):
        refused = peer.post(trial_balance(book, version, username, secret), version)
        assert 1 <= expect_rate_limited(refused, version) <= 6
        assert "from this address" in refused.text
    assert elsewhere.post(trial_balance(book, version, name, password), version).status_code == 200


REPLAYED_NONCE = b"spent-once-then-replayed"
# Each kind of failure, as the header of an attempt of that kind by the client `name` (password `password`).
FAILURES = {
    "wrong password": lambda name, password: password_text(name, password + "x"),
    "empty password": lambda name, password: password_text(name, ""),
    "unknown user": lambda name, password: password_text(f"{name}-nobody", password),
    "disabled client": password_text,  # once the client is disabled
    "bad digest": lambda name, password: digest_header(name, password, digest_password="x"),
    "digest of an unknown user": lambda name, password: digest_header(f"{name}-nobody", password),
    "replayed nonce": lambda name, password: digest_header(name, password, nonce=REPLAYED_NONCE),
    "expired Created": lambda name, password: digest_header(
        name, password, created=datetime.now(timezone.utc) - timedelta(minutes=6)),
}


@pytest.mark.parametrize("kind", FAILURES)
def test_every_kind_of_failure_spends_the_budget(guarded, book, kind):
    name, password = add_client(guarded, f"{book}:reader")
    peer = Peer(guarded)
    if kind == "replayed nonce":
        assert peer.post(trial_balance(book, header=FAILURES[kind](name, password))).status_code == 200
    if kind == "disabled client":
        result = cli("clients", "disable", name, env={"LEDGER_DATABASE_URL": guarded.database_url})
        assert result.returncode == 0, result.stderr
    for _ in range(BURST_PER_USERNAME):
        expect_authentication_failed(peer.post(trial_balance(book, header=FAILURES[kind](name, password))))

    username = f"{name}-nobody" if "unknown" in kind else name
    # Then the right password and the right digest are refused, before either is checked.
    for header in (password_text(username, password), digest_header(username, password)):
        expect_rate_limited(peer.post(trial_balance(book, header=header)))


def _fail_alike(guarded, book) -> tuple[dict[str, list[float]], dict[str, set[bytes]], dict]:
    """A known and an unknown username, each from an address of its own, failing BURST_PER_USERNAME times
    in turn with a wrong password, and then once more: the seconds each failure took, the bodies of the
    failures and the refusals once the budgets are spent."""
    known, password = guarded.add_client(grants={book: "reader"})
    peers = {known: Peer(guarded), unique("nobody"): Peer(guarded)}
    seconds: dict[str, list[float]] = {name: [] for name in peers}
    bodies: dict[str, set[bytes]] = {name: set() for name in peers}
    for _ in range(BURST_PER_USERNAME):
        for name, peer in peers.items():
            started = time.perf_counter()
            response = peer.post(trial_balance(book, "11", name, password + "x"))
            seconds[name].append(time.perf_counter() - started)
            expect_authentication_failed(response)
            bodies[name].add(response.content)
    refusals = {name: peer.post(trial_balance(book, "11", name, password + "x")) for name, peer in peers.items()}
    return seconds, bodies, refusals


def test_unknown_and_known_usernames_fail_alike_in_time_text_and_budget(guarded, book):
    seconds, bodies, refusals = _fail_alike(guarded, book)
    known, unknown = bodies
    assert bodies[known] == bodies[unknown] and len(bodies[known]) == 1
    for response in refusals.values():
        expect_rate_limited(response)
    # The same words, but for the seconds to wait, which depend on when each failure was counted.
    assert len({re.sub(rb"\d+", b"N", response.content) for response in refusals.values()}) == 1

    # An unknown username is hashed against a stand-in: skipping that would save a whole hash, every
    # time. The fastest failure of each is compared, as other load on the machine only ever adds time;
    # a gap that load opened anyway closes on a second or third try, one that the code opens does not.
    gaps = []
    for attempt in range(3):
        if attempt:
            seconds = _fail_alike(guarded, book)[0]
        fastest = [min(timings) for timings in seconds.values()]
        gaps.append(abs(fastest[0] - fastest[1]))
        if gaps[-1] < seconds_per_hash() / 2:
            return
    pytest.fail(f"unknown and known usernames fail {gaps} s apart; a hash takes {seconds_per_hash()} s")


def test_a_locked_out_attempt_computes_no_hash(guarded, book):
    name, _ = guarded.add_client(grants={book: "reader"})
    peer = Peer(guarded)
    for _ in range(BURST_PER_USERNAME):
        expect_authentication_failed(peer.post(trial_balance(book, "11", name, "wrong")))

    document = trial_balance(book, "11", name, "wrong")
    started = time.perf_counter()
    responses = [peer.post(document) for _ in range(LOCKED_OUT_REQUESTS)]
    locked_out_seconds = time.perf_counter() - started
    hash_seconds = seconds_per_hash()
    # Sent one after another, so that had each been hashed, they would take that many hashes' time.
    assert locked_out_seconds < LOCKED_OUT_REQUESTS * hash_seconds / 2, (locked_out_seconds, hash_seconds)
    assert {response.status_code for response in responses} == {429}


# --- one budget across workers and servers ---

SHARED_BUDGET = {"LEDGER_FAILED_LOGINS_PER_USERNAME": "1/min", "LEDGER_FAILED_LOGINS_BURST_PER_USERNAME": "8"}


def _send_closing(server: LiveServer, document: bytes) -> requests.Response:
    # A connection of its own each time, so that any worker may take it.
    return requests.post(server.endpoint(), data=document, timeout=60,
                         headers={"Content-Type": CONTENT_TYPE["11"], "Connection": "close"})


@pytest.mark.parametrize("kind", BACKENDS)
def test_concurrent_failures_on_every_worker_spend_one_budget(request, tmp_path_factory, kind):
    server = start_server(request, tmp_path_factory, kind, workers=4, extra_env=SHARED_BUDGET)
    code = server.new_book().code
    name, password = server.add_client(grants={code: "reader"})
    failures, _ = all_at_once(8, lambda: _send_closing(server, trial_balance(code, "11", name, "wrong")))
    for response in failures:
        expect_authentication_failed(response)
    # Not one of the eight failures was lost to another counted at the same time.
    refusals, _ = all_at_once(8, lambda: _send_closing(server, trial_balance(code, "11", name, password)))
    for response in refusals:
        expect_rate_limited(response)


@pytest.mark.postgres
def test_servers_on_one_database_share_the_budget(request, tmp_path_factory, postgres_databases):
    first = start_server(request, tmp_path_factory, "postgres", extra_env=SHARED_BUDGET)
    second = LiveServer(first.database_url, extra_env=SHARED_BUDGET).start(tmp_path_factory.mktemp("logs"))
    request.addfinalizer(second.stop)
    code = first.new_book().code
    name, password = first.add_client(grants={code: "reader"})
    for server in (first, second) * 4:
        expect_authentication_failed(_send_closing(server, trial_balance(code, "11", name, "wrong")))
    for server in (first, second):
        expect_rate_limited(_send_closing(server, trial_balance(code, "11", name, password)))


# --- the budget's own rules ---

def test_an_ipv6_client_spends_the_budget_of_its_slash_64():
    assert budgeted_address("2001:db8:1:2::5") == budgeted_address("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert budgeted_address("2001:db8:1:3::5") == "2001:db8:1:3::/64"
    assert budgeted_address("::ffff:192.0.2.10") == budgeted_address("192.0.2.10") == "192.0.2.10"
    assert budgeted_address("") == budgeted_address(None) == ""


@pytest.mark.parametrize("kind", BACKENDS)
def test_buckets_full_again_are_pruned_by_the_next_failure(kind, request, tmp_path_factory):
    budget = FailedLoginBudget(per_username=RateLimit(per_minute=10, burst=2), per_address=RateLimit(60, 1))
    database = Database(database_url(kind, request, tmp_path_factory))
    request.addfinalizer(database.dispose)
    database.migrate()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    first, second = budget.subjects("first", "192.0.2.1"), budget.subjects("second", "192.0.2.2")

    def count_failure(subjects, seconds: int) -> None:
        moment = now + timedelta(seconds=seconds)
        database.run(lambda stores: budget.count_failure(stores.access, subjects, lambda: moment), write=True)

    def buckets() -> dict[str, int]:
        return dict(database.run(lambda store: store.connection.execute(
            select(FailedLoginBucketRow.subject, FailedLoginBucketRow.milli_tokens)).all(), write=False))

    count_failure(first, 0)
    assert buckets() == {first.username: MILLI, first.address: 0}
    # An empty username bucket takes 12 s to fill (two tokens, one every 6 s): last touched 11 s before the
    # next failure, the first's buckets may not be full yet, and stay.
    count_failure(first, 1)
    count_failure(second, 12)
    assert set(buckets()) == {first.username, first.address, second.username, second.address}
    # Touched longer ago than that, they are full, and another subject's failure drops them.
    count_failure(second, 14)
    assert set(buckets()) == {second.username, second.address}


@pytest.mark.parametrize("kind", BACKENDS)
def test_failures_counted_at_the_same_time_are_each_counted(kind, request, tmp_path_factory):
    """The lock the count takes, with far more contention than live servers make: 8 threads, each with
    connections of its own, count 20 failures apiece for one username, from addresses of their own."""
    budget = FailedLoginBudget(per_username=RateLimit(per_minute=1, burst=1000), per_address=RateLimit(1, 1000))
    database = Database(database_url(kind, request, tmp_path_factory))
    request.addfinalizer(database.dispose)
    database.migrate()
    started = datetime.now(timezone.utc)

    def count(thread: int) -> None:
        subjects = budget.subjects("target", f"192.0.2.{thread}")
        for _ in range(20):
            database.run(lambda stores: budget.count_failure(stores.access, subjects, lambda: datetime.now(timezone.utc)),
                         write=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(count, range(8)))
    refilled = (datetime.now(timezone.utc) - started).total_seconds() * MILLI / 60 + 1
    [left] = database.run(lambda store: store.connection.execute(
        select(FailedLoginBucketRow.milli_tokens).where(
            FailedLoginBucketRow.subject == budget.subjects("target", None).username)).one(), write=False)
    assert 840 * MILLI <= left <= 840 * MILLI + refilled


def test_a_malformed_budget_stops_serve_in_a_sentence(tmp_path):
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "LEDGER_FAILED_LOGINS_PER_USERNAME": "lots"}
    result = cli("serve", "--bind", "127.0.0.1:1", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "LEDGER_FAILED_LOGINS_PER_USERNAME" in result.stderr and "'lots' is not a rate" in result.stderr
    result = cli("serve", "--bind", "127.0.0.1:1", env={**env, "LEDGER_FAILED_LOGINS_PER_USERNAME": "10/min",
                                                         "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS": "-3"})
    assert result.returncode == 1 and "LEDGER_FAILED_LOGINS_BURST_PER_ADDRESS" in result.stderr

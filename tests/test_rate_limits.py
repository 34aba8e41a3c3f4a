"""Per-client rate limits (docs/contract.md#security): the token bucket's arithmetic, the operator's commands, and
one budget across the workers of a live server, refused with HTTP 429, Retry-After and RateLimited."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import ADMIN, ADMIN_PASSWORD, cli, envelope, post_raw, start_server, unique
from ledger_service.domain.rate_limits import MILLI, Bucket, RateLimit, admit
from ledger_service.service_layer.admin_input import AdminError, parse_rate_limit
from test_faults import read_fault

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CALLER_FAULT = {"11": "Client", "12": "Sender"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- the bucket ---

def test_a_fresh_bucket_lets_a_burst_through_then_says_when_to_come_back():
    limit, bucket = RateLimit(per_minute=6, burst=3), None
    for expected_left in (2, 1, 0):
        admission = admit(limit, bucket, T0)
        assert admission.admitted and admission.bucket.milli_tokens == expected_left * MILLI
        bucket = admission.bucket
    refused = admit(limit, bucket, at(4))
    # 6 a minute: a token every 10 s; 4 s of it have passed, so 6 s are left.
    assert (refused.admitted, refused.retry_after) == (False, 6)
    assert not admit(limit, bucket, at(9.999)).admitted
    assert admit(limit, bucket, at(10)).admitted


def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one():
    empty = Bucket(0, T0)
    assert admit(RateLimit(60, 1), empty, at(0.999_999)).retry_after == 1
    assert admit(RateLimit(600, 1), empty, T0).retry_after == 1  # a token every 0.1 s
    assert admit(RateLimit(7, 1), empty, T0).retry_after == 9  # 60 / 7 = 8.57 s
    assert admit(RateLimit(1, 1), Bucket(1, T0), T0).retry_after == 60


def test_the_bucket_refills_continuously_up_to_its_burst():
    limit = RateLimit(per_minute=120, burst=4)  # two tokens a second
    assert Bucket(0, T0).refilled(limit, at(0.25)).milli_tokens == 500
    assert Bucket(0, T0).refilled(limit, at(1.5)).milli_tokens == 3000
    assert Bucket(0, T0).refilled(limit, at(3600)) == Bucket(4000, at(3600))
    # A burst lowered since the bucket was stored caps it at once.
    assert Bucket(10_000, T0).refilled(limit, T0).milli_tokens == 4000


@pytest.mark.parametrize("limit", [RateLimit(10, 10), RateLimit(7, 3), RateLimit(600_000, 1)])
def test_an_empty_bucket_is_full_after_its_time_to_fill_and_not_before(limit):
    assert Bucket(0, T0).refilled(limit, T0 + limit.time_to_fill).milli_tokens == limit.capacity
    almost = T0 + limit.time_to_fill - timedelta(microseconds=1)
    assert Bucket(0, T0).refilled(limit, almost).milli_tokens < limit.capacity


def test_refilling_often_loses_no_more_than_a_microsecond_each_time():
    limit = RateLimit(per_minute=7, burst=1000)
    step_by_step = Bucket(0, T0)
    for step in range(1, 10_001):
        step_by_step = step_by_step.refilled(limit, at(step * 0.001_3))
    at_once = Bucket(0, T0).refilled(limit, at(13))
    assert at_once.milli_tokens == 13 * 7 * MILLI // 60
    assert 0 <= at_once.milli_tokens - step_by_step.milli_tokens <= 1


def test_a_clock_that_went_backwards_refills_nothing():
    limit = RateLimit(60, 5)
    assert Bucket(2000, at(10)).refilled(limit, T0) == Bucket(2000, T0)
    assert admit(limit, Bucket(500, at(10)), T0).retry_after == 1


def test_a_limit_needs_a_positive_rate_and_burst():
    for per_minute, burst in ((0, 1), (1, 0), (-5, 5)):
        with pytest.raises(ValueError):
            RateLimit(per_minute, burst)


@pytest.mark.parametrize("rate, burst, expected", [
    ("10/s", None, RateLimit(600, 10)),
    ("10/s", 3, RateLimit(600, 3)),
    ("90/min", None, RateLimit(90, 2)),
    ("1/min", None, RateLimit(1, 1)),
    ("5/min", 20, RateLimit(5, 20)),
])
def test_rates_are_given_per_second_or_per_minute(rate, burst, expected):
    assert parse_rate_limit(rate, burst) == expected


@pytest.mark.parametrize("rate, burst", [
    ("10", None), ("10/h", None), ("0/s", None), ("-1/s", None), ("1.5/s", None), ("s/10", None), ("", None),
    ("200000/s", None), ("10/s", 0), ("10/s", -1), ("10/s", 10**7),
])
def test_nonsense_limits_are_refused_in_a_sentence(rate, burst):
    with pytest.raises(AdminError):
        parse_rate_limit(rate, burst)


# --- the operator's commands ---

def test_clients_add_limit_and_list_manage_the_limit(tmp_path):
    env = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}"}
    assert cli("migrate", env=env).returncode == 0
    assert cli("clients", "add", "clerk", "--rate", "10/s", "--burst", "20", env=env).returncode == 0
    assert cli("clients", "add", "other", env=env).returncode == 0

    def limit_of(name: str) -> str:
        listing = cli("clients", "list", env=env).stdout.splitlines()
        header = listing[0]
        [line] = [line for line in listing[1:] if line.split()[0] == name]
        start = header.index("RATE LIMIT")
        return line[start:header.index("GRANTS")].strip()

    assert (limit_of("clerk"), limit_of("other")) == ("10/s burst 20", "-")
    assert cli("clients", "limit", "other", "--rate", "30/min", env=env).returncode == 0
    assert limit_of("other") == "30/min burst 1"
    assert cli("clients", "limit", "clerk", "--no-limit", env=env).returncode == 0
    assert limit_of("clerk") == "-"

    refused = cli("clients", "limit", "clerk", "--rate", "lots", env=env)
    assert refused.returncode == 1 and "'lots' is not a rate" in refused.stderr
    refused = cli("clients", "add", "third", "--burst", "5", env=env)
    assert refused.returncode == 1 and "--burst needs --rate" in refused.stderr
    assert cli("clients", "limit", "clerk", "--rate", "1/s", "--no-limit", env=env).returncode == 2


# --- one budget across the workers of a live server ---

@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, request.param, workers=4)


def limited_client(server, rate: str, burst: int, **grants) -> tuple[str, str]:
    name, password = server.add_client(system_admin=True, grants=grants)
    result = cli("clients", "limit", name, "--rate", rate, "--burst", str(burst),
                 env={"LEDGER_DATABASE_URL": server.database_url})
    assert result.returncode == 0, result.stderr
    return name, password


def create_book(server, username: str, password: str, version: str = "11") -> requests.Response:
    """A write: CreateBook on a fresh code."""
    code = unique("R")
    return post_raw(server, envelope(version, f"<l:CreateBook><l:code>{code}</l:code><l:name>Rate {code}</l:name>"
                                              "</l:CreateBook>", username, password), version)


def all_at_once(count: int, call) -> tuple[list[requests.Response], float]:
    """`count` calls released together from as many threads; their responses, and the seconds they took."""
    ready = threading.Barrier(count)

    def one(_):
        ready.wait()
        return call()

    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(one, range(count)))
    return responses, time.monotonic() - started


def expect_rate_limited(response: requests.Response, version: str = "11") -> int:
    assert response.status_code == 429, response.text[:500]
    fault = read_fault(response, version)
    assert (fault.code, fault.soap_code) == ("RateLimited", CALLER_FAULT[version])
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and f"retry after {retry_after} s" in fault.message
    return retry_after


def test_a_burst_across_workers_spends_one_budget(server):
    name, password = limited_client(server, "1/s", 5)
    responses, seconds = all_at_once(16, lambda: create_book(server, name, password))
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    # The burst, and at most the tokens that came back while the requests ran.
    assert 5 <= len(admitted) <= 5 + int(seconds), (len(admitted), seconds)
    waits = [expect_rate_limited(response) for response in refused]
    assert set(waits) == {1}  # a token a second

    # SOAP 1.2 callers see their own fault shape, from the same budget.
    empty_again = [create_book(server, name, password, "12") for _ in range(3)]
    wait = expect_rate_limited(empty_again[-1], "12")

    time.sleep(wait)
    assert create_book(server, name, password).status_code == 200


def test_other_clients_are_not_limited_by_it(server):
    name, password = limited_client(server, "1/min", 1)
    assert create_book(server, name, password).status_code == 200
    assert expect_rate_limited(create_book(server, name, password)) > 30

    other, other_password = limited_client(server, "1/min", 1)
    assert create_book(server, other, other_password).status_code == 200
    unlimited, _ = all_at_once(20, lambda: create_book(server, ADMIN, ADMIN_PASSWORD))
    assert [r.status_code for r in unlimited] == [200] * 20


def test_authentication_is_answered_first_and_spends_nothing(server):
    name, password = limited_client(server, "1/min", 2)
    for _ in range(5):
        response = create_book(server, name, "wrong")
        assert response.status_code == 500 and read_fault(response, "11").code == "AuthenticationFailed"
    # A refused request that did authenticate counts: this one is not allowed on the book.
    response = post_raw(server, envelope("11", "<l:GetTrialBalance><l:book>NOSUCH</l:book></l:GetTrialBalance>",
                                         name, password))
    assert read_fault(response, "11").code == "BookNotFound"
    assert create_book(server, name, password).status_code == 200
    expect_rate_limited(create_book(server, name, password))
    # An empty bucket tells an impostor nothing either.
    response = create_book(server, name, "wrong")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert read_fault(response, "11").code == "AuthenticationFailed"


def test_the_operator_lifts_and_sets_limits_on_every_worker_at_once(server):
    env = {"LEDGER_DATABASE_URL": server.database_url}
    name, password = limited_client(server, "1/min", 1)
    assert create_book(server, name, password).status_code == 200
    expect_rate_limited(create_book(server, name, password))

    assert cli("clients", "limit", name, "--no-limit", env=env).returncode == 0
    responses, _ = all_at_once(12, lambda: create_book(server, name, password))
    assert [r.status_code for r in responses] == [200] * 12

    assert cli("clients", "limit", name, "--rate", "1/min", "--burst", "3", env=env).returncode == 0
    responses, _ = all_at_once(12, lambda: create_book(server, name, password))
    assert sorted(r.status_code for r in responses) == [200] * 3 + [429] * 9

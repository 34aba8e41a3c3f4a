"""/metrics (docs/contract.md#layout-and-endpoints): Prometheus text with requests, latency and faults per
operation and the database pool's use, the same whichever of four gunicorn workers answers the scrape."""
from __future__ import annotations

import re

import pytest
import requests

from conftest import CONTENT_TYPE, envelope, start_server

REQUESTS_PER_KIND = 30
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


@pytest.fixture(scope="module")
def four_workers(request, tmp_path_factory):
    # No hold sweeps: a pass would borrow a connection of its own while a scrape counts the lent ones.
    return start_server(request, tmp_path_factory, "sqlite", workers=4, extra_env={"LEDGER_HOLD_SWEEP_SECONDS": "0"})


def scrape(server) -> dict[tuple[str, frozenset], float]:
    # A connection of its own, so that any worker may answer.
    response = requests.get(f"{server.url}/metrics", timeout=30, headers={"Connection": "close"})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, labels, value = SAMPLE.match(line).groups()
            pairs = frozenset(re.findall(r'(\w+)="([^"]*)"', labels or ""))
            samples[(name, pairs)] = float(value)
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counts_add_up_across_every_worker(four_workers):
    book = four_workers.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    before = scrape(four_workers)
    balance = envelope("11", f"<l:GetBalance><l:book>{book.code}</l:book><l:account>cash</l:account></l:GetBalance>")
    missing = envelope("11", f"<l:GetBalance><l:book>{book.code}</l:book><l:account>nope</l:account></l:GetBalance>")
    for body in [balance] * REQUESTS_PER_KIND + [missing] * REQUESTS_PER_KIND + [b"not xml"] * REQUESTS_PER_KIND:
        requests.post(four_workers.endpoint(), data=body, timeout=30,
                      headers={"Content-Type": CONTENT_TYPE["11"], "Connection": "close"})
    scrapes = [scrape(four_workers) for _ in range(8)]
    for after in scrapes:
        grew = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
        assert grew("ledger_requests_total", operation="GetBalance", status="200") == REQUESTS_PER_KIND
        assert grew("ledger_requests_total", operation="GetBalance", status="500") == REQUESTS_PER_KIND
        assert grew("ledger_faults_total", operation="GetBalance", code="AccountNotFound") == REQUESTS_PER_KIND
        assert grew("ledger_faults_total", operation="none", code="MalformedRequest") == REQUESTS_PER_KIND
        assert grew("ledger_request_duration_seconds_count", operation="GetBalance") == 2 * REQUESTS_PER_KIND
        assert grew("ledger_request_duration_seconds_bucket", operation="GetBalance", le="+Inf") == 2 * REQUESTS_PER_KIND
        assert 0 < grew("ledger_request_duration_seconds_sum", operation="GetBalance") < 2 * REQUESTS_PER_KIND
        # every worker opened its pool; none holds a connection between requests
        assert value(after, "ledger_database_connections", state="open") >= 1
        assert value(after, "ledger_database_connections", state="in_use") == 0
    assert len({tuple(sorted(s.items())) for s in scrapes}) == 1, "scrapes by different workers disagree"


def test_the_metrics_name_every_operation_that_was_called(four_workers):
    four_workers.new_book(cash=("ASSET", "USD"))
    samples = scrape(four_workers)
    operations = {dict(labels).get("operation") for name, labels in samples if name == "ledger_requests_total"}
    assert {"CreateBook", "OpenAccount"} <= operations

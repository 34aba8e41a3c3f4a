"""What a long history costs a read: GetBalance (now and as of a date) and a statement page, on an
account with a long history beside one with almost none, and page 1 of a statement beside its last.

docs/contract.md#operations promises that balance look-ups cost the same however long the history, and that a
statement page costs the same on page 1 and page 10,000. This benchmark fills one account with a
long history (by default 200,000 statement lines over 200 effective dates), then times each read over
HTTP against a live `ledger-service serve` on PostgreSQL and prints the figures side by side.

    .venv/bin/python bench/history_costs.py [--lines N] [--days N] [--repeat N]

The history is posted in-process through the service layer (the same use case PostEntry runs, in
entries of 1000 lines), because posting it over HTTP would take most of the run; every read that is
timed goes over HTTP.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from throughput import (
    DEFAULT_POSTGRES_URL, TNS, BenchmarkFailed, LedgerServer, serving,
)

from ledger_service.adapters.database import Database
from ledger_service.domain.accounts import Side
from ledger_service.domain.entries import EntryInput, LineInput
from ledger_service.domain.limits import MAX_LINES
from ledger_service.service_layer.context import Credentials, RequestContext
from ledger_service.wsgi import serving_ledger

ADMIN = "history-admin"
PASSWORD = "history-benchmark-password"
BOOK = "HIST"
FIRST_DAY = date(2025, 1, 1)
STATEMENT_PAGE = 100
WALK_PAGE = 1000
LINE_AMOUNT = Decimal("0.01")


def open_accounts(server: LedgerServer) -> None:
    server.call(f"<l:CreateBook><l:code>{BOOK}</l:code><l:name>History costs</l:name></l:CreateBook>")
    for code, kind in (("busy", "ASSET"), ("quiet", "ASSET"), ("funding", "EQUITY")):
        server.call(f"<l:OpenAccount><l:book>{BOOK}</l:book><l:account><l:code>{code}</l:code><l:name>{code}"
                    f"</l:name><l:type>{kind}</l:type><l:currency>USD</l:currency></l:account></l:OpenAccount>")


def fill_history(database_url: str, lines: int, days: int) -> float:
    """Posts `lines` debit lines to `busy` (and one to `quiet`), spread over `days` dates; seconds taken."""
    database = Database(database_url)
    posting = serving_ledger(database).entries
    request = RequestContext(Credentials(ADMIN, PASSWORD), "history-fill")
    per_entry = MAX_LINES - 1
    entries = -(-lines // per_entry)
    started = time.perf_counter()
    for number in range(entries):
        count = min(per_entry, lines - number * per_entry)
        effective = FIRST_DAY + timedelta(days=number * days // entries)
        debits = tuple(LineInput("busy", Side.DEBIT, LINE_AMOUNT) for _ in range(count))
        posting.post_entry(request, BOOK, EntryInput(f"H-{number}", effective,
                                                    debits + (LineInput("funding", Side.CREDIT, LINE_AMOUNT * count),)))
    posting.post_entry(request, BOOK, EntryInput("Q-1", FIRST_DAY, (LineInput("quiet", Side.DEBIT, LINE_AMOUNT),
                                                                  LineInput("funding", Side.CREDIT, LINE_AMOUNT))))
    database.dispose()
    return time.perf_counter() - started


def timed(server: LedgerServer, body: str, repeat: int) -> tuple[float, float]:
    """Median and 90th percentile milliseconds of `repeat` calls, after one untimed call."""
    server.call(body)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        server.call(body)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def statement(account: str, to_day: date, page_size: int, token: str | None = None) -> str:
    token_element = f"<l:pageToken>{token}</l:pageToken>" if token else ""
    return (f"<l:GetStatement><l:book>{BOOK}</l:book><l:account>{account}</l:account>"
            f"<l:fromDate>{FIRST_DAY}</l:fromDate><l:toDate>{to_day}</l:toDate>"
            f"<l:pageSize>{page_size}</l:pageSize>{token_element}</l:GetStatement>")


def last_page_token(server: LedgerServer, to_day: date, lines: int) -> tuple[str, int]:
    """A token for the statement's last full page of STATEMENT_PAGE lines, and that page's number.
    Tokens do not depend on the page size, so the walk takes large pages."""
    token, seen = None, 0
    while seen + WALK_PAGE <= lines - STATEMENT_PAGE:
        page = server.call(statement("busy", to_day, WALK_PAGE, token))
        token = page.findtext(f".//{{{TNS}}}nextPageToken")
        seen += WALK_PAGE
    while seen < lines - STATEMENT_PAGE:
        page = server.call(statement("busy", to_day, STATEMENT_PAGE, token))
        token = page.findtext(f".//{{{TNS}}}nextPageToken")
        seen += STATEMENT_PAGE
    return token, seen // STATEMENT_PAGE + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=200_000, help="statement lines on the busy account")
    parser.add_argument("--days", type=int, default=200, help="effective dates they are spread over")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per read")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    options = parser.parse_args(argv)
    last_day = FIRST_DAY + timedelta(days=options.days)
    middle_day = FIRST_DAY + timedelta(days=options.days // 2)
    try:
        with tempfile.TemporaryDirectory() as work, \
                serving(options.postgres_url, 2, Path(work), ADMIN, PASSWORD) as server:
            open_accounts(server)
            print(f"filling the history of account busy ({options.lines:,} lines over {options.days} days)")
            seconds = fill_history(server.database_url, options.lines, options.days)
            print(f"  {options.lines / seconds:,.0f} lines per second in-process")
            token, page_number = last_page_token(server, last_day, options.lines)
            rows = [
                ("GetBalance", "busy", "quiet",
                 lambda account: f"<l:GetBalance><l:book>{BOOK}</l:book><l:account>{account}</l:account>"
                                 "</l:GetBalance>"),
                (f"GetBalance asOf {middle_day}", "busy", "quiet",
                 lambda account: f"<l:GetBalance><l:book>{BOOK}</l:book><l:account>{account}</l:account>"
                                 f"<l:asOf>{middle_day}</l:asOf></l:GetBalance>"),
            ]
            print(f"\n{options.repeat} calls each over HTTP, one at a time; median / 90th percentile ms")
            print(f"  {'read':<32} {'busy account':>18} {'quiet account':>18}")
            for name, busy, quiet, body in rows:
                busy_ms, quiet_ms = timed(server, body(busy), options.repeat), timed(server, body(quiet), options.repeat)
                print(f"  {name:<32} {busy_ms[0]:>8.2f} / {busy_ms[1]:>6.2f}  {quiet_ms[0]:>8.2f} / {quiet_ms[1]:>6.2f}")
            first = timed(server, statement("busy", last_day, STATEMENT_PAGE), options.repeat)
            last = timed(server, statement("busy", last_day, STATEMENT_PAGE, token), options.repeat)
            print(f"\n  GetStatement of busy, {STATEMENT_PAGE} lines a page")
            print(f"  {'page 1':<32} {first[0]:>8.2f} / {first[1]:>6.2f}")
            print(f"  {f'page {page_number:,}':<32} {last[0]:>8.2f} / {last[1]:>6.2f}")
    except BenchmarkFailed as failure:
        print(f"history_costs: {failure}\n{failure.detail or ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

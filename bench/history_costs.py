"""What a long history costs a read: GetBalance (now and as of a date) and a statement page, on an
account with a long history beside one with almost none, page 1 of a statement beside its last, and
page 1 of ListEntries beside its last, unfiltered and by a metadata key.

docs/contract.md#operations promises that balance look-ups cost the same however long the history, and that a
statement page, and a page of ListEntries, cost the same on page 1 and page 10,000. This benchmark fills
one account with a long history (by default 200,000 statement lines over 200 effective dates) and the
book with many small entries (by default 100,000, every tenth carrying the metadata key `batch`), then
times each read over HTTP against a live `ledger-service serve` on PostgreSQL and prints the figures side
by side.

    .venv/bin/python bench/history_costs.py [--lines N] [--days N] [--entries N] [--repeat N]

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
from ledger_service.domain.entries import EntryInput, LineInput, MetadataItem
from ledger_service.domain.limits import MAX_BATCH, MAX_LINES
from ledger_service.service_layer.context import Credentials, RequestContext
from ledger_service.wsgi import serving_ledger

ADMIN = "history-admin"
PASSWORD = "history-benchmark-password"
BOOK = "HIST"
FIRST_DAY = date(2025, 1, 1)
STATEMENT_PAGE = 100
WALK_PAGE = 1000
ENTRIES_PAGE = 10
# Every so many of the small entries carries the metadata key `batch`.
TAGGED_EVERY = 10
LINE_AMOUNT = Decimal("0.01")


def open_accounts(server: LedgerServer) -> None:
    server.call(f"<l:CreateBook><l:code>{BOOK}</l:code><l:name>History costs</l:name></l:CreateBook>")
    for code, kind in (("busy", "ASSET"), ("quiet", "ASSET"), ("small", "ASSET"), ("funding", "EQUITY")):
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


def fill_entries(database_url: str, count: int, day: date) -> float:
    """Posts `count` two-line entries between `small` and `funding` on `day`, in batches; seconds taken."""
    database = Database(database_url)
    posting = serving_ledger(database).entries
    request = RequestContext(Credentials(ADMIN, PASSWORD), "entries-fill")
    lines = (LineInput("small", Side.DEBIT, LINE_AMOUNT), LineInput("funding", Side.CREDIT, LINE_AMOUNT))
    started = time.perf_counter()
    for first in range(0, count, MAX_BATCH):
        posting.post_entries(request, BOOK, [
            EntryInput(f"S-{number}", day, lines, metadata=(MetadataItem("batch", str(number // MAX_BATCH)),)
                       if number % TAGGED_EVERY == 0 else ())
            for number in range(first, min(first + MAX_BATCH, count))], True)
    database.dispose()
    return time.perf_counter() - started


def list_entries(day: date, page_size: int, token: str | None = None, key: str | None = None) -> str:
    token_element = f"<l:pageToken>{token}</l:pageToken>" if token else ""
    key_element = f"<l:metadataKey>{key}</l:metadataKey>" if key else ""
    return (f"<l:ListEntries><l:book>{BOOK}</l:book><l:fromDate>{day}</l:fromDate><l:toDate>{day}"
            f"</l:toDate>{key_element}<l:pageSize>{page_size}</l:pageSize>{token_element}</l:ListEntries>")


def last_entries_page_token(server: LedgerServer, day: date, key: str | None) -> tuple[str, int]:
    """A token for ListEntries' last page of ENTRIES_PAGE entries, and that page's number, walking in large
    pages first as `last_page_token` does."""
    token, seen, pages = None, 0, []
    while True:
        page = server.call(list_entries(day, WALK_PAGE, token, key))
        following = page.findtext(f".//{{{TNS}}}nextPageToken")
        found = len(page.findall(f".//{{{TNS}}}entries/{{{TNS}}}entry"))
        if following is None:
            break
        pages.append((token, seen))
        token, seen = following, seen + found
    # From the last walked page's start, pages of ENTRIES_PAGE up to the last of them.
    token, seen = pages[-1] if pages else (None, 0)
    while True:
        page = server.call(list_entries(day, ENTRIES_PAGE, token, key))
        following = page.findtext(f".//{{{TNS}}}nextPageToken")
        if following is None:
            return token, seen // ENTRIES_PAGE + 1
        token, seen = following, seen + len(page.findall(f".//{{{TNS}}}entries/{{{TNS}}}entry"))


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
    parser.add_argument("--entries", type=int, default=100_000, help="small entries in the book, for ListEntries")
    parser.add_argument("--repeat", type=int, default=200, help="timed calls per read")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    options = parser.parse_args(argv)
    last_day = FIRST_DAY + timedelta(days=options.days)
    middle_day = FIRST_DAY + timedelta(days=options.days // 2)
    small_day = last_day + timedelta(days=1)
    try:
        with tempfile.TemporaryDirectory() as work, \
                serving(options.postgres_url, 2, Path(work), ADMIN, PASSWORD) as server:
            open_accounts(server)
            print(f"filling the history of account busy ({options.lines:,} lines over {options.days} days)")
            seconds = fill_history(server.database_url, options.lines, options.days)
            print(f"  {options.lines / seconds:,.0f} lines per second in-process")
            print(f"posting {options.entries:,} small entries")
            # After the long history's days, so that ListEntries of that day lists the small entries only.
            seconds = fill_entries(server.database_url, options.entries, small_day)
            print(f"  {options.entries / seconds:,.0f} entries per second in-process")
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
            for key, which in ((None, "every entry"), ("batch", f"key batch, 1 entry in {TAGGED_EVERY}")):
                entries_token, entries_page = last_entries_page_token(server, small_day, key)
                first = timed(server, list_entries(small_day, ENTRIES_PAGE, None, key), options.repeat)
                last = timed(server, list_entries(small_day, ENTRIES_PAGE, entries_token, key), options.repeat)
                print(f"\n  ListEntries, {which}, {ENTRIES_PAGE} entries a page")
                print(f"  {'page 1':<32} {first[0]:>8.2f} / {first[1]:>6.2f}")
                print(f"  {f'page {entries_page:,}':<32} {last[0]:>8.2f} / {last[1]:>6.2f}")
    except BenchmarkFailed as failure:
        print(f"history_costs: {failure}\n{failure.detail or ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

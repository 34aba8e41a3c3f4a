"""ListEntries (docs/contract.md#listentries): a book's entries of a date range in journal order, filtered by
account and by metadata, a page at a time with tokens valid only for their query, every refusal its fault;
on SOAP 1.1 and 1.2 over SQLite and PostgreSQL. A page looks through a bounded stretch of the journal, so a
rare match far along comes after short pages that still lead on. (Page costs: bench/history_costs.py.)"""
from __future__ import annotations

import pytest
from zeep.exceptions import Fault

from conftest import fault_detail

SALE = [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")]
FEE = [("fees", "DEBIT", "1.00"), ("cash", "CREDIT", "1.00")]


def items(**pairs: str) -> dict:
    return {"item": [{"key": key, "value": value} for key, value in pairs.items()]}


@pytest.fixture(params=["11", "12"])
def version(request) -> str:
    return request.param


@pytest.fixture
def book(server, version):
    """Entries recorded in this order, their effective dates out of that order."""
    book = server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"), fees=("EXPENSE", "USD"))
    book.post("E-1", SALE, effective="2026-01-20", metadata=items(costCentre="CC-7", invoice="1"))
    book.post("E-2", FEE, effective="2026-01-10", metadata=items(costCentre="CC-8"))
    book.post("E-3", SALE, effective="2026-02-01", metadata=items(costCentre="CC-7"))
    book.post("E-4", SALE, effective="2026-01-05")
    book.post("H-1", [("fees", "DEBIT", "2.00"), ("sales", "CREDIT", "2.00"), ("cash", "DEBIT", "3.00"),
                      ("sales", "CREDIT", "3.00")], effective="2026-01-15", pending=True,
              metadata=items(costCentre="CC-7"))
    # Committed without its fees line: found by fees all the same, as it was held there.
    book.service.CommitPending(book.code, "H-1", {"line": [{"account": "cash", "side": "DEBIT", "amount": "3.00"},
                                                           {"account": "sales", "side": "CREDIT", "amount": "3.00"}]})
    book.service.ReverseEntry(book.code, "E-1", "R-1", None, None)
    return book


def entries_of(page) -> list:
    # zeep reads an empty wrapper as None
    return page.entries.entry if page.entries is not None else []


def listed(book, from_date="2026-01-01", to_date="2026-12-31", account=None, key=None, value=None,
           page_size=None) -> list[str]:
    """The references ListEntries gives, reading every page."""
    references, token, pages = [], None, 0
    while True:
        page = book.service.ListEntries(book.code, from_date, to_date, account, key, value, page_size, token)
        references += [entry.reference for entry in entries_of(page)]
        token, pages = page.nextPageToken, pages + 1
        if token is None:
            return references
        assert pages < 100


def refusal(call, *args) -> tuple[str, str | None]:
    with pytest.raises(Fault) as caught:
        call(*args)
    detail = fault_detail(caught.value)
    return detail["code"], detail.get("field")


def test_entries_come_in_journal_order_within_the_dates(book):
    assert listed(book) == ["E-1", "E-2", "E-3", "E-4", "H-1", "R-1"]
    assert listed(book, "2026-01-06", "2026-01-31") == ["E-1", "E-2", "H-1", "R-1"]
    assert listed(book, "2026-01-10", "2026-01-10") == ["E-2"]
    assert listed(book, "2025-01-01", "2025-12-31") == []


def test_each_entry_is_shown_as_get_entry_shows_it(book):
    page = book.service.ListEntries(book.code, "2026-01-01", "2026-12-31", None, None, None, None, None)
    assert page.nextPageToken is None
    for entry in entries_of(page):
        assert entry == book.service.GetEntry(book.code, entry.reference)
    first = entries_of(page)[0]
    assert (first.reversedBy, [(i.key, i.value) for i in first.metadata.item]) == (
        "R-1", [("costCentre", "CC-7"), ("invoice", "1")])


def test_filters_by_account_and_by_metadata(book):
    assert listed(book, account="fees") == ["E-2", "H-1"]
    assert listed(book, account="sales") == ["E-1", "E-3", "E-4", "H-1", "R-1"]
    assert listed(book, key="costCentre") == ["E-1", "E-2", "E-3", "H-1", "R-1"]
    assert listed(book, key="costCentre", value="CC-7") == ["E-1", "E-3", "H-1", "R-1"]
    assert listed(book, key="costCentre", value="cc-7") == []
    assert listed(book, key="invoice") == ["E-1", "R-1"]
    assert listed(book, "2026-01-01", "2026-01-31", account="cash", key="costCentre", value="CC-7") == [
        "E-1", "H-1", "R-1"]
    assert listed(book, key="project") == []


def test_pages_split_the_same_list_and_a_token_serves_only_its_query(book):
    assert listed(book, page_size=2) == listed(book, page_size=1) == listed(book)
    first = book.service.ListEntries(book.code, "2026-01-01", "2026-12-31", None, None, None, 2, None)
    assert len(entries_of(first)) == 2 and first.nextPageToken
    assert refusal(book.service.ListEntries, book.code, "2026-01-01", "2026-11-30", None, None, None, 2,
                   first.nextPageToken) == ("SchemaValidation", "pageToken")
    assert refusal(book.service.ListEntries, book.code, "2026-01-01", "2026-12-31", "cash", None, None, 2,
                   first.nextPageToken) == ("SchemaValidation", "pageToken")
    altered = first.nextPageToken[:-2] + ("AA" if not first.nextPageToken.endswith("AA") else "BB")
    assert refusal(book.service.ListEntries, book.code, "2026-01-01", "2026-12-31", None, None, None, 2,
                   altered) == ("SchemaValidation", "pageToken")


def test_refusals(server, book, version):
    call = book.service.ListEntries
    assert refusal(call, book.code, "2026-02-01", "2026-01-31", None, None, None, None, None) == (
        "SchemaValidation", "toDate")
    assert refusal(call, book.code, "2026-01-01", "2026-01-31", None, None, "CC-7", None, None) == (
        "SchemaValidation", "metadataValue")
    assert refusal(call, book.code, "2026-01-01", "2026-01-31", "nowhere", None, None, None, None)[0] == (
        "AccountNotFound")
    assert refusal(call, "NO-SUCH-BOOK", "2026-01-01", "2026-01-31", None, None, None, None, None)[0] == (
        "BookNotFound")
    reader, password = server.add_client(grants={book.code: "reader"})
    as_reader = server.zeep(reader, password, version).service
    assert [e.reference for e in entries_of(as_reader.ListEntries(book.code, "2026-01-01", "2026-01-31", "fees", None,
                                                                   None, None, None))] == ["E-2", "H-1"]
    # Without a grant, a book and no book at all are refused alike.
    stranger, password = server.add_client()
    as_stranger = server.zeep(stranger, password, version).service
    assert {refusal(as_stranger.ListEntries, code, "2026-01-01", "2026-01-31", None, None, None, None, None)[0]
            for code in (book.code, "NO-SUCH-BOOK")} == {"NotAuthorized"}


@pytest.fixture(scope="module")
def long_book(sqlite_server):
    """10,501 entries, the last alone carrying the key `rare`: more than one page looks through."""
    book = sqlite_server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    lines = {"line": [{"account": "cash", "side": "DEBIT", "amount": "1.00"},
                      {"account": "sales", "side": "CREDIT", "amount": "1.00"}]}
    for start in range(0, 10_500, 1000):
        entries = [{"reference": f"BULK-{n}", "effectiveDate": "2026-01-15", "lines": lines}
                   for n in range(start, min(start + 1000, 10_500))]
        assert all(r.entry is not None for r in book.service.PostEntries(book.code, {"entry": entries}, True))
    book.post("RARE", [("cash", "DEBIT", "1.00"), ("sales", "CREDIT", "1.00")], metadata=items(rare="yes"))
    return book


def test_a_page_looks_through_a_bounded_stretch_of_the_journal(long_book):
    service = long_book.service
    first = service.ListEntries(long_book.code, "2026-01-01", "2026-12-31", None, "rare", None, 10, None)
    # The book's first record and its two accounts', then 9,997 entries: none carries the key.
    assert entries_of(first) == [] and first.nextPageToken
    second = service.ListEntries(long_book.code, "2026-01-01", "2026-12-31", None, "rare", None, 10,
                                 first.nextPageToken)
    assert [entry.reference for entry in entries_of(second)] == ["RARE"] and second.nextPageToken is None
    # Unfiltered, pages are full until the end.
    page = service.ListEntries(long_book.code, "2026-01-01", "2026-12-31", None, None, None, 1000, None)
    assert len(entries_of(page)) == 1000 and entries_of(page)[0].reference == "BULK-0"

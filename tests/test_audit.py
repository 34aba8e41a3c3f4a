"""The audit trail (docs/contract.md#security): every write records which client and which request made it, and
when; and a reader can ask who posted an entry, with GetEntryAudit."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import fault_detail, unique

# How far a row's timestamp may lie outside the test's own clock readings (one machine, one clock).
CLOCK_SLACK = timedelta(seconds=2)


class Caller:
    """A zeep client that sends each call with an X-Request-Id of its choosing."""

    def __init__(self, server, name: str, password: str):
        self.name = name
        self.transport = Transport(timeout=60, operation_timeout=60)
        self.history = HistoryPlugin()
        self.client = Client(f"{server.endpoint()}?wsdl", wsse=UsernameToken(name, password), plugins=[self.history],
                             transport=self.transport, settings=Settings(strict=True))

    def call(self, operation: str, *arguments, request_id: str | None):
        """Sends `request_id` as X-Request-Id; None sends none, and the service makes one up."""
        if request_id is None:
            self.transport.session.headers.pop("X-Request-Id", None)
        else:
            self.transport.session.headers["X-Request-Id"] = request_id
        return getattr(self.client.service, operation)(*arguments)

    def last_request_id(self) -> str:
        return self.history.last_received["http_headers"]["X-Request-Id"]


def account_input(code: str, kind: str = "ASSET") -> dict:
    return {"code": code, "name": code.title(), "type": kind, "currency": "USD"}


def entry_input(reference: str) -> dict:
    return {"reference": reference, "effectiveDate": date(2026, 2, 10),
            "lines": {"line": [{"account": "cash", "side": "DEBIT", "amount": "7.00"},
                               {"account": "sales", "side": "CREDIT", "amount": "7.00"}]}}


def rows(server, query: str, **parameters) -> list:
    database = server.database()
    try:
        with database.engine.connect() as connection:
            return list(connection.execute(text(query), parameters))
    finally:
        database.dispose()


def as_utc(moment: datetime | str) -> datetime:
    """SQLite hands timestamps back to a plain SQL query as text without a zone; every stored one is UTC."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_every_write_records_the_client_the_request_and_the_time(server):
    name, password = server.add_client(unique("writer"), system_admin=True)
    writer = Caller(server, name, password)
    (client_id,) = rows(server, "SELECT id FROM clients WHERE name = :name", name=name)[0]
    book = unique("AUD")
    started = datetime.now(timezone.utc)
    writer.call("CreateBook", book, "Audited", request_id="req-create-book")
    writer.call("OpenAccount", book, account_input("cash"), request_id="req-open-cash")
    writer.call("OpenAccount", book, account_input("sales", "INCOME"), request_id="req-open-sales")
    writer.call("OpenAccount", book, account_input("spare"), request_id="req-open-spare")
    writer.call("PostEntry", book, entry_input("E-1"), request_id="req-post")
    writer.call("CloseAccount", book, "spare", request_id="req-close-account")
    writer.call("ClosePeriod", book, date(2026, 1, 31), request_id="req-close-period")
    finished = datetime.now(timezone.utc)

    (book_id,) = rows(server, "SELECT id FROM books WHERE code = :code", code=book)[0]
    written = {
        "book": rows(server, "SELECT created_by, request_id, created_at FROM books WHERE id = :book", book=book_id),
        "accounts": rows(server, "SELECT created_by, request_id, opened_at FROM accounts WHERE book_id = :book "
                                 "ORDER BY code", book=book_id),
        "account close": rows(server, "SELECT closed_by, closed_request_id, closed_at FROM accounts "
                                      "WHERE book_id = :book AND code = 'spare'", book=book_id),
        "entry": rows(server, "SELECT client_id, request_id, recorded_at FROM entries WHERE book_id = :book",
                      book=book_id),
        "period close": rows(server, "SELECT client_id, request_id, closed_at FROM period_closes "
                                     "WHERE book_id = :book", book=book_id),
    }
    assert {what: [(who, request) for who, request, _ in found] for what, found in written.items()} == {
        "book": [(client_id, "req-create-book")],
        "accounts": [(client_id, "req-open-cash"), (client_id, "req-open-sales"), (client_id, "req-open-spare")],
        "account close": [(client_id, "req-close-account")],
        "entry": [(client_id, "req-post")],
        "period close": [(client_id, "req-close-period")],
    }
    for what, found in written.items():
        for *_, moment in found:
            assert started - CLOCK_SLACK <= as_utc(moment) <= finished + CLOCK_SLACK, what


@pytest.fixture(scope="module")
def posted(server):
    """A book with one entry posted by a poster under a request id of its own, and a reader of the book."""
    book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
    poster = Caller(server, *server.add_client(unique("poster"), grants={book.code: "poster"}))
    reader = Caller(server, *server.add_client(unique("reader"), grants={book.code: "reader"}))
    entry = poster.call("PostEntry", book.code, entry_input("SALE-1"), request_id="req-sale-1")
    return book, poster, reader, entry


def test_a_reader_asks_who_posted_an_entry(posted):
    book, poster, reader, entry = posted
    audit = reader.call("GetEntryAudit", book.code, "SALE-1", request_id="req-asking")
    assert (audit.reference, audit.postedBy, audit.requestId, audit.recordedAt) == (
        "SALE-1", poster.name, "req-sale-1", entry.recordedAt)


def test_a_retried_post_keeps_the_first_request_as_its_author(posted):
    book, poster, reader, entry = posted
    assert poster.call("PostEntry", book.code, entry_input("SALE-1"), request_id="req-sale-1-retry").id == entry.id
    assert reader.call("GetEntryAudit", book.code, "SALE-1", request_id="req-asking").requestId == "req-sale-1"


def test_without_a_request_id_the_service_records_the_one_it_gave(server, posted):
    book, poster, reader, _ = posted
    poster.call("PostEntry", book.code, entry_input("SALE-2"), request_id=None)
    given = poster.last_request_id()
    audit = reader.call("GetEntryAudit", book.code, "SALE-2", request_id="req-asking")
    assert (audit.postedBy, audit.requestId) == (poster.name, given)


def test_an_unknown_reference_has_no_audit(posted):
    book, _, reader, _ = posted
    with pytest.raises(Fault) as caught:
        reader.call("GetEntryAudit", book.code, "NO-SUCH-ENTRY", request_id="req-asking")
    assert fault_detail(caught.value) == {"code": "EntryNotFound", "message": "no entry has reference NO-SUCH-ENTRY",
                                          "field": "reference"}

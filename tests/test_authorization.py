"""Who may do what (docs/contract.md#operations, the role column; #security, grants), cell by cell.

Every operation is driven by each kind of caller, on the book where it holds its grant, on a book
that exists but where it holds none, and on a book that does not exist, and must end exactly as the
table says: a reader reads; a poster also posts; an admin also opens and closes accounts and closes
periods; only a system administrator creates books, and becomes admin of the book it creates. Without
a grant on a book, a caller gets NotAuthorized whether the book exists or not, in the same words; only
a system administrator, who manages books, learns that one does not exist. And a disabled client is
refused on its very next request, whichever worker takes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
import requests
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import ADMIN, ADMIN_PASSWORD, MANY_FAILED_LOGINS, TNS, cli, envelope, fault_detail, start_server, unique
from ledger_service.domain import access

CALLERS = ["nobody", "reader", "poster", "admin", "sysadmin"]
# The matrix on the caller's own book, that is the book where reader, poster and admin hold their role
# (nobody holds no grant anywhere; the system administrator none on this book): "ok" or the fault code.
NA = "NotAuthorized"
OWN_BOOK = {
    #                    nobody  reader  poster  admin  sysadmin
    "CreateBook":      (NA,     NA,     NA,     NA,    "BookExists"),
    "OpenAccount":     (NA,     NA,     NA,     "ok",  NA),
    "GetAccount":      (NA,     "ok",   "ok",   "ok",  NA),
    "ListAccounts":    (NA,     "ok",   "ok",   "ok",  NA),
    "CloseAccount":    (NA,     NA,     NA,     "ok",  NA),
    "PostEntry":       (NA,     NA,     "ok",   "ok",  NA),
    "PostEntries":     (NA,     NA,     "ok",   "ok",  NA),
    "CommitPending":   (NA,     NA,     "ok",   "ok",  NA),
    "VoidPending":     (NA,     NA,     "ok",   "ok",  NA),
    "ReverseEntry":    (NA,     NA,     "ok",   "ok",  NA),
    "GetEntry":        (NA,     "ok",   "ok",   "ok",  NA),
    "GetEntryAudit":   (NA,     "ok",   "ok",   "ok",  NA),
    "GetBalance":      (NA,     "ok",   "ok",   "ok",  NA),
    "GetStatement":    (NA,     "ok",   "ok",   "ok",  NA),
    "GetTrialBalance": (NA,     "ok",   "ok",   "ok",  NA),
    "ClosePeriod":     (NA,     NA,     NA,     "ok",  NA),
    "ListEntries":     (NA,     "ok",   "ok",   "ok",  NA),
    "GetJournalHead":  (NA,     "ok",   "ok",   "ok",  NA),
    "VerifyJournal":   (NA,     "ok",   "ok",   "ok",  NA),
    "GetCamtStatement": (NA,    "ok",   "ok",   "ok",  NA),
}
# The role each operation needs, as NotAuthorized names it (docs/contract.md#operations).
REQUIRED_ROLE = {"OpenAccount": "admin", "CloseAccount": "admin", "ClosePeriod": "admin", "PostEntry": "poster",
                 "PostEntries": "poster", "CommitPending": "poster", "VoidPending": "poster", "ReverseEntry": "poster"}
TARGETS = ["own", "foreign", "missing"]


def expected(caller: str, operation: str, target: str) -> str:
    if operation == "CreateBook":
        # Creating a book code nobody has is what a system administrator may do; an existing code is taken.
        return "ok" if caller == "sysadmin" and target == "missing" else OWN_BOOK[operation][CALLERS.index(caller)]
    if target == "own":
        return OWN_BOOK[operation][CALLERS.index(caller)]
    return "BookNotFound" if caller == "sysadmin" and target == "missing" else NA


def account_input(code: str) -> dict:
    return {"code": code, "name": code.title(), "type": "ASSET", "currency": "USD"}


def entry_input(reference: str, **extra) -> dict:
    return {"reference": reference, "effectiveDate": date(2026, 1, 15), **extra,
            "lines": {"line": [{"account": "cash", "side": "DEBIT", "amount": "1.00"},
                               {"account": "sales", "side": "CREDIT", "amount": "1.00"}]}}


@dataclass
class Caller:
    name: str
    client: Client
    history: HistoryPlugin

    def call(self, operation: str, *arguments):
        return getattr(self.client.service, operation)(*arguments)

    def last_response(self) -> bytes:
        return etree.tostring(self.history.last_received["envelope"])


def caller_client(server, name: str, password: str) -> Caller:
    history = HistoryPlugin()
    client = Client(f"{server.endpoint()}?wsdl", wsse=UsernameToken(name, password), plugins=[history],
                    transport=Transport(timeout=60, operation_timeout=60), settings=Settings(strict=True))
    return Caller(name, client, history)


@dataclass
class World:
    callers: dict[str, Caller]
    books: dict[str, str]  # target -> book code
    admin: object  # the book administrator's zeep service, which prepares what a call needs

    def arguments(self, operation: str, target: str) -> tuple:
        """Arguments with which `operation` succeeds on `target` for a caller allowed to make it."""
        book = self.books[target]
        exists = target != "missing"
        if operation == "CreateBook":
            return (unique("NEW") if not exists else book, "A new book")
        if operation == "CloseAccount":
            spare = unique("spare")
            if exists:
                self.admin.OpenAccount(book, account_input(spare))
            return book, spare
        if operation in ("CommitPending", "VoidPending", "ReverseEntry"):
            # Each call acts on an entry of its own, recorded by the book's administrator.
            reference = unique("E")
            if exists:
                self.admin.PostEntry(book, entry_input(reference, pending=operation != "ReverseEntry"))
            if operation == "ReverseEntry":
                return book, reference, unique("REV"), None, None
            return (book, reference) + ((None,) if operation == "VoidPending" else ())
        return {
            "OpenAccount": lambda: (book, account_input(unique("acct"))),
            "GetAccount": lambda: (book, "cash"),
            "ListAccounts": lambda: (book, None, None, None, None),
            "PostEntry": lambda: (book, entry_input(unique("R"))),
            "PostEntries": lambda: (book, {"entry": [entry_input(unique("R")), entry_input(unique("R"))]}, False),
            "GetEntry": lambda: (book, "SEED"),
            "GetEntryAudit": lambda: (book, "SEED"),
            "GetBalance": lambda: (book, "cash", None),
            "GetStatement": lambda: (book, "cash", date(2026, 1, 1), date(2026, 1, 31), None, None),
            "GetTrialBalance": lambda: (book, None),
            # Long before the entries' dates, so that closing it leaves the book open to postings.
            "ClosePeriod": lambda: (book, date(2020, 1, 31)),
            "ListEntries": lambda: (book, date(2026, 1, 1), date(2026, 1, 31), "cash", None, None, None, None),
            "GetJournalHead": lambda: (book,),
            "VerifyJournal": lambda: (book, None, None),
            "GetCamtStatement": lambda: (book, "cash", date(2026, 1, 1), date(2026, 1, 31)),
        }[operation]()


@pytest.fixture(scope="module")
def world(server) -> World:
    books = {}
    for target in ("own", "foreign"):
        book = server.new_book(cash=("ASSET", "USD"), sales=("INCOME", "USD"))
        book.post("SEED", [("cash", "DEBIT", "5.00"), ("sales", "CREDIT", "5.00")])
        books[target] = book.code
    books["missing"] = unique("GHOST")
    callers = {}
    for kind in CALLERS:
        grants = {books["own"]: kind} if kind in ("reader", "poster", "admin") else {}
        name, password = server.add_client(unique(kind), system_admin=kind == "sysadmin", grants=grants)
        callers[kind] = caller_client(server, name, password)
    return World(callers, books, server.zeep().service)


MATRIX = [pytest.param(caller, operation, target, id=f"{caller}-{operation}-{target}")
          for operation in OWN_BOOK for caller in CALLERS for target in TARGETS]


@pytest.mark.parametrize("caller, operation, target", MATRIX)
def test_each_caller_may_do_exactly_what_its_role_allows(world, caller, operation, target):
    outcome = expected(caller, operation, target)
    arguments = world.arguments(operation, target)
    client = world.callers[caller]
    book = arguments[0]
    if outcome == "ok":
        assert client.call(operation, *arguments) is not None
        return
    with pytest.raises(Fault) as caught:
        client.call(operation, *arguments)
    seen = fault_detail(caught.value)
    messages = {
        "NotAuthorized": ("only a system administrator can create books", None) if operation == "CreateBook" else
        (f"client {client.name} needs the {REQUIRED_ROLE.get(operation, 'reader')} role on book {book}", "book"),
        "BookNotFound": (f"book {book} does not exist", "book"),
        "BookExists": (f"book {book} already exists", "code"),
    }
    message, field = messages[outcome]
    assert seen == {"code": outcome, "message": message, **({"field": field} if field else {})}


@pytest.mark.parametrize("caller", ["nobody", "reader", "poster", "admin"])
@pytest.mark.parametrize("operation", [operation for operation in OWN_BOOK if operation != "CreateBook"])
def test_without_a_grant_an_existing_book_and_a_missing_one_look_the_same(world, caller, operation):
    client = world.callers[caller]
    answers = []
    for target in ("foreign", "missing"):
        arguments = world.arguments(operation, target)
        with pytest.raises(Fault):
            client.call(operation, *arguments)
        answers.append(client.last_response().replace(world.books[target].encode(), b"BOOK"))
    assert answers[0] == answers[1]


def test_creating_a_book_makes_its_creator_admin_of_it(world):
    creator = world.callers["sysadmin"]
    code = unique("MINE")
    assert creator.call("CreateBook", code, "Mine").code == code
    creator.call("OpenAccount", code, account_input("cash"))
    creator.call("OpenAccount", code, {**account_input("sales"), "type": "INCOME"})
    creator.call("PostEntry", code, entry_input("FIRST"))
    assert creator.call("GetBalance", code, "cash", None).balance == 1
    assert creator.call("ClosePeriod", code, date(2026, 1, 31)).closedThrough == date(2026, 1, 31)
    # Its grant is on that book alone.
    with pytest.raises(Fault) as caught:
        creator.call("GetAccount", world.books["own"], "cash")
    assert fault_detail(caught.value)["code"] == NA


# --- disabling a client ---

REQUESTS_AFTER_DISABLING = 20


@pytest.fixture(scope="module")
def four_workers(request, tmp_path_factory):
    return start_server(request, tmp_path_factory, "sqlite", workers=4, extra_env=MANY_FAILED_LOGINS)


def ledger_fault_code(response: requests.Response) -> str | None:
    fault = etree.fromstring(response.content).find(f".//{{{TNS}}}LedgerFault")
    return None if fault is None else fault.findtext(f"{{{TNS}}}code")


def test_a_disabled_client_is_refused_on_its_next_request_by_every_worker(four_workers):
    book = four_workers.new_book(cash=("ASSET", "USD"))
    name, password = four_workers.add_client(grants={book.code: "reader"})
    body = envelope("11", f"<l:GetAccount><l:book>{book.code}</l:book><l:code>cash</l:code></l:GetAccount>",
                    name, password)

    def send() -> requests.Response:
        # A connection of its own each time (no session), so that any worker may take it.
        return requests.post(four_workers.endpoint(), data=body, timeout=60,
                             headers={"Content-Type": "text/xml; charset=utf-8", "Connection": "close"})

    # Every worker has served (and could have remembered) the client before it is disabled.
    assert [send().status_code for _ in range(REQUESTS_AFTER_DISABLING)] == [200] * REQUESTS_AFTER_DISABLING
    result = cli("clients", "disable", name, env={"LEDGER_DATABASE_URL": four_workers.database_url})
    assert result.returncode == 0, result.stderr
    refused = [ledger_fault_code(send()) for _ in range(REQUESTS_AFTER_DISABLING)]
    assert refused == ["AuthenticationFailed"] * REQUESTS_AFTER_DISABLING
    # The administrator is unaffected.
    assert four_workers.zeep(ADMIN, ADMIN_PASSWORD).service.GetAccount(book.code, "cash").code == "cash"


def test_the_role_table_the_use_cases_authorize_by_is_this_matrix():
    """domain/access.py's REQUIRED_ROLE, the one table the use cases check and /docs can list, says of
    every operation what the matrix above shows: the least role that may call it on its own book."""
    least = {operation: next((caller for caller, outcome in zip(CALLERS, outcomes)
                              if outcome == "ok" and caller in ("reader", "poster", "admin")), "system administrator")
             for operation, outcomes in OWN_BOOK.items()}
    assert {operation: access.role_label(role) for operation, role in access.REQUIRED_ROLE.items()} == least

"""docs/contract.md, the contract written down, against what the service is: its tables are what the code
writes; its types and operations are the WSDL's, read here on their own; its roles are the code's and
the authorization matrix's; its fault codes are the domain's, with the SOAP codes and HTTP statuses
the live /docs page shows; its command table is the command line's; its invariants are numbered 1 to
9; and every pointer into it, anywhere in the repository, names a section it has."""
from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

import pytest
import requests
from lxml import etree, html

from conftest import FAULT_CODES
from ledger_service.domain.access import REQUIRED_ROLE, role_label
from ledger_service.cli import parser
from ledger_service.contract import reference, tables
from ledger_service.domain.errors import FaultCode
from test_authorization import CALLERS, OWN_BOOK

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "contract.md"
WSDL = ROOT / "wsdl" / "soap11.wsdl"
NS = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "xs": "http://www.w3.org/2001/XMLSchema"}
# The sections other documents, the code and the tests link to.
ANCHORS = {"types", "envelope-rules", "invariants", "operations", "faults", "security", "journal", "journal-export",
           "command-line"}
# A field as a generated table writes it: `name`?: Type, or `name`?: list of `item` (Type).
FIELD = re.compile(r"`(\w+)`(\?)?: (?:list of `(\w+)` \((\w+)\)|(xs:\w+|\w+))")


def text() -> str:
    return DOCUMENT.read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text(), re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def table(part: str) -> dict[str, list[str]]:
    """The rows of the tables in `part` by their first cell, headers left out; a `\\|` stays in its cell."""
    lines = [line for line in part.splitlines() if line.startswith("|")]
    separator = re.compile(r"\|(-+\|)+")
    body = {}
    for line, following in zip(lines, lines[1:] + [""]):
        if not separator.fullmatch(line) and not separator.fullmatch(following):
            cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            body[cells[0]] = cells[1:]
    return body


def fields(cell: str) -> list[str]:
    """A generated cell's fields as the WSDL says them here: name, `?` when optional."""
    return [name + (optional or "") for name, optional, *_ in FIELD.findall(cell)]


def wsdl() -> etree._Element:
    return etree.parse(str(WSDL)).getroot()


def sequence(root: etree._Element, type_name: str) -> list[str]:
    return [element.get("name") + ("?" if element.get("minOccurs") == "0" else "")
            for element in root.xpath("wsdl:types/xs:schema/xs:complexType[@name=$name]/xs:sequence/xs:element",
                                      namespaces=NS, name=type_name)]


# --- what is generated ---

def test_the_generated_tables_are_what_the_code_writes():
    document = text()
    assert tables.refresh(document, reference.build(WSDL.read_bytes())) == document, (
        "docs/contract.md is out of date: run `python -m ledger_service.contract.tables` from the repository's root")


def test_a_document_without_the_markers_of_a_table_is_refused():
    with pytest.raises(ValueError, match="faults"):
        tables.refresh(text().replace("<!-- generated: faults -->", ""), reference.build(WSDL.read_bytes()))


# --- the types and the operations are the WSDL's ---

def test_the_types_and_their_fields_are_the_wsdls():
    root = wsdl()
    operations = [op.get("name") for op in root.xpath("wsdl:portType/wsdl:operation", namespaces=NS)]
    wrappers = set(operations) | {f"{name}Response" for name in operations}
    data_types = {name for name in root.xpath("wsdl:types/xs:schema/xs:complexType/@name", namespaces=NS)
                  if name not in wrappers and not name.endswith("Array")}
    documented = table(section("Types"))
    complex_rows = {name: cells[0] for name, cells in documented.items() if len(cells) == 1}
    assert set(complex_rows) == data_types
    for name, cell in complex_rows.items():
        assert fields(cell) == sequence(root, name), name
    simple_types = set(root.xpath("wsdl:types/xs:schema/xs:simpleType/@name", namespaces=NS))
    assert {name for name, cells in documented.items() if len(cells) == 2} == simple_types
    for name in ("AccountType", "Side", "EntryStatus", "AccountStatus"):
        values = root.xpath("wsdl:types/xs:schema/xs:simpleType[@name=$name]//xs:enumeration/@value",
                            namespaces=NS, name=name)
        assert re.findall(r"`(\w+)`", documented[name][1]) == values, name


def test_the_operations_are_the_wsdls_with_their_parameters_in_order():
    root = wsdl()
    operations = [op.get("name") for op in root.xpath("wsdl:portType/wsdl:operation", namespaces=NS)]
    documented = table(section("Operations"))
    assert list(documented) == operations
    for name, (_, parameters, result) in documented.items():
        assert fields(parameters) == sequence(root, name), name
        assert fields(result) == sequence(root, f"{name}Response"), name


# The roles the service layer enforces (domain/access.py), as the documents name them.
CODE_ROLES = {operation: role_label(required) for operation, required in REQUIRED_ROLE.items()}


def test_each_operation_needs_the_role_the_code_and_the_authorization_matrix_say():
    documented = {name: cells[0] for name, cells in table(section("Operations")).items()}
    assert documented == CODE_ROLES
    granted = {"reader", "poster", "admin"}
    for operation, outcomes in OWN_BOOK.items():
        allowed = [caller for caller, outcome in zip(CALLERS, outcomes) if outcome == "ok" and caller in granted]
        assert documented[operation] == (allowed[0] if allowed else "system administrator"), operation


# --- the faults are the domain's, and /docs's ---

def test_the_fault_table_has_every_code_of_the_domain_and_how_it_travels():
    documented = table(section("Faults"))
    assert list(documented) == [code.value for code in FaultCode]
    assert set(documented) == FAULT_CODES
    for code, (soap_codes, status, _) in documented.items():
        server = code in ("Unavailable", "InternalError")
        assert soap_codes == ("Server / Receiver" if server else "Client / Sender"), code
        assert status == {"RateLimited": "429", "Unavailable": "503"}.get(code, "500"), code


@pytest.fixture(scope="module")
def docs_page(sqlite_server) -> html.HtmlElement:
    response = requests.get(f"{sqlite_server.url}/docs", timeout=30)
    assert response.status_code == 200
    return html.fromstring(response.content)


def test_the_document_and_the_docs_page_say_the_same(docs_page):
    faults = {row.get("id").removeprefix("fault-"): [cell.text_content() for cell in row.xpath("td")][1:]
              for row in docs_page.xpath("//tr[starts-with(@id, 'fault-')]")}
    assert faults == table(section("Faults"))
    roles = {section_.get("id").removeprefix("op-"): section_.xpath(".//span[@class='role']")[0].text_content()
             for section_ in docs_page.xpath("//section[contains(@class, 'operation')]")}
    assert roles == {name: cells[0] for name, cells in table(section("Operations")).items()}


# --- the rest of the document ---

def test_the_invariants_are_numbered_one_to_nine():
    items = re.findall(r"^(\d+)\. \*\*(.+?)\*\*", section("Invariants"), re.M)
    assert [int(number) for number, _ in items] == list(range(1, 10))


def test_the_command_table_is_the_command_line():
    def commands(command: argparse.ArgumentParser, path: tuple[str, ...] = ()):
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, (*path, name))
                return
        yield " ".join(path), {option for action in command._actions for option in action.option_strings
                               if option.startswith("--") and option != "--help"}

    documented = {}
    for cell in table(section("Command line")):
        words = cell.strip("`").split()
        assert words[0] == "ledger-service", cell
        name = " ".join(word for word in words[1:3] if re.fullmatch(r"[a-z][a-z0-9-]*", word) and not word.startswith("-"))
        documented[name] = set(re.findall(r"--[a-z-]+", cell))
    expected = dict(commands(parser()))
    assert set(documented) == set(expected)
    for name, options in expected.items():
        assert options <= documented[name], (name, options - documented[name])


def test_the_sections_others_point_at_are_there():
    headings = {slug(heading) for heading in re.findall(r"^##+ (.+)$", text(), re.M)}
    assert ANCHORS <= headings
    pointers = set()
    for folder in ("service", "clients", "tests", "docs", "bench", "deploy"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".html", ".cfg") and ".egg-info" not in str(path):
                pointers |= {(str(path.relative_to(ROOT)), anchor)
                             for anchor in re.findall(r"contract\.md#([\w-]+)", path.read_text(encoding="utf-8"))}
    pointers |= {("README.md", anchor) for anchor in re.findall(r"contract\.md#([\w-]+)", (ROOT / "README.md").read_text())}
    assert pointers, "nothing points into docs/contract.md"
    assert {(path, anchor) for path, anchor in pointers if anchor not in headings} == set()


def test_the_repository_depends_on_no_outside_specification():
    """The contract is this document: nothing in the repository sends a reader to a specification it
    does not hold."""
    outside = re.compile(r"\bSPEC\b")
    found = []
    for folder in ("service", "clients", "tests", "docs", "bench", "deploy", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".cfg", ".toml", ".sh", "") and path != Path(__file__):
                if ".egg-info" in str(path) or "__pycache__" in str(path):
                    continue
                try:
                    content = path.read_text(encoding="utf-8")
                except UnicodeDecodeError:
                    continue
                found += [f"{path.relative_to(ROOT)}:{number}" for number, line in enumerate(content.splitlines(), 1)
                          if outside.search(line)]
    found += [f"README.md:{number}" for number, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1)
              if outside.search(line)]
    assert found == []


# --- the journal's worked example ---

def worked_example() -> tuple[str, str]:
    """The example export of the journal section, and the shell line that recomputes its first hash."""
    journal = section("Journal")
    export = re.search(r"A worked example.*?```text\n(.*?)```", journal, re.S)
    by_hand = re.search(r"By hand.*?```sh\n(.*?)```", journal, re.S)
    assert export and by_hand, "the journal section lost its worked example"
    return export.group(1), by_hand.group(1)


def test_the_worked_example_is_what_the_service_records_and_verifies():
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from io import StringIO

    from ledger_service.domain import journal
    from ledger_service.domain.accounts import Account, AccountStatus, AccountType, Side
    from ledger_service.domain.books import Book
    from ledger_service.domain.currencies import currency
    from ledger_service.domain.entries import Entry, EntryStatus, Line
    from ledger_service.domain.journal_chain import GENESIS_HASH, check_export, export_header, export_line

    def at(moment: str) -> datetime:
        return datetime.fromisoformat(moment).replace(tzinfo=timezone.utc)

    def account(code: str, kind: AccountType, moment: str) -> Account:
        return Account(code, code.title(), kind, currency("USD"), None, False, AccountStatus.OPEN, at(moment))

    lines = (Line("cash", Side.DEBIT, Decimal("125.50"), "USD"), Line("sales", Side.CREDIT, Decimal("125.50"), "USD"))
    records = [
        journal.book_created(Book("ACME", "Acme Ltd"), at("2026-01-05T09:00:00")),
        journal.account_opened(account("cash", AccountType.ASSET, "2026-01-05T09:01:00")),
        journal.account_opened(account("sales", AccountType.INCOME, "2026-01-05T09:01:30")),
        journal.entry_recorded(Entry("9b2f6c1e-0d4a-4f4e-8a55-2c1d0e6f7a81", "INV-1001", date(2026, 1, 5),
                                     at("2026-01-05T09:02:00.123456"), "Invoice 1001 — café", EntryStatus.POSTED,
                                     lines)),
    ]
    export, by_hand = worked_example()
    written = export_header("ACME") + "".join(export_line(sealed.sequence, sealed.hash, sealed.content)
                                              for sealed in journal.seal(records, 0, GENESIS_HASH))
    assert export == written
    checked = check_export(StringIO(export), head="b4d02d1a33b806ac5b545e63beff9666749dc496e56b423b04fd3f4f68b66245")
    assert checked.intact and checked.records == 4

    # The shell line hashes the zeros and the first record's bytes, as the chain's rule says.
    previous, content = re.search(r"printf '%s%s' (\w+)", by_hand).group(1), re.search(r"'(\{.*\})'", by_hand).group(1)
    _, first_hash, first_content = export.splitlines()[1].split(" ", 2)
    assert previous == GENESIS_HASH and content == first_content
    assert hashlib.sha256((previous + content).encode()).hexdigest() == first_hash

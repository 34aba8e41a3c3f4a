"""An entry's metadata (docs/contract.md#metadata): posted with PostEntry and PostEntries, shown on the entry
in key order and only when it has some, part of what idempotency compares, checked by the schema and by
the service (a key given twice), carried by reversals, by the journal and by camt.053; on SOAP 1.1 and 1.2
over SQLite and PostgreSQL. (Imports with meta.* columns: tests/test_import.py; tampering with metadata:
tests/test_journal_tamper.py.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import XMLParseError
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from conftest import ADMIN, ADMIN_PASSWORD, TNS, envelope, fault_code, post_raw, unique
from test_camt053 import CAMT, valid
from test_partial_commit import sealed_records

SALE = [("cash", "DEBIT", "10.00"), ("sales", "CREDIT", "10.00")]
BASELINE = Path(__file__).resolve().parents[1] / "wsdl" / "baseline" / "v1"


def items(*pairs: tuple[str, str]) -> dict:
    return {"item": [{"key": key, "value": value} for key, value in pairs]}


def shown(entry) -> list[tuple[str, str]] | None:
    return None if entry.metadata is None else [(item.key, item.value) for item in entry.metadata.item]


# What the scenarios of the other SOAP stacks (tests/interop) tag their sale with, given there out of key order
# and with a value beyond ASCII: as every read shows it, in key order; and as the scenarios print it.
SCENARIO_METADATA = [("costCentre", "CC-7"), ("invoice", "INV-2026-031"), ("site", "Zürich – Café")]
SCENARIO_METADATA_PRINTED = "; ".join(f"{key}={value}" for key, value in SCENARIO_METADATA)


def assert_scenario_metadata_posted(service, book: str, reference: str) -> None:
    """zeep reads on the sale another stack's scenario posted the metadata it gave, every value as it was."""
    assert shown(service.GetEntry(book, reference)) == SCENARIO_METADATA


@pytest.fixture(params=["11", "12"])
def version(request) -> str:
    return request.param


@pytest.fixture
def book(server, version):
    return server.new_book(version, cash=("ASSET", "USD"), sales=("INCOME", "USD"))


def test_metadata_is_shown_in_key_order_on_every_read_of_the_entry(book):
    posted = book.post("SALE-1", SALE, metadata=items(("invoice", "INV-1"), ("costCentre", "CC-7"),
                                                       ("project.code", "P_1-a")))
    in_key_order = [("costCentre", "CC-7"), ("invoice", "INV-1"), ("project.code", "P_1-a")]
    assert shown(posted) == in_key_order
    assert shown(book.service.GetEntry(book.code, "SALE-1")) == in_key_order
    results = book.service.PostEntries(book.code, {"entry": [
        {"reference": "SALE-2", "effectiveDate": "2026-01-16", "metadata": items(("invoice", "INV-2")),
         "lines": {"line": [{"account": a, "side": s, "amount": m} for a, s, m in SALE]}}]}, True)
    assert shown(results[0].entry) == [("invoice", "INV-2")]
    assert shown(book.service.GetEntry(book.code, "SALE-2")) == [("invoice", "INV-2")]


def test_an_entry_without_metadata_has_no_metadata_element(server, book, version):
    book.post("PLAIN", SALE)
    answer = post_raw(server, envelope(version, f"<l:GetEntry><l:book>{book.code}</l:book>"
                                                "<l:reference>PLAIN</l:reference></l:GetEntry>"), version)
    assert answer.status_code == 200
    entry = etree.fromstring(answer.content).find(f".//{{{TNS}}}entry")
    assert entry is not None and entry.find(f"{{{TNS}}}metadata") is None
    assert shown(book.service.GetEntry(book.code, "PLAIN")) is None


def test_metadata_is_part_of_what_a_retry_must_repeat(book):
    first = book.post("SALE-1", SALE, metadata=items(("invoice", "INV-1"), ("costCentre", "CC-7")))
    # The same items in another order are the same entry: the original is returned, nothing posted.
    again = book.post("SALE-1", SALE, metadata=items(("costCentre", "CC-7"), ("invoice", "INV-1")))
    assert again.id == first.id
    for other in (items(("invoice", "INV-2"), ("costCentre", "CC-7")), items(("invoice", "INV-1")),
                  items(("invoice", "INV-1"), ("costCentre", "CC-7"), ("project", "P"))):
        assert fault_code(book.post, "SALE-1", SALE, metadata=other) == "ReferenceConflict"
    assert fault_code(book.post, "SALE-1", SALE) == "ReferenceConflict"
    book.post("PLAIN", SALE)
    assert fault_code(book.post, "PLAIN", SALE, metadata=items(("invoice", "INV-1"))) == "ReferenceConflict"
    assert book.balance("cash").postedDebits == 20


def raw_post(server, version: str, book, reference: str, metadata: list[tuple[str, str]]) -> dict:
    """PostEntry sent as written, past zeep's own checks of the schema: the LedgerFault answered."""
    lines = "".join(f"<l:line><l:account>{a}</l:account><l:side>{s}</l:side><l:amount>{m}</l:amount></l:line>"
                    for a, s, m in SALE)
    given = "".join(f"<l:item><l:key>{key}</l:key><l:value>{value}</l:value></l:item>" for key, value in metadata)
    answer = post_raw(server, envelope(version, f"<l:PostEntry><l:book>{book.code}</l:book><l:entry>"
                                                f"<l:reference>{reference}</l:reference>"
                                                f"<l:effectiveDate>2026-01-15</l:effectiveDate>"
                                                f"<l:lines>{lines}</l:lines><l:metadata>{given}</l:metadata>"
                                                "</l:entry></l:PostEntry>"), version)
    assert answer.status_code == 500, answer.text[:300]
    fault = etree.fromstring(answer.content).find(f".//{{{TNS}}}LedgerFault")
    return {child.tag.split("}")[1]: child.text for child in fault}


@pytest.mark.parametrize("metadata, field", [
    ([(f"k{n}", "v") for n in range(33)], None),
    ([("cost centre", "CC-7")], None),
    ([("k" * 65, "v")], None),
    ([("invoice", "v" * 257)], None),
    ([("invoice", "")], None),
    ([("invoice", "INV-1"), ("costCentre", "CC-7"), ("invoice", "INV-2")], "entry.metadata[2].key"),
], ids=["33-items", "key-with-a-space", "key-of-65", "value-of-257", "empty-value", "key-twice"])
def test_metadata_out_of_bounds_is_schema_validation_and_posts_nothing(server, version, book, metadata, field):
    reference = unique("BAD")
    detail = raw_post(server, version, book, reference, metadata)
    assert detail["code"] == "SchemaValidation", detail
    if field is not None:
        assert detail["field"] == field
    assert fault_code(book.service.GetEntry, book.code, reference) == "EntryNotFound"
    assert book.balance("cash").postedDebits == 0


def test_a_key_given_twice_in_a_batch_fails_its_entry_alone(book):
    lines = {"line": [{"account": a, "side": s, "amount": m} for a, s, m in SALE]}
    results = book.service.PostEntries(book.code, {"entry": [
        {"reference": "OK-1", "effectiveDate": "2026-01-15", "lines": lines, "metadata": items(("invoice", "1"))},
        {"reference": "TWICE", "effectiveDate": "2026-01-15", "lines": lines,
         "metadata": items(("invoice", "1"), ("invoice", "2"))}]}, False)
    assert results[0].entry is not None and results[1].entry is None
    assert (results[1].fault.code, results[1].fault.field, results[1].fault.index) == (
        "SchemaValidation", "entry.metadata[1].key", 1)
    assert fault_code(book.service.GetEntry, book.code, "TWICE") == "EntryNotFound"


def test_a_reversal_carries_the_metadata_of_the_entry_it_reverses(book):
    book.post("SALE-1", SALE, metadata=items(("invoice", "INV-1")))
    reversal = book.service.ReverseEntry(book.code, "SALE-1", "REV-1", None, None)
    assert shown(reversal) == [("invoice", "INV-1")]


def test_a_pending_entry_keeps_its_metadata_when_committed(book):
    book.post("HOLD-1", SALE, pending=True, metadata=items(("order", "SO-9")))
    assert shown(book.service.CommitPending(book.code, "HOLD-1")) == [("order", "SO-9")]


def test_the_journal_records_metadata_and_leaves_entries_without_it_as_they_were(server, book):
    book.post("SALE-1", SALE, metadata=items(("invoice", "INV-1"), ("costCentre", "CC-7")))
    book.post("PLAIN", SALE)
    recorded = [json.loads(content)["entry"] for content in sealed_records(server, book, "EntryRecorded")]
    assert recorded[0]["metadata"] == [{"key": "costCentre", "value": "CC-7"}, {"key": "invoice", "value": "INV-1"}]
    assert "metadata" not in recorded[1]
    assert book.service.VerifyJournal(book.code, None, None).intact is True


def test_camt053_carries_metadata_as_supplementary_data(book):
    book.post("SALE-1", SALE, description="first sale", metadata=items(("invoice", "INV-1"), ("costCentre", "CC-7")))
    book.post("PLAIN", SALE)
    statement = book.service.GetCamtStatement(book.code, "cash", "2026-01-01", "2026-01-31")
    root = valid(statement.document)
    first, plain = root.iterfind(".//c:Ntry", CAMT)
    data = first.find("c:NtryDtls/c:TxDtls/c:SplmtryData", CAMT)
    assert data.findtext("c:PlcAndNm", namespaces=CAMT) == "soap-ledger entry metadata"
    ledger = {"l": TNS}
    assert [(item.findtext("l:key", namespaces=ledger), item.findtext("l:value", namespaces=ledger))
            for item in data.iterfind("c:Envlp/l:metadata/l:item", {**CAMT, **ledger})] == [
        ("costCentre", "CC-7"), ("invoice", "INV-1")]
    assert first.findtext("c:NtryDtls/c:TxDtls/c:RmtInf/c:Ustrd", namespaces=CAMT) == "first sale"
    assert plain.find("c:NtryDtls", CAMT) is None


def v1_service(server, version: str, strict: bool):
    """zeep as a v1 consumer has it: generated from the baseline contract, which knows no metadata."""
    client = Client(str(BASELINE / f"soap{version}.wsdl"), wsse=UsernameToken(ADMIN, ADMIN_PASSWORD),
                    transport=Transport(timeout=60), settings=Settings(strict=strict))
    binding = "{urn:soap-ledger:v1}Ledger"
    return client.create_service(binding, server.endpoint(version))


def test_a_v1_consumer_reads_entries_without_metadata_and_leniently_those_with(server, book, version):
    """docs/contract.md#contract-rules, rule 9, as it stands with zeep."""
    book.post("PLAIN", SALE)
    book.post("TAGGED", SALE, metadata=items(("invoice", "INV-1")))
    strict = v1_service(server, version, strict=True)
    assert strict.GetEntry(book.code, "PLAIN").reference == "PLAIN"
    with pytest.raises(XMLParseError):
        strict.GetEntry(book.code, "TAGGED")
    assert v1_service(server, version, strict=False).GetEntry(book.code, "TAGGED").reference == "TAGGED"

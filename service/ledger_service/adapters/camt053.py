"""An account's statement as an ISO 20022 camt.053.001.08 document (BankToCustomerStatement).

Which identifiers go where, and the sign rules, are docs/contract.md#camt053's: the account code is
Acct/Id/Othr/Id, its currency Acct/Ccy, its name Acct/Nm, the book Acct/Ownr/Id/OrgId/Othr/Id (with the book's
name as Ownr/Nm); CdtDbtInd is the side of the account itself that a line is on, or that the balance is on.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from ..domain.accounts import Side
from ..domain.errors import FaultCode, LedgerError
from ..domain.reports import PeriodStatement
from ..ns import TNS

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
# The schema's lengths of the fields that hold the ledger's own text (Max34Text, Max35Text, Max70Text,
# Max140Text). Names are cut to fit; codes that do not fit are refused, and a longer reference moves to
# AddtlNtryInf (Max500Text).
ACCOUNT_ID_LENGTH = 34
REFERENCE_LENGTH = 35
NAME_LENGTH = 70
REMITTANCE_LENGTH = 140
# BkTxCd is required on every entry; the ledger's one proprietary code says "an entry of this ledger".
TRANSACTION_CODE = "LEDGER-ENTRY"
TRANSACTION_CODE_ISSUER = "soap-ledger"
# Where an entry's metadata goes: SplmtryData's PlcAndNm names it, and its envelope holds the contract's own
# `metadata` element (camt.053 lets an envelope hold any element).
METADATA_PLACE = "soap-ledger entry metadata"
_INDICATOR = {Side.DEBIT: "DBIT", Side.CREDIT: "CRDT"}


@dataclass(frozen=True)
class CamtDocument:
    message_id: str
    document: bytes  # UTF-8, with its XML declaration


def message_id(period: PeriodStatement) -> str:
    """The same statement (book, account, period and every line and balance) always has the same message
    id, and any change to it a new one: a reader recognises a document it already has, whenever it was made."""
    content = asdict(period)
    del content["created_at"]
    digest = hashlib.sha256(json.dumps(content, default=str, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:32]


def camt053_document(period: PeriodStatement) -> CamtDocument:
    statement = period.statement
    _ensure_fits("account", statement.account, ACCOUNT_ID_LENGTH)
    _ensure_fits("book", period.book, REFERENCE_LENGTH)
    identifier = message_id(period)
    created = period.created_at.isoformat(timespec="seconds")
    document = etree.Element(_tag("Document"), nsmap={None: NAMESPACE})
    report = _add(document, "BkToCstmrStmt")
    header = _add(report, "GrpHdr")
    _add(header, "MsgId", identifier)
    _add(header, "CreDtTm", created)
    stmt = _add(report, "Stmt")
    _add(stmt, "Id", identifier)
    _add(stmt, "CreDtTm", created)
    period_element = _add(stmt, "FrToDt")
    _add(period_element, "FrDtTm", f"{statement.from_date.isoformat()}T00:00:00")
    _add(period_element, "ToDtTm", f"{statement.to_date.isoformat()}T23:59:59")
    account = _add(stmt, "Acct")
    _add(_add(_add(account, "Id"), "Othr"), "Id", statement.account)
    _add(account, "Ccy", statement.currency)
    _add(account, "Nm", period.account_name[:NAME_LENGTH])
    owner = _add(account, "Ownr")
    _add(owner, "Nm", period.book_name[:REMITTANCE_LENGTH])
    _add(_add(_add(_add(owner, "Id"), "OrgId"), "Othr"), "Id", period.book)
    _balance(stmt, "OPBD", _debit_positive(period, statement.opening_balance), statement.currency, statement.from_date)
    _balance(stmt, "CLBD", _debit_positive(period, statement.closing_balance), statement.currency, statement.to_date)
    for line in statement.lines:
        entry = _add(stmt, "Ntry")
        _amount(entry, line.amount, statement.currency)
        _add(entry, "CdtDbtInd", _INDICATOR[line.side])
        if line.reversal:
            _add(entry, "RvslInd", "true")
        _add(_add(entry, "Sts"), "Cd", "BOOK")
        _add(_add(entry, "BookgDt"), "Dt", line.effective_date.isoformat())
        _add(_add(entry, "ValDt"), "Dt", line.effective_date.isoformat())
        if len(line.reference) <= REFERENCE_LENGTH:
            _add(entry, "AcctSvcrRef", line.reference)
        code = _add(_add(entry, "BkTxCd"), "Prtry")
        _add(code, "Cd", TRANSACTION_CODE)
        _add(code, "Issr", TRANSACTION_CODE_ISSUER)
        if line.description or line.metadata:
            details = _add(_add(entry, "NtryDtls"), "TxDtls")
            if line.description:
                remittance = _add(details, "RmtInf")
                for start in range(0, len(line.description), REMITTANCE_LENGTH):
                    _add(remittance, "Ustrd", line.description[start:start + REMITTANCE_LENGTH])
            if line.metadata:
                _metadata(details, line.metadata)
        if len(line.reference) > REFERENCE_LENGTH:
            _add(entry, "AddtlNtryInf", line.reference)
    return CamtDocument(identifier, etree.tostring(document, xml_declaration=True, encoding="UTF-8"))


def _metadata(details: etree._Element, metadata) -> None:
    supplementary = _add(details, "SplmtryData")
    _add(supplementary, "PlcAndNm", METADATA_PLACE)
    items = etree.SubElement(_add(supplementary, "Envlp"), f"{{{TNS}}}metadata", nsmap={"ledger": TNS})
    for item in metadata:
        element = etree.SubElement(items, f"{{{TNS}}}item")
        etree.SubElement(element, f"{{{TNS}}}key").text = item.key
        etree.SubElement(element, f"{{{TNS}}}value").text = item.value


def _ensure_fits(field: str, code: str, length: int) -> None:
    if len(code) > length:
        raise LedgerError(FaultCode.SchemaValidation, f"a camt.053 document holds a {field} code of at most {length} "
                          f"characters; {code} has {len(code)}", (field,))


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _tag(name))
    element.text = text
    return element


def _amount(parent: etree._Element, amount: Decimal, currency: str) -> None:
    # The amount keeps the currency's minor units as the ledger gives them (10.50, 100), never an exponent.
    _add(parent, "Amt", format(amount, "f")).set("Ccy", currency)


def _debit_positive(period: PeriodStatement, balance: Decimal) -> Decimal:
    """A balance on the account's normal side as debits - credits."""
    return balance if period.normal_side is Side.DEBIT else -balance


def _balance(stmt: etree._Element, code: str, debits_less_credits: Decimal, currency: str, day: date) -> None:
    balance = _add(stmt, "Bal")
    _add(_add(_add(balance, "Tp"), "CdOrPrtry"), "Cd", code)
    _amount(balance, abs(debits_less_credits), currency)
    _add(balance, "CdtDbtInd", "DBIT" if debits_less_credits > 0 else "CRDT")
    _add(_add(balance, "Dt"), "Dt", day.isoformat())

"""The v1 contract's types, as Spyne models, their fields in the schema order of docs/contract.md#types.

Every field is declared `required` (minOccurs=1, not nillable) or `optional` (minOccurs=0, not
nillable): Spyne's default of minOccurs=0 nillable=true everywhere would make every generated
Java or C# field nullable. Restricted simple types are named, so that each appears once in the
schema instead of once per field that uses it.
"""
from __future__ import annotations

from spyne import Array, Boolean, ByteArray, ComplexModel, Date, DateTime, Decimal, Enum, Integer32, Integer64, Unicode
from spyne.model import ModelBase

from ..domain.limits import (MAX_METADATA_ITEMS, MAX_METADATA_KEY, MAX_METADATA_VALUE, MAX_PAGE_SIZE, METADATA_KEY_PATTERN,
                             MIN_PAGE_SIZE, MIN_PENDING_TIMEOUT_SECONDS)
from ..ns import TNS


def _keep_name(model) -> dict:
    """Customizing a named restricted type would otherwise make Spyne copy it under a generated name."""
    name = model.__type_name__
    if model.__extends__ is None or name is None or name is ModelBase.Empty:
        return {}
    return {"type_name": name, "__namespace__": model.__namespace__}


def required(model):
    return model.customize(min_occurs=1, nillable=False, **_keep_name(model))


def optional(model):
    return model.customize(min_occurs=0, nillable=False, **_keep_name(model))


def _text(name: str, max_len: int, pattern: str | None = None):
    restrictions = {"min_len": 1, "max_len": max_len}
    if pattern:
        restrictions["pattern"] = pattern
    return Unicode(type_name=name, __namespace__=TNS, **restrictions)


Code = _text("Code", 64, r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
Name = _text("Name", 200)
Reference = _text("Reference", 128, r"[!-~]+")
Description = _text("Description", 500)
Memo = _text("Memo", 200)
MetadataKey = _text("MetadataKey", MAX_METADATA_KEY, METADATA_KEY_PATTERN)
MetadataValue = _text("MetadataValue", MAX_METADATA_VALUE)
CurrencyCode = _text("CurrencyCode", 3, "[A-Z]{3}")
PageToken = _text("PageToken", 1000)
PageSize = Integer32(ge=MIN_PAGE_SIZE, le=MAX_PAGE_SIZE, type_name="PageSize", __namespace__=TNS)
# At most MAX_PENDING_TIMEOUT_SECONDS: xs:int's largest value, which the type itself bounds.
TimeoutSeconds = Integer32(ge=MIN_PENDING_TIMEOUT_SECONDS, type_name="TimeoutSeconds", __namespace__=TNS)
# A place in a book's journal (docs/contract.md#journal): records are numbered from 1, and 0 is the place
# before the first.
Sequence = Integer64(ge=0, type_name="Sequence", __namespace__=TNS)
Hash = _text("Hash", 64, "[0-9a-f]{64}")
# Amounts are written in plain notation with the currency's exact places; never 1E+2.
Money = Decimal(str_format="{:f}")

AccountType = Enum("ASSET", "EXPENSE", "LIABILITY", "EQUITY", "INCOME", type_name="AccountType").customize(
    __namespace__=TNS)
Side = Enum("DEBIT", "CREDIT", type_name="Side").customize(__namespace__=TNS)
EntryStatus = Enum("POSTED", "PENDING", "VOIDED", "EXPIRED", type_name="EntryStatus").customize(
    __namespace__=TNS)
AccountStatus = Enum("OPEN", "CLOSED", type_name="AccountStatus").customize(__namespace__=TNS)
BreakReason = Enum("hash mismatch", "missing record", "record out of order", "content changed",
                   type_name="BreakReason").customize(__namespace__=TNS)


class _Model(ComplexModel):
    __namespace__ = TNS


def _list_of(item, member_name: str):
    # The wrapper is always there; its items may not be (an empty book has no accounts, a quiet
    # period no statement lines), so each item is minOccurs="0".
    return required(Array(optional(item), member_name=member_name))


def _optional_list_of(item, member_name: str, at_most: int):
    """A list that may be left out as a whole (an entry without metadata has no wrapper either)."""
    return optional(Array(optional(item).customize(max_occurs=at_most), member_name=member_name))


class Book(_Model):
    _type_info = [
        ("code", required(Code)),
        ("name", required(Name)),
        ("closedThrough", optional(Date)),
    ]


class AccountInput(_Model):
    _type_info = [
        ("code", required(Code)),
        ("name", required(Name)),
        ("type", required(AccountType)),
        ("currency", required(CurrencyCode)),
        ("parentCode", optional(Code)),
        ("noNegativeBalance", optional(Boolean)),
    ]


class Account(_Model):
    _type_info = [
        ("code", required(Code)),
        ("name", required(Name)),
        ("type", required(AccountType)),
        ("currency", required(CurrencyCode)),
        ("parentCode", optional(Code)),
        ("noNegativeBalance", required(Boolean)),
        ("status", required(AccountStatus)),
        ("openedAt", required(DateTime)),
    ]


class AccountPage(_Model):
    _type_info = [
        ("accounts", _list_of(Account, "account")),
        ("nextPageToken", optional(PageToken)),
    ]


class LineInput(_Model):
    _type_info = [
        ("account", required(Code)),
        ("side", required(Side)),
        ("amount", required(Decimal)),
        ("memo", optional(Memo)),
    ]


class MetadataItem(_Model):
    _type_info = [
        ("key", required(MetadataKey)),
        ("value", required(MetadataValue)),
    ]


class EntryInput(_Model):
    _type_info = [
        ("reference", required(Reference)),
        ("effectiveDate", required(Date)),
        ("description", optional(Description)),
        ("lines", _list_of(LineInput, "line")),
        ("pending", optional(Boolean)),
        ("pendingTimeoutSeconds", optional(TimeoutSeconds)),
        ("metadata", _optional_list_of(MetadataItem, "item", MAX_METADATA_ITEMS)),
    ]


class Line(_Model):
    _type_info = [
        ("account", required(Code)),
        ("side", required(Side)),
        ("amount", required(Money)),
        ("currency", required(CurrencyCode)),
        ("memo", optional(Memo)),
    ]


class Entry(_Model):
    # metadata is there only on an entry that carries some, which only a caller of this contract can
    # post: docs/contract.md#contract-rules (rule 9) says what that means for v1 readers.
    _type_info = [
        ("id", required(Unicode)),
        ("reference", required(Reference)),
        ("effectiveDate", required(Date)),
        ("recordedAt", required(DateTime)),
        ("description", optional(Description)),
        ("status", required(EntryStatus)),
        ("lines", _list_of(Line, "line")),
        ("pendingExpiresAt", optional(DateTime)),
        ("reversalOf", optional(Reference)),
        ("reversedBy", optional(Reference)),
        ("metadata", _optional_list_of(MetadataItem, "item", MAX_METADATA_ITEMS)),
    ]


class EntryPage(_Model):
    _type_info = [
        ("entries", _list_of(Entry, "entry")),
        ("nextPageToken", optional(PageToken)),
    ]


class EntryAudit(_Model):
    """Who wrote an entry: the client and the request that posted it, and when. (A separate answer, not
    fields on Entry, which v1 consumers read strictly.) postedBy and requestId are absent only for an
    entry no client posted, such as one an operator loads from the command line. The settled* fields
    say who committed or voided a pending entry, in which request and when; voidReason is VoidPending's
    reason; journalSequence is the place of the journal record that recorded the entry."""

    _type_info = [
        ("reference", required(Reference)),
        ("postedBy", optional(Unicode)),
        ("requestId", optional(Unicode)),
        ("recordedAt", required(DateTime)),
        ("settledBy", optional(Unicode)),
        ("settledRequestId", optional(Unicode)),
        ("settledAt", optional(DateTime)),
        ("voidReason", optional(Description)),
        ("journalSequence", required(Sequence)),
    ]


class Balance(_Model):
    _type_info = [
        ("account", required(Code)),
        ("currency", required(CurrencyCode)),
        ("asOf", optional(Date)),
        ("postedDebits", required(Money)),
        ("postedCredits", required(Money)),
        ("pendingDebits", required(Money)),
        ("pendingCredits", required(Money)),
        ("balance", required(Money)),
        ("availableBalance", required(Money)),
    ]


class StatementLine(_Model):
    _type_info = [
        ("reference", required(Reference)),
        ("effectiveDate", required(Date)),
        ("description", optional(Description)),
        ("side", required(Side)),
        ("amount", required(Money)),
        ("runningBalance", required(Money)),
    ]


class Statement(_Model):
    _type_info = [
        ("account", required(Code)),
        ("currency", required(CurrencyCode)),
        ("fromDate", required(Date)),
        ("toDate", required(Date)),
        ("openingBalance", required(Money)),
        ("closingBalance", required(Money)),
        ("lines", _list_of(StatementLine, "line")),
        ("nextPageToken", optional(PageToken)),
    ]


class TrialBalanceRow(_Model):
    _type_info = [
        ("account", required(Code)),
        ("name", required(Name)),
        ("type", required(AccountType)),
        ("currency", required(CurrencyCode)),
        ("debit", required(Money)),
        ("credit", required(Money)),
    ]


class CurrencyTotal(_Model):
    _type_info = [
        ("currency", required(CurrencyCode)),
        ("debit", required(Money)),
        ("credit", required(Money)),
    ]


class TrialBalance(_Model):
    _type_info = [
        ("asOf", optional(Date)),
        ("rows", _list_of(TrialBalanceRow, "row")),
        ("totals", _list_of(CurrencyTotal, "total")),
    ]


class JournalHead(_Model):
    _type_info = [
        ("book", required(Code)),
        ("sequence", required(Sequence)),
        ("hash", required(Hash)),
        ("recordedAt", required(DateTime)),
    ]


class JournalBreak(_Model):
    _type_info = [
        ("sequence", required(Sequence)),
        ("reason", required(BreakReason)),
    ]


class JournalVerification(_Model):
    _type_info = [
        ("book", required(Code)),
        ("fromSequence", required(Sequence)),
        ("toSequence", required(Sequence)),
        ("recordsChecked", required(Sequence)),
        ("headHash", required(Hash)),
        ("intact", required(Boolean)),
        ("firstBreak", optional(JournalBreak)),
    ]


class CamtStatement(_Model):
    # The document is the UTF-8 bytes of one camt.053.001.08 Document (docs/contract.md#camt053), carried whole
    # so that no SOAP stack rewrites its namespaces or whitespace.
    _type_info = [
        ("messageId", required(_text("MessageId", 35))),
        ("document", required(ByteArray)),
    ]

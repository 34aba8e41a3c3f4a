"""Every numeric limit of the contract, in one place: the rules below enforce them, and the contract's
schema (soap/types.py) declares the ones it can."""
from __future__ import annotations

# Lines in one entry (docs/contract.md#invariants, invariant 1).
MIN_LINES = 2
MAX_LINES = 1000
# Entries in one PostEntries batch (and in one chunk of an operator's import).
MAX_BATCH = 1000
# Items on one page of ListAccounts, GetStatement and ListEntries.
MIN_PAGE_SIZE = 1
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# An entry's metadata (docs/contract.md#metadata): items per entry, and each key's and value's length. A key
# is made of METADATA_KEY_PATTERN.
MAX_METADATA_ITEMS = 32
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 256
METADATA_KEY_PATTERN = r"[A-Za-z0-9_.\-]+"
# Journal records one page of ListEntries looks through: a page costs the same wherever it starts and however
# few entries the filters keep (it may then hold fewer entries than asked for, or none, and still lead on).
MAX_RECORDS_SEARCHED_PER_PAGE = 10_000
# Lines one camt.053 statement document holds: a document is not paged, so a longer period is refused
# (TooManyLines) and asked for in shorter periods.
MAX_STATEMENT_DOCUMENT_LINES = 10_000
# A pending entry's pendingTimeoutSeconds; the largest is xs:int's, the contract's type of the field
# (about 68 years), so the schema's own type enforces it.
MIN_PENDING_TIMEOUT_SECONDS = 1
MAX_PENDING_TIMEOUT_SECONDS = 2**31 - 1
# What a UsernameToken may carry: a client's name, and its password.
MAX_CLIENT_NAME = 64
MAX_PASSWORD = 1024
# Journal records one VerifyJournal call checks; a longer chain is verified a stretch at a time.
MAX_VERIFIED_RECORDS = 100_000

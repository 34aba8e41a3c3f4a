"""The stores of one transaction, one per job, each implementing its port (service_layer/ports.py) as
SQL over the transaction's one connection. Locks are taken where the docstrings say, named by what the
caller is about to do: rows `for_update` are about to change and must not change under it; the book of
accounts locked for a posting must not have its closed-through date moved until it commits."""
from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection

from .access import SqlAccessStore
from .accounts import SqlAccountStore
from .books import SqlBookStore
from .clients import SqlClientStore
from .entries import SqlEntryStore
from .journal import SqlJournalStore
from .reports import SqlReportStore


class SqlStores:
    """Each store made when a use case first asks for it: most use cases need two or three of them."""

    def __init__(self, connection: Connection):
        # The transaction's connection itself, for what no store does (a test looking at rows as they are).
        self.connection = connection

    @cached_property
    def access(self) -> SqlAccessStore:
        return SqlAccessStore(self.connection)

    @cached_property
    def clients(self) -> SqlClientStore:
        return SqlClientStore(self.connection)

    @cached_property
    def journal(self) -> SqlJournalStore:
        """The one journal store of the transaction: every store that writes history appends the journal
        record of each change it writes through it."""
        return SqlJournalStore(self.connection)

    @cached_property
    def books(self) -> SqlBookStore:
        return SqlBookStore(self.connection, self.journal)

    @cached_property
    def accounts(self) -> SqlAccountStore:
        return SqlAccountStore(self.connection, self.journal)

    @cached_property
    def entries(self) -> SqlEntryStore:
        return SqlEntryStore(self.connection, self.journal)

    @cached_property
    def reports(self) -> SqlReportStore:
        return SqlReportStore(self.connection)

"""The stores of one transaction, one per job, each implementing its port (service_layer/ports.py) as
SQL over the transaction's one connection. Locks are taken where the docstrings say, named by what the
caller is about to do: rows `for_update` are about to change and must not change under it; the book of
accounts locked for a posting must not have its closed-through date moved until it commits."""
from __future__ import annotations

from sqlalchemy import Connection

from .access import SqlAccessStore
from .accounts import SqlAccountStore
from .books import SqlBookStore
from .clients import SqlClientStore
from .entries import SqlEntryStore
from .journal import SqlJournalStore
from .reports import SqlReportStore


class SqlStores:
    def __init__(self, connection: Connection):
        # The transaction's connection itself, for what no store does (a test looking at rows as they are).
        self.connection = connection
        self.access = SqlAccessStore(connection)
        self.clients = SqlClientStore(connection)
        # Every store that writes history appends the journal record of each change it writes.
        self.journal = SqlJournalStore(connection)
        self.books = SqlBookStore(connection, self.journal)
        self.accounts = SqlAccountStore(connection, self.journal)
        self.entries = SqlEntryStore(connection, self.journal)
        self.reports = SqlReportStore(connection)

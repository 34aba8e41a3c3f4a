"""Use cases of books: creating one, and closing a period."""
from __future__ import annotations

from datetime import date, datetime

from ..domain.access import Audit, Role
from ..domain.books import Book, ensure_code_free
from .authentication import Authentication, use_case
from .context import Context
from .ports import Stores


def add_book(stores: Stores, code: str, name: str, now: datetime, audit: Audit) -> Book:
    """A new book `code` (BookExists when the code is taken), by a client (CreateBook) or an operator."""
    ensure_code_free(code, stores.books.book(code))
    book = Book(code, name)
    book.id = stores.books.add_book(book, now, audit)
    return book


class Books:
    def __init__(self, authentication: Authentication):
        self.authentication = authentication

    @use_case("CreateBook", write=True)
    def create_book(self, context: Context, code: str, name: str) -> Book:
        """A new book, whose creator becomes its admin."""
        caller = context.caller()
        book = add_book(context.stores, code, name, context.now, context.audit)
        context.stores.clients.grant(caller.client.id, book.id, Role.admin)
        return book

    @use_case("ClosePeriod", write=True)
    def close_period(self, context: Context, book: str, through_date: date) -> Book:
        found = context.book(book, for_update=True)
        if found.close_through(through_date, context.now.date()):
            context.stores.books.close_period(found, context.now, context.audit)
        return found

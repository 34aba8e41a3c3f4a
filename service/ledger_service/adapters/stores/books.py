"""Books and the periods they closed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from ...domain.access import Audit
from ...domain import journal
from ...domain.books import Book
from ..orm import BookRow, PeriodCloseRow
from .journal import Source
from .sql import HistoryStore

_BOOK = select(BookRow.id, BookRow.code, BookRow.name, BookRow.closed_through).where(BookRow.code == bindparam("code"))
_BOOK_FOR_UPDATE = _BOOK.with_for_update()


class SqlBookStore(HistoryStore):
    def book(self, code: str, *, for_update: bool = False) -> Book | None:
        """The book; `for_update`: locked until commit, as a ClosePeriod about to move its date locks it."""
        row = self._run(_BOOK_FOR_UPDATE if for_update else _BOOK, {"code": code}).first()
        return Book(row.code, row.name, row.closed_through, id=row.id) if row else None

    def add_book(self, book: Book, now: datetime, audit: Audit) -> int:
        book_id = self._run(
            insert(BookRow).values(code=book.code, name=book.name, closed_through=book.closed_through, created_at=now,
                                   created_by=audit.client_id, request_id=audit.request_id).returning(BookRow.id)
        ).scalar_one()
        self.journal.append(book_id, [(journal.book_created(book, now), Source())])
        return book_id

    def close_period(self, book: Book, now: datetime, audit: Audit) -> None:
        """Records the book's closed-through date as it stands now, and the closing as history."""
        self._run(update(BookRow).where(BookRow.id == book.id).values(closed_through=book.closed_through))
        close_id = self._run(insert(PeriodCloseRow).values(
            book_id=book.id, through_date=book.closed_through, closed_at=now, client_id=audit.client_id,
            request_id=audit.request_id).returning(PeriodCloseRow.id)).scalar_one()
        self.journal.append(book.id, [(journal.period_closed(book.closed_through, now), Source(period_close_id=close_id))])

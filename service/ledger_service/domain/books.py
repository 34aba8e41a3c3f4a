"""A book: one set of accounts (a company, a fund), and the period it has closed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .errors import FaultCode, LedgerError, Location


@dataclass
class Book:
    code: str
    name: str
    closed_through: date | None = None
    # The book's row id, once it is stored.
    id: int | None = None

    def ensure_open_on(self, effective_date: date, location: Location) -> None:
        """Invariant 6 (docs/contract.md#invariants): nothing is dated on or before the closed-through date."""
        if self.closed_through is not None and effective_date <= self.closed_through:
            raise LedgerError(
                FaultCode.PeriodClosed,
                f"book {self.code} is closed through {self.closed_through.isoformat()}; "
                f"{effective_date.isoformat()} cannot take entries",
                location,
            )

    def close_through(self, through: date, today: date) -> bool:
        """Moves the closed-through date forward; False when it already lies at or past `through`."""
        if through > today:
            raise LedgerError(
                FaultCode.SchemaValidation,
                f"a period can be closed up to today ({today.isoformat()}) at the latest",
                ("throughDate",),
            )
        if self.closed_through is not None and through <= self.closed_through:
            return False
        self.closed_through = through
        return True


def ensure_code_free(code: str, taken: Book | None) -> None:
    """A book code names one book: `taken` is the book that already has it, if any."""
    if taken is not None:
        raise LedgerError(FaultCode.BookExists, f"book {code} already exists", ("code",))


def book_not_found(code: str) -> LedgerError:
    return LedgerError(FaultCode.BookNotFound, f"book {code} does not exist", ("book",))

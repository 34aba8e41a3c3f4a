"""The ledger's use cases for the callers of the contract, room by room; each room's module holds its
rules, and this only wires them to one another and to the ports they use."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from .accounts import Accounts
from .authentication import Authentication
from .books import Books
from .certificates import RegisteredCertificates
from .context import utc_now
from .entries import Entries
from .failed_logins import FailedLoginBudget
from .journal import Journal
from .paging import Paging
from .pending import Pending
from .ports import PageTokens, PasswordDigests, Passwords, SecretBox, UnitOfWork
from .reports import Reports
from .signatures import SignedRequests


class Ledger:
    def __init__(self, unit_of_work: UnitOfWork, *, passwords: Passwords, digests: PasswordDigests,
                 page_tokens: PageTokens, secret_box: SecretBox | None = None,
                 failed_logins: FailedLoginBudget = FailedLoginBudget(),
                 clock: Callable[[], datetime] = utc_now):
        authentication = Authentication(unit_of_work, clock, passwords, failed_logins, digests, secret_box)
        paging = Paging(page_tokens)
        self.books = Books(authentication)
        self.accounts = Accounts(authentication, paging)
        self.entries = Entries(authentication)
        self.pending = Pending(authentication, unit_of_work, clock)
        self.reports = Reports(authentication, paging)
        self.journal = Journal(authentication)
        self.certificates = RegisteredCertificates(unit_of_work)
        self.signed_requests = SignedRequests(unit_of_work, clock, self.certificates)

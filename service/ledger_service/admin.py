"""The operator's commands as `ledger-service` runs them: service_layer/operator.py's use cases, with
passwords hashed by adapters/passwords.py."""
from __future__ import annotations

import functools

from .adapters.passwords import PasswordHashes
from .service_layer import operator
from .service_layer.admin_input import AdminError, Grant, parse_rate_limit
from .service_layer.operator import (create_book, disable_client, export_camt053, export_journal, grant, import_accounts,
                                     import_entries, limit_client, list_clients, register_certificate, rekey_secrets,
                                     require_signature)

__all__ = ["AdminError", "Grant", "add_client", "create_book", "disable_client", "export_camt053", "export_journal", "grant",
           "import_accounts", "import_entries", "limit_client", "list_clients", "parse_rate_limit",
           "register_certificate", "rekey_secrets", "require_signature"]


@functools.cache
def _passwords() -> PasswordHashes:
    return PasswordHashes()


def add_client(database, name: str, password: str | None, system_admin: bool, grants: list[Grant], **options) -> None:
    """operator.add_client, its password hashed as every client's is."""
    operator.add_client(database, name, password, system_admin, grants, passwords=_passwords(), **options)

"""Pages of a listing: how many items each holds, and the tokens that lead from one to the next."""
from __future__ import annotations

from ..domain.errors import FaultCode, LedgerError
from ..domain.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MIN_PAGE_SIZE
from .ports import PageTokens, Stores

# The server's secret that page tokens are signed under (server_secrets, made by the migrations).
PAGE_TOKEN_KEY = "page-token-key"


class Paging:
    def __init__(self, tokens: PageTokens):
        self.tokens = tokens
        self._key: bytes | None = None

    def size(self, page_size: int | None) -> int:
        if page_size is None:
            return DEFAULT_PAGE_SIZE
        if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
            raise LedgerError(FaultCode.SchemaValidation,
                              f"pageSize must lie between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}",
                              ("pageSize",))
        return page_size

    def cursor(self, stores: Stores, query: dict, page_token: str | None) -> dict | None:
        """Where the page `page_token` starts (None: at the first item), if this server issued it for `query`."""
        return self.tokens.decode(self._signing_key(stores), query, page_token) if page_token else None

    def token(self, stores: Stores, query: dict, cursor: dict) -> str:
        return self.tokens.encode(self._signing_key(stores), query, cursor)

    def _signing_key(self, stores: Stores) -> bytes:
        if self._key is None:
            self._key = stores.access.server_secret(PAGE_TOKEN_KEY)
        return self._key

"""Writing one HTTP/1.1 response, whole, as the bytes to send (serving/worker.py sends them).

The application's answer is always complete before it is written (serving/application.py), so every
response is framed by a Content-Length computed here from its body, never by chunks or by closing; the
application's own framing headers are replaced. Writing through h11's state machine cost the worker a
quarter of its instructions a request (bench/README.md, "HTTP layer"), for the same framing and
keep-alive (tests/test_hostile_http.py holds the two to it).
"""
from __future__ import annotations

import time
from email.utils import formatdate
from functools import lru_cache

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
_FORBIDDEN_IN_FIELDS = ("\r", "\n", "\0")


@lru_cache(maxsize=1)
def _http_date(second: int) -> str:
    """The Date header's value, formatted once a second rather than once a response."""
    return formatdate(second, usegmt=True)


def response(status: str, headers: list[tuple[str, str]], body: bytes, *, keep_alive: bool,
             head_only: bool = False) -> bytes:
    """The response's bytes: `status` as "200 OK", the application's `headers`, `body` (left out for a
    HEAD request, `head_only`, its length still given); `Connection: close` unless `keep_alive`."""
    lines = [f"HTTP/1.1 {status}", f"Date: {_http_date(int(time.time()))}"]
    for name, value in headers:
        if name.lower() in _FRAMING:
            continue
        if any(character in name or character in value for character in _FORBIDDEN_IN_FIELDS):
            raise ValueError(f"the application answered with a header that would split the response: {name!r}")
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body

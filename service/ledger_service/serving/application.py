"""A request as the WSGI application sees it (PEP 3333), and the application's answer whole."""
from __future__ import annotations

import sys
from io import BytesIO
from urllib.parse import unquote_to_bytes, urlsplit


def environ_of(method: bytes, target: bytes, http_version: bytes, headers, body: bytes, peer, local) -> dict:
    """The request as PEP 3333 describes it."""
    target = urlsplit(target)  # origin-form, or absolute-form from a proxy
    environ = {
        "REQUEST_METHOD": method.decode("latin-1"),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(target.path or b"/").decode("latin-1"),
        "QUERY_STRING": target.query.decode("latin-1"),
        "SERVER_NAME": str(local[0]) if isinstance(local, tuple) else "localhost",
        "SERVER_PORT": str(local[1]) if isinstance(local, tuple) else "",
        "SERVER_PROTOCOL": f"HTTP/{http_version.decode('latin-1')}",
        "REMOTE_ADDR": str(peer[0]) if isinstance(peer, tuple) else "",
        "REMOTE_PORT": str(peer[1]) if isinstance(peer, tuple) else "",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    for name, value in headers:
        if b"_" in name:
            continue  # HTTP_X_A would not tell X-A from X_A: a proxy may have checked the other one
        key = name.decode("latin-1").upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if key == "CONTENT_TYPE":
                environ[key] = value.decode("latin-1")
            continue
        key = "HTTP_" + key
        value = value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call(application, environ: dict, log) -> tuple[str, list, bytes]:
    """Runs the WSGI `application` on `environ`: its status, headers and whole body (an exception it
    lets out is logged and answered with a plain 500)."""
    answer: list = []

    def start_response(status, headers, exc_info=None):
        answer[:] = [status, list(headers)]
        return lambda data: chunks.append(data)

    chunks: list[bytes] = []
    try:
        result = application(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    except Exception:
        log.exception("Error handling request %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"])
        text = b"internal server error\n"
        return "500 Internal Server Error", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(text)))], text
    return answer[0], answer[1], b"".join(chunks)

"""gunicorn's configuration for soap-ledger.

`ledger-service serve` runs with this file (the package carries it as ledger_service/gunicorn.conf.py),
its --bind and --workers overriding bind and workers; the systemd unit runs gunicorn with it directly:

    gunicorn --config deploy/gunicorn.conf.py

Every setting an operator may want to change reads a LEDGER_* variable (docs/operations.md lists them).
"""
import os

from ledger_service import metrics, server

wsgi_app = "ledger_service.wsgi:create_app()"
bind = os.environ.get("LEDGER_BIND", "127.0.0.1:8000")

# Python threads of one process share one interpreter lock, so the service scales by processes: two
# per core keeps every core busy while requests wait on the database. Each worker has a few threads
# (more contend for the lock: measured in bench/README.md).
workers = int(os.environ.get("LEDGER_WORKERS") or 2 * (os.cpu_count() or 1))
threads = int(os.environ.get("LEDGER_THREADS", "2"))
# Reads each request whole, within LEDGER_BODY_TIMEOUT_SECONDS, before one of those threads runs it:
# slow or stalled clients hold none of them (docs/operations.md, "Serving model").
worker_class = "ledger_service.worker.BufferingWorker"
# Connections one worker keeps open at once, idle, arriving or being answered; past this it stops
# accepting until one closes.
worker_connections = int(os.environ.get("LEDGER_WORKER_CONNECTIONS", "1000"))

# Which forwarded headers to believe, and from whom, the service decides itself (LEDGER_TRUSTED_PROXIES,
# ledger_service/addresses.py): gunicorn's wsgi.url_scheme stays the scheme of the connection itself.
secure_scheme_headers = {}

# A worker silent this long is killed and replaced; on SIGTERM, or on SIGHUP when gunicorn re-reads
# this file and replaces every worker, a worker may finish the requests it holds for this long.
timeout = int(os.environ.get("LEDGER_WORKER_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("LEDGER_GRACEFUL_TIMEOUT", "30"))
keepalive = 5

# Workers are replaced after about this many requests, at staggered times (the jitter), so that no
# slow leak grows for ever and they are never all replaced at once.
max_requests = int(os.environ.get("LEDGER_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10

# Every line JSON on stderr (server.JsonAccessLog, ledger_service/logs.py): one per request (request id,
# client, its address, operation, HTTP status, fault code, duration), and gunicorn's own messages.
logger_class = server.JsonAccessLog
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LEDGER_LOG_LEVEL", "info").lower()

# gunicorn's control socket (gunicornc) only where asked for: by default every gunicorn of a user
# would share one path. Reloads and shutdowns go by signal (HUP, TERM) anyway.
control_socket = os.environ.get("LEDGER_CONTROL_SOCKET", "")
control_socket_disable = not control_socket

on_starting = server.on_starting
child_exit = metrics.child_exit
post_worker_init = server.post_worker_init

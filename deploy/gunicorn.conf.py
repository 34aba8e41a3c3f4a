"""gunicorn's configuration for soap-ledger.

`ledger-service serve` runs with this file (the package carries it as ledger_service/gunicorn.conf.py),
its --bind and --workers overriding bind and workers; the systemd unit runs gunicorn with it directly:

    gunicorn --config deploy/gunicorn.conf.py

Every setting an operator may want to change is a LEDGER_* variable, read once here into `settings`
(ledger_service/settings.py; docs/operations.md lists them): a malformed one stops gunicorn at once, in
one line naming it.
"""
from ledger_service import metrics, server
# The application's modules, imported once here: every worker forks with them loaded, and boots in about
# half the time (it only builds the application, wsgi.create_app).
from ledger_service import wsgi  # noqa: F401
from ledger_service.serving import memory

settings = server.settings_or_exit()

wsgi_app = "ledger_service.wsgi:create_app()"
bind = settings.bind

# Python threads of one process share one interpreter lock, so the service scales by processes: two
# per core keeps every core busy while requests wait on the database. Each worker has a few threads
# (more contend for the lock: measured in bench/README.md).
workers = settings.workers
threads = settings.threads
# Reads each request whole, within LEDGER_BODY_TIMEOUT_SECONDS, before one of those threads runs it:
# slow or stalled clients hold none of them (docs/operations.md, "Serving model").
worker_class = "ledger_service.serving.worker.BufferingWorker"
# Connections one worker keeps open at once, idle, arriving or being answered; past this it stops
# accepting until one closes.
worker_connections = settings.worker_connections

# Which forwarded headers to believe, and from whom, the service decides itself (LEDGER_TRUSTED_PROXIES,
# ledger_service/addresses.py): gunicorn's wsgi.url_scheme stays the scheme of the connection itself.
secure_scheme_headers = {}

# A worker silent this long is killed and replaced; on SIGTERM, or on SIGHUP when gunicorn re-reads
# this file and replaces every worker, a worker may finish the requests it holds for this long.
timeout = settings.worker_timeout
graceful_timeout = settings.graceful_timeout
keepalive = 5

# Workers are replaced after about this many requests, at staggered times (the jitter), so that no
# slow leak grows for ever and they are never all replaced at once.
max_requests = settings.max_requests
max_requests_jitter = max_requests // 10

# Every line JSON on stderr (server.JsonAccessLog, ledger_service/logs.py): one per request (request id,
# client, its address, operation, HTTP status, fault code, duration), and gunicorn's own messages.
logger_class = server.JsonAccessLog
accesslog = "-"
errorlog = "-"
loglevel = (settings.log_level or "info").lower()

# gunicorn's control socket (gunicornc) only where asked for: by default every gunicorn of a user
# would share one path. Reloads and shutdowns go by signal (HUP, TERM) anyway.
control_socket = settings.control_socket or ""
control_socket_disable = not control_socket


def on_starting(arbiter) -> None:
    metrics.empty_directory(settings.metrics_dir)
    memory.configure_allocator()


child_exit = metrics.child_exit
post_worker_init = server.post_worker_init

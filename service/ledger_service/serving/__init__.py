"""The HTTP server of the service: a gunicorn worker that reads requests without holding threads."""

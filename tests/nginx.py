"""Debian's nginx running one of deploy/nginx's sites for a test, as installed (the site in conf.d, the
snippets it includes in snippets/), with its addresses made loopback ports of the test's, its upstream
the test's service and its certificate files the test's own (tests/certificates.py)."""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from conftest import LiveServer, free_port, require_tools

SITES = Path(__file__).resolve().parents[1] / "deploy" / "nginx"
SERVER_CERTIFICATE = "/etc/ssl/certs/ledger.example.com.pem"
SERVER_KEY = "/etc/ssl/private/ledger.example.com.key"


@dataclass
class Nginx:
    https: str  # https://127.0.0.1:PORT
    http: str | None  # the plain-HTTP server's base URL, for a site that has one
    directory: Path
    process: subprocess.Popen

    def error_log(self) -> str:
        return (self.directory / "error.log").read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_nginx(site: str, service: LiveServer, directory: Path, certificate: Path, key: Path,
                ca_certificate: Path, files: dict[str, Path] | None = None) -> Nginx:
    """nginx running deploy/nginx/`site` in `directory`, in front of `service`, with the server certificate
    and key given; `files` maps more of the site's paths to the test's (a client CA file), each of which
    must be in the site. It is ready once it answers over TLS (verified with `ca_certificate`)."""
    require_tools("nginx", packages="nginx")
    https_port, http_port = free_port(), free_port()
    text = (SITES / site).read_text()
    replacements = {"server 127.0.0.1:8000;": f"server 127.0.0.1:{service.port};",
                    "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;", "listen [::]:443 ssl http2;": "",
                    SERVER_CERTIFICATE: str(certificate), SERVER_KEY: str(key),
                    **{installed: str(here) for installed, here in (files or {}).items()}}
    has_http = "listen 80;" in text
    if has_http:
        replacements |= {"listen 80;": f"listen 127.0.0.1:{http_port};", "listen [::]:80;": ""}
    for installed, here in replacements.items():
        assert installed in text, f"{site} no longer says {installed}"
        text = text.replace(installed, here)
    # nginx reads an include's relative path from the directory of its main configuration file, as
    # /etc/nginx/snippets/... for /etc/nginx/nginx.conf.
    shutil.copytree(SITES / "snippets", directory / "snippets")
    (directory / "site.conf").write_text(text)
    (directory / "nginx.conf").write_text(
        f"daemon off; master_process on; worker_processes 1; user root; pid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{ access_log off; client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy;\n"
        f"  fastcgi_temp_path {directory}/fastcgi; uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;\n"
        f"  include {directory}/site.conf; }}\n")
    process = subprocess.Popen(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")],
                               stderr=subprocess.PIPE)
    running = Nginx(f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}" if has_http else None,
                    directory, process)
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{running.https}/healthz", verify=str(ca_certificate), timeout=5)
            return running
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                running.stop()
                raise AssertionError(f"nginx did not start:\n{process.stderr.read().decode() if process.stderr else ''}"
                                     f"{running.error_log() if (directory / 'error.log').exists() else ''}")
            time.sleep(0.2)

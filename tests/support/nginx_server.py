"""Run nginx on 127.0.0.1 for the tests, from ``examples/gateway/nginx.conf`` with free ports.

:func:`gateway_config` turns the example into a configuration for one test
run: the addresses written in the example are replaced by the test's, and the
logs, the pid file and nginx's temporary files go to the test's directory.
:func:`nginx_server` runs nginx in the foreground with that file, waits until
it accepts connections, yields an :class:`Nginx`, and always stops it.

.. code-block:: python

    text = gateway_config(tmp_path, {"gateway": "127.0.0.1:8000", ...})
    with nginx_server(text, tmp_path, port=8000) as nginx:
        httpx.get(nginx.base_url, headers={"Host": "shop.example.test"})
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TEMPLATE", "TEMPLATE_ADDRESSES", "Nginx", "NginxError", "gateway_config", "nginx_binary", "nginx_server"]

HOST = "127.0.0.1"
TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "gateway" / "nginx.conf"
#: The addresses written in the example, by role; each must be replaced by the test's.
TEMPLATE_ADDRESSES = {
    "gateway": "127.0.0.1:8000",
    "shop": "127.0.0.1:8001",
    "wiki": "127.0.0.1:8002",
    "logout_1": "127.0.0.1:8081",
    "logout_2": "127.0.0.1:8082",
}
_TEMPLATE_LOGS = {"error": "/var/log/nginx/gateway.error.log", "access": "/var/log/nginx/gateway.access.log"}
_INSTALL_HINT = "install it with: apt-get install -y nginx-light"
# Temporary-file directives of the modules nginx may be built with, by the configure flag that drops each.
_TEMP_PATHS = {
    "client_body_temp_path": None,
    "proxy_temp_path": "--without-http_proxy_module",
    "fastcgi_temp_path": "--without-http_fastcgi_module",
    "uwsgi_temp_path": "--without-http_uwsgi_module",
    "scgi_temp_path": "--without-http_scgi_module",
}


class NginxError(RuntimeError):
    """nginx is missing, lacks a module, or did not start; the message says which and shows its log."""


@dataclass(frozen=True)
class Nginx:
    """A running nginx."""

    base_url: str
    directory: Path

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def access_lines(self, until: Callable[[list[str]], bool] | None = None, within: float = 2.0) -> list[str]:
        """The lines of the access log, once *until* is true of them (or *within* seconds have passed).

        nginx writes a request's line unbuffered, but only once the request
        has ended, which may be a moment after the client read the answer.
        """
        deadline = time.monotonic() + within
        while True:
            lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
            if until is None or until(lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)


@functools.cache
def nginx_binary() -> str:
    """The nginx executable, checked to have the auth_request module; raise NginxError otherwise."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        raise NginxError(f"nginx is not installed; {_INSTALL_HINT}")
    if "http_auth_request_module" not in _build_flags(binary):
        raise NginxError(f"{binary} is built without the auth_request module; {_INSTALL_HINT}")
    return binary


@functools.cache
def _build_flags(binary: str) -> str:
    # nginx -V writes to stderr.
    return subprocess.run([binary, "-V"], capture_output=True, text=True, check=False).stderr


def gateway_config(directory: Path, addresses: Mapping[str, str]) -> str:
    """The example configuration with *addresses* (keyed as :data:`TEMPLATE_ADDRESSES`) and files in *directory*.

    :raises NginxError: the example no longer holds one of the addresses or
        log paths, so the test would not run what users read.
    """
    text = TEMPLATE.read_text()
    for role, address in TEMPLATE_ADDRESSES.items():
        if re.search(re.escape(address) + r"(?!\d)", text) is None:
            raise NginxError(f"{TEMPLATE} no longer holds the {role} address {address}; update tests/nginx_server.py")
    replacements = {TEMPLATE_ADDRESSES[role]: address for role, address in addresses.items()}
    # One pass, so that a new address never gets replaced again by a later one.
    pattern = re.compile("|".join(re.escape(old) for old in replacements) + r"(?!\d)")
    text = pattern.sub(lambda match: replacements[match.group(0)], text)
    for kind, path in _TEMPLATE_LOGS.items():
        if path not in text:
            raise NginxError(f"{TEMPLATE} no longer writes its {kind} log to {path}; update tests/nginx_server.py")
        text = text.replace(path, str(directory / f"{kind}.log"))
    flags = _build_flags(nginx_binary())
    temp_paths = "".join(
        f"\n    {directive} {directory / 'tmp' / directive};"
        for directive, flag in _TEMP_PATHS.items()
        if flag is None or flag not in flags
    )
    head, brace, rest = text.partition("http {")
    if not brace:
        raise NginxError(f"{TEMPLATE} has no http block")
    return head + brace + temp_paths + rest


@contextmanager
def nginx_server(config: str, directory: Path, *, port: int, timeout: float = 10.0) -> Iterator[Nginx]:
    """Write *config* into *directory*, run nginx with it until the block ends, and yield it.

    :param port: the port *config* listens on, to know when nginx is ready.
    :raises NginxError: nginx is missing, or exited or stayed deaf for *timeout* seconds.
    """
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tmp").mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(config)
    # As root, nginx's workers would run as nobody and could not enter the test's private directory.
    user = " user root;" if os.geteuid() == 0 else ""
    argv = [binary, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")]
    argv += ["-g", f"daemon off; pid {directory / 'nginx.pid'};{user}"]
    with (directory / "nginx.out").open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
    nginx = Nginx(f"http://{HOST}:{port}", directory)
    try:
        _wait_until_listening(process, port, timeout, nginx)
        try:
            yield nginx
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                print(f"--- nginx error log:\n{_log_text(nginx)}")
            raise
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, timeout: float, nginx: Nginx) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
    status = "exited" if process.poll() is not None else f"did not listen on port {port} within {timeout} s"
    raise NginxError(f"nginx {status}:\n{_log_text(nginx)}")


def _log_text(nginx: Nginx) -> str:
    parts = []
    for path in (nginx.directory / "nginx.out", nginx.error_log):
        if path.exists():
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts) or "(no output)"

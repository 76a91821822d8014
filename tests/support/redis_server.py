"""Run a real redis-server on 127.0.0.1 for the tests, in a directory of its own.

:class:`RedisServer` starts the server on a free port, waits until it
answers ``PING``, and can be stopped and started again on the same port with
the same data directory (to test reconnection).  :func:`redis_server` wraps it
in a context manager that always stops it.

.. code-block:: python

    with redis_server(tmp_path) as server:
        store = RedisStore(server.url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["RedisServer", "RedisStores", "free_port", "redis_server"]

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """A redis-server process; keeps its port and directory across stop() and start().

    Nothing is saved on its own (``save ""``): call :meth:`command` with
    ``SAVE`` to write ``dump.rdb``, which the next start loads.
    """

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and return once it answers PING; raise RuntimeError with its log otherwise."""
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", HOST, "--dir", str(self.directory)]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with (self.directory / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if self.command("PING") == "+PONG":
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.02)
        self.stop()
        log_text = (self.directory / "redis.log").read_text(errors="replace")
        raise RuntimeError(f"redis-server did not answer PING on port {self.port}:\n{log_text}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it; nothing is saved."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def command(self, *words: str) -> str:
        """Send one inline command and return the first line of the answer, e.g. ``+PONG``."""
        with socket.create_connection((HOST, self.port), timeout=2) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            answer = b""
            while not answer.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("redis-server closed the connection")
                answer += chunk
            return answer.decode().splitlines()[0]


@contextmanager
def redis_server(directory: Path, *, port: int | None = None) -> Iterator[RedisServer]:
    """Start a redis-server in *directory*, yield it, and stop it whatever happens."""
    server = RedisServer(directory, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class RedisStores:
    """The Redis stores a test opens (see the ``redis_stores`` fixture): closed after it, side by side."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def open(self, url: str, *, synced: bool = True, **options: Any) -> Any:
        """A :class:`~logout_middleware.stores.redis.RedisStore` on *url*, loaded from Redis unless *synced* is off."""
        from logout_middleware.stores.redis import RedisStore

        store = RedisStore(url, **options)
        self.made.append(store)
        if synced:
            assert store.wait_until_synced(10), "the store never loaded from Redis"
        return store

    def close(self) -> None:
        # Side by side: each close() waits up to a quarter second for its listener thread.
        closers = [threading.Thread(target=store.close) for store in self.made]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()

"""Start real HTTP servers on 127.0.0.1 as subprocesses, for tests that need the wire.

Three context managers, each yielding the base URL (``http://127.0.0.1:PORT``)
once the server has answered a first HTTP request, and stopping the process
on exit whatever happens:

* :func:`serve_wsgi` runs a WSGI app under gunicorn (one sync worker);
* :func:`serve_asgi` runs an ASGI app under uvicorn;
* :func:`serve_process` runs any command that listens on a given port.

If the server does not answer in time, or dies first, :class:`ServerError` is
raised with the server's output.  If the ``with`` body raises, the output is
printed, so that pytest shows it next to the failure.

.. code-block:: python

    with serve_wsgi("flask_app:app", app_dir=EXAMPLES, env={"CLIENT_ID": "x"}) as base_url:
        response = httpx.get(base_url + "/")
"""

from __future__ import annotations

import functools
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

__all__ = [
    "HOST",
    "QUIET_GUNICORN",
    "QUIET_UVICORN",
    "REPO_ROOT",
    "ServerError",
    "free_port",
    "serve_asgi",
    "serve_process",
    "serve_wsgi",
]

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The *extra_args* of a server under load: no line logged per request.  For gunicorn the last
#: --access-logfile wins, and /dev/null costs least.
QUIET_UVICORN = ("--no-access-log", "--log-level=warning")
QUIET_GUNICORN = ("--access-logfile=/dev/null", "--log-level=warning")

# Environment variables that would silently change how the servers run (uvicorn reads UVICORN_*).
_SCRUBBED = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY")


class ServerError(RuntimeError):
    """The server exited or stayed silent before answering its first request."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    Another process could take it before the server binds it; the kernel
    hands out ports at random, so in practice that does not happen.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_process(
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] = REPO_ROOT,
    ready_path: str = "/",
    timeout: float = 30.0,
) -> Iterator[str]:
    """Run *argv*, wait until it answers HTTP on *port*, yield its base URL, then stop it.

    :param argv: the command; it must listen on ``127.0.0.1:port``.
    :param env: variables added to a copy of ``os.environ``.
    :param cwd: the working directory of the process.
    :param ready_path: the path requested until any HTTP answer (of any status) comes.
    :param timeout: seconds to wait for that answer.
    :raises ServerError: the process exited, or did not answer within *timeout*.
    """
    full_env = {
        key: value for key, value in os.environ.items() if key not in _SCRUBBED and not key.startswith("UVICORN_")
    }
    full_env["PYTHONUNBUFFERED"] = "1"  # so that the output is complete when printed on failure
    full_env.update(env or {})
    # A file, not a pipe: nobody reads while the test runs, and a full pipe would block the server.
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(argv, cwd=cwd, env=full_env, stdout=output, stderr=subprocess.STDOUT)
        try:
            try:
                _wait_until_answering(process, port, ready_path, timeout)
            except ServerError as exc:
                _stop(process)  # first, so that the output is complete
                raise ServerError(f"{exc}\n--- output of {' '.join(argv)}:\n{_read(output)}") from None
            try:
                yield f"http://{HOST}:{port}"
            except BaseException as exc:
                _stop(process)
                if not isinstance(exc, GeneratorExit):
                    print(f"--- output of {' '.join(argv)}:\n{_read(output)}")
                raise
        finally:
            _stop(process)


@contextmanager
def serve_wsgi(
    app_spec: str,
    *,
    env: Mapping[str, str] | None = None,
    app_dir: str | os.PathLike[str] = REPO_ROOT,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> Iterator[str]:
    """Serve the WSGI app *app_spec* (``"module:attribute"``) with gunicorn; yield its base URL.

    :param env: variables added to a copy of ``os.environ``, read by the app at import.
    :param app_dir: the directory *app_spec* is imported from.
    :param extra_args: more gunicorn command-line options.
    :param timeout: seconds to wait for the first answer; the worker imports the app
        only after the socket is open, so an open port alone proves nothing.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--bind={HOST}:{port}",
        "--workers=1",
        "--worker-class=sync",
        f"--chdir={Path(app_dir).resolve()}",
        "--graceful-timeout=5",
        "--access-logfile=-",
        *_no_control_socket(),
        *extra_args,
        app_spec,
    ]
    with serve_process(argv, port=port, env=env, cwd=app_dir, timeout=timeout) as base_url:
        yield base_url


@contextmanager
def serve_asgi(
    app_spec: str,
    *,
    env: Mapping[str, str] | None = None,
    app_dir: str | os.PathLike[str] = REPO_ROOT,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> Iterator[str]:
    """Serve the ASGI app *app_spec* (``"module:attribute"``) with uvicorn; yield its base URL.

    :param env: variables added to a copy of ``os.environ``, read by the app at import.
    :param app_dir: the directory *app_spec* is imported from.
    :param extra_args: more uvicorn command-line options, such as ``["--lifespan", "off"]``.
    :param timeout: seconds to wait for the first answer.
    """
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        f"--host={HOST}",
        f"--port={port}",
        f"--app-dir={Path(app_dir).resolve()}",
        "--timeout-graceful-shutdown=5",
        *extra_args,
        app_spec,
    ]
    with serve_process(argv, port=port, env=env, cwd=app_dir, timeout=timeout) as base_url:
        yield base_url


@functools.cache
def _no_control_socket() -> tuple[str, ...]:
    # Gunicorn 25.1+ opens a control socket at a fixed path in the home directory,
    # which servers running side by side would fight over; older versions lack the option.
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        return ("--no-control-socket",)
    return ()


def _wait_until_answering(process: subprocess.Popen[bytes], port: int, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(f"the server exited with status {process.returncode} before answering")
        # A connection the kernel accepted waits while gunicorn's worker imports the app.
        connection = http.client.HTTPConnection(HOST, port, timeout=max(0.1, min(5.0, deadline - time.monotonic())))
        try:
            connection.request("GET", path)
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or still importing the app
        else:
            # Whoever answered, it was not our server if that one died (its port was taken).
            if process.poll() is None:
                return
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise ServerError(f"the server did not answer GET {path} on port {port} within {timeout} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")

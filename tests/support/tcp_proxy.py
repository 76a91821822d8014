"""A TCP proxy on 127.0.0.1 that a test can pause, cut and resume, to stage network faults.

:class:`TcpProxy` listens on a free port and forwards every connection to a
target ``(host, port)``.  One thread serves all connections with a selector,
so it never spins and never grows.  The faults it can stage:

* :meth:`TcpProxy.pause` stops the bytes in both directions and keeps every
  connection open, as in a partition where packets are dropped: the client
  sees its reads time out, not a closed connection.  New connections wait in
  the kernel's listen backlog (the client's connect succeeds) and are served
  after :meth:`TcpProxy.resume`.
* :meth:`TcpProxy.resume` lets the bytes flow again, on the same connections;
  what was held back is delivered.
* :meth:`TcpProxy.cut` resets every connection at once (RST to both ends);
  the proxy stays up and serves the next connections.
* :meth:`TcpProxy.close` stops everything, promptly even while paused.

:func:`tcp_proxy` wraps it in a context manager that always closes it.

.. code-block:: python

    with redis_server(tmp_path) as server, tcp_proxy("127.0.0.1", server.port) as proxy:
        client = redis.Redis.from_url(proxy.url_for_redis(), socket_timeout=0.5)
        proxy.pause()  # client.ping() now raises redis.TimeoutError
        proxy.resume()
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

__all__ = ["TcpProxy", "tcp_proxy"]

HOST = "127.0.0.1"
LOG = logging.getLogger(__name__)

#: How many bytes a connection may hold for one direction before the proxy stops reading from the sender.
BUFFER_LIMIT = 256 * 1024
#: How many connections are served at once; more wait in the listen backlog.
MAX_CONNECTIONS = 64
#: How long a caller waits for the proxy thread to carry out pause(), resume() or cut().
COMMAND_TIMEOUT = 5.0


class _Side:
    """One socket of a forwarded connection and the bytes waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = bytearray()
        self.eof = False  # the far end stopped sending
        self.shut = False  # we told the far end that the other side stopped sending


class _Link:
    """A client connection and the upstream connection it is forwarded to."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = _Side(client)
        self.upstream = _Side(upstream)
        self.connecting = True  # the upstream connect() has not finished yet

    def peer(self, side: _Side) -> _Side:
        """The side that receives what *side* sends."""
        return self.upstream if side is self.client else self.client

    def sides(self) -> tuple[_Side, _Side]:
        """Both sides, client first."""
        return self.client, self.upstream


class TcpProxy:
    """Forward TCP connections from 127.0.0.1:<port> to a target, with faults on demand.

    The proxy thread alone touches the sockets; the public methods hand it a
    command and wait until it is done, so that after :meth:`pause` returns no
    further byte is forwarded.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((HOST, port))
            self._listener.listen(128)
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._watched: dict[socket.socket, int] = {}
        self._links: list[_Link] = []
        self._paused = False
        self._closing = False
        self._lock = threading.Lock()
        self._commands: list[tuple[str, threading.Event]] = []
        #: What went wrong in the proxy thread, kept for the test to look at rather than raised there.
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()

    # -- what a test calls

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def connection_count(self) -> int:
        """How many client connections are being forwarded (not counting those in the backlog)."""
        return len(self._links)

    def url_for_redis(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def pause(self) -> None:
        """Stop forwarding in both directions, keeping every connection open."""
        self._call("pause")

    def resume(self) -> None:
        """Forward again, on the same connections; what was held back is delivered."""
        self._call("resume")

    def cut(self) -> None:
        """Reset every connection now, those waiting in the backlog too; later ones are served."""
        self._call("cut")

    def close(self) -> None:
        """Stop the proxy and close every socket; returns within a few seconds whatever the state."""
        if self._thread.is_alive():
            with self._lock:
                self._closing = True
            self._wake()
            self._thread.join(COMMAND_TIMEOUT)
        if self._thread.is_alive():  # cannot happen unless a socket call blocks; never leave sockets behind
            LOG.error("tcp proxy on port %s: its thread did not stop", self.port)
        self._close_everything()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "paused" if self._paused else "forwarding"
        return f"<TcpProxy 127.0.0.1:{self.port} -> {self.target[0]}:{self.target[1]} {state}>"

    # -- handing commands to the proxy thread

    def _call(self, name: str) -> None:
        """Have the proxy thread carry out *name* and wait until it has."""
        if not self._thread.is_alive():
            raise RuntimeError(f"the tcp proxy on port {self.port} is not running: {self.errors or 'closed'}")
        done = threading.Event()
        with self._lock:
            self._commands.append((name, done))
        self._wake()
        if not done.wait(COMMAND_TIMEOUT):
            raise RuntimeError(f"the tcp proxy on port {self.port} did not {name} within {COMMAND_TIMEOUT} s")

    def _wake(self) -> None:
        """Interrupt the proxy thread's select()."""
        # Full of wake-ups already, or closed: either way the thread will look.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")

    # -- the proxy thread

    def _run(self) -> None:
        """Serve connections until close(); an error is kept in self.errors, never raised in the thread."""
        try:
            self._selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                with self._lock:
                    commands, self._commands = self._commands, []
                    closing = self._closing
                for name, done in commands:
                    self._do(name)
                    done.set()
                if closing:
                    return
                self._update_interest()
                for key, events in self._selector.select():
                    self._on_event(key, events)
        except BaseException as exc:  # the test process must go on; the test sees it in errors
            LOG.exception("tcp proxy on port %s stopped", self.port)
            self.errors.append(exc)
        finally:
            with self._lock:
                commands, self._commands = self._commands, []
            for _name, done in commands:
                done.set()  # nobody waits forever for a thread that is gone

    def _do(self, name: str) -> None:
        """Carry out one command from a caller."""
        if name == "pause":
            self._paused = True
        elif name == "resume":
            self._paused = False
        elif name == "cut":
            links, self._links = self._links, []
            for link in links:
                self._close_link(link, reset=True)
            self._drop_backlog()

    def _on_event(self, key: selectors.SelectorKey, events: int) -> None:
        """Handle one ready socket."""
        sock = key.fileobj
        if sock is self._wake_reader:
            with contextlib.suppress(BlockingIOError):
                while self._wake_reader.recv(4096):
                    pass
            return
        if sock is self._listener:
            self._accept()
            return
        link, side = key.data
        if link not in self._links:
            return  # closed earlier in this round
        try:
            if events & selectors.EVENT_WRITE:
                self._on_writable(link, side)
            if events & selectors.EVENT_READ and link in self._links:
                self._on_readable(link, side)
            if link in self._links:
                self._pass_on_eof(link)
        except OSError as exc:
            LOG.debug("tcp proxy on port %s: connection closed: %s", self.port, exc)
            self._drop(link, reset=True)
        except Exception as exc:  # a bug here must cost one connection, not the proxy
            LOG.exception("tcp proxy on port %s: connection dropped", self.port)
            self.errors.append(exc)
            self._drop(link, reset=True)

    def _accept(self) -> None:
        """Accept one waiting client and start connecting to the target for it."""
        try:
            client, _address = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        client.setblocking(False)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        code = upstream.connect_ex(self.target)
        if code not in (0, errno.EINPROGRESS):
            LOG.debug("tcp proxy on port %s: cannot reach %s: %s", self.port, self.target, errno.errorcode.get(code))
            _reset(client)
            upstream.close()
            return
        self._links.append(_Link(client, upstream))

    def _on_writable(self, link: _Link, side: _Side) -> None:
        """Finish the upstream connect, or write what waits for *side*."""
        if side is link.upstream and link.connecting:
            code = side.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise ConnectionRefusedError(code, f"cannot reach {self.target}: {errno.errorcode.get(code, code)}")
            link.connecting = False
            return
        if side.pending:
            sent = side.sock.send(side.pending)
            del side.pending[:sent]

    def _on_readable(self, link: _Link, side: _Side) -> None:
        """Read what *side* sent and queue it for the other side."""
        data = side.sock.recv(65536)
        if data:
            link.peer(side).pending += data
        else:
            side.eof = True

    def _pass_on_eof(self, link: _Link) -> None:
        """Once one end stopped sending and all it sent is written, tell the other end; close when both are done."""
        for side in link.sides():
            source = link.peer(side)
            if source.eof and not side.pending and not side.shut and not (side is link.upstream and link.connecting):
                side.sock.shutdown(socket.SHUT_WR)
                side.shut = True
        if link.client.shut and link.upstream.shut:
            self._drop(link, reset=False)

    def _drop(self, link: _Link, *, reset: bool) -> None:
        """Forget *link*, then close it: whoever sees it closed sees it gone from connection_count too."""
        if link in self._links:
            self._links.remove(link)
        self._close_link(link, reset=reset)

    def _close_link(self, link: _Link, *, reset: bool) -> None:
        """Close both sockets of *link*, with a reset if asked."""
        for side in link.sides():
            self._unwatch(side.sock)
            if reset:
                _reset(side.sock)
            else:
                side.sock.close()

    def _drop_backlog(self) -> None:
        """Reset the connections the kernel accepted but the proxy did not take yet."""
        for _ in range(1024):
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            _reset(client)

    def _update_interest(self) -> None:
        """Watch each socket for exactly what the proxy can do with it now, so select() never returns idly."""
        flowing = not self._paused
        taking = flowing and len(self._links) < MAX_CONNECTIONS
        self._watch(self._listener, selectors.EVENT_READ if taking else 0, None)
        for link in self._links:
            for side in link.sides():
                mask = 0
                if side is link.upstream and link.connecting:
                    mask = selectors.EVENT_WRITE  # the connect finishing is not data: let it happen even paused
                elif flowing:
                    if not side.eof and len(link.peer(side).pending) < BUFFER_LIMIT:
                        mask |= selectors.EVENT_READ
                    if side.pending:
                        mask |= selectors.EVENT_WRITE
                self._watch(side.sock, mask, (link, side))

    def _watch(self, sock: socket.socket, mask: int, data: object) -> None:
        """Register, modify or unregister *sock* so that the selector watches for *mask*."""
        current = self._watched.get(sock, 0)
        if mask == current:
            return
        if not mask:
            self._unwatch(sock)
        elif not current:
            self._selector.register(sock, mask, data)
            self._watched[sock] = mask
        else:
            self._selector.modify(sock, mask, data)
            self._watched[sock] = mask

    def _unwatch(self, sock: socket.socket) -> None:
        """Stop watching *sock* if it is watched."""
        if self._watched.pop(sock, 0):
            self._selector.unregister(sock)

    def _close_everything(self) -> None:
        """Close every socket the proxy owns; only once the thread is gone."""
        for link in self._links:
            for side in link.sides():
                side.sock.close()
        self._links.clear()
        self._watched.clear()
        self._listener.close()
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()


def _reset(sock: socket.socket) -> None:
    """Close *sock* so that the far end gets a RST rather than an orderly end of stream."""
    with contextlib.suppress(OSError):  # not connected any more: a plain close will do
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextmanager
def tcp_proxy(target_host: str, target_port: int, *, port: int = 0) -> Iterator[TcpProxy]:
    """Start a :class:`TcpProxy` to ``(target_host, target_port)``, yield it, and close it whatever happens."""
    proxy = TcpProxy(target_host, target_port, port=port)
    try:
        yield proxy
    finally:
        proxy.close()

"""Loopback line servers: each simulated instrument answers its real wire protocol on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
from abc import ABC, abstractmethod

from sim.world import World

log = logging.getLogger("wallbox_rig.sim")

LOOPBACK = "127.0.0.1"


class FrontEnd(ABC):
    """One simulated instrument: turns a command line into an answer (None: no answer)."""

    name = "frontend"

    def __init__(self, world: World) -> None:
        self.world = world

    def lock_free(self, line: str) -> bool:
        """Whether `line` is answered without the world's lock (a read of one value that another
        thread may need while the world runs an event on its behalf)."""
        return False

    @abstractmethod
    def handle(self, line: str) -> str | bytes | None:
        """The answer line (str), raw answer bytes (a binary block; the newline is added), or None."""

    def handle_from(self, connection: object, line: str) -> str | bytes | None:
        """`handle`, for a front end whose answer depends on which connection asks (the clock has
        one stepper)."""
        return self.handle(line)

    def disconnected(self, connection: object) -> None:
        """`connection` closed: what it held is released."""

    def _ok(self) -> str:
        """`OK <t>` of our own line protocols: the action took effect at world time t."""
        return f"OK {self.world.now:.6f}"


_NO_LOCK = contextlib.nullcontext()


class ThreadedServer(socketserver.ThreadingTCPServer):
    """A loopback TCP server, one daemon thread per connection (the lab's servers and the SECC's)."""

    daemon_threads = True
    allow_reuse_address = True


class LineServer:
    """Serves one front end on an ephemeral loopback port, one thread per connection."""

    def __init__(self, frontend: FrontEnd, port: int = 0) -> None:
        self.frontend = frontend
        world = frontend.world

        class Handler(socketserver.StreamRequestHandler):
            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def handle(self) -> None:
                try:
                    self._serve()
                finally:
                    frontend.disconnected(self)

            def _serve(self) -> None:
                for raw in self.rfile:
                    line = raw.decode("ascii", "replace").strip()
                    if not line:
                        continue
                    lock = _NO_LOCK if frontend.lock_free(line) else world.lock
                    with lock:
                        try:
                            answer = frontend.handle_from(self, line)
                        except Exception as exc:  # noqa: BLE001 - a bad command must not kill the lab
                            log.exception("%s: %r failed", frontend.name, line)
                            answer = f"ERR internal {exc}"
                    if answer is not None:
                        raw = answer if isinstance(answer, bytes) else answer.encode("ascii")
                        self.wfile.write(raw + b"\n")
                        self.wfile.flush()

        self._server = ThreadedServer((LOOPBACK, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"sim-{frontend.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class ByteFrontEnd(ABC):
    """One simulated instrument with a binary framed protocol: takes the bytes received so far on a
    connection, answers each complete packet, and keeps the rest for later."""

    name = "frontend"

    def __init__(self, world: World) -> None:
        self.world = world

    @abstractmethod
    def feed(self, buffer: bytes) -> tuple[bytes, bytes]:
        """(answer bytes, the unconsumed rest of `buffer`); called under the world's lock."""


class StreamServer:
    """Serves a `ByteFrontEnd` on a loopback port (a USB CDC port's bytes, over TCP)."""

    def __init__(self, frontend: ByteFrontEnd, port: int = 0) -> None:
        world = frontend.world

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = b""
                while chunk := self.request.recv(4096):
                    buffer += chunk
                    with world.lock:
                        try:
                            answer, buffer = frontend.feed(buffer)
                        except Exception:  # noqa: BLE001 - a bad packet must not kill the lab
                            log.exception("%s: packet %r failed", frontend.name, buffer[:40])
                            answer, buffer = b"", b""
                    if answer:
                        self.request.sendall(answer)

        self._server = ThreadedServer((LOOPBACK, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"sim-{frontend.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

"""A raw TCP connection behind a `LineTransport`: `socket://host:port` (a device server in raw
mode, or the virtual lab's line endpoints).

pyserial opens the same URL, but its socket handler reads a line one byte at a time, one `select`
per byte: about 22 system calls an answer, which was half of a virtual-lab run's wall time.  Here
the answer is read from a buffered stream, one `recv` for a whole line; the wire is the same.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from core.errors import InstrumentInitError, InstrumentLost, InstrumentOperationError, InstrumentTimeout
from instruments.transport.base import QUIET_S, LineTransport


class SocketLineTransport(LineTransport):
    """Newline-terminated ASCII lines over a TCP connection."""

    def __init__(self, role: str, url: str, timeout_s: float = 2.0, terminator: bytes = b"\n") -> None:
        super().__init__(role)
        self.url = url
        self._terminator = terminator
        self._timeout_s = timeout_s
        parts = urlsplit(url)
        if parts.scheme != "socket" or not parts.hostname or parts.port is None:
            raise InstrumentInitError(role, f"cannot open {url!r}: expected socket://HOST:PORT")
        try:
            self._sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
        except OSError as exc:
            raise InstrumentInitError(role, f"cannot open {url!r}: {exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one command, one packet, no Nagle wait
        self._stream = self._sock.makefile("rb")

    def _write(self, line: str) -> None:
        try:
            self._sock.sendall(line.encode("ascii") + self._terminator)
        except (BrokenPipeError, ConnectionError) as exc:
            raise InstrumentLost(self.role, f"{self.url} is gone: {exc}") from None
        except OSError as exc:
            raise InstrumentOperationError(self.role, f"write to {self.url} failed: {exc}") from exc

    def _read(self) -> str:
        try:
            raw = self._stream.readline(self.max_line + 1)
        except TimeoutError:
            raise InstrumentTimeout(self.role, f"no complete answer from {self.url} within {self._timeout_s:g} s") \
                from None
        except ConnectionError as exc:
            raise InstrumentLost(self.role, f"{self.url} is gone: {exc}") from None
        except OSError as exc:
            raise InstrumentOperationError(self.role, f"read from {self.url} failed: {exc}") from exc
        if not raw:   # end of stream: the far end closed the connection
            raise InstrumentLost(self.role, f"{self.url} closed the connection")
        return self._answer(raw, self._terminator, self.url)

    def _read_block(self) -> bytes:
        def read(count: int) -> bytes:
            try:
                data = self._stream.read(count)
            except TimeoutError:
                raise InstrumentTimeout(self.role, f"block from {self.url} cut short (timeout {self._timeout_s:g} s)") \
                    from None
            except OSError as exc:
                raise InstrumentOperationError(self.role, f"read from {self.url} failed: {exc}") from exc
            if len(data) != count:
                raise InstrumentTimeout(self.role, f"block from {self.url} cut short ({len(data)} of {count} bytes)")
            return data
        return self._block(read, self._terminator)

    def _discard_input(self) -> bytes:
        """Drop what is buffered and what arrives until the line stays quiet for QUIET_S."""
        try:   # what the buffer already holds; a stream whose read timed out refuses any further read
            dropped = self._stream.read1(65536) if self._stream.peek(0) else b""
        except OSError:
            dropped = b""
        self._stream.close()   # start a fresh buffered stream after the line went quiet
        try:
            self._sock.settimeout(QUIET_S)
            while chunk := self._sock.recv(4096):
                dropped += chunk
        except TimeoutError:
            pass
        except OSError as exc:
            raise InstrumentOperationError(self.role, f"resynchronising {self.url} failed: {exc}") from exc
        finally:
            self._sock.settimeout(self._timeout_s)
            self._stream = self._sock.makefile("rb")
        return dropped

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._sock.close()

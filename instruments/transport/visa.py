"""pyvisa behind a `LineTransport`: GPIB, USBTMC, VXI-11 and raw `::SOCKET` resources alike."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pyvisa
import pyvisa.errors
from pyvisa.resources import MessageBasedResource

from instruments.transport.base import QUIET_S, LineTransport
from core.errors import InstrumentInitError, InstrumentLost, InstrumentOperationError, InstrumentTimeout

_managers: dict[str, pyvisa.ResourceManager] = {}


def _manager(backend: str) -> pyvisa.ResourceManager:
    """One ResourceManager per backend: opening one is slow and they are meant to be shared."""
    if backend not in _managers:
        _managers[backend] = pyvisa.ResourceManager(backend)
    return _managers[backend]


def _disable_nagle(inst: object) -> None:
    """NI-VISA opens raw sockets with VI_ATTR_TCPIP_NODELAY on; pyvisa-py leaves Nagle on and its
    attribute setter for it raises UnknownAttribute (pyvisa-py; also nominal-io/instro#156). With
    Nagle on, a query right after a write-only setting waits for the instrument's delayed ACK
    (~40 ms on Linux), so the socket is reached directly; other backends are left as they are."""
    sessions = getattr(getattr(inst, "visalib", None), "sessions", None)
    sock = getattr(sessions.get(getattr(inst, "session", None)), "interface", None) if isinstance(sessions, dict) \
        else None
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # slower, not wrong


class VisaTransport(LineTransport):
    """SCPI lines over a VISA resource; the backend is the rig file's `visa_library` (`@py` default)."""

    def __init__(self, role: str, resource: str, backend: str = "@py", timeout_s: float = 2.0) -> None:
        super().__init__(role)
        self.resource = resource
        try:
            # a message-based resource (INSTR, SOCKET, ASRL): the only kind a line protocol runs on
            self._inst = cast(MessageBasedResource, _manager(backend).open_resource(
                resource, read_termination="\n", write_termination="\n",
                timeout=int(timeout_s * 1000)))
        except (pyvisa.errors.Error, ValueError, OSError) as exc:
            raise InstrumentInitError(role, f"cannot open VISA resource {resource!r}: {exc}") from exc
        if resource.upper().endswith("::SOCKET"):
            _disable_nagle(self._inst)

    def _write(self, line: str) -> None:
        try:
            self._inst.write(line)
        except (BrokenPipeError, ConnectionError) as exc:
            raise InstrumentLost(self.role, f"{self.resource} is gone: {exc}") from None
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_connection_lost:
                raise InstrumentLost(self.role, f"{self.resource} is gone: {exc}") from None
            raise InstrumentOperationError(self.role, f"write {line!r} failed: {exc}") from exc
        except OSError as exc:
            raise InstrumentOperationError(self.role, f"write {line!r} failed: {exc}") from exc

    @contextmanager
    def _reading(self, on_timeout: str) -> Iterator[None]:
        """pyvisa's read errors as the rig's: a timeout, a garbled answer, a lost connection."""
        try:
            yield
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                raise InstrumentTimeout(self.role, f"{on_timeout} {self.resource}") from exc
            if exc.error_code == pyvisa.constants.StatusCode.error_connection_lost:
                raise InstrumentLost(self.role, f"{self.resource} is gone: {exc}") from None
            raise InstrumentOperationError(self.role, f"read from {self.resource} failed: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise InstrumentOperationError(self.role, f"garbled answer from {self.resource}") from exc
        except OSError as exc:
            raise InstrumentLost(self.role, f"connection to {self.resource} lost: {exc}") from exc

    def _read(self) -> str:
        with self._reading("no answer from"):
            return self._inst.read().rstrip("\r")

    def _read_block(self) -> bytes:
        """Binary data holds newline bytes: with the termination character on, a VISA read stops at
        each of them (pyvisa-py then reads a block in hundreds of pieces), so it is off meanwhile."""
        termination = self._inst.read_termination
        self._inst.read_termination = None
        try:
            return self._block(self._read_exactly, b"\n")
        finally:
            self._inst.read_termination = termination

    def _read_exactly(self, count: int) -> bytes:
        with self._reading("block cut short from"):
            return bytes(self._inst.read_bytes(count, chunk_size=max(count, 20480), break_on_termchar=False))

    def _discard_input(self) -> bytes:
        dropped = b""
        timeout = self._inst.timeout
        try:
            self._inst.timeout = int(QUIET_S * 1000)
            while True:
                dropped += self._inst.read_raw()
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code != pyvisa.constants.StatusCode.error_timeout:
                raise InstrumentOperationError(self.role, f"resynchronising {self.resource} failed: {exc}") from exc
        except OSError as exc:
            raise InstrumentOperationError(self.role, f"resynchronising {self.resource} failed: {exc}") from exc
        finally:
            self._inst.timeout = timeout
        return dropped

    def close(self) -> None:
        try:
            self._inst.close()
        except pyvisa.errors.Error:
            pass

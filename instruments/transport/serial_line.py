"""pyserial behind a `LineTransport`: real ports and pyserial URLs (`rfc2217://`, `loop://`; serial_for_url).

`socket://` goes to `socket_line.py`, which reads whole lines rather than a byte per system call."""

from __future__ import annotations

import serial

from instruments.transport.base import QUIET_S, LineTransport
from core.errors import InstrumentInitError, InstrumentOperationError


def open_port(role: str, url: str, baudrate: int, timeout_s: float) -> serial.SerialBase:
    """A port or pyserial URL, opened; failing that, the instrument's init error naming the URL."""
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout_s)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise InstrumentInitError(role, f"cannot open {url!r}: {exc}") from exc


class SerialLineTransport(LineTransport):
    """Newline-terminated ASCII lines over anything pyserial opens by URL."""

    def __init__(self, role: str, url: str, baudrate: int = 115200, timeout_s: float = 2.0,
                 terminator: bytes = b"\n") -> None:
        super().__init__(role)
        self._terminator = terminator
        self._port = open_port(role, url, baudrate, timeout_s)
        self.url = url

    def _write(self, line: str) -> None:
        try:
            self._port.write(line.encode("ascii") + self._terminator)
        except (serial.SerialException, OSError) as exc:
            raise InstrumentOperationError(self.role, f"write to {self.url} failed: {exc}") from exc

    def _read(self) -> str:
        try:
            raw = self._port.read_until(self._terminator, self.max_line + 1)
        except (serial.SerialException, OSError) as exc:
            raise InstrumentOperationError(self.role, f"read from {self.url} failed: {exc}") from exc
        return self._answer(raw, self._terminator, self.url)

    def _discard_input(self) -> bytes:
        dropped = b""
        timeout = self._port.timeout
        try:
            self._port.timeout = QUIET_S
            while chunk := self._port.read(4096):
                dropped += chunk
        except (serial.SerialException, OSError) as exc:
            raise InstrumentOperationError(self.role, f"resynchronising {self.url} failed: {exc}") from exc
        finally:
            self._port.timeout = timeout
        return dropped

    def close(self) -> None:
        self._port.close()

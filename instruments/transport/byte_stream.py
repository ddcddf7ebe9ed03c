"""Binary framed protocols (a card emulator's packets) over anything pyserial opens by URL: a USB
CDC port (`/dev/ttyACM0`), `socket://HOST:PORT`, `rfc2217://`.

A driver writes whole packets and reads exactly the bytes its framing announces; the traffic goes
to the one traffic logger as hex."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from core.errors import InstrumentOperationError, InstrumentTimeout
from instruments.transport.base import traffic_log


class ByteStream(ABC):
    """Raw bytes both ways; a short read is the instrument's silence (a timeout), never padding."""

    def __init__(self, role: str) -> None:
        self.role = role

    def write(self, data: bytes) -> None:
        traffic_log.debug("%s >> %s", self.role, data.hex(" "))
        self._write(data)

    def read_exact(self, count: int) -> bytes:
        data = self._read(count)
        if len(data) != count:
            raise InstrumentTimeout(self.role, f"expected {count} bytes, got {len(data)} ({data.hex(' ')})")
        traffic_log.debug("%s << %s", self.role, data.hex(" "))
        return data

    @abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abstractmethod
    def _read(self, count: int) -> bytes: ...

    def close(self) -> None:
        """Release the port."""


class SerialByteStream(ByteStream):
    def __init__(self, role: str, url: str, baudrate: int = 115200, timeout_s: float = 2.0) -> None:
        import serial

        from instruments.transport.serial_line import open_port
        super().__init__(role)
        self._errors = (serial.SerialException, OSError)
        self._port = open_port(role, url, baudrate, timeout_s)
        self.url = url

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except self._errors as exc:
            raise InstrumentOperationError(self.role, f"write to {self.url} failed: {exc}") from exc

    def _read(self, count: int) -> bytes:
        try:
            return bytes(self._port.read(count))
        except self._errors as exc:
            raise InstrumentOperationError(self.role, f"read from {self.url} failed: {exc}") from exc

    def close(self) -> None:
        self._port.close()


def open_byte_stream(role: str, address: str, settings: Mapping[str, Any]) -> ByteStream:
    return SerialByteStream(role, address, baudrate=int(settings.get("baudrate", 115200)),
                            timeout_s=float(settings.get("timeout_s", 2.0)))

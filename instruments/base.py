"""What every instrument driver has: a role, a transport, an identity, a safe state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from instruments.transport.base import LineTransport
from core.errors import InstrumentOperationError, InvalidValue


class Instrument(ABC):
    """A driver: vocabulary on top of a `LineTransport`; never builds its own transport."""

    role = "instrument"

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.role = transport.role

    def identify(self) -> str:
        """The instrument's own identity string (`*IDN?`): it goes into every report's provenance."""
        return self.transport.query("*IDN?")

    def _sync(self, transport: LineTransport | None = None) -> None:
        """Wait until the instrument has applied every command sent so far (IEEE 488.2 `*OPC?`).

        Write-only settings give no answer, so without this a query on another connection (the
        analyser, the clock) may overtake them, in the lab as in the virtual lab.
        """
        answer = (transport or self.transport).query("*OPC?").strip()
        if answer not in ("1", "+1"):
            raise InstrumentOperationError(self.role, f"*OPC?: expected 1, got {answer!r}")

    def _action(self, command: str) -> float:
        """Send a command of our own line protocols (`OK <t>` / `ERR <code> <text>`); returns `<t>`."""
        answer = self.transport.query(command)
        if answer.startswith("ERR"):
            raise InstrumentOperationError(self.role, f"{command!r} refused: {answer}")
        if not answer.startswith("OK "):
            raise InstrumentOperationError(self.role, f"{command!r}: unexpected answer {answer!r}")
        return self._floats(answer[3:], 1, command)[0]

    @abstractmethod
    def safe(self) -> None:
        """Put this instrument into the state in which it can do no harm to the DUT."""

    def close(self) -> None:
        self.transport.close()

    def _floats(self, answer: str, count: int, what: str) -> list[float]:
        """Parse a comma-separated answer of exactly `count` numbers or blame the instrument."""
        parts = answer.split(",")
        if len(parts) != count:
            raise InstrumentOperationError(self.role, f"{what}: expected {count} values, got {answer!r}")
        try:
            return [float(p) for p in parts]
        except ValueError as exc:
            raise InstrumentOperationError(self.role, f"{what}: not numbers: {answer!r}") from exc


class ModbusInstrument(Instrument):
    """A driver whose instrument is a Modbus device (the rig is the master): its transport is a
    `ModbusMaster`, opened by the driver's own `open_transport` instead of the line factory."""

    def __init__(self, transport: Any) -> None:
        from instruments.transport.modbus import ModbusMaster
        if not isinstance(transport, ModbusMaster):
            raise InvalidValue(f"{type(self).__name__} talks Modbus: give it socket://HOST:PORT (RTU over TCP), "
                               f"tcp://HOST:PORT or a serial port, not {getattr(transport, 'url', transport)!r}")
        self.transport = transport  # type: ignore[assignment]
        self.role = transport.role
        self.bus = transport

    @classmethod
    def open_transport(cls, role: str, address: str, settings: Mapping[str, Any]) -> Any:
        from instruments.transport.modbus import ModbusMaster
        return ModbusMaster(role, address, settings)

    def close(self) -> None:
        self.bus.close()

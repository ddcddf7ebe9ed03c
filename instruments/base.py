"""What every instrument driver has: a role, an identity, a safe state, and a description of itself.

A driver class says how it is built (labgrid's drivers and python-can's interfaces are the models):
`opens` names the kind of transport it reaches its instrument through (and so the settings that
transport reads), `SETTINGS` declares the settings it reads itself, `parts` the other roles it is
composed of (a CP emulator from a switch unit and a scope).  The rig file's table for the role is
validated against exactly that (`rig check`), for a plug-in driver as for a built-in one, and the
configuration reference is generated from it.  `build` turns a validated table into a driver.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from core.errors import InstrumentOperationError, InvalidValue
from core.settings import Setting, by_name
from instruments.transport.base import LineTransport
from instruments.transport.openers import LINE, MODBUS_MASTER, Opener


NO_NUMBER = 9.9e37
"""SCPI's +INF (9.9E37) and NAN (9.91E37) stand-ins; no physical reading of this rig comes near."""


class Instrument(ABC):
    """A driver of one role.  Test logic receives drivers and never builds them (`Rig.open` does)."""

    role = "instrument"
    opens: ClassVar[Opener | None] = LINE
    """How the instrument is reached from the rig file's `address`; None for a driver composed of
    other roles (`parts`), which has no address of its own."""
    SETTINGS: ClassVar[tuple[Setting, ...]] = ()
    """The settings this driver reads itself, besides its transport's."""
    parts: ClassVar[tuple[str, ...]] = ()
    """Roles this driver is composed of: the rig file must hold them, and they are opened first."""
    optional_parts: ClassVar[tuple[str, ...]] = ()
    """Roles it uses when the rig has them (a fault box from parts: a leakage load, a chamber)."""
    wiring_functions: ClassVar[tuple[str, ...]] = ()
    """The `[wiring.channels]` functions a composed driver switches (checked by `rig check`)."""

    @classmethod
    def declared_settings(cls) -> dict[str, Setting]:
        """Every key the role's rig-file table may hold besides driver, address and calibration_due."""
        return by_name((*(cls.opens.settings if cls.opens else ()), *cls.SETTINGS))

    @classmethod
    def check_wiring(cls, wiring: Any, settings: Mapping[str, Any]) -> None:
        """Refuse (InvalidValue) a `[wiring]` that lacks a channel this driver switches."""
        if cls.wiring_functions:
            wiring.require(cls.wiring_functions, f"the {cls.__name__}")

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> Instrument:
        """The driver for a validated rig-file table: one transport per address (a three-phase load is
        three units), or, for a composed driver, the roles in `parts` and the `wiring`.  A driver
        that reads its own settings overrides this to hand them to its constructor."""
        if cls.opens is None:
            raise NotImplementedError(f"{cls.__name__} is composed of {cls.parts}: it must override build()")
        return cls(*(cls.opens.open(role, a, settings) for a in addresses))

    def start_clean(self) -> None:
        """Called by the rig right after `build`, whoever built the driver: leave nothing of an earlier
        session behind (a SCPI instrument's error queue); most instruments have nothing to clear."""

    def watches(self) -> list[tuple[float, Any]]:
        """(every_s, callback) pairs the rig's clock must call while a test waits: what an instrument
        must read before its own memory overwrites it (a scope's rolling record).  Most have none."""
        return []

    def listening_port(self) -> int | None:
        """For a role the rig serves (the meter emulator, the backend): the port it listens on, so an
        in-process virtual lab dials it there (the port is bound first, never probed and released)."""
        return None

    def identify(self) -> str:
        """The instrument's identity: it goes into every report's provenance."""
        return type(self).__name__

    @abstractmethod
    def safe(self) -> None:
        """Put this instrument into the state in which it can do no harm to the DUT."""

    def close(self) -> None:
        """Release what the driver opened (a composed driver's parts are their own roles' to close)."""

    def _floats(self, answer: str, count: int, what: str, overload: bool = False) -> list[float]:
        """Parse a comma-separated answer of exactly `count` numbers or blame the instrument.

        What an instrument says when it has no number (NaN, infinity, or SCPI's stand-ins 9.9E37 for
        over-range and 9.91E37 for not-a-number, SCPI-99 Vol. 1 §7.2.1.5) is the rig's fault, never a
        value a verdict could be judged on; `overload=True` hands it to a driver that knows what it
        means there (a DMM's overload on an open input is an open circuit)."""
        parts = answer.split(",")
        if len(parts) != count:
            raise InstrumentOperationError(self.role, f"{what}: expected {count} values, got {answer!r}")
        try:
            values = [float(p) for p in parts]
        except ValueError as exc:
            raise InstrumentOperationError(self.role, f"{what}: not numbers: {answer!r}") from exc
        bad = [p.strip() for p, v in zip(parts, values) if not math.isfinite(v) or abs(v) >= NO_NUMBER]
        if bad and not overload:
            raise InstrumentOperationError(self.role, f"{what}: no data or over-range ({', '.join(bad)}) in {answer!r}")
        return values


class LineInstrument(Instrument):
    """A driver speaking a text protocol (SCPI, our boards' line protocols) over a `LineTransport`."""

    opens = LINE

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.role = transport.role

    def identify(self) -> str:
        """`*IDN?` (IEEE 488.2 §10.14)."""
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

    def close(self) -> None:
        self.transport.close()


class ScpiInstrument(LineInstrument):
    """An IEEE 488.2 / SCPI instrument: its error queue is cleared when the rig opens it (a stray
    command of an earlier session left `-113,"Undefined header"` there, and every later run stopped on
    it), and read after the driver configures it, so an error is reported against what caused it."""

    ERROR_QUERY: ClassVar[str] = "SYST:ERR?"
    """SCPI-99 `SYSTem:ERRor?`; a family with its own (Yokogawa's `:STATus:ERRor?`) says so."""

    def units(self) -> Sequence[LineTransport]:
        """Every connection of the driver (a load of three units has three)."""
        return (self.transport,)

    def start_clean(self) -> None:
        for unit in self.units():
            unit.write("*CLS")   # IEEE 488.2 §10.3: clears the status structures and the error queue
            self._sync(unit)

    def check_errors(self, after: str) -> None:
        """Read the error queue (SCPI-99 `SYSTem:ERRor?`) until it says no error; raise with what it held."""
        for unit in self.units():
            errors = []
            for _ in range(MAX_QUEUED_ERRORS):
                answer = unit.query(self.ERROR_QUERY).strip()
                if answer.startswith(("0,", "+0,")):
                    break
                errors.append(answer)
            if errors:
                raise InstrumentOperationError(self.role, f"error queue after {after}: {'; '.join(errors)}")


MAX_QUEUED_ERRORS = 32
"""More entries than the rig's instruments queue (SCPI-99 requires a queue of at least two): a queue
that never empties is refused, not read forever."""


class ModbusInstrument(Instrument):
    """A driver whose instrument is a Modbus device (the rig is the master) through a `ModbusMaster`."""

    opens = MODBUS_MASTER

    def __init__(self, transport: Any) -> None:
        from instruments.transport.modbus import ModbusMaster
        if not isinstance(transport, ModbusMaster):
            raise InvalidValue(f"{type(self).__name__} talks Modbus: give it socket://HOST:PORT (RTU over TCP), "
                               f"tcp://HOST:PORT or a serial port, not {getattr(transport, 'url', transport)!r}")
        self.role = transport.role
        self.bus = transport

    def close(self) -> None:
        self.bus.close()


class ComposedInstrument(Instrument):
    """A driver built from other roles' instruments and the `[wiring]` table, with no address."""

    opens = None

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> Instrument:
        cls.check_wiring(wiring, settings)
        return cls.compose(parts, wiring, settings)

    @classmethod
    def compose(cls, parts: Mapping[str, Any], wiring: Any, settings: Mapping[str, Any]) -> Instrument:
        raise NotImplementedError


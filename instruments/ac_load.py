"""Electronic AC load standing in for the vehicle's on-board charger.

Lab driver: Chroma 63800 series programmable AC/DC loads, one unit per phase (63800 user's
manual, remote commands `MODE`, `CURRent`, `LOAD`, `MEASure:CURRent?`).  A rig file gives one
VISA address per phase; the driver sets them together.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from instruments.base import Instrument, ScpiInstrument
from instruments.transport.base import LineTransport
from core.types import Reading
from core.errors import InvalidValue

MAX_CURRENT_A = 80.0


class AcLoad(Instrument):
    role = "load"

    @abstractmethod
    def set_current(self, amps: float) -> None:
        """Constant-current rms draw on every phase the load has."""

    @abstractmethod
    def set_on(self, on: bool) -> None: ...

    @abstractmethod
    def measure_current(self) -> list[Reading]: ...


class Chroma63800(ScpiInstrument, AcLoad):
    def __init__(self, transport: LineTransport, *more_phases: LineTransport) -> None:
        super().__init__(transport)
        self.phase_units: Sequence[LineTransport] = (transport, *more_phases)

    def units(self) -> Sequence[LineTransport]:
        return self.phase_units

    def identify(self) -> str:
        return " | ".join(unit.query("*IDN?") for unit in self.phase_units)

    def set_current(self, amps: float) -> None:
        if not 0 <= amps <= MAX_CURRENT_A:
            raise InvalidValue(f"load current must be in [0, {MAX_CURRENT_A}] A, not {amps}")
        for unit in self.phase_units:
            unit.write("MODE CURR")
            unit.write(f"CURR {amps:.3f}")
            self._sync(unit)

    def set_on(self, on: bool) -> None:
        for unit in self.phase_units:
            unit.write(f"LOAD {'ON' if on else 'OFF'}")
            self._sync(unit)

    def measure_current(self) -> list[Reading]:
        return [Reading(self._floats(unit.query("MEAS:CURR?"), 1, "MEAS:CURR?")[0], "A", float("nan"))
                for unit in self.phase_units]

    def safe(self) -> None:
        self.set_on(False)

    def close(self) -> None:
        for unit in self.phase_units:
            unit.close()

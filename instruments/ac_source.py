"""Programmable AC source feeding the wallbox: voltage (all phases or one), frequency, output.

Lab drivers:
- `keysight-ac6800`: Keysight AC6800 series, single-phase (AC6800 Operating and Service Guide,
  SCPI reference: `VOLTage`, `FREQuency`, `OUTPut`, `MEASure:VOLTage:AC?`, `SYSTem:ERRor?`).
- `ametek-lx`: AMETEK / California Instruments Lx/Ls Series II, three-phase (Lx/Ls Series II
  Programming Manual: `INSTrument:COUPle ALL|NONE` sends settings to every phase or only to the
  phase chosen by `INSTrument:NSELect 1|2|3`; the same `VOLT`/`FREQ`/`OUTP` subsystems; a
  dropout is a pulse transient: `VOLTage:MODE PULSe`, `VOLTage:TRIGgered`, `PULSe:WIDTh`,
  `PULSe:COUNt`, then `INITiate` and `TRIGger`).
"""

from __future__ import annotations

from abc import abstractmethod

from instruments.base import Instrument, ScpiInstrument
from core.types import Reading
from core.errors import InstrumentOperationError, InvalidValue

VOLTAGE_RANGE_V = (0.0, 310.0)
FREQUENCY_RANGE_HZ = (40.0, 500.0)
DROPOUT_MAX_S = 10.0
"""Longer interruptions are outages: switch the output off and on."""


class AcSource(Instrument):
    role = "source"
    phases = 1
    """Phases the source can set one by one; phase loss on a three-phase DUT needs 3."""
    timed_dropout = False
    """The source times a dropout itself (a pulse transient); dip tests need it."""

    @abstractmethod
    def set_voltage(self, volts: float) -> None:
        """Line-to-neutral rms voltage on every phase."""

    def set_phase_voltage(self, phase: int, volts: float) -> None:
        """Line-to-neutral rms voltage on one phase (1-based), the others unchanged: a lost phase is 0 V."""
        raise InvalidValue(f"this source sets all phases together ({type(self).__name__} has {self.phases} phase); "
                           f"a per-phase voltage needs a three-phase driver such as ametek-lx")

    def dropout(self, duration_s: float) -> None:
        """Every phase to 0 V for `duration_s`, timed by the source itself (a host cannot time a
        half-cycle dip), then back to the programmed voltage."""
        raise InvalidValue(f"{type(self).__name__} has no timed dropout; a dip test needs a source with "
                           f"pulse transients such as ametek-lx")

    @abstractmethod
    def set_frequency(self, hz: float) -> None: ...

    @abstractmethod
    def set_output(self, on: bool) -> None: ...

    @abstractmethod
    def output_is_on(self) -> bool: ...

    @abstractmethod
    def measure_voltage(self) -> Reading: ...

    def safe(self) -> None:
        """The source's safe state is the rig's configured idle, applied by `Rig.safe_state`."""


def _checked(value: float, span: tuple[float, float], what: str, unit: str) -> float:
    lo, hi = span
    if not lo <= value <= hi:
        raise InvalidValue(f"source {what} must be in [{lo}, {hi}] {unit}, not {value}")
    return value


class ScpiAcSource(ScpiInstrument, AcSource):
    """The SCPI both families share; every setting is followed by a look at the error queue."""

    def set_voltage(self, volts: float) -> None:
        self._setting(f"VOLT {_checked(volts, VOLTAGE_RANGE_V, 'voltage', 'V'):.2f}")

    def set_frequency(self, hz: float) -> None:
        self._setting(f"FREQ {_checked(hz, FREQUENCY_RANGE_HZ, 'frequency', 'Hz'):.3f}")

    def set_output(self, on: bool) -> None:
        self._setting(f"OUTP {'ON' if on else 'OFF'}")

    def output_is_on(self) -> bool:
        return self.transport.query("OUTP?").strip() == "1"

    def measure_voltage(self) -> Reading:
        # Sources do not stamp their readings; a source reading is evidence, never a timing verdict.
        return Reading(self._floats(self.transport.query("MEAS:VOLT:AC?"), 1, "MEAS:VOLT:AC?")[0], "V", float("nan"))

    def _setting(self, command: str) -> None:
        self.transport.write(command)
        answer = self.transport.query("SYST:ERR?")
        if not answer.startswith(("0,", "+0,")):
            raise InstrumentOperationError(self.role, f"source reports {answer} after {command!r}")


class KeysightAC6800(ScpiAcSource):
    """Single-phase: a three-phase DUT sees the same voltage on L1, L2 and L3 (phases bridged)."""


class AmetekLx(ScpiAcSource):
    """Three-phase; commands go to all phases (coupled) except while one phase is being set."""

    phases = 3
    timed_dropout = True

    def set_voltage(self, volts: float) -> None:
        # Coupling is front-panel state too: a bench left uncoupled would set one phase only.
        self._setting("INST:COUP ALL")
        super().set_voltage(volts)

    def set_phase_voltage(self, phase: int, volts: float) -> None:
        if phase not in (1, 2, 3):
            raise InvalidValue(f"source phase must be 1, 2 or 3, not {phase}")
        value = _checked(volts, VOLTAGE_RANGE_V, "voltage", "V")
        self._setting("INST:COUP NONE")
        try:
            self._setting(f"INST:NSEL {phase}")
            self._setting(f"VOLT {value:.2f}")
        finally:
            self._setting("INST:COUP ALL")

    def dropout(self, duration_s: float) -> None:
        if not 0.0 < duration_s <= DROPOUT_MAX_S:
            raise InvalidValue(f"dropout must last (0, {DROPOUT_MAX_S}] s, not {duration_s}")
        self._setting("INST:COUP ALL")
        self._setting("VOLT:TRIG 0")
        self._setting(f"PULS:WIDT {duration_s:.4f}")
        self._setting("PULS:COUN 1")
        self._setting("VOLT:MODE PULS")
        self._setting("INIT")
        # a settled answer after TRIG: the dip has begun before any other connection (the clock) moves on
        self._setting("TRIG")

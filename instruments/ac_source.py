"""Programmable AC source feeding the wallbox: voltage, frequency, output on/off.

Lab driver: Keysight AC6800 series SCPI (AC6800 Operating and Service Guide, SCPI command
reference: `VOLTage`, `FREQuency`, `OUTPut`, `MEASure:VOLTage:AC?`, `SYSTem:ERRor?`).
"""

from __future__ import annotations

from abc import abstractmethod

from instruments.base import Instrument
from instruments.types import Reading
from rig.errors import InstrumentOperationError, InvalidValue

VOLTAGE_RANGE_V = (0.0, 310.0)
FREQUENCY_RANGE_HZ = (40.0, 500.0)


class AcSource(Instrument):
    role = "source"

    @abstractmethod
    def set_voltage(self, volts: float) -> None:
        """Line-to-neutral rms voltage on every phase."""

    @abstractmethod
    def set_frequency(self, hz: float) -> None: ...

    @abstractmethod
    def set_output(self, on: bool) -> None: ...

    @abstractmethod
    def output_is_on(self) -> bool: ...

    @abstractmethod
    def measure_voltage(self) -> Reading: ...


class KeysightAC6800(AcSource):
    def set_voltage(self, volts: float) -> None:
        lo, hi = VOLTAGE_RANGE_V
        if not lo <= volts <= hi:
            raise InvalidValue(f"source voltage must be in [{lo}, {hi}] V, not {volts}")
        self.transport.write(f"VOLT {volts:.2f}")
        self._check_error()

    def set_frequency(self, hz: float) -> None:
        lo, hi = FREQUENCY_RANGE_HZ
        if not lo <= hz <= hi:
            raise InvalidValue(f"source frequency must be in [{lo}, {hi}] Hz, not {hz}")
        self.transport.write(f"FREQ {hz:.3f}")
        self._check_error()

    def set_output(self, on: bool) -> None:
        self.transport.write(f"OUTP {'ON' if on else 'OFF'}")
        self._check_error()

    def output_is_on(self) -> bool:
        return self.transport.query("OUTP?").strip() == "1"

    def measure_voltage(self) -> Reading:
        # The AC6800 does not stamp its readings; a source reading is evidence, never a timing verdict.
        return Reading(self._floats(self.transport.query("MEAS:VOLT:AC?"), 1, "MEAS:VOLT:AC?")[0], "V", float("nan"))

    def _check_error(self) -> None:
        answer = self.transport.query("SYST:ERR?")
        if not answer.startswith(("0,", "+0,")):
            raise InstrumentOperationError(self.role, f"source reports {answer}")

    def safe(self) -> None:
        """The source's safe state is the rig's configured idle, applied by `Rig.safe_state`."""

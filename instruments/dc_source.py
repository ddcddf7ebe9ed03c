"""A programmable DC source: here, the smooth DC residual current from vehicle-side N to PE.

Lab driver: Keysight E36100B Series bench supplies over LAN/USB, SCPI as the E36100B Series
Programming Guide gives it (`[SOURce:]VOLTage`, `[SOURce:]CURRent`, `OUTPut[:STATe]`,
`MEASure:CURRent?`).  The source runs in constant current; its voltage setting is the compliance,
held at the 10 V the decoupling of docs/bench/cots.md is designed for: with its 1 kΩ series
resistor no fault of the source can push more than 10 mA into the vehicle side.  The supply's
rating (instruments/facts/keysight-e36100.toml) bounds what the driver sends.
"""

from __future__ import annotations

import math
from abc import abstractmethod

from core.errors import InvalidValue
from core.types import Reading
from instruments.base import Instrument, ScpiInstrument
from instruments.facts import fact

FACTS = "keysight-e36100"
COMPLIANCE_V = 10.0
"""The decoupled DC path's design voltage (docs/bench/cots.md): 10 V over 1 kΩ bounds the current to 10 mA."""


class DcSource(Instrument):
    role = "dc_source"

    @abstractmethod
    def set_current_ma(self, milliamps: float) -> None:
        """Drive this DC current (0 switches the output off); applied when this returns."""

    @abstractmethod
    def measure_current_ma(self) -> Reading: ...


class KeysightE36100(ScpiInstrument, DcSource):
    def set_current_ma(self, milliamps: float) -> None:
        most_ma = 1000.0 * fact(FACTS, "e36103b_current_max_a")
        if not math.isfinite(milliamps) or not 0 <= milliamps <= most_ma:
            raise InvalidValue(f"DC residual current must be in [0, {most_ma:g}] mA (the E36103B's rating), not {milliamps}")
        t = self.transport
        if milliamps == 0:
            t.write("OUTP OFF")
        else:
            t.write(f"VOLT {COMPLIANCE_V:g}")
            t.write(f"CURR {milliamps / 1000.0:.6f}")
            t.write("OUTP ON")
        self._sync()

    def measure_current_ma(self) -> Reading:
        amps = self._floats(self.transport.query("MEAS:CURR?"), 1, "MEAS:CURR?")[0]
        return Reading(amps * 1000.0, "mA", math.nan)

    def safe(self) -> None:
        self.transport.write("OUTP OFF")
        self._sync()

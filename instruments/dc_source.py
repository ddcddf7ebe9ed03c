"""A programmable DC source: here, the smooth DC residual current from vehicle-side L1 to PE.

Lab driver: Keysight E36100B Series bench supplies over LAN/USB, SCPI as the E36100B Series
Programming Guide gives it (`[SOURce:]VOLTage`, `[SOURce:]CURRent`, `OUTPut[:STATe]`,
`MEASure:CURRent?`).  The source runs in constant current: the voltage setting is only the
compliance that lets the set current flow through the leakage path (docs/bench/cots.md shows
the decoupling from the mains on L1).
"""

from __future__ import annotations

import math
from abc import abstractmethod

from core.errors import InvalidValue
from core.types import Reading
from instruments.base import Instrument, ScpiInstrument

MAX_CURRENT_MA = 600.0
COMPLIANCE_V = 30.0


class DcSource(Instrument):
    role = "dc_source"

    @abstractmethod
    def set_current_ma(self, milliamps: float) -> None:
        """Drive this DC current (0 switches the output off); applied when this returns."""

    @abstractmethod
    def measure_current_ma(self) -> Reading: ...


class KeysightE36100(ScpiInstrument, DcSource):
    def set_current_ma(self, milliamps: float) -> None:
        if not math.isfinite(milliamps) or not 0 <= milliamps <= MAX_CURRENT_MA:
            raise InvalidValue(f"DC residual current must be in [0, {MAX_CURRENT_MA:g}] mA, not {milliamps}")
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

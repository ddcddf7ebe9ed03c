"""An AMETEK California Instruments Lx that never programs more than this bench's DUT may see.

A lab whose wallboxes are rated 230 V wants its source to refuse 300 V whatever a test or a typo
asks for.  The driver is the built-in `ametek-lx` plus one setting of its own, `max_voltage_v`,
which `wallbox-rig rig check` validates like any built-in setting (a number in [0, 310] V: the
range the built-in driver programs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidValue
from core.settings import Setting
from instruments.ac_source import AmetekLx
from instruments.base import Instrument
from instruments.transport.base import LineTransport
from instruments.transport.openers import LINE

MAX_VOLTAGE_V = Setting("max_voltage_v", float, "the highest rms voltage this bench's source may program",
                        unit="V", low=0.0, high=310.0, default=264.0)


class CeilingLx(AmetekLx):
    """AMETEK Lx with a voltage ceiling set per bench (`max_voltage_v`), refused before any I/O."""

    SETTINGS = (MAX_VOLTAGE_V,)

    def __init__(self, transport: LineTransport, max_voltage_v: float) -> None:
        super().__init__(transport)
        self.max_voltage_v = max_voltage_v

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> CeilingLx:
        return cls(LINE.open(role, addresses[0], settings), float(MAX_VOLTAGE_V.of(settings)))

    def _below_ceiling(self, volts: float) -> float:
        if volts > self.max_voltage_v:
            raise InvalidValue(f"source: {volts} V is above this bench's ceiling of {self.max_voltage_v} V "
                               "(rig file: max_voltage_v)")
        return volts

    def set_voltage(self, volts: float) -> None:
        super().set_voltage(self._below_ceiling(volts))

    def set_phase_voltage(self, phase: int, volts: float) -> None:
        super().set_phase_voltage(phase, self._below_ceiling(volts))

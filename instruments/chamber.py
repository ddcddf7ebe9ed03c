"""A climate chamber: the DUT's ambient, for judging WB-TH-01 at real temperatures on a real bench.

Lab driver: a Watlow F4T controller (as in TestEquity and many other chambers) over Modbus TCP
or RTU, registers as the TestEquity F4T Controller manual lists them (Chapter 3, "Common Modbus
Registers", p. 15): Temperature Set Point 4042 (IEEE float, RW), Actual Air Temperature 4182
(IEEE float, R); floats span two registers, low-order word first.  The F4T's Display Units
(register 1328: C = 15, F = 30, default F; Watlow F4T Setup and Operations manual, Chapter 6
Appendix, p. 225) decide the unit of both, so the driver sets Celsius when it opens.  Register
numbers are the protocol (PDU) addresses; the figures are in instruments/facts/watlow-f4t.toml.
"""

from __future__ import annotations

import math
import struct
from abc import abstractmethod
from typing import Any

from core.errors import InvalidValue
from core.types import Reading
from instruments.base import Instrument, ModbusInstrument
from instruments.facts import fact

FACTS = "watlow-f4t"
SETPOINT_REGISTER = int(fact(FACTS, "setpoint_register"))
AIR_TEMPERATURE_REGISTER = int(fact(FACTS, "air_temperature_register"))
DISPLAY_UNITS_REGISTER = int(fact(FACTS, "display_units_register"))
CELSIUS = int(fact(FACTS, "display_units_celsius"))
RANGE_C = (-70.0, 180.0)
SAFE_C = 25.0


def float_words(value: float) -> list[int]:
    """IEEE 754 single, low-order word first (the F4T's default word order)."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [low, high]


def words_float(words: list[int]) -> float:
    return struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0]


class Chamber(Instrument):
    role = "chamber"

    @abstractmethod
    def set_temperature_c(self, celsius: float) -> None:
        """The air setpoint; the chamber ramps there at its own rate."""

    @abstractmethod
    def temperature_c(self) -> Reading:
        """The air temperature the chamber measures."""


class WatlowF4T(ModbusInstrument, Chamber):
    def __init__(self, transport: Any) -> None:
        super().__init__(transport)
        self.bus.write_registers(DISPLAY_UNITS_REGISTER, [CELSIUS])

    def identify(self) -> str:
        hardware = self.bus.read_registers(0, 2)
        return f"WATLOW,F4T,hardware {hardware[0] | hardware[1] << 16},id {self.bus.device_id}"

    def set_temperature_c(self, celsius: float) -> None:
        low, high = RANGE_C
        if not math.isfinite(celsius) or not low <= celsius <= high:
            raise InvalidValue(f"chamber setpoint must be in [{low:g}, {high:g}] °C, not {celsius}")
        self.bus.write_registers(SETPOINT_REGISTER, float_words(celsius))

    def temperature_c(self) -> Reading:
        return Reading(words_float(self.bus.read_registers(AIR_TEMPERATURE_REGISTER, 2)), "degC", math.nan)

    def safe(self) -> None:
        """Back to room temperature: a chamber left hot or cold is no safe bench."""
        self.set_temperature_c(SAFE_C)

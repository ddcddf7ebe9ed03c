"""Switching: relays that build the vehicle circuit, bridge a contactor pole, open PE, close PS_1/PS_2.

What each channel does is the rig file's `[wiring]` (see `instruments/parts/wiring.py`); a
switch driver only knows channel numbers.  Two lab drivers:

- `KeysightDaq970`: Keysight DAQ970A / 34970A mainframes with a GP or actuator switch module,
  SCPI `ROUTe:CLOSe`, `ROUTe:OPEN`, `ROUTe:CLOSe?` on channel lists `(@101,102)` (slot × 100 +
  channel), as the DAQ970A Programming Reference documents them ("ROUTe Subsystem");
- `ModbusRelayBoard`: the common 8/16-channel Modbus RTU relay modules: relay n is coil n − 1,
  read with FC01, written with FC05 / FC15; optional opto inputs read with FC02 (Modbus
  Application Protocol Specification V1.1b3, §6.1, §6.2, §6.5, §6.11).

Every change is applied when the call returns (`*OPC?` on SCPI, the echo of a Modbus write), so
no relay is still moving when the rig clock goes on.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Iterable, Sequence

from core.errors import InstrumentOperationError, InvalidValue
from instruments.base import Instrument, ModbusInstrument, ScpiInstrument

DAQ_SLOTS = (1, 2, 3)
DAQ_CHANNELS_PER_SLOT = 99
RELAY_BOARD_MAX = 64


class Switch(Instrument):
    """A set of numbered relay channels (and, on some units, digital inputs)."""

    role = "switch"

    @abstractmethod
    def close_channels(self, channels: Iterable[int]) -> None:
        """Close these channels; they are closed when this returns."""

    @abstractmethod
    def open_channels(self, channels: Iterable[int]) -> None:
        """Open these channels; they are open when this returns."""

    @abstractmethod
    def closed_channels(self, channels: Sequence[int]) -> list[bool]:
        """Which of these channels are closed, as the unit reports it."""

    def read_inputs(self, inputs: Sequence[int]) -> list[bool]:
        """Digital inputs (an interlock loop); a unit without them says so."""
        raise InstrumentOperationError(self.role, f"{type(self).__name__} has no digital inputs")

    def safe(self) -> None:
        """Every channel this driver ever closed is opened (the unit knows no "all" that is safe on every module)."""
        if self.used:
            self.open_channels(sorted(self.used))

    @property
    def used(self) -> set[int]:
        return self.__dict__.setdefault("_used", set())

    def _check(self, channels: Iterable[int]) -> list[int]:
        chosen = sorted(set(channels))
        for ch in chosen:
            if not self.valid_channel(ch):
                raise InvalidValue(f"{self.role}: no channel {ch} on a {type(self).__name__} ({self.channel_forms})")
        return chosen

    channel_forms = "channel numbers"

    @abstractmethod
    def valid_channel(self, channel: int) -> bool: ...


def channel_list(channels: Sequence[int]) -> str:
    """SCPI channel list: `(@101,102)`."""
    return "(@" + ",".join(str(ch) for ch in channels) + ")"


class KeysightDaq970(ScpiInstrument, Switch):
    """DAQ970A / 34970A with a switch module: channels are slot × 100 + n."""

    channel_forms = "slot × 100 + channel, e.g. 101…120, 201…, 301…"
    FACTS = "keysight-daq970"
    """Its internal DMM's figures: instruments/facts/keysight-daq970.toml."""

    def valid_channel(self, channel: int) -> bool:
        return channel // 100 in DAQ_SLOTS and 1 <= channel % 100 <= DAQ_CHANNELS_PER_SLOT

    def close_channels(self, channels: Iterable[int]) -> None:
        chosen = self._check(channels)
        if chosen:
            self.transport.write(f"ROUT:CLOS {channel_list(chosen)}")
            self._sync()
            self.used.update(chosen)

    def open_channels(self, channels: Iterable[int]) -> None:
        chosen = self._check(channels)
        if chosen:
            self.transport.write(f"ROUT:OPEN {channel_list(chosen)}")
            self._sync()

    def closed_channels(self, channels: Sequence[int]) -> list[bool]:
        chosen = list(channels)
        self._check(chosen)
        answer = self.transport.query(f"ROUT:CLOS? {channel_list(chosen)}")
        states = answer.split(",")
        if len(states) != len(chosen) or any(s.strip() not in ("0", "1") for s in states):
            raise InstrumentOperationError(self.role, f"ROUT:CLOS?: expected {len(chosen)} of 0/1, got {answer!r}")
        return [s.strip() == "1" for s in states]

    def measure_resistance(self, channel: int, range_ohm: float | None = None) -> float:
        """Two-wire resistance through the unit's internal DMM (`MEASure:RESistance? [<range>,](@ch)`):
        autoranged, or on a fixed range when the accuracy stated for the reading must be that range's
        (instruments/facts/keysight-daq970.toml).  An open input reads overload (+9.9E+37), returned as inf."""
        self._check([channel])
        if range_ohm is not None and not range_ohm > 0:
            raise InvalidValue(f"a resistance range must be > 0 ohm, not {range_ohm}")
        fixed = "" if range_ohm is None else f"{range_ohm:g},"
        value = self._floats(self.transport.query(f"MEAS:RES? {fixed}{channel_list([channel])}"), 1, "MEAS:RES?",
                             overload=True)[0]
        return math.inf if value >= 9.0e37 else value

    def measure_voltage(self, channel: int, ac: bool, range_v: float) -> float:
        """DC or true-RMS AC voltage on a fixed range through the internal DMM (`MEASure:VOLTage:AC?
        <range>,(@ch)`, `MEASure:VOLTage:DC? <range>,(@ch)`).  A fixed range, because the accuracy
        the rig states is that range's (instruments/facts/keysight-daq970.toml); an overload is inf."""
        self._check([channel])
        if not range_v > 0:
            raise InvalidValue(f"a DMM range must be > 0 V, not {range_v}")
        function = "AC" if ac else "DC"
        value = self._floats(self.transport.query(f"MEAS:VOLT:{function}? {range_v:g},{channel_list([channel])}"), 1,
                             f"MEAS:VOLT:{function}?", overload=True)[0]
        return math.inf if abs(value) >= 9.0e37 else value


class ModbusRelayBoard(ModbusInstrument, Switch):
    """A Modbus RTU relay module: relay n (1-based, as printed on the board) is coil n − 1."""

    channel_forms = f"relay numbers 1…{RELAY_BOARD_MAX}"

    def identify(self) -> str:
        """A relay module has no identity register; its id and where it answers stand in (a read proves it is there)."""
        self.bus.read_coils(0, 1)
        return f"MODBUS-RELAY,id {self.bus.device_id},{self.bus.address}"

    def valid_channel(self, channel: int) -> bool:
        return 1 <= channel <= RELAY_BOARD_MAX

    def _write(self, channels: Iterable[int], on: bool) -> None:
        chosen = self._check(channels)
        if not chosen:
            return
        if len(chosen) == 1:
            self.bus.write_coil(chosen[0] - 1, on)
        else:   # one FC15 over the span; the relays between keep their state
            first, last = chosen[0], chosen[-1]
            now = self.bus.read_coils(first - 1, last - first + 1)
            for ch in chosen:
                now[ch - first] = on
            self.bus.write_coils(first - 1, now)
        if on:
            self.used.update(chosen)

    def close_channels(self, channels: Iterable[int]) -> None:
        self._write(channels, True)

    def open_channels(self, channels: Iterable[int]) -> None:
        self._write(channels, False)

    def closed_channels(self, channels: Sequence[int]) -> list[bool]:
        chosen = list(channels)
        self._check(chosen)
        if not chosen:
            return []
        first, last = min(chosen), max(chosen)
        states = self.bus.read_coils(first - 1, last - first + 1)
        return [states[ch - first] for ch in chosen]

    def read_inputs(self, inputs: Sequence[int]) -> list[bool]:
        chosen = list(inputs)
        if not chosen:
            return []
        first, last = min(chosen), max(chosen)
        states = self.bus.read_inputs(first - 1, last - first + 1)
        return [states[i - first] for i in chosen]

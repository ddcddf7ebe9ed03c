"""Bring-up of a bench of parts: the vehicle network measured as wired, before a test relies on it.

A resistor on the wrong channel, a cold joint or a wrong value shows in every CP level the suite
judges, as the DUT's fault.  So `wallbox-rig rig verify` measures each resistor of
`[wiring.cp_resistors]` through the switch unit's DMM (`cp_sense`: a DMM channel across the vehicle
side's CP and PE) with the DUT not energised, and says which one is off.

Two-wire readings through a multiplexer carry the channel's relay and leads (up to 2 Ω a channel,
instruments/facts/keysight-daq970.toml), and the wallbox's own CP circuit (its 1 kΩ to an unpowered
generator) lies in parallel with whatever the relays close.  Both cancel by difference: a reading with
the CP short closed gives the offset; a reading with nothing closed gives the wallbox's side; each
resistor alone (the vehicle diode bridged) gives it in parallel with that side:

    R = 1 / (1 / (R_meas - R_0) - 1 / (R_open - R_0))

The DMM's accuracy on each range enters with the sensitivity of R to that reading (the wallbox's side
in parallel magnifies it), so a reading with the vehicle connector unplugged (no side: R_open reads
overload) is the more exact one, and the U printed says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import InstrumentOperationError, InvalidValue
from core.uncertainty import expanded_u
from instruments.facts import accuracy_bound, fact
from instruments.parts.wiring import Wiring
from instruments.switch import KeysightDaq970, Switch

DMM = KeysightDaq970.FACTS


@dataclass(frozen=True)
class Reading2W:
    """One two-wire reading, the range it was made on and its ± bound from the facts (inf: overload)."""

    ohm: float
    range_ohm: float
    bound_ohm: float


@dataclass(frozen=True)
class ResistorCheck:
    """One resistor of the network: what the rig file says it is, what was measured, and whether the
    measured value lies within the part's tolerance given the measurement's U (k = 2)."""

    name: str
    channel: int
    nominal_ohm: float
    measured_ohm: float
    u_ohm: float
    tolerance_ohm: float

    @property
    def verdict(self) -> str:
        """within / outside / conditional: the interval measured ± U wholly inside the tolerance band,
        wholly outside it, or straddling its edge (ILAC-G8:09/2019's conditional decision)."""
        deviation = abs(self.measured_ohm - self.nominal_ohm)
        if not math.isfinite(self.measured_ohm) or deviation - self.u_ohm > self.tolerance_ohm:
            return "outside"
        return "within" if deviation + self.u_ohm <= self.tolerance_ohm else "conditional"


@dataclass(frozen=True)
class NetworkCheck:
    offset: Reading2W
    side: Reading2W
    resistors: tuple[ResistorCheck, ...]

    @property
    def wrong(self) -> tuple[ResistorCheck, ...]:
        return tuple(r for r in self.resistors if r.verdict == "outside")


def read_2w(switch: Switch, channel: int) -> Reading2W:
    """A reading on the smallest range that holds it (decades from the facts' smallest), so that its
    bound is that range's; overload on every range is an open circuit."""
    measure = getattr(switch, "measure_resistance", None)
    if measure is None:
        raise InstrumentOperationError(switch.role, "this switch unit has no DMM to measure resistance with")
    range_ohm, top = fact(DMM, "res_range_min"), fact(DMM, "res_range_max")
    while True:
        ohm = float(measure(channel, range_ohm))
        if math.isfinite(ohm):
            if ohm < -fact(DMM, "two_wire_channel_max"):
                raise InstrumentOperationError(switch.role, f"MEAS:RES? on channel {channel} read {ohm:g} ohm: "
                                                            "not a resistance (is the DUT energised?)")
            return Reading2W(ohm, range_ohm, accuracy_bound(DMM, "res", ohm, range_ohm))
        if range_ohm >= top * (1 - 1e-9):
            return Reading2W(math.inf, range_ohm, 0.0)
        range_ohm *= 10.0


def resistor_from(meas: Reading2W, side: Reading2W, offset: Reading2W) -> tuple[float, float]:
    """R and its U (k = 2) from a reading with it closed, the reading of the wallbox's side alone and
    the offset; each reading's error is taken uniform over ± its bound."""

    def value(m: float, o: float, z: float) -> float:
        g = 1.0 / (m - z) - (0.0 if math.isinf(o) else 1.0 / (o - z))
        return 1.0 / g if g > 0 else math.inf

    r = value(meas.ohm, side.ohm, offset.ohm)
    if not math.isfinite(r) or not math.isfinite(meas.ohm):
        return math.inf, math.inf
    widths = []
    for k, reading in enumerate((meas, side, offset)):
        if reading.bound_ohm == 0.0 or math.isinf(reading.ohm):
            continue
        step = max(reading.bound_ohm, 1e-6)
        args = [meas.ohm, side.ohm, offset.ohm]
        args[k] += step
        upper = value(*args)
        args[k] -= 2 * step
        lower = value(*args)
        sensitivity = abs(upper - lower) / (2 * step)
        widths.append(sensitivity * 2.0 * reading.bound_ohm)
    return r, expanded_u(*widths)


def check_cp_network(switch: Switch, wiring: Wiring) -> NetworkCheck:
    """Measure every resistor of `[wiring.cp_resistors]`; the network is left open.  The DUT must not be
    energised: its generator would drive the node the DMM measures."""
    wiring.require(("cp_sense", "cp_short", "diode_bypass"), "measuring the vehicle network (rig verify)")
    sense = wiring.channel("cp_sense")
    network = [wiring.channel(n) for n in ("cp_short", "diode_bypass")] + [r.channel for r in wiring.cp_resistors]
    switch.open_channels(network)
    try:
        switch.close_channels([wiring.channel("cp_short")])
        offset = read_2w(switch, sense)
        switch.open_channels([wiring.channel("cp_short")])
        if not math.isfinite(offset.ohm) or offset.ohm > fact(DMM, "two_wire_channel_max") * 4:
            raise InvalidValue(f"[wiring.channels] cp_short = {wiring.channel('cp_short')} closed reads "
                               f"{offset.ohm:g} ohm on cp_sense = {sense}, not a short: check both channels, "
                               "and that the DUT is not energised")
        switch.close_channels([wiring.channel("diode_bypass")])
        side = read_2w(switch, sense)
        checks = []
        for resistor in wiring.cp_resistors:
            switch.close_channels([resistor.channel])
            closed = read_2w(switch, sense)
            switch.open_channels([resistor.channel])
            ohm, u = resistor_from(closed, side, offset)
            checks.append(ResistorCheck(resistor.name, resistor.channel, resistor.ohm, ohm, u,
                                        resistor.ohm * wiring.cp_tolerance_pct / 100.0))
    finally:
        switch.open_channels(network)
    return NetworkCheck(offset, side, tuple(checks))

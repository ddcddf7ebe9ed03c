"""The wiring table: which switch channel does what, as data in the rig file (`[wiring]`).

The resistor values are the vehicle circuit's of IEC 61851-1:2017 Annex A (R3 2.74 kΩ, R2
1.3 kΩ for state C, 270 Ω for D) plus the band-edge resistors the suite applies; see
`docs/bench/cots.md` for the network, tolerances and sources.  Loading checks what a bench
author gets wrong: a channel used twice, a function a role needs missing, a break-before-make
group naming something that is not wired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from core.errors import InvalidValue

CP_FUNCTIONS = ("cp_short", "diode_bypass", "vehicle_pe_open")
"""Single channels of the vehicle circuit: CP–PE short (state E), the vehicle diode bridged,
the vehicle's PE return broken (the channel closed = PE open)."""
PP_FUNCTIONS = ("pp_short",)
"""PP tied to PE (an invalid coding), for socket-outlet DUTs; optional."""
FAULT_FUNCTIONS = ("supply_pe_open", "weld_l1", "weld_l2", "weld_l3", "ps1", "ps2")
"""Channels of fault injection: the wallbox's supply PE opened, a contactor pole bridged per
phase, the grid operator's control contacts."""
MEASURE_FUNCTIONS = ("pp_sense", "leakage_sense", "cp_sense")
"""Measurement channels of a switch unit with a DMM (DAQ970A): PP–PE resistance of a tethered plug;
the voltage across the leakage path's shunt (the residual current actually flowing); CP–PE resistance
on the vehicle side, with which bring-up (`rig verify`) measures the vehicle network as wired."""
ACTUATOR_FUNCTIONS = ("pairing_button",)
"""A solenoid on the DUT's pairing button (the channel closed = the button pressed)."""
CARD_POSITIONS = tuple(f"card_{k}" for k in range(1, 9))
"""The positions of a card carousel: the channel closed = that card held to the reader."""
FUNCTIONS = CP_FUNCTIONS + PP_FUNCTIONS + FAULT_FUNCTIONS + MEASURE_FUNCTIONS + ACTUATOR_FUNCTIONS + CARD_POSITIONS
CP_RESISTORS = ("R3", "R2", "R2D")
"""Named resistors the vehicle states need: R3 (B), R2 (with R3: C), R2D (with R3: D)."""
LADDER_MAX = 12
"""A leakage ladder of more resistors than this is refused: every subset is tried (2¹² of them)."""
MATCH_TOLERANCE = 0.005
"""A requested CP or PP resistance is served by a combination within 0.5 % of it (the band-edge
resistors are 0.1 % parts, docs/bench/cots.md)."""


@dataclass(frozen=True)
class Resistor:
    name: str
    channel: int
    ohm: float


@dataclass(frozen=True)
class Wiring:
    channels: dict[str, int] = field(default_factory=dict)
    cp_resistors: tuple[Resistor, ...] = ()
    pp_resistors: tuple[Resistor, ...] = ()
    break_before_make: tuple[tuple[str, ...], ...] = ()
    interlock_input: int | None = None
    leakage_resistors: tuple[Resistor, ...] = ()
    leakage_shunt_ohm: float | None = None
    leakage_tolerance_pct: float = 1.0
    leakage_supply_v: float = 230.0
    cp_tolerance_pct: float = 0.1

    def channel(self, name: str) -> int:
        """The channel of a function or a named resistor."""
        if name in self.channels:
            return self.channels[name]
        for r in (*self.cp_resistors, *self.pp_resistors, *self.leakage_resistors):
            if r.name == name:
                return r.channel
        raise InvalidValue(f"[wiring] has no {name!r}")

    def names(self) -> set[str]:
        return set(self.channels) | {r.name for r in (*self.cp_resistors, *self.pp_resistors, *self.leakage_resistors)}

    def require(self, names: tuple[str, ...], who: str) -> None:
        missing = [n for n in names if n not in self.names()]
        if missing:
            raise InvalidValue(f"[wiring] lacks {', '.join(missing)}, which {who} needs")

    def partners(self, name: str) -> set[str]:
        """What must be open before `name` closes (break-before-make groups)."""
        out: set[str] = set()
        for group in self.break_before_make:
            if name in group:
                out.update(n for n in group if n != name)
        return out

    def cp_combination(self, ohm: float) -> tuple[Resistor, ...]:
        """The resistors whose parallel value is nearest `ohm`, within MATCH_TOLERANCE."""
        return _combination(self.cp_resistors, ohm, "CP", "[wiring.cp_resistors]")

    def leakage_combination(self, milliamps: float, volts: float) -> tuple[Resistor, ...]:
        """The ladder resistors whose current at `volts` is nearest `milliamps`: within half the smallest
        resistor's current plus the ladder's tolerance, which a binary ladder of standard values (E96)
        meets for every multiple of its smallest step at 196…253 V."""
        if not self.leakage_resistors:
            raise InvalidValue("[wiring.leakage_resistors] is empty: this bench has no AC leakage path")
        if not volts > 0:
            raise InvalidValue(f"a leakage current needs a supply voltage > 0 V, not {volts}")
        target = milliamps / 1000.0 / volts
        best: tuple[float, tuple[Resistor, ...]] = (abs(target), ())
        ladder = self.leakage_resistors
        for size in range(1, len(ladder) + 1):
            for combo in combinations(ladder, size):
                error = abs(sum(1.0 / r.ohm for r in combo) - target)
                if error < best[0]:
                    best = (error, combo)
        smallest_ma = min(1000.0 * volts / r.ohm for r in ladder)
        allowed_ma = self.leakage_allowance_ma(milliamps, volts)
        made_ma = 1000.0 * volts * sum(1.0 / r.ohm for r in best[1])
        if abs(made_ma - milliamps) > allowed_ma:
            largest = 1000.0 * volts * sum(1.0 / r.ohm for r in ladder)
            raise InvalidValue(f"the leakage ladder makes {made_ma:.2f} mA, not {milliamps:g} mA, at {volts:.1f} V "
                               f"(it reaches {largest:.1f} mA in steps of {smallest_ma:.2f} mA); extend "
                               f"[wiring.leakage_resistors]")
        return best[1]

    def leakage_allowance_ma(self, milliamps: float, volts: float) -> float:
        """How far the nearest combination's nominal current may lie from `milliamps` at `volts`."""
        smallest_ma = min(1000.0 * volts / r.ohm for r in self.leakage_resistors)
        return smallest_ma / 2.0 + self.leakage_tolerance_pct / 100.0 * milliamps

    def pp_resistor(self, ohm: float) -> Resistor:
        found = _combination(self.pp_resistors, ohm, "PP", "[wiring.pp_resistors]", single=True)
        return found[0]


def _combination(resistors: tuple[Resistor, ...], ohm: float, what: str, key: str,
                 single: bool = False) -> tuple[Resistor, ...]:
    best: tuple[float, tuple[Resistor, ...]] | None = None
    sizes = (1,) if single else range(1, min(len(resistors), 4) + 1)
    for size in sizes:
        for combo in combinations(resistors, size):
            value = 1.0 / sum(1.0 / r.ohm for r in combo)
            error = abs(value - ohm) / ohm
            if best is None or error < best[0]:
                best = (error, combo)
    if best is None or best[0] > MATCH_TOLERANCE:
        offered = sorted({round(1.0 / sum(1.0 / r.ohm for r in c), 1) for n in range(1, 3)
                          for c in combinations(resistors, n)})[:12]
        raise InvalidValue(f"the {what} network cannot make {ohm:.1f} ohm (within {MATCH_TOLERANCE:.1%}); add a "
                           f"resistor for it to {key} (it makes {', '.join(f'{v:g}' for v in offered)} ohm …)")
    return best[1]


def _int(value: Any, key: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidValue(f"[{key}]: expected a channel number, found {value!r}")
    return value


def _resistors(table: Any, key: str) -> tuple[Resistor, ...]:
    if table is None:
        return ()
    if not isinstance(table, Mapping):
        raise InvalidValue(f"[{key}]: expected a table of NAME = [channel, ohm]")
    out = []
    for name, spec in table.items():
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[1], (int, float))
                and not isinstance(spec[1], bool) and spec[1] > 0):
            raise InvalidValue(f"[{key}.{name}]: expected [channel, ohm] with ohm > 0, found {spec!r}")
        out.append(Resistor(str(name), _int(spec[0], f"{key}.{name}"), float(spec[1])))
    return tuple(out)


def _positive(value: Any, key: str, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidValue(f"[{key}]: expected a number > 0 ({unit}), found {value!r}")
    return float(value)


def parse_wiring(data: Mapping[str, Any]) -> Wiring:
    """A `[wiring]` table → `Wiring`; an `InvalidValue` names the key that is wrong."""
    known = {"channels", "cp_resistors", "pp_resistors", "break_before_make", "interlock_input",
             "leakage_resistors", "leakage_shunt_ohm", "leakage_tolerance_pct", "leakage_supply_v",
             "cp_tolerance_pct"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidValue(f"[wiring.{unknown[0]}]: not a wiring key (expected {', '.join(sorted(known))})")
    channels_table = data.get("channels", {})
    if not isinstance(channels_table, Mapping):
        raise InvalidValue("[wiring.channels]: expected a table of FUNCTION = channel")
    channels = {}
    for name, ch in channels_table.items():
        if name not in FUNCTIONS:
            raise InvalidValue(f"[wiring.channels.{name}]: not a function (expected one of {', '.join(FUNCTIONS)})")
        channels[name] = _int(ch, f"wiring.channels.{name}")
    cp = _resistors(data.get("cp_resistors"), "wiring.cp_resistors")
    pp = _resistors(data.get("pp_resistors"), "wiring.pp_resistors")
    ladder = _resistors(data.get("leakage_resistors"), "wiring.leakage_resistors")
    if len(ladder) > LADDER_MAX:
        raise InvalidValue(f"[wiring.leakage_resistors]: at most {LADDER_MAX} resistors, found {len(ladder)}")
    used: dict[int, str] = {}
    for name, ch in [*channels.items(), *((r.name, r.channel) for r in (*cp, *pp, *ladder))]:
        if ch in used:
            raise InvalidValue(f"[wiring]: channel {ch} is wired twice ({used[ch]} and {name})")
        used[ch] = name
    groups_raw = data.get("break_before_make", [])
    if not isinstance(groups_raw, list) or not all(isinstance(g, list) and len(g) >= 2 for g in groups_raw):
        raise InvalidValue("[wiring.break_before_make]: expected a list of groups like [\"cp_short\", \"R3\"]")
    shunt = data.get("leakage_shunt_ohm")
    if shunt is not None:
        shunt = _positive(shunt, "wiring.leakage_shunt_ohm", "ohm")
    wiring = Wiring(channels, cp, pp, tuple(tuple(str(n) for n in g) for g in groups_raw),
                    None if data.get("interlock_input") is None
                    else _int(data["interlock_input"], "wiring.interlock_input"),
                    ladder, shunt,
                    _positive(data.get("leakage_tolerance_pct", 1.0), "wiring.leakage_tolerance_pct", "%"),
                    _positive(data.get("leakage_supply_v", 230.0), "wiring.leakage_supply_v", "V"),
                    _positive(data.get("cp_tolerance_pct", 0.1), "wiring.cp_tolerance_pct", "%"))
    if ladder and (shunt is None or "leakage_sense" not in channels):
        raise InvalidValue("[wiring.leakage_resistors] needs the current it makes measured: set leakage_shunt_ohm "
                           "and a leakage_sense channel in [wiring.channels] (docs/bench/cots.md)")
    for group in wiring.break_before_make:
        for name in group:
            if name not in wiring.names():
                raise InvalidValue(f"[wiring.break_before_make]: {name!r} is not wired "
                                   f"(wired: {', '.join(sorted(wiring.names()))})")
    return wiring

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
MEASURE_FUNCTIONS = ("pp_sense",)
"""Measurement channels of a switch unit with a DMM (DAQ970A): PP–PE resistance of a tethered plug."""
ACTUATOR_FUNCTIONS = ("pairing_button",)
"""A solenoid on the DUT's pairing button (the channel closed = the button pressed)."""
CARD_POSITIONS = tuple(f"card_{k}" for k in range(1, 9))
"""The positions of a card carousel: the channel closed = that card held to the reader."""
FUNCTIONS = CP_FUNCTIONS + PP_FUNCTIONS + FAULT_FUNCTIONS + MEASURE_FUNCTIONS + ACTUATOR_FUNCTIONS + CARD_POSITIONS
CP_RESISTORS = ("R3", "R2", "R2D")
"""Named resistors the vehicle states need: R3 (B), R2 (with R3: C), R2D (with R3: D)."""
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

    def channel(self, name: str) -> int:
        """The channel of a function or a named resistor."""
        if name in self.channels:
            return self.channels[name]
        for r in (*self.cp_resistors, *self.pp_resistors):
            if r.name == name:
                return r.channel
        raise InvalidValue(f"[wiring] has no {name!r}")

    def names(self) -> set[str]:
        return set(self.channels) | {r.name for r in (*self.cp_resistors, *self.pp_resistors)}

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


def parse_wiring(data: Mapping[str, Any]) -> Wiring:
    """A `[wiring]` table → `Wiring`; an `InvalidValue` names the key that is wrong."""
    known = {"channels", "cp_resistors", "pp_resistors", "break_before_make", "interlock_input"}
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
    used: dict[int, str] = {}
    for name, ch in [*channels.items(), *((r.name, r.channel) for r in (*cp, *pp))]:
        if ch in used:
            raise InvalidValue(f"[wiring]: channel {ch} is wired twice ({used[ch]} and {name})")
        used[ch] = name
    groups_raw = data.get("break_before_make", [])
    if not isinstance(groups_raw, list) or not all(isinstance(g, list) and len(g) >= 2 for g in groups_raw):
        raise InvalidValue("[wiring.break_before_make]: expected a list of groups like [\"cp_short\", \"R3\"]")
    wiring = Wiring(channels, cp, pp, tuple(tuple(str(n) for n in g) for g in groups_raw),
                    None if data.get("interlock_input") is None
                    else _int(data["interlock_input"], "wiring.interlock_input"))
    for group in wiring.break_before_make:
        for name in group:
            if name not in wiring.names():
                raise InvalidValue(f"[wiring.break_before_make]: {name!r} is not wired "
                                   f"(wired: {', '.join(sorted(wiring.names()))})")
    return wiring

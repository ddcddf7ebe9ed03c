"""The simulated wallbox's LED bar: four segments S1-S4, what each shows at a given instant.

The firmware picks a *show* (colour, pattern, period, and an optional segment-4 override for a
defective communication module) from its situation; `rgb` renders it at time t.  Emitted light
is linear intensity per channel, 0..1, as a colour sensor or a camera's raw pixels would see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from sim.params import Knobs

SEGMENTS = 4
PATTERNS = ("off", "solid", "blinking", "breathing", "sweeping")
COLOURS_RGB: dict[str, tuple[float, float, float]] = {
    # LED emitters as a colour sensor sees them: saturated, never pure primaries
    "blue": (0.08, 0.30, 1.00),
    "yellow": (1.00, 0.78, 0.05),
    "red": (1.00, 0.06, 0.04),
    "green": (0.10, 1.00, 0.25),
    "white": (1.00, 0.95, 0.90),
}


@dataclass(frozen=True)
class LedShow:
    colour: str
    pattern: str
    period_s: float
    segment4_colour: str | None = None   # shown solid on S4 instead of the pattern (module defect)


def _level(pattern: str, phase: float, segment: int, segments: int) -> float:
    """Intensity 0..1 of `segment` at `phase` (0..1) of the pattern's period."""
    if pattern == "off":
        return 0.0
    if pattern == "solid":
        return 1.0
    if pattern == "blinking":
        return 1.0 if phase < 0.5 else 0.0
    if pattern == "breathing":
        return 0.5 - 0.5 * math.cos(2 * math.pi * phase)
    if pattern == "sweeping":   # one segment after the other, left to right
        return 1.0 if int(phase * segments) == segment else 0.0
    raise ValueError(f"unknown LED pattern {pattern!r}")


def rgb(show: LedShow, t: float) -> list[tuple[float, float, float]]:
    phase = (t / show.period_s) % 1.0 if show.period_s > 0 else 0.0
    patterned = SEGMENTS - 1 if show.segment4_colour is not None else SEGMENTS
    r, g, b = COLOURS_RGB[show.colour]
    out = []
    for k in range(patterned):
        level = _level(show.pattern, phase, k, patterned)
        out.append((r * level, g * level, b * level))
    if show.segment4_colour is not None:
        out.append(COLOURS_RGB[show.segment4_colour])
    return out


def show_for(state: str, paused: bool, waiting: bool, knobs: Knobs) -> LedShow:
    """What the firmware shows for its situation: off unpowered, the initialising pattern while
    booting, the update pattern during a firmware update, the fault colour in F, the paused pattern while paused or waiting out a cold-load
    delay, the charging pattern in C2, standby otherwise; a defective communication module takes S4."""
    colour, period = knobs.led.colour, knobs.led.period_s
    comms = knobs.led.comms_module_fault
    if state == "off":
        return LedShow(colour, "off", period)
    if state == "boot":
        return LedShow(colour, knobs.led.initialising, period)
    if state == "update":
        return LedShow(colour, knobs.led.firmware_update, period,
                       "red" if comms in ("firmware_update", "all") else None)
    if state == "F":
        return LedShow(knobs.led.fault_colour, "solid", period)
    if state == "C2":
        if comms in ("charging", "all"):
            return LedShow(colour, knobs.led.comms_defect_charging, period, "red")
        return LedShow(colour, knobs.led.charging, period)
    if paused or waiting:
        return LedShow(colour, knobs.led.paused, period)
    return LedShow(colour, knobs.led.standby, period, "red" if comms in ("standby", "all") else None)

"""From LED samples to what a person would say the bar shows: per segment off, solid, blinking
(with its frequency), breathing (smooth intensity; "pulsing" in the MINI manual), or part of a
left-to-right sweep; and a colour (blue, yellow, red, green, white).

Built for camera frames as much as for a clean colour sensor: every threshold is relative to the
recording itself (exposure drift and a dim camera cancel), blinking and breathing differ by
whether the light jumps between samples or glides, the colour is a hue of the segment's
lit samples (white-balance drift moves it a little, not across a class), and a segment whose light
stays far below the bar's brightest is off, however much its neighbours bleed into its region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.uncertainty import interval_u

from instruments.led import SEGMENTS, LedSample

DARK_LEVEL = 0.15          # below this fraction of full scale a segment's peak is dark (room light on the housing)
OFF_FRACTION = 0.3         # a segment peaking below this fraction of the bar's brightest is off (bleed)
SOLID_DEPTH = 0.4          # modulation depth (p95 - p5) / p95 below which the light is steady
STEP = 0.45               # a sample-to-sample change this large (of the swing) is a switched edge
WHITE_SATURATION = 0.5   # white through a +/-20 % white balance stays below; LED colours sit above 0.8
HUES = ((18.0, "red"), (75.0, "yellow"), (165.0, "green"), (270.0, "blue"), (330.0, "magenta"), (360.0, "red"))


@dataclass(frozen=True)
class SegmentState:
    segment: str
    pattern: str                 # off | solid | blinking | breathing | sweeping
    colour: str | None           # None when off
    frequency_hz: float | None   # of the modulation; None when steady
    level: float                 # peak intensity, fraction of full scale
    period_u_s: float | None = None
    """U (k = 2) of 1 / frequency_hz: the first and last rise each on the sample grid, over the rises
    between them (a single rise gives only the recording's length, and says so by its U)."""

    def describe(self) -> str:
        if self.pattern == "off":
            return "off"
        freq = f" {self.frequency_hz:.2f} Hz" if self.frequency_hz else ""
        return f"{self.colour} {self.pattern}{freq}"


def colour_name(rgb: Sequence[float]) -> str:
    r, g, b = (float(v) for v in rgb)
    high, low = max(r, g, b), min(r, g, b)
    if high <= 0:
        return "black"
    if 1 - low / high < WHITE_SATURATION:
        return "white"
    span = high - low
    if high == r:
        hue = (60 * (g - b) / span) % 360
    elif high == g:
        hue = 60 * ((b - r) / span + 2)
    else:
        hue = 60 * ((r - g) / span + 4)
    return next(name for limit, name in HUES if hue < limit)


def _rising(t: np.ndarray, x: np.ndarray, low: float = 0.4, high: float = 0.6) -> list[float]:
    """Times x rises through `high` after having been below `low` (hysteresis against noise)."""
    out, armed = [], bool(x[0] < low)
    for ti, xi in zip(t, x):
        if armed and xi > high:
            out.append(float(ti))
            armed = False
        elif xi < low:
            armed = True
    return out


def _frequency(rises: list[float], duration_s: float) -> float | None:
    if len(rises) >= 2:
        return (len(rises) - 1) / (rises[-1] - rises[0])
    return None if not rises else 1.0 / duration_s


def _period_u(rises: list[float], duration_s: float, sample_s: float) -> float | None:
    if len(rises) >= 2:
        return interval_u(sample_s) / (len(rises) - 1)
    return None if not rises else duration_s


def classify(samples: Sequence[LedSample]) -> list[SegmentState]:
    if len(samples) < 8:
        raise ValueError(f"too few LED samples to classify ({len(samples)}; at least 8)")
    t = np.array([s.t_s for s in samples], dtype=float)
    rgb = np.array([s.rgb for s in samples], dtype=float)          # (n, segments, 3)
    intensity = rgb.max(axis=2)                                      # (n, segments)
    peak = np.percentile(intensity, 95, axis=0)
    floor = np.percentile(intensity, 5, axis=0)
    bar_peak = float(peak.max())
    duration = float(t[-1] - t[0]) or 1.0
    sample_s = float(np.median(np.diff(t)))
    states: list[SegmentState] = []
    normalised: dict[int, np.ndarray] = {}
    for k, name in enumerate(SEGMENTS):
        if peak[k] < DARK_LEVEL or peak[k] < OFF_FRACTION * bar_peak:
            states.append(SegmentState(name, "off", None, None, float(peak[k])))
            continue
        x = np.clip((intensity[:, k] - floor[k]) / max(peak[k] - floor[k], 1e-9), 0.0, 1.0)
        lit = rgb[x > 0.6, k, :] if (peak[k] - floor[k]) / peak[k] >= SOLID_DEPTH else rgb[:, k, :]
        colour = colour_name(np.median(lit, axis=0))
        if (peak[k] - floor[k]) / peak[k] < SOLID_DEPTH:
            states.append(SegmentState(name, "solid", colour, None, float(peak[k])))
            continue
        normalised[k] = x
        rises = _rising(t, x)
        # switched light jumps at every edge, even when a frame straddles it (one of the two steps
        # is at least half the swing); breathing light changes by a fraction of its swing per frame
        steps = int(np.sum(np.abs(np.diff(x)) > STEP))
        pattern = "blinking" if steps >= max(1, len(rises)) else "breathing"
        states.append(SegmentState(name, pattern, colour, _frequency(rises, duration), float(peak[k]),
                                   _period_u(rises, duration, sample_s)))
    return _sweeps(t, states, normalised)


def _sweeps(t: np.ndarray, states: list[SegmentState], normalised: dict[int, np.ndarray]) -> list[SegmentState]:
    """Blinking segments that take turns, left to right, are one sweep."""
    group = [k for k, s in enumerate(states) if s.pattern == "blinking"]
    if len(group) < 2:
        return states
    on = np.stack([normalised[k] > 0.5 for k in group], axis=1)
    overlap = float(np.mean(on.sum(axis=1) >= 2))
    events = sorted((rise, position) for position, k in enumerate(group) for rise in _rising(t, normalised[k]))
    steps = [(b - a) % len(group) for (_, a), (_, b) in zip(events, events[1:]) if a != b]
    forward = steps.count(1) / len(steps) if steps else 0.0
    if overlap > 0.15 or forward < 0.7:
        return states
    period = [s.frequency_hz for k, s in enumerate(states) if k in group and s.frequency_hz]
    freq = float(np.median(period)) if period else None
    widest = max((s.period_u_s for k, s in enumerate(states) if k in group and s.period_u_s is not None), default=None)
    return [SegmentState(s.segment, "sweeping", s.colour, freq, s.level, widest) if k in group else s
            for k, s in enumerate(states)]


def summary(states: Sequence[SegmentState]) -> str:
    return ", ".join(f"{s.segment} {s.describe()}" for s in states)

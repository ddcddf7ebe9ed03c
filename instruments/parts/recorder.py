"""Edges out of a scope's running record: CP level, PWM, duty and the contactor, on the scope's timebase.

The record is read in two passes, so that hours of charging cost little to transfer:

1. an **overview** with one point per five PWM periods (`OVERVIEW_S`): in high-resolution mode
   a point is the mean of its interval, so on CP it moves with the level, with PWM starting or
   stopping and with the duty (a 1 % duty step moves it by about 0.2 V); on the vehicle-side
   voltage a 5 ms mean is a quarter of the sine (of two neighbours, one is at least 0.45 of its
   peak, whatever the phase), so the supply's presence shows in every pair of points;
2. a **zoom** (`ZOOM_S` per point) around every overview point that moved, from which the edges
   are read sample by sample: a CP high-level step (CPH), PWM on/off (PWM), the duty of each
   period (DUTY), the output voltage joining or leaving the sine (OVP).

The resolution of every edge time is `ZOOM_S` (2 µs) plus what the signal itself hides: a vehicle
switching during the PWM's negative half shows at the next positive one (≤ 1 ms later), a PWM start
at its first fall (≤ 1 ms later), and the contactor opening near a zero crossing shows once the sine
would have passed `LIVE_V` (≤ 0.2 ms at 230 V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.types import Channel, Edge
from instruments.scope import Scope, Waveform

OVERVIEW_S = 5e-3
ZOOM_S = 2e-6
MAX_POINTS = 500_000
CP_MOVE_V = 0.08
"""An overview point this far from the one before is worth a zoom (noise is ~5 mV a point)."""
CPH_STEP_V = 0.3
"""A CP high-level change reported as an edge (the board protocol's threshold)."""
LOW_V = -2.0
"""CP below this is the generator's negative half (or state F): every high level is ≥ 0 V."""
LIVE_V = 20.0
"""|vehicle-side voltage| above this is the supply's sine: the contactor is closed."""
DEAD_S = 0.012
"""No sample above LIVE_V for this long (more than half a period at 45 Hz): the output is dead."""
PERIOD_MAX_S = 1.1e-3
"""A positive or negative stretch longer than this is not PWM (1 kHz ± 2 %, IEC 61851-1 Table A.7)."""
DUTY_STEP_PCT = 0.3
HOLD_BACK = 2
"""Overview points this close to the newest sample wait for the next read: a zoom around a change
there needs the milliseconds after it, which the scope has not acquired yet."""
SETTLE_SAMPLES = 4
"""How many samples after a CP step the level may take to settle within CPH_STEP_V / 2."""
ZOOM_AFTER_S = 3e-3
"""A zoom reaches this far past the overview point that moved: two PWM periods at least."""


@dataclass
class _State:
    cph: float | None = None
    pwm: bool | None = None
    duty: float | None = None
    ovp: bool | None = None
    last_live_s: float = -math.inf


@dataclass
class ScopeRecorder:
    """Follows the running record of a scope, turning what it shows into edges."""

    scope: Scope
    cp_channel: int
    output_channel: int
    edges: list[Edge] = field(default_factory=list)
    state: _State = field(default_factory=_State)
    read_until_s: float = 0.0
    zooms: int = 0
    _last_count: int = 16
    _last_mean: float | None = None
    _out_tail: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def memory_s(self) -> float:
        """How far back the scope's record reaches at the zoom's sample interval, on the channel that
        holds the least (a pair's memory is shared by its displayed channels): older samples are
        overwritten."""
        channels = self.scope.displayed or {self.cp_channel, self.output_channel}
        return min(self.scope.channel_memory_points(c) for c in channels) * ZOOM_S

    @property
    def keep_up_s(self) -> float:
        """How often the record must be read while a test waits, so no overview point or zoom reaches
        back past `memory_s`: a quarter of it is left for the zooms behind the newest point and the
        read itself."""
        return 0.75 * self.memory_s

    def start(self) -> float:
        """Begin following from now: the state there is learnt, not reported as edges."""
        now = self.scope.now(self.read_until_s)
        t0 = max(0.0, now - 3 * PERIOD_MAX_S)
        self._learn(t0, now)
        self.read_until_s = math.floor(now / OVERVIEW_S + 1e-9) * OVERVIEW_S
        return now

    def update(self) -> float:
        """Read the record up to its newest point; returns the scope time up to which edges are known.

        Where the record ends is where the overview's holes begin, so no separate "now" is asked."""
        bucket = int(round(self.read_until_s / OVERVIEW_S))   # overview points sit on a fixed grid
        count = max(16, min(2 * self._last_count, MAX_POINTS))
        while True:
            start = bucket * OVERVIEW_S
            cp = self.scope.window(self.cp_channel, start, count * OVERVIEW_S, count)
            usable = cp.acquired - HOLD_BACK
            if usable <= 0:
                break
            out = self.scope.window(self.output_channel, start, usable * OVERVIEW_S, usable)
            n = min(usable, out.acquired)
            if n == 0:
                break
            self._overview(cp.values[:n], out.values[:n], start)
            bucket += n
            self.read_until_s = bucket * OVERVIEW_S
            self._last_count = n
            if cp.acquired < count:
                break
            count = min(count * 8, MAX_POINTS)
        return self.read_until_s

    # --- the overview ------------------------------------------------------------------------
    def _overview(self, cp: np.ndarray, out: np.ndarray, t0: float) -> None:
        before = np.concatenate(([self._last_mean if self._last_mean is not None else cp[0]], cp[:-1]))
        moved = np.flatnonzero(np.abs(cp - before) > CP_MOVE_V)
        self._last_mean = float(cp[-1])
        tail = len(self._out_tail)
        joined = np.concatenate((self._out_tail, out))
        loud = np.abs(joined) > LIVE_V
        span = int(math.ceil(DEAD_S / OVERVIEW_S))
        # live at a point: loud somewhere in the DEAD_S before it (a sine is loud twice a period)
        csum = np.concatenate(([0], np.cumsum(loud)))
        idx = np.arange(tail, len(joined))
        live = (csum[idx + 1] - csum[np.maximum(idx + 1 - span, 0)]) > 0
        was = bool(self.state.ovp) if self.state.ovp is not None else bool(live[0])
        flips = np.flatnonzero(live != np.concatenate(([was], live[:-1])))
        self._out_tail = joined[-span:]
        windows: list[tuple[float, float]] = []
        for k in moved:
            t = t0 + k * OVERVIEW_S
            windows.append((t - OVERVIEW_S, t + OVERVIEW_S + ZOOM_AFTER_S))
        for k in flips:
            t = t0 + k * OVERVIEW_S
            windows.append((t - (span + 1) * OVERVIEW_S, t + OVERVIEW_S) if not live[k]
                           else (t - OVERVIEW_S, t + 2 * OVERVIEW_S))
        loud_times = t0 + (np.flatnonzero(np.abs(out) > LIVE_V)) * OVERVIEW_S
        for a, b in _merge(windows):
            if self.state.ovp:   # the overview saw the sine up to here: no zoom has to find it again
                prior = loud_times[loud_times < a - OVERVIEW_S]
                if len(prior):
                    self.state.last_live_s = max(self.state.last_live_s, float(prior[-1]))
            self._zoom(max(a, self.read_until_s - (span + 1) * OVERVIEW_S), b)
        if self.state.ovp and len(loud_times):
            self.state.last_live_s = max(self.state.last_live_s, float(loud_times[-1]))

    # --- the zoom ----------------------------------------------------------------------------
    def _read(self, channel: int, a: float, b: float) -> Waveform:
        n = max(1, min(int(math.ceil((b - a) / ZOOM_S)), MAX_POINTS))
        self.zooms += 1
        return self.scope.window(channel, a, n * ZOOM_S, n)

    def _learn(self, a: float, b: float) -> None:
        cp = self._read(self.cp_channel, a, b)
        out = self._read(self.output_channel, a, b)
        n = min(cp.acquired, out.acquired)
        s, o = cp.values[:n], out.values[:n]
        high = s[s >= LOW_V]
        self.state.cph = float(np.median(high)) if len(high) else float(np.median(s)) if n else 0.0
        lows = s < LOW_V
        self.state.pwm = bool(lows.any() and (~lows).any())
        loud = np.flatnonzero(np.abs(o) > LIVE_V)
        self.state.ovp = bool(len(loud))
        if len(loud):
            self.state.last_live_s = cp.t0_s + loud[-1] * ZOOM_S
        if self.state.pwm:
            self.state.duty = _duty(s, cp.t0_s)
        self._last_mean = float(np.mean(s[-int(OVERVIEW_S / ZOOM_S):])) if n else None

    def _zoom(self, a: float, b: float) -> None:
        cp = self._read(self.cp_channel, a, b)
        out = self._read(self.output_channel, a, b)
        n = min(cp.acquired, out.acquired)
        self._cp_edges(cp.values[:n], cp.t0_s)
        self._out_edges(out.values[:n], out.t0_s)
        self.edges.sort(key=lambda e: e.t_s)

    def _emit(self, t: float, channel: Channel, value: str) -> None:
        self.edges.append(Edge(t, channel, value))

    def _cp_edges(self, s: np.ndarray, t0: float) -> None:
        """Segments of the positive and negative half, then the high level inside the positive ones."""
        st = self.state
        n = len(s)
        if n == 0:
            return
        low = s < LOW_V
        flips = np.flatnonzero(low[1:] != low[:-1]) + 1
        bounds = np.concatenate(([0], flips, [n]))
        events: list[tuple[float, Channel, str]] = []
        segments = [(int(bounds[k]), int(bounds[k + 1]), bool(low[bounds[k]])) for k in range(len(bounds) - 1)]
        for k, (a, b, is_low) in enumerate(segments):
            t_a, dur = t0 + a * ZOOM_S, (b - a) * ZOOM_S
            first, last = k == 0, k == len(segments) - 1
            if is_low:
                if dur > PERIOD_MAX_S:   # negative for longer than a period: state F (or generator below 0)
                    level = float(np.median(s[a:b]))
                    if st.pwm:
                        st.pwm = False
                        events.append((t_a, Channel.PWM, "0"))
                    if st.cph is None or abs(level - st.cph) > CPH_STEP_V:
                        st.cph = level
                        events.append((t_a, Channel.CPH, f"{level:.2f}"))
                    continue
                if first or last or k == 1:
                    continue     # a period needs its positive half before and the rise after
                ha, hb, _ = segments[k - 1]
                high_s = (hb - ha) * ZOOM_S
                duty = 100.0 * high_s / (high_s + dur)
                if not st.pwm:
                    # the first fall of this run of periods: the first instant the PWM shows.  Its positive
                    # half before looks like the DC level it follows, and a generator may start in either
                    # half, so the start is stamped at the fall, never before the PWM began: up to one
                    # period late (PartsCpEmulator.PWM_START_HIDDEN_S), never early
                    j = k
                    while j >= 3 and segments[j - 2][2] and (segments[j - 1][1] - segments[j - 1][0]) * ZOOM_S \
                            <= PERIOD_MAX_S and (segments[j - 2][1] - segments[j - 2][0]) * ZOOM_S <= PERIOD_MAX_S:
                        j -= 2
                    start = t0 + segments[j][0] * ZOOM_S
                    st.pwm = True
                    st.duty = duty
                    events.append((start, Channel.PWM, "1"))
                    events.append((start, Channel.DUTY, f"{duty:.2f}"))
                elif st.duty is None or abs(duty - st.duty) > DUTY_STEP_PCT:
                    st.duty = duty
                    events.append((t0 + ha * ZOOM_S, Channel.DUTY, f"{duty:.2f}"))
            else:
                if st.pwm and dur > PERIOD_MAX_S and not first:
                    st.pwm = False           # positive for longer than a period: DC again
                    events.append((t_a, Channel.PWM, "0"))
                inner = s[a + 1:b - 1] if b - a > 4 else s[a:b]   # the samples on an edge may sit between levels
                if len(inner) < 3:
                    continue
                levels = inner
                jumps = np.flatnonzero(np.abs(np.diff(levels)) > CPH_STEP_V) + 1
                starts = np.concatenate(([0], jumps))
                ends = np.concatenate((jumps, [len(levels)]))
                for j, end in zip(starts, ends):
                    # the level after a step: the first three settled samples (a sample straddling the
                    # step is a mean of both levels, so the one after it may still be off by 0.16 V)
                    settled = [k for k in range(j, min(j + SETTLE_SAMPLES, end - 2))
                               if np.ptp(levels[k:k + 3]) <= CPH_STEP_V / 2]
                    if not settled:
                        continue
                    level = float(np.mean(levels[settled[0]:settled[0] + 3]))
                    if st.cph is None or abs(level - st.cph) > CPH_STEP_V:
                        st.cph = level
                        offset = a + (1 if b - a > 4 else 0) + int(j)
                        when = t_a if j == 0 else t0 + offset * ZOOM_S
                        events.append((when, Channel.CPH, f"{level:.2f}"))
        for t, channel, value in events:
            self._emit(t, channel, value)

    def _out_edges(self, o: np.ndarray, t0: float) -> None:
        st = self.state
        loud = np.flatnonzero(np.abs(o) > LIVE_V)
        times = t0 + loud * ZOOM_S
        if len(times):
            previous = np.concatenate(([st.last_live_s], times[:-1]))
            for k in np.flatnonzero(times - previous > DEAD_S):
                if st.ovp and math.isfinite(previous[k]):
                    self._emit(float(previous[k]) + ZOOM_S, Channel.OVP, "0")
                st.ovp = True
                self._emit(float(times[k]), Channel.OVP, "1")
            if not st.ovp:
                st.ovp = True
                self._emit(float(times[0]), Channel.OVP, "1")
            st.last_live_s = float(times[-1])
        end = t0 + len(o) * ZOOM_S
        if st.ovp and end - st.last_live_s > DEAD_S:
            st.ovp = False
            self._emit(st.last_live_s + ZOOM_S, Channel.OVP, "0")


def _duty(s: np.ndarray, t0: float) -> float | None:
    low = s < LOW_V
    rises = np.flatnonzero(~low[1:] & low[:-1]) + 1
    falls = np.flatnonzero(low[1:] & ~low[:-1]) + 1
    if len(rises) < 2:
        return None
    a, b = rises[-2], rises[-1]
    inside = falls[(falls > a) & (falls < b)]
    return 100.0 * (inside[0] - a) / (b - a) if len(inside) else None


def _merge(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out

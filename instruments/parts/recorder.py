"""Edges out of a scope's stopped records: CP level, PWM, duty and the contactor, on the scope's timebase.

A running InfiniiVision gives only its measurement record (instruments/facts/keysight-infiniivision.toml),
so the recorder reads the acquisition record as a real one allows: it stops the scope, reads what the
record holds since the last read, and runs it again (a new record begins where this one ended).  A record
is read in three kinds of read, so that hours of charging cost little to transfer:

1. an **overview**: decimated reads (`OVERVIEW_POINTS` buckets, each the last sample in it, M924x guide
   p. 1171) at an interval of `OVERVIEW_PERIODS` PWM periods: 5 and the golden section's smaller part, so
   that the points' phases in the PWM spread as evenly as a rotation can.  A half of the period that
   takes a fraction f of it is missed by at most `longest_run(1 - f)` points in a row (2 at 50 % duty,
   33 at 4 or 96 %), so PWM stopping shows within a few points at the duties a vehicle is offered, and
   the vehicle-side sine shows in one of every two points (they are never both within 0.2 ms of a zero
   crossing, 45 … 65 Hz);
2. each overview point is checked against the state known (the CP level, PWM or not, the contactor);
   where it disagrees, the change is **located** by probes (every sample over `PROBE_PERIODS` periods),
   halving the interval down to `LOCATE_S`, and that stretch is **zoomed** (read sample by sample), from
   which the edges come;
3. the duty, which single samples cannot tell, is probed at the record's end, and a change located the
   same way; the record's last milliseconds are always zoomed, and kept so the next record joins on.

The resolution of every edge is the sample interval (`ZOOM_S`, 2 µs) plus what the signal itself hides:
a vehicle switching during the PWM's negative half shows at the next positive one (≤ 1 ms later), a PWM
start at its first fall (≤ 1 ms later), and the contactor opening near a zero crossing once the sine
would have passed `LIVE_V` (≤ 0.2 ms at 230 V).  What the overview can miss, and the docs say so: a CP
level held for less than one overview interval (5.4 ms), PWM off for less than `longest_run` of them
at the duty offered (16 ms at 50 %, 180 ms at 96 %), PWM on for less than `RUN_MAX` of them (180 ms),
and a duty that changes and changes back within one record (between two reads).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import InstrumentOperationError
from core.types import Channel, Edge
from instruments.scope import Scope, Waveform

ZOOM_S = 2e-6
"""The record's sample interval: every sample of a zoom (the virtual scope's SCOPE_SAMPLE_S)."""
OVERVIEW_POINTS = 1000
OVERVIEW_PERIODS = 5 + (3 - math.sqrt(5)) / 2
"""An overview point every 5.382 PWM periods (5.38 ms at 1 kHz): the phase turns by the golden section."""
DUTY_MIN = 0.04
"""The narrowest half of a PWM the overview is bound to see (4 … 96 % duty)."""
PROBE_PERIODS = 2.3
"""A probe holds two rises whatever its phase: a period, its duty and its levels."""
LOCATE_S = 4e-3
ZOOM_BEFORE_S = 1.5e-3
ZOOM_AFTER_S = 3e-3
"""A zoom reaches this far past a change located: two PWM periods at least."""
CP_MOVE_V = 0.08
"""An overview point this far from the level known disagrees with it (noise is ~5 mV a sample)."""
CPH_STEP_V = 0.3
"""A CP high-level change reported as an edge (the board protocol's threshold)."""
SETTLE_S = 0.01
SETTLE_POLLS = 20
"""How a new record is waited for before its state is learnt: 10 ms (ten PWM periods) at a time, up to
0.2 s."""
LOW_V = -2.0
"""CP below this is the generator's negative half (or state F): every high level is ≥ 0 V."""
LIVE_V = 20.0
"""|vehicle-side voltage| above this is the supply's sine: the contactor is closed."""
DEAD_S = 0.012
"""No sample above LIVE_V for this long (more than half a period at 45 Hz): the output is dead."""
PERIOD_MAX_S = 1.1e-3
"""A positive or negative stretch longer than this is not PWM (1 kHz ± 2 %, IEC 61851-1 Table A.7)."""
DUTY_STEP_PCT = 0.3
PROBE_DUTY_PCT = 0.5
"""A probe's duty this far from the one known is a change: DUTY_STEP_PCT and a sample at each edge."""
PERIOD_MIN_S = 0.9e-3
TAIL_S = 4e-3
"""The last samples of a record kept to join the next: two PWM periods, for the segments of the first."""
SETTLE_SAMPLES = 4
"""How many samples after a CP step the level may take to settle within CPH_STEP_V / 2."""


@dataclass
class _State:
    cph: float | None = None
    pwm: bool | None = None
    duty: float | None = None
    ovp: bool | None = None
    last_live_s: float = -math.inf


@dataclass(frozen=True)
class _Probe:
    """What every sample over a few periods says: PWM or a DC level, the high level, the duty."""

    pwm: bool
    level: float
    duty: float | None


@dataclass
class ScopeRecorder:
    """Follows a scope's records (stop, read, run), turning what they show into edges."""

    scope: Scope
    cp_channel: int
    output_channel: int
    edges: list[Edge] = field(default_factory=list)
    state: _State = field(default_factory=_State)
    read_until_s: float = 0.0
    zooms: int = 0
    period_s: float = 1e-3
    """The PWM's period, measured (the overview's interval follows it, so its walk stays a walk)."""
    gaps: list[tuple[float, float]] = field(default_factory=list)
    """Stretches no record holds (between a `:STOP` and the next record's first sample)."""
    _known_s: float = 0.0
    _record_s: float = 0.0
    _last_low_s: float = 0.0
    _last_high_s: float = 0.0
    _quiet: int = 0
    _suspect_s: float | None = None
    _tail: dict[int, Waveform] = field(default_factory=dict)
    _keeps: list[tuple[int, float, float]] = field(default_factory=list)
    _kept: dict[int, list[Waveform]] = field(default_factory=dict)
    _emit_from: float = -math.inf
    _learning: bool = False
    paused: bool = False
    """A single triggered acquisition holds the scope: reads wait until `restart`."""
    _offset_s: float = 0.0
    """This recorder's time minus the scope's: 0 until a single acquisition made the scope begin a new
    timebase (`restart`)."""

    @property
    def memory_s(self) -> float:
        """How far back the scope's record reaches at the zoom's sample interval, on the channel that
        holds the least (a pair's memory is shared by its displayed channels): older samples are
        overwritten."""
        channels = self.scope.displayed or {self.cp_channel, self.output_channel}
        return min(self.scope.channel_memory_points(c) for c in channels) * ZOOM_S

    @property
    def keep_up_s(self) -> float:
        """How often the record must be read while a test waits, so nothing rolls out of the memory
        unread: a quarter of it is left for the read itself."""
        return 0.75 * self.memory_s

    def keep_up_with(self, channel: int) -> float:
        """`keep_up_s` while `channel` is shown too (it takes half of its pair's memory)."""
        shown = (self.scope.displayed or frozenset({self.cp_channel, self.output_channel})) | {channel}
        return 0.75 * min(self.scope.channel_memory_points(c, shown) for c in shown) * ZOOM_S

    # --- following ---------------------------------------------------------------------------
    def start(self) -> float:
        """Begin following from now: the state there is learnt, not reported as edges (at the first
        read whose record holds a few periods: one just begun holds nothing yet)."""
        self._learning = True
        return self.update()

    def update(self) -> float:
        """Read the record up to its newest sample; returns the scope time up to which edges are known
        (the record's end: found from the holes after it, so no separate "now" is asked).  While a single
        acquisition holds the scope (`paused`), nothing is read: the time known is the last one read."""
        if self.paused:
            return self.read_until_s
        self.scope.stop()
        try:
            end = self._learn_record() if self._learning else self._read_record()
            self._read_keeps(end)
        finally:
            self.scope.run()
        self.read_until_s = self._record_s = end
        return end

    def _window(self, channel: int, start_s: float, span_s: float, points: int | None) -> Waveform:
        """`Scope.window` on this recorder's time."""
        wave = self.scope.window(channel, start_s - self._offset_s, span_s, points)
        return Waveform(wave.channel, wave.t0_s + self._offset_s, wave.dt_s, wave.values)

    def restart(self, after_s: float) -> None:
        """The scope left its running record for a single acquisition and runs a new one on a new
        timebase (the stricter reading: a roll record's time origin does not survive a change of time
        base mode).  Follow it afresh, its time 0 taken as `after_s`, later than every time known before,
        so that times only grow; what happened in between is a gap no record holds (`gaps`): no
        verdict may take a difference across it."""
        gaps, period, before = self.gaps, self.period_s, self.read_until_s
        self.__dict__.update(ScopeRecorder(self.scope, self.cp_channel, self.output_channel).__dict__)
        self.gaps, self.period_s, self._offset_s = gaps, period, after_s
        self.read_until_s = self._record_s = self._known_s = after_s
        self.gaps.append((before, after_s))
        self.start()

    def settle(self, wait: Callable[[float], None]) -> None:
        """After `restart`, before the rig acts again: let the new record hold a few PWM periods
        (SETTLE_S at a time, on the instrument's clock) and learn the state from them.  A first read
        that came only after the next action would learn the state that action left, and the edges it
        caused would be lost (a PWM starting 0.1 s after a vehicle's plug-in, unseen)."""
        for _ in range(SETTLE_POLLS):
            if not self._learning:
                return
            wait(SETTLE_S)
            self.update()
        if self._learning:
            raise InstrumentOperationError("scope", f"the scope's new record held no sample on channel "
                                                    f"{self.cp_channel} {SETTLE_POLLS * SETTLE_S:g} s after :RUN")

    def _learn_record(self) -> float:
        try:
            end = self.scope.now(self.read_until_s - self._offset_s) + self._offset_s
        except InstrumentOperationError:
            return self.read_until_s        # nothing acquired yet: learn at the next read
        self._record_s = max(self.read_until_s, end - 4 * PERIOD_MAX_S)
        self._learn(self._record_s, end)
        self._known_s = self._last_low_s = self._last_high_s = end
        self._learning = False
        return end

    def keep(self, channel: int, start_s: float, end_s: float) -> None:
        """Keep every sample of `channel` over [start_s, end_s] as the records pass (a step looked for
        later: a record run over is gone)."""
        self._keeps.append((channel, start_s, end_s))

    def kept(self, channel: int, start_s: float, end_s: float) -> Waveform:
        """The samples kept of `channel` over [start_s, end_s], holes where no record held them."""
        n = max(1, int(round((end_s - start_s) / ZOOM_S)))
        values = np.full(n, np.nan)
        for wave in self._kept.get(channel, []):
            k0 = int(round((wave.t0_s - start_s) / ZOOM_S))
            lo, hi = max(0, k0), min(n, k0 + len(wave.values))
            if hi > lo:
                values[lo:hi] = wave.values[lo - k0:hi - k0]
        return Waveform(channel, start_s, ZOOM_S, values)

    def _read_keeps(self, end: float) -> None:
        still = []
        for channel, a, b in self._keeps:
            lo, hi = max(a, self._record_s), min(b, end)
            if hi > lo:
                wave = self._window(channel, lo, hi - lo, None)
                first, stop = _held(wave.values)
                self._kept.setdefault(channel, []).append(
                    Waveform(channel, wave.t0_s + first * wave.dt_s, wave.dt_s, wave.values[first:stop]))
            if b > end:
                still.append((channel, a, b))
        self._keeps = still
        kept_from = end - 60.0
        for channel, waves in self._kept.items():
            self._kept[channel] = [w for w in waves if w.end_s >= kept_from]

    # --- one record --------------------------------------------------------------------------
    def _read_record(self) -> float:
        """The overview's points, checked against the state; then the record's last stretch, whose
        every sample also tells the duty and finds the record's end."""
        delta = OVERVIEW_PERIODS * self.period_s
        t = self.read_until_s
        last_t: float | None = None
        first = True
        while True:
            cp = self._window(self.cp_channel, t, OVERVIEW_POINTS * delta, OVERVIEW_POINTS)
            out = self._window(self.output_channel, t, OVERVIEW_POINTS * delta, OVERVIEW_POINTS)
            a, b = _held(cp.values)
            a_out, b_out = _held(out.values)
            a, b = max(a, a_out), min(b, b_out)
            if first and a > 0 and b > a:
                self._gap(cp.t0_s + a * cp.dt_s)
            first = False
            if b > a:
                times = cp.t0_s + (np.arange(a, b) + 1) * cp.dt_s
                self._check(times, cp.values[a:b], out.values[a:b], delta)
                last_t = float(times[-1])
            if b < OVERVIEW_POINTS:
                break
            t = cp.t0_s + OVERVIEW_POINTS * cp.dt_s
        reach = PROBE_PERIODS * self.period_s + ZOOM_S
        newest = last_t if last_t is not None else self._record_s
        z0 = max(self._record_s - TAIL_S, newest - reach)
        t0, s = self._samples(self.cp_channel, z0, newest + 2 * delta)
        end = t0 + len(s) * ZOOM_S if len(s) else max(self._known_s, self._record_s)
        cp_read: tuple[float, np.ndarray] | None = (t0, s)
        if len(s) * ZOOM_S >= reach - ZOOM_S and end - reach > self._known_s:
            if not self._same(_summary(s[-int(reach / ZOOM_S):])):    # the duty, or a change not yet overdue
                lo, hi = self._locate(self._known_s, end - reach)
                self._zoom(lo - ZOOM_BEFORE_S, hi + ZOOM_AFTER_S)
                cp_read = None           # the tail it keeps must follow what that zoom left
        return self._zoom(z0, end, keep_tail=True, cp_read=cp_read) if end > self._known_s else end

    def _gap(self, record_from: float) -> None:
        """The record began after the last one ended: what happened between is in no record."""
        self.gaps.append((self.read_until_s, record_from))
        self._record_s = record_from
        self._known_s = max(self._known_s, record_from)
        self._tail.clear()

    def _check(self, times: np.ndarray, cp: np.ndarray, out: np.ndarray, delta: float) -> None:
        """Walk the overview points, each against the state known; where one disagrees, find the
        change and zoom on it, then go on from there with the state the zoom leaves."""
        k = 0
        while k < len(times):
            live = times > self._known_s
            live[:k] = False
            j = self._disagreement(times, cp, out, live, delta)
            if j is None:
                self._carry(times, cp, out, live)
                return
            self._carry(times[:j], cp[:j], out[:j], live[:j])
            self._resolve(times, cp, out, j, delta)
            k = j + 1

    def _disagreement(self, times: np.ndarray, cp: np.ndarray, out: np.ndarray, live: np.ndarray,
                      delta: float) -> int | None:
        """The first point (among `live`) that the state known cannot explain, or None."""
        st = self.state
        found: list[int] = []
        loud = np.abs(out) > LIVE_V
        idx = np.flatnonzero(live)
        if not len(idx):
            return None
        if st.ovp:
            quiet = ~loud[idx]
            run_before = np.concatenate(([self._quiet > 0], quiet[:-1]))
            hits = np.flatnonzero(quiet & run_before)
        else:
            hits = np.flatnonzero(loud[idx])
        if len(hits):
            found.append(int(idx[hits[0]]))
        v = cp[idx]
        low = v < LOW_V
        cph = st.cph if st.cph is not None else float(v[0])
        if st.pwm:
            high_pos = np.flatnonzero(~low)
            off = np.abs(v[high_pos] - cph) > CP_MOVE_V
            pending = self._suspect_s is not None
            pairs = np.flatnonzero(off & np.concatenate(([pending], off[:-1])))
            if len(pairs):
                found.append(int(idx[high_pos[pairs[0]]]))
            for mask, last, limit in ((low, self._last_low_s, self._gap_s(False, delta)),
                                      (~low, self._last_high_s, self._gap_s(True, delta))):
                seen = times[idx][mask]
                marks = np.concatenate(([last], seen))
                late = np.flatnonzero(np.diff(np.concatenate((marks, [np.inf]))) > limit)
                if len(late):
                    # the first point more than `limit` after the last one of this half
                    after = marks[late[0]] + limit
                    beyond = np.flatnonzero(times[idx] > after)
                    if len(beyond):
                        found.append(int(idx[beyond[0]]))
        else:
            moved = np.flatnonzero(np.abs(v - cph) > CP_MOVE_V)
            if len(moved):
                found.append(int(idx[moved[0]]))
        return min(found) if found else None

    def _carry(self, times: np.ndarray, cp: np.ndarray, out: np.ndarray, live: np.ndarray) -> None:
        """What the points agreeing with the state leave for the next ones: the last of each PWM half,
        a run of quiet output points, the sine last seen, a high level that may be moving."""
        idx = np.flatnonzero(live)
        if not len(idx):
            return
        st = self.state
        t, v, o = times[idx], cp[idx], out[idx]
        low = v < LOW_V
        if low.any():
            self._last_low_s = float(t[low][-1])
        if (~low).any():
            self._last_high_s = float(t[~low][-1])
            if st.pwm and st.cph is not None:
                last_high = v[~low][-1]
                self._suspect_s = float(t[~low][-1]) if abs(last_high - st.cph) > CP_MOVE_V else None
        loud = np.abs(o) > LIVE_V
        if loud.any():
            quiet_tail = len(loud) - 1 - int(np.flatnonzero(loud)[-1])
            self._quiet = quiet_tail
            if st.ovp:
                st.last_live_s = max(st.last_live_s, float(t[loud][-1]) - ZOOM_S)
        else:
            self._quiet += len(loud)

    def _resolve(self, times: np.ndarray, cp: np.ndarray, out: np.ndarray, j: int, delta: float) -> None:
        tk = float(times[j])
        st = self.state
        if st.ovp and abs(out[j]) <= LIVE_V or not st.ovp and abs(out[j]) > LIVE_V:
            back = (self._quiet + 2) * delta if st.ovp else 2 * delta
            self._zoom(max(self._known_s, tk - back), tk)
        if self._disagrees_cp(float(cp[j])) or tk > self._known_s and self._pwm_overdue(tk, delta):
            since = self._suspect_s if self._suspect_s is not None else tk
            lo, hi = self._locate(max(self._known_s, since - (RUN_MAX + 2) * delta), tk)
            self._zoom(lo - ZOOM_BEFORE_S, hi + ZOOM_AFTER_S)
        self._suspect_s = None
        self._last_low_s = self._last_high_s = max(self._known_s, tk)
        self._quiet = 0 if abs(out[j]) > LIVE_V else 1

    def _disagrees_cp(self, v: float) -> bool:
        st = self.state
        if st.cph is None:
            return True
        if st.pwm:
            return v >= LOW_V and abs(v - st.cph) > CP_MOVE_V
        return abs(v - st.cph) > CP_MOVE_V

    def _pwm_overdue(self, tk: float, delta: float) -> bool:
        return bool(self.state.pwm) and (tk - self._last_low_s > self._gap_s(False, delta)
                                         or tk - self._last_high_s > self._gap_s(True, delta))

    def _gap_s(self, high: bool, delta: float) -> float:
        """The longest the overview may go without a point in one half of the PWM known (its duty, or
        the narrowest it is bound to see), and two points to spare for the period's measurement."""
        duty = self.state.duty / 100.0 if self.state.duty is not None else DUTY_MIN
        fraction = duty if high else 1.0 - duty
        return (longest_run(1.0 - max(DUTY_MIN, min(1.0 - DUTY_MIN, fraction))) + 3) * delta

    # --- locating and zooming ----------------------------------------------------------------
    def _samples(self, channel: int, a: float, b: float) -> tuple[float, np.ndarray]:
        """Every sample of `channel` over [a, b] the record holds, joined to the last record's tail when
        `a` reaches before this record (and the two meet)."""
        lo = max(a, self._record_s)
        values = np.zeros(0)
        t0 = lo
        if b > lo:
            self.zooms += 1
            wave = self._window(channel, lo, b - lo, None)
            first, stop = _held(wave.values)
            values, t0 = wave.values[first:stop], wave.t0_s + first * wave.dt_s
        tail = self._tail.get(channel)
        if a < self._record_s and tail is not None and len(tail.values):
            t_new = t0 if len(values) else self._record_s
            gap = int(round((t_new - tail.end_s) / ZOOM_S))
            k = max(0, int(math.floor((a - tail.t0_s) / ZOOM_S + 1e-9)))
            keep = tail.values[k:]
            if 0 <= gap <= 2 and len(keep):     # the sample running at :STOP is lost: held over
                fill = np.full(gap if len(values) else 0, keep[-1])
                values = np.concatenate((keep, fill, values))
                t0 = tail.t0_s + k * ZOOM_S
        return t0, values

    def _probe(self, t: float) -> _Probe | None:
        reach = PROBE_PERIODS * self.period_s
        _, s = self._samples(self.cp_channel, t, t + reach)
        if len(s) * ZOOM_S < 0.9 * reach:
            return None
        return _summary(s)

    def _same(self, p: _Probe) -> bool:
        st = self.state
        if st.cph is None or st.pwm is None:
            return False
        if bool(st.pwm) != p.pwm or abs(p.level - st.cph) > CPH_STEP_V / 2:
            return False
        return not (p.pwm and st.duty is not None and p.duty is not None
                    and abs(p.duty - st.duty) > PROBE_DUTY_PCT)

    def _locate(self, lo: float, hi: float) -> tuple[float, float]:
        """Halve [lo, hi] (the state known at lo, something else by hi) down to LOCATE_S with probes."""
        while hi - lo > LOCATE_S:
            mid = 0.5 * (lo + hi)
            p = self._probe(mid)
            if p is None or self._same(p):
                lo = mid
            else:
                hi = mid
        return lo, hi

    def _zoom(self, a: float, b: float, keep_tail: bool = False,
              cp_read: tuple[float, np.ndarray] | None = None) -> float:
        """Every sample of [a, b] on both channels, into edges; returns where the samples end.
        `cp_read`: CP's samples of that window, read already."""
        t_cp, cp = cp_read if cp_read is not None else self._samples(self.cp_channel, a, b)
        t_out, out = self._samples(self.output_channel, a, b)
        if not len(cp) or not len(out):
            return max(self._known_s, a)
        start = max(t_cp, t_out)
        n = int(min(len(cp) - round((start - t_cp) / ZOOM_S), len(out) - round((start - t_out) / ZOOM_S)))
        cp = cp[int(round((start - t_cp) / ZOOM_S)):][:n]
        out = out[int(round((start - t_out) / ZOOM_S)):][:n]
        self._emit_from = self._known_s      # what is known was reported: earlier samples are context
        self._cp_edges(cp, start)
        # the contactor's state needs no context (the sine last seen is in the state): only new samples
        fresh = max(0, min(n, int(math.ceil((self._known_s - start) / ZOOM_S - 1e-9))))
        self._out_edges(out[fresh:], start + fresh * ZOOM_S)
        self.edges.sort(key=lambda e: e.t_s)
        self._measure_period(cp)
        end = start + n * ZOOM_S
        self._known_s = max(self._known_s, end)
        if keep_tail:
            m = int(TAIL_S / ZOOM_S)
            self._tail = {self.cp_channel: Waveform(self.cp_channel, end - len(cp[-m:]) * ZOOM_S, ZOOM_S, cp[-m:]),
                          self.output_channel: Waveform(self.output_channel, end - len(out[-m:]) * ZOOM_S, ZOOM_S,
                                                        out[-m:])}
        return end

    def _measure_period(self, s: np.ndarray) -> None:
        low = s < LOW_V
        rises = np.flatnonzero(~low[1:] & low[:-1]) + 1
        if len(rises) >= 3:
            period = float(rises[-1] - rises[0]) / (len(rises) - 1) * ZOOM_S
            if PERIOD_MIN_S <= period <= PERIOD_MAX_S:
                self.period_s = period

    def _learn(self, a: float, b: float) -> None:
        t_cp, s = self._samples(self.cp_channel, a, b)
        t_out, o = self._samples(self.output_channel, a, b)
        high = s[s >= LOW_V]
        self.state.cph = float(np.median(high)) if len(high) else float(np.median(s)) if len(s) else 0.0
        lows = s < LOW_V
        self.state.pwm = bool(lows.any() and (~lows).any())
        loud = np.flatnonzero(np.abs(o) > LIVE_V)
        self.state.ovp = bool(len(loud))
        if len(loud):
            self.state.last_live_s = t_out + loud[-1] * ZOOM_S
        if self.state.pwm:
            self.state.duty = _duty(s, t_cp)
            self._measure_period(s)
        m = int(TAIL_S / ZOOM_S)
        self._tail = {self.cp_channel: Waveform(self.cp_channel, t_cp + (len(s) - len(s[-m:])) * ZOOM_S, ZOOM_S, s[-m:]),
                      self.output_channel: Waveform(self.output_channel, t_out + (len(o) - len(o[-m:])) * ZOOM_S,
                                                    ZOOM_S, o[-m:])}

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
        events: list[tuple[float, Channel, str, float]] = []   # with the instant the samples decided it
        segments = [(int(bounds[k]), int(bounds[k + 1]), bool(low[bounds[k]])) for k in range(len(bounds) - 1)]
        for k, (a, b, is_low) in enumerate(segments):
            t_a, dur = t0 + a * ZOOM_S, (b - a) * ZOOM_S
            first, last = k == 0, k == len(segments) - 1
            if is_low:
                if dur > PERIOD_MAX_S:   # negative for longer than a period: state F (or generator below 0)
                    level = float(np.median(s[a:b]))
                    if st.pwm:
                        st.pwm = False
                        events.append((t_a, Channel.PWM, "0", t_a + PERIOD_MAX_S))
                    if st.cph is None or abs(level - st.cph) > CPH_STEP_V:
                        st.cph = level
                        events.append((t_a, Channel.CPH, f"{level:.2f}", t_a + PERIOD_MAX_S))
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
                    events.append((start, Channel.PWM, "1", t0 + b * ZOOM_S))
                    events.append((start, Channel.DUTY, f"{duty:.2f}", t0 + b * ZOOM_S))
                elif st.duty is None or abs(duty - st.duty) > DUTY_STEP_PCT:
                    st.duty = duty
                    events.append((t0 + ha * ZOOM_S, Channel.DUTY, f"{duty:.2f}", t0 + b * ZOOM_S))
            else:
                if st.pwm and dur > PERIOD_MAX_S:
                    st.pwm = False           # positive for longer than a period: DC again
                    events.append((t_a, Channel.PWM, "0", t_a + PERIOD_MAX_S))
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
                        decided = t0 + (a + (1 if b - a > 4 else 0) + settled[0] + 3) * ZOOM_S
                        events.append((when, Channel.CPH, f"{level:.2f}", decided))
        for t, channel, value, decided in events:
            if decided > self._emit_from:   # samples read before decided it already: a re-read is context
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
            st.last_live_s = max(st.last_live_s, float(times[-1]))
        end = t0 + len(o) * ZOOM_S
        if st.ovp and end - st.last_live_s > DEAD_S:
            st.ovp = False
            self._emit(st.last_live_s + ZOOM_S, Channel.OVP, "0")


def opening_in(out: Waveform, after_s: float) -> float:
    """Where the output left the supply's sine in one record, by the rule `OVP 0` follows in a roll
    record: the sample after the last one above LIVE_V that no other follows within DEAD_S (nor before
    the record's end).  The first such whose dead stretch reaches past `after_s` (a contactor opening
    just after a zero crossing shows its last live sample up to 0.2 ms before it); inf while the output
    is live to the record's end; the record's start if nothing in it was live."""
    live = np.flatnonzero(np.abs(np.nan_to_num(out.values)) > LIVE_V)
    if not len(live):
        return out.t0_s
    times = out.t0_s + live * out.dt_s
    end = out.t0_s + len(out.values) * out.dt_s
    dead = np.diff(np.append(times, end)) > DEAD_S
    openings = times[dead] + out.dt_s
    openings = openings[openings + DEAD_S > after_s]
    return float(openings[0]) if len(openings) else math.inf


SINE_GAP_S = 1e-3
"""The longest a live sine stays under LIVE_V about a zero crossing (0.43 ms at 45 Hz and 207 V rms),
doubled: a record that starts dead for longer than this was dead, not crossing zero."""


def closing_in(out: Waveform, after_s: float) -> float:
    """Where the output joined the supply's sine in one record, by the rule `OVP 1` follows in a roll
    record: the first sample above LIVE_V at or after `after_s` that no other precedes within DEAD_S,
    inf if none.  The record's first live sample counts only where more than SINE_GAP_S of the record
    before it is dead: live from its start, the output was closed before the record began."""
    live = np.flatnonzero(np.abs(np.nan_to_num(out.values)) > LIVE_V)
    if not len(live):
        return math.inf
    times = out.t0_s + live * out.dt_s
    joins = times[1:][np.diff(times) > DEAD_S]
    if live[0] * out.dt_s > SINE_GAP_S:
        joins = np.concatenate((times[:1], joins))
    joins = joins[joins >= after_s]
    return float(joins[0]) if len(joins) else math.inf


def low_level_in(cp: Waveform, after_s: float) -> tuple[float, float] | None:
    """Where CP went to a negative DC level (state F) in one record, by the rule a roll record stamps
    it: the start of the first stretch below LOW_V longer than a PWM period (PERIOD_MAX_S) that ends
    at or after `after_s`; (its start, its median level), None if there is none."""
    values = np.nan_to_num(cp.values, nan=math.inf)
    low = values < LOW_V
    if not low.any():
        return None
    flips = np.flatnonzero(low[1:] != low[:-1]) + 1
    bounds = np.concatenate(([0], flips, [len(values)]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        if low[a] and (b - a) * cp.dt_s > PERIOD_MAX_S and cp.t0_s + b * cp.dt_s >= after_s:
            return cp.t0_s + int(a) * cp.dt_s, float(np.median(values[a:b]))
    return None


def _duty(s: np.ndarray, t0: float) -> float | None:
    low = s < LOW_V
    rises = np.flatnonzero(~low[1:] & low[:-1]) + 1
    falls = np.flatnonzero(low[1:] & ~low[:-1]) + 1
    if len(rises) < 2:
        return None
    a, b = rises[-2], rises[-1]
    inside = falls[(falls > a) & (falls < b)]
    return 100.0 * (inside[0] - a) / (b - a) if len(inside) else None


@functools.lru_cache(maxsize=None)
def _longest_run_pct(percent: int) -> int:
    turn = OVERVIEW_PERIODS % 1.0
    k = np.arange(400)
    phases = (np.linspace(0.0, 1.0, 1000, endpoint=False)[:, None] + k[None, :] * turn) % 1.0
    inside = phases < percent / 100.0
    longest, run = np.zeros(len(phases), dtype=int), np.zeros(len(phases), dtype=int)
    for column in inside.T:
        run = np.where(column, run + 1, 0)
        longest = np.maximum(longest, run)
    return int(longest.max())


def longest_run(fraction: float) -> int:
    """The most overview points in a row whose phases all fall in one stretch of the PWM period taking
    `fraction` of it (rounded up to 1 %), whatever the phase of the first: how long the other half can
    go unseen."""
    return _longest_run_pct(int(math.ceil(100.0 * fraction - 1e-9)))


RUN_MAX = longest_run(1.0 - DUTY_MIN)
"""The longest the narrowest half the overview is bound to see can go unseen (33 points)."""


def _summary(s: np.ndarray) -> _Probe:
    low = s < LOW_V
    pwm = int(np.count_nonzero(low[1:] != low[:-1])) >= 3
    high = s[~low]
    level = float(np.median(high)) if len(high) else float(np.median(s))
    return _Probe(pwm, level, _duty(s, 0.0) if pwm else None)


def _held(values: np.ndarray) -> tuple[int, int]:
    """The points a read holds: from the first acquired one to the last (holes before a record's start
    and after its end)."""
    held = np.flatnonzero(~np.isnan(values))
    return (int(held[0]), int(held[-1]) + 1) if len(held) else (0, 0)

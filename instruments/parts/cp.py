"""The vehicle's CP/PP circuit from bought parts: a switch unit and an oscilloscope.

The switch builds the vehicle side of IEC 61851-1 Annex A from the resistor network in the rig
file's `[wiring]`; the scope measures CP (levels, frequency, duty) and is the one timebase of
every edge: the vehicle's switching is stamped where the CP level steps, the contactor where the
vehicle-side voltage joins or leaves the supply's sine.  No time here comes from the host.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from core.uncertainty import combined, expanded_u, interval_u, lag_u
from core.errors import InstrumentOperationError, InvalidValue, RigError
from core.settings import Setting
from core.types import Channel, Edge, Reading
from instruments.base import ComposedInstrument
from instruments.facts import accuracy_bound, fact
from instruments.cp_emulator import MAX_VEHICLE_OHM, VEHICLE_STATES, Capture, CpEmulator, CpLevel, CpMeasurement
from instruments.parts.recorder import (DEAD_S, LIVE_V, LOW_V, ZOOM_S, ScopeRecorder, closing_in, low_level_in,
                                       opening_in)
from instruments.parts.wiring import CP_FUNCTIONS, CP_RESISTORS, Wiring
from instruments.scope import DECIMATED_POINTS, Scope, Waveform
from instruments.switch import KeysightDaq970, Switch

STATE_NETWORK = {"A": (), "B": ("R3",), "C": ("R3", "R2"), "D": ("R3", "R2D"), "E": ("cp_short",)}
"""Which parts of the network each vehicle state closes (IEC 61851-1:2017 Annex A)."""
CP_VOLTS_PER_DIV = 4.0
DMM = KeysightDaq970.FACTS
CP_DMM_RANGE_V = fact(DMM, "dcv_100v_range")
CP_DMM_INPUT_OHM = fact(DMM, "dcv_100v_input_ohm")
CP_SOURCE_OHM = 1030.0
"""The EVSE's generator resistor R1 at the top of its tolerance (IEC 61851-1:2017 Table A.1: 1000 Ω
± 3 %): the largest source resistance CP has, so the largest loading the DMM can cause."""
DMM_SCOPE_AGREEMENT_V = 1.0
"""How far the DMM's and the scope's reading of one DC level may differ before the rig, not the DUT, is
taken to be wrong: far wider than either's error, far narrower than a CP state's step (3 V)."""
OUTPUT_VOLTS_PER_DIV = 100.0
CAPTURE_TRIGGER_STEP_V = 1.5
"""A capture triggers where CP rises this far above the high level it had: half the 3 V between C's
6 V and B's 9 V (IEC 61851-1:2017 Table A.4), far above the scope's noise."""
CAPTURE_PRE_S = 0.01
"""The record held before the trigger: half a mains period at least, so the sine shows before the step."""
CAPTURE_LEVEL_S = 0.005
"""How much of CP after the trigger tells its new high level (five PWM periods)."""
CAPTURE_RUNT_LOW_V = 1.0
"""A runt trigger's low threshold: above the PWM's −12 V half and below state D's 3 V high level
(IEC 61851-1:2017 Table A.4), so every pulse of the PWM crosses it; the high threshold lies
CAPTURE_TRIGGER_STEP_V under the high level before the step."""
CAPTURE_HELD_S = 1.5e-3
"""A pattern trigger fires once CP has stayed above LOW_V this long: longer than any high half of a PWM
(a period is at most PERIOD_MAX_S, instruments/parts/recorder.py), so no pulse fires it; a CP that no
longer falls to the PWM's −12 V (a short to PE) fires it at most this long after the short."""
CAPTURE_FLAT_TAIL_S = 0.2e-3
"""How much of CP just before that trigger tells the level it stayed at: inside the flat stretch the
trigger proves (CAPTURE_HELD_S less a PWM's longest high half)."""
CAPTURE_POLL_S = 0.05
CAPTURE_POLLS = 20
"""After the window, how often and how long the rig asks whether the acquisition is done (1 s more)."""


CP_CHANNEL = Setting("cp_channel", int, "the scope channel probing CP", choices=(1, 2, 3, 4), default=1)
OUTPUT_CHANNEL = Setting("output_channel", int, "the scope channel probing vehicle-side L1 (through a "
                         "differential probe)", choices=(1, 2, 3, 4), default=2)
OUTPUT_PROBE = Setting("output_probe", float, "the output probe's attenuation", unit=":1", low=1.0, high=10000.0,
                       default=100.0)
_RECORDERS: weakref.WeakKeyDictionary[Scope, ScopeRecorder] = weakref.WeakKeyDictionary()


def poll(ready: Callable[[], bool], wait: Callable[[float], None], first_s: float) -> tuple[bool, float]:
    """Wait `first_s`, then ask the scope `ready` every CAPTURE_POLL_S up to CAPTURE_POLLS times: whether
    it became ready, and the time waited."""
    wait(first_s)
    waited = first_s
    for _ in range(CAPTURE_POLLS):
        if ready():
            return True, waited
        wait(CAPTURE_POLL_S)
        waited += CAPTURE_POLL_S
    return False, waited


def wait_for(role: str, ready: Callable[[], bool], wait: Callable[[float], None], first_s: float, fault: str) -> float:
    """`poll`, where a scope never ready is the rig's fault (`fault`), not the DUT's: the time waited."""
    done, waited = poll(ready, wait, first_s)
    if not done:
        raise InstrumentOperationError(role, fault)
    return waited


def recorder_for(scope: Scope, settings: Mapping[str, Any]) -> ScopeRecorder:
    """One recorder per scope: the CP emulator and fault injection read the same record."""
    recorder = _RECORDERS.get(scope)
    if recorder is None:
        cp_channel, output_channel = int(CP_CHANNEL.of(settings)), int(OUTPUT_CHANNEL.of(settings))
        scope.configure({cp_channel: (CP_VOLTS_PER_DIV, 1.0),
                         output_channel: (OUTPUT_VOLTS_PER_DIV, float(OUTPUT_PROBE.of(settings)))})
        recorder = ScopeRecorder(scope, cp_channel, output_channel)
        recorder.start()
        _RECORDERS[scope] = recorder
    return recorder


class PartsCpEmulator(ComposedInstrument, CpEmulator):
    """`CpEmulator` on a switch unit (the resistor network) and a scope (measurement and edges)."""

    parts = ("switch", "scope")
    SETTINGS = (CP_CHANNEL, OUTPUT_CHANNEL, OUTPUT_PROBE)
    wiring_functions = CP_RESISTORS + CP_FUNCTIONS

    @classmethod
    def compose(cls, parts: Mapping[str, Any], wiring: Wiring, settings: Mapping[str, Any]) -> PartsCpEmulator:
        return cls(parts["switch"], parts["scope"], wiring, settings)

    def __init__(self, switch: Switch, scope: Scope, wiring: Wiring, settings: Mapping[str, Any]) -> None:
        self.check_wiring(wiring, settings)
        self.role = "cp"
        self.switch, self.scope, self.wiring = switch, scope, wiring
        self.recorder = recorder_for(scope, settings)
        self._closed: set[str] = set()
        self._veh: list[Edge] = []
        self._capture_start = 0.0

    def watches(self) -> list[tuple[float, Any]]:
        """The scope's record is read before its memory rolls over (`ScopeRecorder.keep_up_s`)."""
        return [(self.recorder.keep_up_s, self.recorder.update)]

    def identify(self) -> str:
        """Goes into every report's provenance, with the timing resolution a reader must know."""
        return (f"parts: switch + scope (CP on channel {self.recorder.cp_channel}, vehicle-side L1 on "
                f"{self.recorder.output_channel}); edges from the scope's record at {ZOOM_S * 1e6:g} us, a vehicle "
                f"step in the PWM's negative half shows up to {self.VEHICLE_STEP_HIDDEN_S * 1e3:g} ms late, a PWM "
                f"start at its first fall up to {self.PWM_START_HIDDEN_S * 1e3:g} ms late, the contactor near a zero "
                f"crossing up to {self.ZERO_CROSSING_HIDDEN_S * 1e3:g} ms early; the contactor's opening after a "
                f"vehicle step up or a short to PE, and its closing after a step down, from one single "
                f"acquisition triggered on the step (an edge; a pattern held {CAPTURE_HELD_S * 1e3:g} ms, the "
                f"short found in the record; a runt, up to {self.RUNT_HIDDEN_S * 1e3:g} ms late)")

    VEHICLE_STEP_HIDDEN_S = 1e-3
    """A vehicle step in the PWM's negative half shows at the next positive one: up to one 1 kHz period."""
    PWM_START_HIDDEN_S = 1e-3
    """A PWM start shows at its first fall: its first positive half looks like the DC level before it, so
    the stamp is up to one 1 kHz period late (never early: an offer is never found before its cause)."""
    ZERO_CROSSING_HIDDEN_S = 0.2e-3
    """The contactor opening near a zero crossing shows once the sine would have passed LIVE_V (20 V at
    230 V rms: asin(20 / 325) / (2π · 50 Hz) ≈ 0.2 ms)."""

    @property
    def stamp_resolution_s(self) -> float:
        """The zoom's sample interval: every edge the recorder reports lies on it."""
        return ZOOM_S

    @property
    def interval_u_s(self) -> float:
        """Both stamps on the scope's sample grid (ZOOM_S), plus what the signals hide (see `identify`): a
        vehicle step shows late, a contactor near a zero crossing early, each on one side (`lag_u`); a
        timebase accuracy (± 10 ppm, instruments/facts/keysight-infiniivision.toml `timebase_accuracy`) adds at
        most 1 µs over the 0.1 s of an opening time, negligible against these."""
        return combined(interval_u(ZOOM_S), lag_u(self.VEHICLE_STEP_HIDDEN_S, self.PWM_START_HIDDEN_S,
                                                  self.ZERO_CROSSING_HIDDEN_S))

    # --- switching ---------------------------------------------------------------------------
    def _switch(self, close: Iterable[str], open_: Iterable[str], veh: str) -> float:
        close, open_ = set(close) - self._closed, set(open_) & self._closed
        for name in close:
            for partner in self.wiring.partners(name) & (self._closed - open_):
                if partner in close:
                    raise RigError(f"[wiring.break_before_make] forbids closing {name} and {partner} together")
                open_.add(partner)
        t_before = self.time()
        self.switch.open_channels(self.wiring.channel(n) for n in open_)   # break before make
        self.switch.close_channels(self.wiring.channel(n) for n in close)
        self._closed = (self._closed - open_) | close
        t_after = self.time()   # the switching is done: its step, if CP shows one, lies before this
        self.recorder.update()
        steps = [e.t_s for e in self.recorder.edges if e.channel == Channel.CPH and t_before <= e.t_s <= t_after]
        t = steps[0] if steps else t_after
        self._veh.append(Edge(t, Channel.VEH, veh))
        return t

    RUNT_HIDDEN_S = 2e-3
    """A runt trigger fires where the first pulse after a step down falls back through its low threshold:
    up to one 1 kHz period after the step, and that pulse's high part (less than a period) on top."""

    FAULT_ONSET_HIDDEN_S = 1e-3
    """State F entered during the PWM's negative half shows from that half's start: up to a period early."""

    PWM_STOP_HIDDEN_S = 1e-3
    """A PWM the EVSE stops during its high half shows only as the fall that no longer comes: stamped
    at its last rise (as the roll record stamps it), up to one 1 kHz period early."""

    def capture_u_s(self, cp_step: str, sample_s: float = ZOOM_S, cp_record: bool = False) -> float:
        """U (k = 2) of a time from a step on CP to the contactor in one single acquisition at
        `sample_s`: the grid, how late the trigger shows the step (the next PWM rise for a step up, the
        first runt's fall for a step down: `lag_u`; a short's step is found in the record itself, on the
        grid; a withdrawn PWM's up to a period early) and the sine's zero crossing; with CP's record read
        too (`cp_record`), how early a state F shows, so the U holds for either event."""
        hidden = {"up": (self.VEHICLE_STEP_HIDDEN_S,), "down": (self.RUNT_HIDDEN_S,), "flat": (),
                  "withdrawn": (self.PWM_STOP_HIDDEN_S,)}[cp_step]
        lags = (*hidden, self.ZERO_CROSSING_HIDDEN_S, *((self.FAULT_ONSET_HIDDEN_S,) if cp_record else ()))
        return combined(interval_u(sample_s), lag_u(*lags))

    def _trigger_for(self, cp_step: str, now: CpMeasurement, pre_s: float,
                     window_s: float) -> tuple[Callable[[], None], str, float] | None:
        """How a scope catches `cp_step` from CP as it is `now`: (arm it, what it triggers on, the level
        that matters); None where it cannot (no PWM before a step down, a short or a withdrawal)."""
        channel, scope = self.recorder.cp_channel, self.scope
        if cp_step == "up":
            level = now.high_v + CAPTURE_TRIGGER_STEP_V
            return (lambda: scope.arm_single(channel, level, True, pre_s, window_s),
                    f"channel {channel} rising through {level:.2f} V", level)
        if now.frequency_hz <= 0:
            return None
        if cp_step in ("flat", "withdrawn"):
            return (lambda: scope.arm_single_held(channel, LOW_V, True, CAPTURE_HELD_S, pre_s, window_s),
                    f"a pattern: channel {channel} above {LOW_V:.2f} V for {CAPTURE_HELD_S * 1e3:g} ms (the PWM's low "
                    "half no longer coming)", LOW_V)
        level = now.high_v - CAPTURE_TRIGGER_STEP_V
        if not level > CAPTURE_RUNT_LOW_V:
            return None
        return (lambda: scope.arm_single_runt(channel, CAPTURE_RUNT_LOW_V, level, pre_s, window_s),
                f"a positive runt on channel {channel} (above {CAPTURE_RUNT_LOW_V:.2f} V, not {level:.2f} V)", level)

    def capture_after(self, act: Callable[[], float], window_s: float, wait: Callable[[float], None],
                      cp_step: str | None, cp_record: bool = False) -> Capture | None:
        """One single acquisition, as a real scope makes it: armed on CP (`_trigger_for`: a step up, an
        edge trigger CAPTURE_TRIGGER_STEP_V above the high level now, shown at the next PWM rise; a step
        down, a positive runt, a pulse that no longer reaches that far under it, shown as the first such
        pulse ends; a short (flat) or a withdrawn PWM, a pattern, CP held above LOW_V for CAPTURE_HELD_S,
        the step then found in CP's record before it, `_step_in`), `window_s` held after the trigger;
        `act`; waited for on the scope (its Run bit; for a withdrawal, which comes when the EVSE answers,
        up to `window_s` more once it has triggered); the output read from the stopped record
        (`_output_record`) and CP's first CAPTURE_LEVEL_S after the trigger; the opening (up, flat,
        withdrawn) or closing (down) measured in it; with `cp_record`, CP's whole record too, and the
        state F in it (`low_level_in`).  A short's or a withdrawal's times run from the step found in the
        record, placed at the arming on the roll record's timebase.  The roll record is then followed
        afresh on its new timebase (`ScopeRecorder.restart`).  None, and `act` not performed, where the
        roll record times it instead: no step a trigger tells (`cp_step` None), a scope driver without
        single acquisitions, or no PWM before the act (`_trigger_for`).  A window longer than the memory
        holds at ZOOM_S is sampled more coarsely, as the scope chooses; the interval reached is in the
        capture and its U."""
        CpEmulator.capture_after(self, act, window_s, wait, cp_step, cp_record)     # validates cp_step
        recorder, scope = self.recorder, self.scope
        if cp_step is None or not scope.makes_single:
            return None
        now = self.measure_cp()
        plan = self._trigger_for(cp_step, now, CAPTURE_PRE_S, window_s)
        if plan is None:
            return None
        arm, trigger, level = plan
        found_in_record = cp_step in ("flat", "withdrawn")
        t_arm = self.time()
        before = recorder.state      # what the roll record knew as the acquisition was armed
        waited, done, whole_cp, origin = 0.0, False, None, 0.0
        recorder.paused = True
        try:
            arm()
            waited = wait_for(self.role, scope.single_waits, wait, CAPTURE_PRE_S,
                              "the scope never armed its trigger (Wait Trig) after :SINGle")
            act()
            done, more = poll(scope.single_done, wait, window_s)
            waited += more
            if not done and cp_step == "withdrawn" and not scope.single_waits():   # triggered late: filling
                done, more = poll(scope.single_done, wait, window_s)
                waited += more
            if done:
                out = self._output_record(window_s, cp_step != "down")
                after = scope.window(recorder.cp_channel, 0.0, CAPTURE_LEVEL_S, None)   # CP just after the step
                if found_in_record:
                    origin = self._step_in(scope.window(recorder.cp_channel, -CAPTURE_PRE_S, CAPTURE_PRE_S, None))
                if cp_record:
                    whole_cp = scope.single_window(recorder.cp_channel)
            else:
                scope.stop()
        finally:
            scope.resume_roll()
            recorder.restart(t_arm + CAPTURE_PRE_S + waited)
        recorder.settle(wait)
        start = t_arm - CAPTURE_PRE_S
        edges = [Edge(start, channel, value) for channel, value, known in (
            (Channel.CPH, f"{before.cph or 0.0:.2f}", before.cph is not None),
            (Channel.PWM, "1" if before.pwm else "0", before.pwm is not None),
            (Channel.OVP, "1" if before.ovp else "0", before.ovp is not None)) if known]
        edges.append(Edge(t_arm, Channel.VEH, self._veh[-1].value if self._veh else "?"))
        if not done:
            how = self._untriggered(cp_step, now, level, window_s)
            return Capture(t_arm, edges, ZOOM_S, how, self.capture_u_s(cp_step))
        positive = after.values[np.nan_to_num(after.values, nan=-math.inf) > LOW_V]
        if len(positive):
            edges.append(Edge(t_arm, Channel.CPH, f"{float(np.median(positive)):.2f}"))
        if found_in_record:
            edges.append(Edge(t_arm, Channel.PWM, "0"))
        moment = closing_in(out, -CAPTURE_PRE_S) if cp_step == "down" else opening_in(out, origin)
        if math.isfinite(moment):
            edges.append(Edge(t_arm + max(0.0, moment - origin), Channel.OVP, "1" if cp_step == "down" else "0"))
        fault = low_level_in(whole_cp, 0.0) if whole_cp is not None else None
        if fault is not None:
            edges.append(Edge(t_arm + max(0.0, fault[0]), Channel.CPH, f"{fault[1]:.2f}"))
        edges.sort(key=lambda e: e.t_s)
        return Capture(t_arm, edges, out.dt_s, f"a single acquisition triggered on {trigger}, "
                                               f"{out.dt_s * 1e6:g} us a sample"
                       + (", times from the step found in the record" if found_in_record else ""),
                       self.capture_u_s(cp_step, out.dt_s, cp_record))

    def _untriggered(self, cp_step: str, before: CpMeasurement, level: float, window_s: float) -> str:
        """No trigger within the window: the DUT's doing where the step was its to make (a withdrawal it
        never made; a closing it never offered, `_no_runt`), with what the capture saw; anything else is
        the rig's (broken)."""
        channel = self.recorder.cp_channel
        if cp_step == "down":
            return self._no_runt(before, level, window_s)
        if cp_step == "withdrawn":
            m = self.measure_cp()
            if m.frequency_hz > 0:
                return (f"no trigger within {window_s:g} s: CP on channel {channel} still shows its PWM "
                        f"({m.frequency_hz:.0f} Hz at {m.high_v:.2f} V): the EVSE did not withdraw it")
            raise InstrumentOperationError(self.role, f"CP shows no PWM ({m.high_v:.2f} V), yet the scope never "
                                           f"triggered on it staying above {level:.2f} V (trigger, probe)")
        what = f"rise through {level:.2f} V" if cp_step == "up" else f"stay above {level:.2f} V"
        raise InstrumentOperationError(self.role, f"the scope never triggered: CP on channel {channel} did not "
                                       f"{what} after the vehicle's switching (probe, wiring, or the switch "
                                       "unit's channel)")

    def _step_in(self, cp: Waveform) -> float:
        """Where CP reached the level it held up to a flat trigger (CAPTURE_FLAT_TAIL_S before it): the
        sample after the last one that lay more than CAPTURE_TRIGGER_STEP_V from that level.  A short
        to PE during the PWM's high half and one during its low half both show there, within a sample."""
        values = np.nan_to_num(cp.values, nan=math.inf)
        tail = values[-max(1, round(CAPTURE_FLAT_TAIL_S / cp.dt_s)):]
        final = float(np.median(tail))
        away = np.flatnonzero(np.abs(values - final) > CAPTURE_TRIGGER_STEP_V)
        if not len(away):
            raise InstrumentOperationError(self.role, f"CP stayed at {final:.2f} V through the {CAPTURE_PRE_S * 1e3:g} ms "
                                           "before the trigger: the pattern fired on no step (the PWM had stopped "
                                           "before the vehicle's switching)")
        return cp.t0_s + (int(away[-1]) + 1) * cp.dt_s

    def _output_record(self, window_s: float, whole: bool) -> Waveform:
        """The output in the stopped record: whole (an opening within a second), or, for a closing that may
        come seconds after the trigger, located on the last sample of each of DECIMATED_POINTS buckets
        and then read whole from DEAD_S before the last bucket that did not show the sine (a bucket's
        last sample near a zero crossing looks dead, so the read reaches back until DEAD_S of it is)."""
        scope, channel = self.scope, self.recorder.output_channel
        if whole:
            return scope.single_window(channel)
        coarse = scope.window(channel, 0.0, window_s, DECIMATED_POINTS)
        live = np.flatnonzero(np.abs(np.nan_to_num(coarse.values)) > LIVE_V)
        if not len(live):
            return coarse
        end = coarse.t0_s + (int(live[0]) + 1) * coarse.dt_s
        start = max(-CAPTURE_PRE_S, end - 2 * coarse.dt_s - DEAD_S)
        while True:
            fine = scope.window(channel, start, end - start, None)
            first = np.flatnonzero(np.abs(np.nan_to_num(fine.values)) > LIVE_V)
            if start <= -CAPTURE_PRE_S or len(first) and first[0] * fine.dt_s > DEAD_S:
                return fine
            start = max(-CAPTURE_PRE_S, start - 2 * DEAD_S)

    def _no_runt(self, before: CpMeasurement, level: float, window_s: float) -> str:
        """No runt within the window: the EVSE's doing only where CP did step down and shows no PWM (it
        withdrew its offer at the vehicle's request, so nothing can close: judged as never closed);
        anything else is the rig's (the switching, the trigger)."""
        m = self.measure_cp()
        volts = self.scope.measure("vrms", self.recorder.output_channel)
        if not m.high_v < level:
            raise InstrumentOperationError(self.role, f"CP's high level stayed at {m.high_v:.2f} V (it was "
                                           f"{before.high_v:.2f} V) after the vehicle's switching: check the switch "
                                           "unit's channel and the CP network's wiring")
        if m.frequency_hz > 0:
            raise InstrumentOperationError(self.role, f"CP shows a PWM at {m.high_v:.2f} V, yet the scope never "
                                           f"triggered on a runt below {level:.2f} V (trigger, probe)")
        if math.isfinite(volts) and volts > LIVE_V:
            raise InstrumentOperationError(self.role, f"the output is live ({volts:.0f} V rms) but CP showed no "
                                           "runt: its closing cannot be timed from one record")
        return (f"no runt on channel {self.recorder.cp_channel} within {window_s:g} s: the EVSE withdrew its PWM at "
                f"the step down (CP {m.high_v:.2f} V without a period) and the output stayed dead")

    def _network(self, names: Iterable[str], veh: str) -> float:
        network = {"cp_short", *(r.name for r in self.wiring.cp_resistors)}
        target = set(names)
        return self._switch(target, network - target, veh)

    def set_state(self, state: str) -> float:
        if state not in VEHICLE_STATES:
            raise InvalidValue(f"vehicle state must be one of {', '.join(VEHICLE_STATES)}, not {state!r}")
        return self._network(STATE_NETWORK[state], state)

    def set_resistance(self, ohm: float) -> float:
        if not 0 < ohm <= MAX_VEHICLE_OHM:
            raise InvalidValue(f"CP resistance must be in (0, {MAX_VEHICLE_OHM:.0f}] ohm, not {ohm}")
        return self._network((r.name for r in self.wiring.cp_combination(ohm)), f"R{ohm:.0f}")

    def set_diode(self, present: bool) -> float:
        return self._switch(() if present else ("diode_bypass",), ("diode_bypass",) if present else (),
                            f"DIODE{int(present)}")

    def set_pp(self, ohm: float | None) -> float:
        every = {r.name for r in self.wiring.pp_resistors} | ({"pp_short"} & set(self.wiring.channels))
        if ohm is not None and ohm < 0:
            raise InvalidValue(f"PP resistance must be >= 0 ohm or None (open), not {ohm}")
        if ohm == 0:
            if "pp_short" not in self.wiring.channels:
                raise InvalidValue("a PP short needs a pp_short channel in [wiring.channels]")
            chosen = {"pp_short"}
        else:
            chosen = set() if ohm is None else {self.wiring.pp_resistor(ohm).name}
        return self._switch(chosen, every - chosen, "PPOPEN" if ohm is None else f"PP{ohm:.1f}")

    def set_pe(self, connected: bool) -> float:
        return self._switch(() if connected else ("vehicle_pe_open",), ("vehicle_pe_open",) if connected else (),
                            f"PE{int(connected)}")

    # --- measuring ---------------------------------------------------------------------------
    def time(self) -> float:
        """Scope time now, one sample interval early: an edge the scope stamps on its sample grid can
        lie up to a sample before the instant its cause was read (a card that stops the offer at once
        was found 37 ns 'before' the tap, and judged never withdrawn); so a stamp taken here is never
        after an edge caused by what follows it, at the cost of a delay read up to one sample long."""
        return self.recorder.update() - ZOOM_S

    def measure_cp(self) -> CpMeasurement:
        ch = self.recorder.cp_channel
        high, low = self.scope.measure("vtop", ch), self.scope.measure("vbase", ch)
        frequency, duty = self.scope.measure("frequency", ch), self.scope.measure("duty", ch)
        if math.isnan(frequency) or math.isnan(duty):   # a DC level: no period to measure
            frequency, duty = 0.0, 100.0 if high > 0.5 else 0.0
        return CpMeasurement(high, low, frequency, duty, self.time())

    def measure_cp_level(self) -> CpLevel:
        """A DC level (no period on the scope: A1, state F) read again by the switch unit's DMM on
        `cp_sense` where one is wired, since its accuracy is stated and the scope's DC vertical accuracy
        is not in instruments/facts; a CP that shows a PWM gives the scope's high level, no U stated."""
        m = self.measure_cp()
        if m.frequency_hz > 0 or "cp_sense" not in self.wiring.channels or not hasattr(self.switch, "measure_voltage"):
            return CpLevel(m.high_v, None, m.t_s)
        volts, u = self._dmm_level()
        if abs(volts - m.high_v) > DMM_SCOPE_AGREEMENT_V:
            raise InstrumentOperationError(self.role, f"the DMM on cp_sense = {self.wiring.channel('cp_sense')} reads "
                                           f"{volts:.4f} V where the scope's channel {self.recorder.cp_channel} "
                                           f"showed a DC level of {m.high_v:.3f} V just before: check that cp_sense "
                                           "is wired across the vehicle's CP and PE, and the scope probe's "
                                           "attenuation (or the DUT changed CP state while it was read)")
        return CpLevel(volts, u, self.time())

    def _dmm_level(self) -> tuple[float, float]:
        """CP–PE through the DMM on the 100 V range (the CP's 12.6 V is over the 10 V range), with its U:
        the data sheet's accuracy and the loading of its input resistance on the generator's 1 kΩ, which
        reads low by up to V·R1/(R1 + R_in): stated one-sided (`lag_u`), not corrected, as the rig does not
        know the DUT's R1 (≈ 1.2 mV at 12 V, the size of the DMM's own bound)."""
        volts = self.switch.measure_voltage(  # type: ignore[attr-defined]
            self.wiring.channel("cp_sense"), ac=False, range_v=CP_DMM_RANGE_V)
        if not math.isfinite(volts):
            raise InstrumentOperationError(self.role, f"the DMM on cp_sense reads overload on its {CP_DMM_RANGE_V:g} V "
                                           "range: CP cannot be that high; check the wiring")
        loading = abs(volts) * CP_SOURCE_OHM / CP_DMM_INPUT_OHM
        u = combined(expanded_u(2 * accuracy_bound(DMM, "dcv_100v", volts, CP_DMM_RANGE_V)), lag_u(loading))
        return volts, u

    def measure_pp(self) -> Reading:
        if "pp_sense" not in self.wiring.channels and not hasattr(self.switch, "measure_resistance"):
            raise InstrumentOperationError(self.role, "this bench cannot measure PP: wire a DMM channel as pp_sense")
        ohm = self.switch.measure_resistance(self.wiring.channel("pp_sense"))  # type: ignore[attr-defined]
        return Reading(ohm, "ohm", self.time())

    def output_present(self) -> Reading:
        t = self.recorder.update()
        return Reading(1.0 if self.recorder.state.ovp else 0.0, "", t)

    def interlock_closed(self) -> Reading:
        if self.wiring.interlock_input is None:
            raise InstrumentOperationError(self.role, "no interlock input in [wiring] (interlock_input = N)")
        closed = self.switch.read_inputs([self.wiring.interlock_input])[0]
        return Reading(1.0 if closed else 0.0, "", self.time())

    def start_capture(self) -> float:
        t = self.recorder.update() - ZOOM_S     # as `time`: a stamp taken next is never before it
        self._capture_start = t
        self.recorder.edges = [e for e in self.recorder.edges if e.t_s >= t]
        self._veh = [e for e in self._veh if e.t_s >= t]
        return t

    def read_edges(self) -> list[Edge]:
        self.recorder.update()
        edges = [e for e in (*self.recorder.edges, *self._veh) if e.t_s >= self._capture_start]
        return sorted(edges, key=lambda e: e.t_s)

    def safe(self) -> None:
        everything = {"cp_short", "diode_bypass", "vehicle_pe_open", *({"pp_short"} & set(self.wiring.channels)),
                      *(r.name for r in (*self.wiring.cp_resistors, *self.wiring.pp_resistors))}
        self.switch.open_channels(self.wiring.channel(n) for n in everything)
        self._closed.clear()

    def close(self) -> None:
        """The switch and the scope are the rig's own instruments; it closes them."""

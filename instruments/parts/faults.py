"""Fault injection from bought parts: a real leakage path, relays for weld, PE and PS_1/PS_2.

- AC residual current: a ladder of resistors from vehicle-side L1 to PE, each on its own switch
  channel (`[wiring.leakage_resistors]`), chosen for the current at the L1 voltage the scope
  measures; an electronic load cannot do it (instruments/facts/chroma-63800.toml);
- smooth DC residual current: a DC source (role `dc_source`) in constant current through the
  decoupling circuit of docs/bench/cots.md;
- both return to PE through one shunt whose voltage the switch unit's DMM reads
  (`leakage_sense`): the current actually flowing is measured, never assumed from a setpoint;
- a welded contactor pole: a relay bridging it (`weld_l1` … `weld_l3`); the supply's PE opened
  (`supply_pe_open`); the grid operator's PS_1/PS_2 (`ps1`, `ps2`).

A residual current flows only while vehicle-side L1 is live, so the DUT's trip is the output
voltage leaving the sine on the scope (the edge the CP emulator from parts reads too): the trip
time is the scope time of that edge minus the scope time at which the current was switched on.
The DUT's own temperature sensor cannot be overridden from outside the housing; temperature on
this bench is the ambient of a climate chamber (role `chamber`), so only the tests that set an
ambient run here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from core.errors import InstrumentOperationError, InvalidValue
from core.settings import Setting
from core.types import Channel
from core.uncertainty import combined, expanded_u, interval_u, lag_u
from instruments.base import ComposedInstrument
from instruments.chamber import SAFE_C, Chamber
from instruments.dc_source import DcSource
from instruments.facts import accuracy_bound, fact
from instruments.fault_box import (MAX_RESIDUAL_MA, RESIDUAL_CHANNELS, FaultBox, FaultBoxState, ResidualEvent,
                                   TripCapture)
from instruments.parts.cp import PartsCpEmulator, recorder_for, wait_for
from instruments.parts.recorder import ZOOM_S, opening_in
from instruments.parts.wiring import FAULT_FUNCTIONS, Wiring
from instruments.scope import Scope
from instruments.switch import KeysightDaq970, Switch

WELD = ("weld_l1", "weld_l2", "weld_l3")
DMM = KeysightDaq970.FACTS
AC_RANGE_V = fact(DMM, "acv_1v_range")
DC_RANGE_V = fact(DMM, "dcv_100mv_range")
SHUNT_TOLERANCE_PCT = 0.1
"""The leakage shunt of the bill of materials (docs/bench/cots.md): a 0.1 % four-terminal resistor."""
LEAKAGE_CHANNEL = Setting("leakage_channel", int, "the scope channel across the leakage shunt (1:1 probe): where "
                          "a residual current's step is stamped", choices=(1, 2, 3, 4), default=4)
SHUNT_VOLTS_PER_DIV = 1.0
"""±4 V on screen: 2.1 V peak at 150 mA through 10 ohm (the 5 × 30 mA trip step) fits."""
STEP_FRACTION = 0.05
"""A residual current is seen flowing once the shunt shows this fraction of its peak (21 mV at 30 mA, far
above the scope's noise at 1 V/div in high-resolution mode).  An AC step shows late by up to
asin(0.05) / (2π · 50 Hz) = 0.16 ms on either side of a zero crossing, so by 0 … 0.32 ms
(STEP_HIDDEN_S) with the relay closing just before one; elsewhere in the period, or DC, at once.  The
stamp is taken half of that early, so its error lies within ± 0.16 ms whatever the phase."""
STEP_HIDDEN_S = 2.0 * math.asin(STEP_FRACTION) / (2 * math.pi * 50.0)
DC_STEP_FRACTION = 0.5
"""A DC step shows at once, so it is stamped at half its level: a few mA through 10 ohm are tens of mV,
and 5 % of that would be within the scope's noise."""
STEP_SEARCH_S = 0.04
"""How long after its command a current step is looked for: the relay's operate time, and two periods."""
TRIP_PRE_S = 0.025
"""A trip's record holds this much before its trigger: an AC step triggers on its first positive
half-wave, which may follow a negative one by up to 10 ms; the step itself is then found in the record."""


class PartsFaultBox(ComposedInstrument, FaultBox):
    """`FaultBox` on a switch unit, a scope, a resistor ladder with its shunt, and a DC source."""

    parts = ("switch", "scope")
    optional_parts = ("dc_source", "chamber")
    wiring_functions = FAULT_FUNCTIONS
    SETTINGS = (LEAKAGE_CHANNEL,)

    @classmethod
    def compose(cls, parts: Mapping[str, Any], wiring: Wiring, settings: Mapping[str, Any]) -> PartsFaultBox:
        return cls(parts["switch"], parts["scope"], wiring, settings, parts.get("dc_source"), parts.get("chamber"))

    def __init__(self, switch: Switch, scope: Scope, wiring: Wiring, settings: Mapping[str, Any],
                 dc: DcSource | None = None, chamber: Chamber | None = None) -> None:
        self.check_wiring(wiring, settings)
        self.role = "fault_box"
        self.switch, self.scope, self.wiring = switch, scope, wiring
        self.dc, self.chamber = dc, chamber
        self.temperature_modes = ("chamber",) if chamber is not None else ()
        """The DUT's own sensor is inside its housing: from outside, only the ambient can be set."""
        self.recorder = recorder_for(scope, settings)
        self.leakage_channel = int(LEAKAGE_CHANNEL.of(settings))
        if self.leakage_channel in (self.recorder.cp_channel, self.recorder.output_channel):
            raise InvalidValue(f"leakage_channel {self.leakage_channel} is the scope channel of CP or the output")
        if self.wiring.leakage_shunt_ohm is not None:
            scope.set_channel(self.leakage_channel, SHUNT_VOLTS_PER_DIV, 1.0)
            scope.show(self.leakage_channel, False)   # shown only while a current flows: its pair keeps the memory
        self._set_ma = {ch: 0.0 for ch in RESIDUAL_CHANNELS}
        self._seen_until = 0.0
        self._events: list[ResidualEvent] = []

    def watches(self) -> list[tuple[float, Any]]:
        """The scope's record is read before its memory rolls over (the CP emulator's recorder, shared),
        and more often while the shunt's channel is shown and takes half of its pair's memory."""
        return [(self.recorder.keep_up_s, self.recorder.update),
                (self.recorder.keep_up_with(self.leakage_channel), self._keep_up)]

    def _keep_up(self) -> None:
        if self.leakage_channel in self.scope.displayed:
            self.recorder.update()

    def identify(self) -> str:
        parts = ["switch", "scope"] + [r for r, i in (("dc_source", self.dc), ("chamber", self.chamber)) if i]
        ladder = self.wiring.leakage_resistors
        if ladder:
            parts.append(f"a {len(ladder)}-resistor leakage ladder ({self.wiring.leakage_tolerance_pct:g} %) and a "
                         f"{self.wiring.leakage_shunt_ohm:g} ohm shunt read by the DMM")
        return "parts: " + " + ".join(parts)

    @property
    def trip_time_u_s(self) -> float:
        """`trip_u_s` on the roll record's 2 µs grid."""
        return self.trip_u_s(ZOOM_S)

    @staticmethod
    def trip_u_s(sample_s: float) -> float:
        """Both ends read off one scope record at `sample_s`: its sample grid, the current's step
        (centred, `flowing_from`), the output's stop near a zero crossing showing early (one-sided,
        `lag_u`)."""
        return combined(interval_u(sample_s, STEP_HIDDEN_S), lag_u(PartsCpEmulator.ZERO_CROSSING_HIDDEN_S))

    step_search_s = STEP_SEARCH_S

    def flowing_from(self, channel: str, t_command: float, milliamps: float) -> float:
        """Where the shunt on the scope first shows the current set at `t_command`: the relay's operate
        time and the command's latency are not part of a trip time.  Not seen within STEP_SEARCH_S is a
        rig fault (the probe, the shunt, a ladder that did not close)."""
        shunt = self.wiring.leakage_shunt_ohm
        if shunt is None:
            return t_command
        self.recorder.update()
        wave = self.recorder.kept(self.leakage_channel, t_command - ZOOM_S, t_command + STEP_SEARCH_S)
        ac = channel == "ac"
        threshold = milliamps / 1000.0 * shunt * (math.sqrt(2.0) * STEP_FRACTION if ac else DC_STEP_FRACTION)
        seen = np.flatnonzero(np.abs(np.nan_to_num(wave.values)) >= threshold)   # a hole (no record) never counts
        if not len(seen):
            raise InstrumentOperationError(self.role, f"the {channel.upper()} residual current of {milliamps:g} mA "
                                                      f"commanded at {t_command:.6f} s does not show on scope channel "
                                                      f"{self.leakage_channel} within {STEP_SEARCH_S * 1e3:g} ms")
        return max(t_command, wave.t0_s + float(seen[0]) * wave.dt_s - (STEP_HIDDEN_S / 2 if ac else 0.0))

    def capture_trip(self, channel: str, milliamps: float, observe_s: float,
                     wait: Callable[[float], None]) -> TripCapture | None:
        """The step and the trip in one single acquisition a real scope makes: triggered on the shunt
        rising through the level `flowing_from` stamps a step at (an AC step may begin in a negative
        half-wave: the record's TRIP_PRE_S before the trigger holds it), the current switched on only
        once the scope waits for its trigger, the record read when done; the step is found in it as
        `flowing_from` finds it, the trip as the output leaving the sine (`opening_in`).  A window longer
        than the memory holds at 2 µs (a 10 s DC trip's 15 s) is sampled more coarsely, as the scope chooses:
        the interval it reached is in the capture and its U.  None (the roll record then times it) where
        no shunt is wired or the scope driver makes no single acquisitions."""
        shunt = self.wiring.leakage_shunt_ohm
        leak = self.leakage_channel
        if shunt is None or not self.scope.makes_single:
            return None
        if not math.isfinite(milliamps) or not 0 < milliamps <= MAX_RESIDUAL_MA or channel not in RESIDUAL_CHANNELS:
            raise InvalidValue(f"a trip step needs a channel of {RESIDUAL_CHANNELS} and (0, {MAX_RESIDUAL_MA:g}] mA, "
                               f"not {channel!r}, {milliamps}")
        ac = channel == "ac"
        threshold = milliamps / 1000.0 * shunt * (math.sqrt(2.0) * STEP_FRACTION if ac else DC_STEP_FRACTION)
        self._collect()
        if leak not in self.scope.displayed:
            self.scope.show(leak, True)
        volts = self.scope.measure("vrms", self.recorder.output_channel) if ac else None
        recorder, t_arm, waited = self.recorder, self._now(), 0.0
        recorder.paused = True
        try:
            self.scope.arm_single(leak, threshold, True, TRIP_PRE_S, observe_s)
            waited = wait_for(self.role, self.scope.single_waits, wait, TRIP_PRE_S, "the scope never armed its trigger")
            t_on = t_arm + waited
            self._inject(channel, milliamps, volts)
            self._set_ma[channel] = milliamps
            waited += wait_for(self.role, self.scope.single_done, wait, observe_s,
                                     f"the {channel.upper()} residual current of {milliamps:g} mA did not show on "
                                     f"scope channel {leak} (the probe, the shunt, a ladder that did not close)")
            step = self.scope.single_window(leak)
            out = self.scope.single_window(recorder.output_channel)
        finally:
            self.scope.resume_roll()
            recorder.restart(t_arm + TRIP_PRE_S + waited)
            self._seen_until = recorder.read_until_s
        recorder.settle(wait)
        self.set_residual_ma(channel, 0.0)
        seen = np.flatnonzero(np.abs(np.nan_to_num(step.values)) >= threshold)
        on = step.t0_s + float(seen[0]) * step.dt_s - (STEP_HIDDEN_S / 2 if ac else 0.0)
        trip = opening_in(out, on) - on
        return TripCapture(t_on, max(0.0, trip), step.dt_s,
                           f"a single acquisition triggered on channel {leak} rising through {threshold * 1e3:.1f} mV, "
                           f"{step.dt_s * 1e6:g} us a sample", self.trip_u_s(step.dt_s))

    @property
    def residual_u_ma(self) -> float | None:
        """The current as the DMM measures it across the shunt: the DMM's accuracy on its fixed range and
        the shunt's tolerance, taken at the top of the AC range (the largest U; DC is far smaller)."""
        shunt = self.wiring.leakage_shunt_ohm
        if shunt is None:
            return None
        top_ma = 1000.0 * AC_RANGE_V / shunt
        return self._measurement_u_ma(top_ma, ac=True)

    def _measurement_u_ma(self, milliamps: float, ac: bool) -> float:
        shunt = self.wiring.leakage_shunt_ohm
        if shunt is None:
            raise InstrumentOperationError(self.role, "no leakage shunt in [wiring] (leakage_shunt_ohm)")
        volts = milliamps / 1000.0 * shunt
        dmm_ma = 1000.0 * (accuracy_bound(DMM, "acv_1v", volts, AC_RANGE_V) if ac
                           else accuracy_bound(DMM, "dcv_100mv", volts, DC_RANGE_V)) / shunt
        return expanded_u(2 * dmm_ma, 2 * SHUNT_TOLERANCE_PCT / 100.0 * milliamps)

    def injection_tolerance_ma(self, milliamps: float) -> float:
        """What choosing the nearest combination leaves (`Wiring.leakage_allowance_ma`), the resistors'
        own tolerance, and the measurement's U; the DC source is held to the same."""
        wiring = self.wiring
        allowance = wiring.leakage_allowance_ma(milliamps, wiring.leakage_supply_v) if wiring.leakage_resistors \
            else wiring.leakage_tolerance_pct / 100.0 * milliamps
        return allowance + wiring.leakage_tolerance_pct / 100.0 * milliamps + self._measurement_u_ma(milliamps, ac=True)

    def flowing_ma(self, channel: str) -> float:
        """The DMM across the shunt: true RMS on the 1 V range for AC, DC on the 100 mV range."""
        if channel not in RESIDUAL_CHANNELS:
            raise InvalidValue(f"residual current channel must be one of {RESIDUAL_CHANNELS}, not {channel!r}")
        shunt = self.wiring.leakage_shunt_ohm
        measure = getattr(self.switch, "measure_voltage", None)
        if shunt is None or "leakage_sense" not in self.wiring.channels or measure is None:
            raise InstrumentOperationError(self.role, "this bench cannot measure the leakage current: wire a shunt "
                                                      "(leakage_shunt_ohm) to a DMM channel (leakage_sense)")
        ac = channel == "ac"
        volts = measure(self.wiring.channel("leakage_sense"), ac, AC_RANGE_V if ac else DC_RANGE_V)
        if not math.isfinite(volts):
            raise InstrumentOperationError(self.role, f"the leakage shunt reads beyond the DMM's "
                                                      f"{AC_RANGE_V if ac else DC_RANGE_V:g} V range")
        return 1000.0 * abs(volts) / shunt

    # --- injection ---------------------------------------------------------------------------
    def set_residual_ma(self, channel: str, milliamps: float) -> float:
        if channel not in RESIDUAL_CHANNELS:
            raise InvalidValue(f"residual current channel must be one of {RESIDUAL_CHANNELS}, not {channel!r}")
        if not math.isfinite(milliamps) or not 0 <= milliamps <= MAX_RESIDUAL_MA:
            raise InvalidValue(f"residual current must be in [0, {MAX_RESIDUAL_MA:g}] mA, not {milliamps}")
        self._collect()   # what happened before this command is not its consequence
        shunt = self.wiring.leakage_shunt_ohm is not None
        flowing = any(ma > 0 for ch, ma in self._set_ma.items() if ch != channel) or milliamps > 0
        if shunt and flowing and self.leakage_channel not in self.scope.displayed:
            self.scope.show(self.leakage_channel, True)     # recorded from the next record on (this command's)
        self._inject(channel, milliamps)
        self._set_ma[channel] = milliamps
        t = self._now()
        if shunt and flowing:   # where flowing_from will look, kept as records pass
            self.recorder.keep(self.leakage_channel, t - ZOOM_S, t + STEP_SEARCH_S)
        elif shunt and self.leakage_channel in self.scope.displayed:
            self.scope.show(self.leakage_channel, False)
        self._seen_until = max(self._seen_until, t)   # what the output did before is not this current's doing
        return t

    def _inject(self, channel: str, milliamps: float, volts: float | None = None) -> None:
        if channel == "ac":
            self._ladder(milliamps, volts)
        else:
            if self.dc is None:
                raise InstrumentOperationError(self.role, "no dc_source instrument for a DC residual current")
            self.dc.set_current_ma(milliamps)

    def _ladder(self, milliamps: float, volts: float | None = None) -> None:
        """Close the ladder's combination for `milliamps` at the L1 voltage now, or `volts` read before
        (the design voltage while the output is dead: the current flows only once it is live).  Break
        before make: between two combinations less current flows, never more, so no step overshoots."""
        ladder = self.wiring.leakage_resistors
        if not ladder:
            raise InstrumentOperationError(self.role, "no AC leakage path: wire [wiring.leakage_resistors] "
                                                      "(docs/bench/cots.md)")
        chosen: tuple[str, ...] = ()
        if milliamps > 0:
            if volts is None:
                volts = self.scope.measure("vrms", self.recorder.output_channel)
            live = math.isfinite(volts) and volts > self.LIVE_RMS_V
            chosen = tuple(r.name for r in self.wiring.leakage_combination(
                milliamps, volts if live else self.wiring.leakage_supply_v))
        self.switch.open_channels(self.wiring.channel(r.name) for r in ladder if r.name not in chosen)
        self.switch.close_channels(self.wiring.channel(n) for n in chosen)

    LIVE_RMS_V = 100.0
    """An L1 voltage below this is no supply to size the ladder for (the output is dead or failing)."""

    def _now(self) -> float:
        """The scope's time now (the end of the record just read): what a command returns, the start of
        every interval judged from it."""
        return self.recorder.update()

    def _relays(self, close: Iterable[str], open_: Iterable[str]) -> float:
        self.switch.open_channels(self.wiring.channel(n) for n in open_)
        self.switch.close_channels(self.wiring.channel(n) for n in close)
        return self._now()

    def set_weld(self, phases: Iterable[int]) -> float:
        chosen = set(phases)
        if not chosen <= {1, 2, 3}:
            raise InvalidValue(f"weld bridges exist for phases 1, 2, 3, not {sorted(chosen)}")
        return self._relays((WELD[p - 1] for p in chosen), (WELD[p - 1] for p in {1, 2, 3} - chosen))

    def set_pe_open(self, open_: bool) -> float:
        return self._relays(("supply_pe_open",) if open_ else (), () if open_ else ("supply_pe_open",))

    def set_grid_contact(self, ps1_closed: bool, ps2_closed: bool) -> float:
        wanted = {"ps1": ps1_closed, "ps2": ps2_closed}
        return self._relays((n for n, c in wanted.items() if c), (n for n, c in wanted.items() if not c))

    def set_temperature(self, mode: str | None, celsius: float = 25.0) -> float:
        """`chamber`: the chamber's air setpoint (it ramps there at its own rate); None: back to room
        temperature.  `sensor` cannot be done from outside the housing."""
        if mode is not None and mode not in self.temperature_modes:
            raise InstrumentOperationError(self.role, f"temperature by {mode!r} is not possible on this bench "
                                                      f"(it can: {', '.join(self.temperature_modes) or 'nothing'})")
        if self.chamber is not None:
            self.chamber.set_temperature_c(SAFE_C if mode is None else celsius)
        return self._now()

    # --- what flows ----------------------------------------------------------------------------
    def _collect(self) -> None:
        """Turn the output's edges since the last look into residual-current events: a set
        current stops when the output dies and flows again when it comes back."""
        self.recorder.update()
        for edge in self.recorder.edges:
            if edge.channel != Channel.OVP or edge.t_s <= self._seen_until:
                continue
            for channel, ma in self._set_ma.items():
                if ma > 0 and not self._pe_open():
                    self._events.append(ResidualEvent("interrupted" if edge.value == "0" else "flowing",
                                                      channel, ma, edge.t_s))
            self._seen_until = edge.t_s

    def _pe_open(self) -> bool:
        return self.switch.closed_channels([self.wiring.channel("supply_pe_open")])[0]

    def events(self) -> list[ResidualEvent]:
        self._collect()
        out, self._events = self._events, []
        return out

    def readback(self) -> FaultBoxState:
        flowing = self.recorder.state.ovp and not self._pe_open()
        states = self.switch.closed_channels([self.wiring.channel(n) for n in (*WELD, "supply_pe_open", "ps1", "ps2")])
        air = self.chamber.temperature_c().value if self.chamber is not None else 0.0
        return FaultBoxState(self._set_ma["ac"] if flowing else 0.0, self._set_ma["dc"] if flowing else 0.0,
                             air, "chamber" if self.chamber is not None else None, (states[0], states[1], states[2]), states[3], states[4], states[5])

    def safe(self) -> None:
        self.switch.open_channels(self.wiring.channel(r.name) for r in self.wiring.leakage_resistors)
        if self.dc is not None:
            self.dc.set_current_ma(0.0)
        self._set_ma = {ch: 0.0 for ch in RESIDUAL_CHANNELS}
        self.switch.open_channels(self.wiring.channel(n) for n in FAULT_FUNCTIONS)
        self._events.clear()
        if self.leakage_channel in self.scope.displayed:
            self.scope.show(self.leakage_channel, False)

    def close(self) -> None:
        """The parts are the rig's own instruments; it closes them."""

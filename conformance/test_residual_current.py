"""Residual current: the DUT's built-in detection, AC (WB-RC-01) and smooth DC (WB-RC-02).

The fault box draws a residual current from the output L1 to PE while the DUT charges; the box
itself reports when that current stops flowing, so each trip time is a difference of two box
timestamps.  Thresholds are found by ramps of 0.5 mA and reported with the margin to the band.
"""

from __future__ import annotations

import pytest

from core.types import Channel
from conformance.injection import INF, first_fault, power_cycle, ramp_u, residual_ramp, step_trip_time
from conformance.limits import LIMITS
from core.uncertainty import combined
from core.limits import AtMost, Band, Count
from conformance.session import start_charging, watch
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, first_edge
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "fault_box")

REQUIREMENT = {"ac": "WB-RC-01", "dc": "WB-RC-02"}
CLAUSE = {"ac": "IEC 62955 / EN 61008-1 (AC residual current, type A)", "dc": "IEC 62955 (RDC-DD, smooth DC)"}


def channels(clause: str) -> list[object]:
    """`ac` and `dc`, each marked with its own requirement ID."""
    return [pytest.param(ch, id=ch, marks=pytest.mark.requirement(wb_id=REQUIREMENT[ch], clause=f"{CLAUSE[ch]}: {clause}"))
            for ch in ("ac", "dc")]


def band(rig: Rig, channel: str) -> Band:
    """The product's detection band for `channel` (WB-RC-01/02), from the DUT profile."""
    rc = rig.profile.residual_current
    return rc.ac_trip_band_ma if channel == "ac" else rc.dc_trip_band_ma


@pytest.mark.parametrize("channel", channels("no trip below the detection band"))
@pytest.mark.red_on("rcd_dc_trip_ma=2.5", profile="generic-iec61851", only=("dc",))
@pytest.mark.red_on("rcd_ac_trip_ma=14", profile="mini-wallbox-plus", only=("ac",))
def test_residual_current_just_below_the_band_does_not_trip(cp: CpEmulator, fault_box: FaultBox, clock: Clock,
                                                            rig: Rig, channel: str, evidence: Evidence) -> None:
    """A residual current one ramp step below the product's band, held longer than the slowest
    allowed trip, never interrupts charging."""
    lim = band(rig, channel)
    level = lim.low - LIMITS.rig.rcd_ramp_step.value
    hold_s = LIMITS.rig.rcd_no_trip_hold.value
    start_charging(cp, clock)
    t_on = fault_box.set_residual_ma(channel, level)
    clock.sleep(hold_s)
    events = [e for e in fault_box.events() if e.channel == channel and e.kind == "interrupted"]
    fault_box.set_residual_ma(channel, 0.0)
    evidence.parameters.update(channel=channel, injected_ma=level, held_s=hold_s)
    evidence.series(f"{channel} held below the band", {f"injected {channel.upper()} (mA)": [(t_on, level),
                                                                                            (t_on + hold_s, level)]},
                    {"injection on": t_on, **{"interrupted": e.t_s for e in events[:1]}},
                    {f"injected {channel.upper()} (mA)": (lim.low, lim.high)})
    evidence.check(f"interruptions at {level:g} mA {channel.upper()} held {hold_s:g} s", len(events),
                   LIMITS.protection.interruptions_below_the_band)


@pytest.mark.parametrize("channel", channels("trip threshold"))
@pytest.mark.red_on("rcd_ac_trip_ma=32", only=("ac",))
@pytest.mark.red_on("rcd_dc_trip_ma=6.5", only=("dc",))
@pytest.mark.red_on("rcd_dc_trip_ma=2.5", profile="generic-iec61851", only=("dc",))
@pytest.mark.red_on("rcd_ac_trip_ma=14", profile="mini-wallbox-plus", only=("ac",))
def test_residual_current_trip_threshold_lies_in_the_band(cp: CpEmulator, fault_box: FaultBox, clock: Clock,
                                                          rig: Rig, channel: str, evidence: Evidence) -> None:
    """A ramp in 0.5 mA steps from half the band's lower end finds the threshold; it lies in the band."""
    lim = band(rig, channel)
    start_charging(cp, clock)
    start = round(lim.low * LIMITS.rig.rcd_ramp_start.value, 1)
    overshoot = LIMITS.rig.rcd_ramp_overshoot_steps.value * LIMITS.rig.rcd_ramp_step.value
    ramp = residual_ramp(fault_box, clock, channel, start, lim.high + overshoot)
    name = f"{channel.upper()} residual current (mA)"
    evidence.series(f"{channel} ramp", {f"injected {name}": ramp.points, f"flowing {name}": ramp.flowing(),
                                        **({f"measured {name}": ramp.measured} if ramp.measured else {})},
                    {"trip": ramp.t_trip} if ramp.t_trip != INF else {},
                    {f"injected {name}": (lim.low, lim.high)})
    evidence.check(f"{channel.upper()} trip threshold", ramp.threshold if ramp.threshold is not None else INF, lim,
                   t_s=ramp.t_trip if ramp.t_trip != INF else None,
                   u=ramp_u(LIMITS.rig.rcd_ramp_step.value, fault_box.residual_u_ma),
                   note=f"ramp {start:g} mA upward in {LIMITS.rig.rcd_ramp_step.value:g} mA steps; the current "
                        f"measured flowing at the last step before the trip, plus one step")


@pytest.mark.parametrize("multiple", [1, 2, 5], ids=["1x", "2x", "5x"])
@pytest.mark.requirement(wb_id="WB-RC-01", clause="EN 61008-1 / IEC 62955 (type A trip times)")
@pytest.mark.red_on("rcd_ac_trip_ma=32", only=("1x",))
@pytest.mark.red_on("rcd_ac_trip_time_ms=200", only=("2x", "5x"))
def test_ac_residual_current_trips_within_the_type_a_time(cp: CpEmulator, fault_box: FaultBox, clock: Clock,
                                                          rig: Rig, multiple: int, evidence: Evidence) -> None:
    """A step to 1, 2 and 5 times the rated residual current (the band's upper end, 30 mA) opens the
    contactor within 300, 150 and 40 ms."""
    rated = band(rig, "ac").high
    lim: AtMost = getattr(LIMITS.protection, f"rcd_ac_trip_time_{multiple}x")
    start_charging(cp, clock)
    level = rated * multiple
    observe = max(LIMITS.rig.trip_observation_min.value, LIMITS.rig.trip_observation_factor.value * lim.high)
    t_on, trip_s, trip_u = step_trip_time(fault_box, clock, "ac", level, observe, evidence)
    evidence.parameters.update(injected_ma=level)
    evidence.series(f"step to {level:g} mA", {"injected AC residual current (mA)": [(t_on, level)] + (
        [(t_on + trip_s, 0.0)] if trip_s != INF else [(t_on + observe, level)])},
        {"step": t_on, f"limit {lim.high * 1000:g} ms": t_on + lim.high,
         **({"trip": t_on + trip_s} if trip_s != INF else {})})
    evidence.check(f"trip time at {multiple} x {rated:g} mA", trip_s, lim, t_s=t_on, u=trip_u)


@pytest.mark.requirement(wb_id="WB-RC-02", clause="IEC 62955 (RDC-DD: 6 mA smooth DC)")
@pytest.mark.red_on("rcd_dc_trip_ma=6.5")
@pytest.mark.red_on("rcd_dc_trip_time_ms=12000", profile="mini-wallbox-plus")
def test_dc_residual_current_at_the_band_top_trips_within_10_s(cp: CpEmulator, fault_box: FaultBox, clock: Clock,
                                                               rig: Rig, evidence: Evidence) -> None:
    """A step to 6 mA smooth DC (the band's upper end) opens the contactor within 10 s."""
    level = band(rig, "dc").high
    lim = LIMITS.protection.rcd_dc_trip_time
    start_charging(cp, clock)
    t_on, trip_s, trip_u = step_trip_time(fault_box, clock, "dc", level, watch(lim), evidence)
    evidence.series(f"step to {level:g} mA DC", {"injected DC residual current (mA)": [(t_on, level)] + (
        [(t_on + trip_s, 0.0)] if trip_s != INF else [(t_on + watch(lim), level)])},
        {"step": t_on, f"limit {lim.high:g} s": t_on + lim.high,
         **({"trip": t_on + trip_s} if trip_s != INF else {})})
    evidence.check(f"trip time at {level:g} mA DC", trip_s, lim, t_s=t_on, u=trip_u)


@pytest.mark.needs("cp", "fault_box", "source")
@pytest.mark.requirement(wb_id="WB-TR-01", clause="IEC 62955 (after a trip); product manual (recovery)")
@pytest.mark.red_on("rcd_ac_trip_ma=32")
@pytest.mark.red_on("rcd_latch=false")
def test_residual_current_trip_signals_a_fault_and_recovers_as_the_manual_says(
        cp: CpEmulator, fault_box: FaultBox, clock: Clock, rig: Rig, evidence: Evidence) -> None:
    """After an AC trip the contactor is open and state F is shown; with the profile's latch, the
    fault holds through unplugging and re-plugging, and the manual's recovery (supply off, unplug,
    supply on) brings charging back."""
    rated = band(rig, "ac").high
    latched = rig.profile.residual_current.latch_until_power_cycle
    observe = LIMITS.rig.fault_observation.high
    start_charging(cp, clock)
    t_on, trip_s, trip_u = step_trip_time(fault_box, clock, "ac", rated, observe)
    to_fault = first_fault(cp.read_edges(), t_on) - t_on
    clock.sleep(LIMITS.rig.latch_observation.value)
    t_replug = cp.set_state("A")
    clock.sleep(LIMITS.rig.replug_pause.value)
    cp.set_state("B")
    clock.sleep(LIMITS.rig.b2_observation.high)
    cp.set_state("C")
    clock.sleep(observe)
    edges = cp.read_edges()
    closures_after_replug = count_edges(edges, Channel.OVP, "1", t_replug)
    evidence.trace("trip, replug", edges, {"injection": t_on, **({"trip": t_on + trip_s} if trip_s != INF else {}),
                                           "replug": t_replug})
    evidence.check("trip time at the rated residual current", trip_s, LIMITS.protection.rcd_ac_trip_time_1x,
                   t_s=t_on, u=trip_u)
    evidence.check("time from the injection to state F on CP", to_fault, LIMITS.rig.fault_observation, t_s=t_on,
                   u=combined(cp.interval_u_s, trip_u))
    latch = Count(name="closures_while_latched", value=0 if latched else 1, unit="", clause="product manual WB-TR-01",
                  source=f"DUT profile {rig.profile.id}: [residual_current] latch_until_power_cycle = {latched}",
                  cites=("MANUAL",))
    evidence.check("closures after the fault cleared and the vehicle re-plugged", min(closures_after_replug, 1), latch)
    if latched:
        power_cycle(rig, clock)
        t_back = cp.set_state("B")
        clock.sleep(LIMITS.rig.b2_observation.high)
        cp.set_state("C")
        clock.sleep(observe)
        back = first_edge(cp.read_edges(), Channel.OVP, "1", t_back)
        evidence.check("closures after the documented recovery", 1 if back is not None else 0,
                       LIMITS.protection.closures_after_recovery)

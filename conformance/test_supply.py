"""Supply faults (WB-PR-01: over-voltage, under-voltage incl. the loss of one phase, earth fault):
the AC source ramps or steps the DUT's supply, the fault box interrupts its PE; the contactor's
state comes from the CP board's output-voltage sense.

Thresholds and response times are not in the manual or public IEC text: they are DUT profile
data (unconfirmed; vendor practice as the profile comments cite it).  Times run on the CP board's clock, from a
board reading taken just before the act, so the measured delay can only come out longer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.types import Channel
from conformance.injection import INF, Ramp, hold, outage, restart_within_s
from conformance.limits import LIMITS
from conformance.session import start_charging, watch
from core.limits import AtMost, derived_from
from core.uncertainty import combined_known, lag_u
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, first_edge, markers
from instruments.ac_source import AcSource
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "source"),
              pytest.mark.requirement(wb_id="WB-PR-01", clause="product manual: over-/under-voltage protection")]

def nominal_v() -> float:
    return LIMITS.rig.nominal_supply_voltage.value


def judge_stop(cp: CpEmulator, clock: Clock, evidence: Evidence, lim: AtMost, act: Callable[[], object],
               act_label: str, trace_name: str, measurement: str) -> None:
    """While charging: board time, `act`, then the time until the output is dead, against `lim`."""
    start_charging(cp, clock)
    t_act = cp.time()
    act()
    clock.sleep(watch(lim))
    edges = cp.read_edges()
    opened = first_edge(edges, Channel.OVP, "0", t_act)
    t_open = opened.t_s if opened is not None else INF
    evidence.trace(trace_name, edges, {act_label: t_act, **({"contactor open": t_open} if t_open != INF else {})},
                   window=(t_act, t_act + lim.high))
    evidence.check(measurement, t_open - t_act, lim, t_s=t_act, u=cp.interval_u_s)


def response(rig: Rig) -> AtMost:
    return rig.profile.protection.supply_response_within_s


def supplied_v(analyser: PowerAnalyser | None, phases: int) -> tuple[float, float] | None:
    """(analyser time, mean voltage of the DUT's live phases) while the contactor is closed; None
    without an analyser, or with no phase live.  Live, not declared: a DUT that switches fewer phases
    than its profile says must not have a dead phase's 0 V averaged into the level."""
    if analyser is None:
        return None
    record = analyser.read()
    live = [p.u_v for p in record.phases[:phases] if p.u_v > nominal_v() / 2]
    return (record.t_s, sum(live) / len(live)) if live else None


def voltage_ramp(cp: CpEmulator, source: AcSource, clock: Clock, direction: int, until_v: float,
                 dwell_s: float, analyser: PowerAnalyser | None = None, phases: int = 1) -> Ramp:
    """Step the supply away from nominal, each step held `dwell_s`, until the output goes dead.  With
    an analyser, each step that did not trip is measured, and the threshold is anchored on the last
    measured voltage plus the step that tripped (the source's own setting accuracy is then only in
    that one step's size, not in the level)."""
    step = LIMITS.rig.supply_ramp_step.value * direction
    ramp = Ramp()
    last = supplied_v(analyser, phases)
    volts = nominal_v() + step
    while (volts - until_v) * direction <= 1e-9:
        t = cp.time()
        source.set_voltage(volts)
        ramp.points.append((t, volts))
        clock.sleep(dwell_s)
        reading = cp.output_present()
        if reading.value == 0:
            ramp.tripped_at, ramp.t_trip = volts, reading.t_s
            ramp.threshold = None if last is None else last[1] + step
            break
        last = supplied_v(analyser, phases)
        if last is not None:
            ramp.measured.append(last)
        volts += step
    return ramp


@pytest.mark.parametrize("side", ["over", "under"])
@pytest.mark.red_on("overvoltage_v=280", only=("over",))
@pytest.mark.red_on("undervoltage_v=175", profile="mini-wallbox-plus", only=("under",))
def test_supply_voltage_out_of_range_stops_charging_inside_the_profile_window(
        cp: CpEmulator, source: AcSource, clock: Clock, rig: Rig, side: str, evidence: Evidence) -> None:
    """A supply ramp away from 230 V (2 V steps, each held the profile's response time) stops
    charging at a voltage inside the profile's trip window."""
    protection = rig.profile.protection
    window = protection.overvoltage_trip_v if side == "over" else protection.undervoltage_trip_v
    dwell = response(rig).high
    start_charging(cp, clock)
    direction = 1 if side == "over" else -1
    overshoot = LIMITS.rig.supply_ramp_overshoot.value
    analyser = rig.analyser if rig.has("analyser") else None
    ramp = voltage_ramp(cp, source, clock, direction,
                        (window.high + overshoot) if side == "over" else (window.low - overshoot), dwell,
                        analyser, rig.profile.electrical.phases)
    source.set_voltage(nominal_v())
    evidence.series(f"{side}-voltage ramp", {"supply voltage set (V)": ramp.points,
                                             **({"supply voltage measured (V)": ramp.measured} if ramp.measured else {})},
                    {"output dead": ramp.t_trip} if ramp.t_trip != INF else {},
                    {"supply voltage set (V)": (window.low, window.high)})
    # the DUT tripped somewhere within the last step: the level it was found at is up to one step past
    # its threshold, on one side (lag_u), and is anchored on the analyser's reading of the step before
    # (its U); without an analyser it is the source's setting, whose accuracy states no U (no facts)
    step = LIMITS.rig.supply_ramp_step.value
    found = ramp.threshold if analyser is not None else ramp.tripped_at
    u = None if analyser is None or found is None else combined_known(analyser.u_v(found), lag_u(step))
    evidence.check(f"supply voltage at which charging stopped ({side}-voltage)",
                   found if found is not None else INF * direction, window,
                   t_s=ramp.t_trip if ramp.t_trip != INF else None, u=u,
                   note=f"{step:g} V steps, each held {dwell:g} s; the level is "
                        + ("the analyser's reading of the last step that did not trip, plus one step"
                           if analyser is not None else "the source's setting (no analyser on this rig)"))


def judge_resume(cp: CpEmulator, clock: Clock, rig: Rig, evidence: Evidence, away: Callable[[], object],
                 back: Callable[[], object], cause: str) -> None:
    """While charging, `away` must stop the DUT; after `back`, the contactor must close again, the
    vehicle still plugged in, within the profile's resume time."""
    resume = rig.profile.protection.resume_within_s
    start_charging(cp, clock)
    t_away = cp.time()
    away()
    clock.sleep(response(rig).high)
    stopped = first_edge(cp.read_edges(), Channel.OVP, "0", t_away)
    evidence.check(f"time from {cause} to contactor open (before the supply comes back)",
                   stopped.t_s - t_away if stopped is not None else INF, response(rig), t_s=t_away,
                   u=cp.interval_u_s)
    t_back = cp.time()
    back()
    clock.sleep(watch(resume))
    edges = cp.read_edges()
    closed = first_edge(edges, Channel.OVP, "1", t_back)
    t_closed = closed.t_s if closed is not None else INF
    evidence.trace(f"{cause} and back", edges, markers(**{cause.replace(" ", "_"): t_away}, supply_back=t_back,
                                                      contactor_closed=t_closed), window=(t_back, t_back + resume.high))
    evidence.check(f"time from the supply back (after {cause}) to contactor closed", t_closed - t_back, resume, t_s=t_back,
                   u=cp.interval_u_s)


@pytest.mark.red_on("overvoltage_v=280")
@pytest.mark.red_on("supply_fault_delay_s=10")
def test_charging_resumes_once_the_supply_voltage_is_back_in_range(cp: CpEmulator, source: AcSource, clock: Clock,
                                                                   rig: Rig, evidence: Evidence) -> None:
    """After an over-voltage stop, 230 V brings the contactor back, with the vehicle still plugged in,
    within the profile's resume time."""
    window = rig.profile.protection.overvoltage_trip_v
    judge_resume(cp, clock, rig, evidence, lambda: source.set_voltage(window.high + LIMITS.rig.overvoltage_act.value),
                 lambda: source.set_voltage(nominal_v()), "over-voltage")


def three_phase_source(rig: Rig, source: AcSource) -> None:
    """Phase loss needs a three-phase DUT and a source that sets one phase alone; else skip, saying which."""
    if rig.profile.electrical.phases < 3:
        pytest.skip(f"DUT profile {rig.profile.id} is single-phase: no phase to lose")
    if source.phases < 3:
        pytest.skip(f"the rig's source ({type(source).__name__}) sets all phases together; "
                    f"phase loss needs a three-phase source driver such as ametek-lx")


@pytest.mark.parametrize("lost", [2, 3])
@pytest.mark.requirement(wb_id="WB-PR-01", clause="product manual: under-voltage protection (loss of one phase)")
@pytest.mark.red_on("phases=1")
@pytest.mark.red_on("supply_fault_delay_s=10")
@pytest.mark.red_on("phase_supervision=false", profile="mini-wallbox-plus")
def test_loss_of_one_phase_stops_charging(cp: CpEmulator, source: AcSource, clock: Clock, rig: Rig, lost: int,
                                          evidence: Evidence) -> None:
    """A three-phase supply loses L2 or L3 while charging: a lost phase is an under-voltage on that
    phase, so the contactor opens within the profile's supply response time.  L1 feeds the DUT's
    electronics, so losing it is the mains-loss case below; the output sense stays on live L1."""
    three_phase_source(rig, source)
    evidence.parameters["lost_phase"] = f"L{lost}"
    try:
        judge_stop(cp, clock, evidence, response(rig), lambda: source.set_phase_voltage(lost, 0.0), f"L{lost} lost",
                   f"loss of L{lost}", f"time from L{lost} lost to contactor open")
    finally:
        source.set_voltage(nominal_v())


@pytest.mark.requirement(wb_id="WB-PR-01", clause="product manual: under-voltage protection (loss of one phase)")
@pytest.mark.red_on("phases=1")
@pytest.mark.red_on("supply_fault_delay_s=10")
@pytest.mark.red_on("phase_supervision=false", profile="mini-wallbox-plus")
def test_charging_resumes_once_the_lost_phase_returns(cp: CpEmulator, source: AcSource, clock: Clock, rig: Rig,
                                                     evidence: Evidence) -> None:
    """After a stop for a lost L3, the phase's return brings the contactor back within the resume time."""
    three_phase_source(rig, source)
    try:
        judge_resume(cp, clock, rig, evidence, lambda: source.set_phase_voltage(3, 0.0),
                     lambda: source.set_phase_voltage(3, nominal_v()), "loss of L3")
    finally:
        source.set_voltage(nominal_v())


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.red_on("supply_fault_delay_s=10")
@pytest.mark.red_on("supply_max_hz=75", only=("high",))
@pytest.mark.red_on("supply_min_hz=35", only=("low",))
def test_supply_frequency_out_of_range_stops_charging(cp: CpEmulator, source: AcSource, clock: Clock, rig: Rig,
                                                      end: str, evidence: Evidence) -> None:
    """A supply frequency at the profile's out-of-range values stops charging within the response time."""
    low, high = rig.profile.protection.frequency_out_of_range_hz
    hz = low if end == "low" else high
    evidence.parameters["frequency_hz"] = hz
    try:
        judge_stop(cp, clock, evidence, response(rig), lambda: source.set_frequency(hz), "frequency set",
                   f"supply at {hz:g} Hz", f"time to stop at {hz:g} Hz")
    finally:
        source.set_frequency(LIMITS.rig.nominal_supply_frequency.value)


@pytest.mark.needs("cp", "source", "fault_box")
@pytest.mark.requirement(wb_id="WB-PR-01", clause="product manual: earth fault protection (supply PE interrupted)")
@pytest.mark.red_on("pe_fault_delay_ms=1500", profile="generic-iec61851")
@pytest.mark.red_on("pe_monitoring=false", profile="generic-iec61851")
def test_interrupted_supply_pe_stops_charging(cp: CpEmulator, source: AcSource, fault_box: FaultBox, clock: Clock,
                                              rig: Rig, evidence: Evidence) -> None:
    """With the supply PE interrupted while charging, the contactor opens within the profile's time."""
    lim = rig.profile.protection.pe_open_stop_within_s
    judge_stop(cp, clock, evidence, lim, lambda: fault_box.set_pe_open(True), "PE open", "supply PE interrupted",
               "time from PE interrupted to contactor open")


@pytest.mark.requirement(wb_id="WB-CL-01", clause="product manual: restart after a power outage")
@pytest.mark.red_on("closes_on_a_to_c_jump=true")
@pytest.mark.red_on("restarts_after_mains_loss=false")
def test_session_interrupted_by_a_mains_loss_resumes_by_itself_offer_first(cp: CpEmulator, source: AcSource,
                                                                          clock: Clock, rig: Rig,
                                                                          evidence: Evidence) -> None:
    """A mains loss while charging: once the supply is back, the DUT resumes the session without
    the vehicle re-plugging, offers PWM before it closes, and does so within its cold-load delay
    (plus a boot allowance)."""
    lim = AtMost(name="resume_after_mains_loss", high=restart_within_s(rig), unit="s", clause="WB-CL-01",
                 **derived_from(rig.profile.cold_load.delay_range_s, LIMITS.rig.boot_allowance,
                                LIMITS.iec61851.contactor_close_after_c))
    start_charging(cp, clock)
    t_off = cp.time()
    t_on = outage(cp, source, clock)
    samples = hold(clock, lim.high * LIMITS.rig.mains_loss_watch_factor.value, LIMITS.rig.mains_loss_sample.value,
                   lambda: (lambda r: (r.t_s, r.value))(cp.output_present()))
    edges = cp.read_edges()
    closed = first_edge(edges, Channel.OVP, "1", t_on)
    offer = first_edge(edges, Channel.PWM, "1", t_on)
    t_closed = closed.t_s if closed is not None else INF
    t_offer = offer.t_s if offer is not None else INF
    evidence.series("mains loss", {"output live (0/1)": samples}, markers(mains_off=t_off, mains_on=t_on,
                                                                           PWM_offer=t_offer, contactor_closed=t_closed))
    evidence.check("closures before the PWM offer after the mains returned",
                   count_edges(edges, Channel.OVP, "1", t_on, t_offer),
                   LIMITS.iec61851.closures_before_an_offer)
    evidence.check("time from mains back to contactor closed", t_closed - t_on, lim, t_s=t_on, u=cp.interval_u_s)

"""IEC 61851-1 control-pilot catalogue: levels, state recognition, diode check, error states,
ventilation, C1 handling, wake-up, overcurrent.

Every test: arrange (DUT idle in A1, capture running) → act (vehicle emulator or load) →
measure (board timestamps, readings) → judge (limits from conformance/limits or, where the IEC
text is unconfirmed, from the DUT profile).
"""

from __future__ import annotations

import pytest

from conformance.limits import Limit, limit, profile_limit
from conformance.session import judge_contactor_opening, measured_offer_a, observe_b2, plug_in, start_charging
from fixtures.evidence import ConformanceFailure, Evidence
from fixtures.timing import count_edges, delay_s, first_edge, markers, pulses
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.installer import Installer
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp")

INF = float("inf")
NO_CLOSURE_SOURCE = "PHX p. 26: x1 (no PWM) = EVSE not ready; the EVSE supplies only in x2 (C2)"


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (CP generator +12 V)")
def test_cp_generator_high_level_is_12_v_in_state_a(cp: CpEmulator, evidence: Evidence) -> None:
    """With no vehicle (A1), the EVSE's CP generator sits at +12 V ±5 %."""
    m = cp.measure_cp()
    evidence.check("CP level in A1", m.high_v, limit("iec61851", "cp_generator_high"), t_s=m.t_s)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (CP generator -12 V)")
def test_cp_generator_low_level_is_minus_12_v_in_b2(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """In B2 the negative half of the PWM reaches -12 V ±5 % (the vehicle diode blocks it)."""
    plug_in(cp, clock)
    m = cp.measure_cp()
    evidence.check("CP low level in B2", m.low_v, limit("iec61851", "cp_generator_low"), t_s=m.t_s)


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state B recognised across the R3 tolerance band)")
def test_state_b_is_recognised_at_both_ends_of_the_resistance_band(cp: CpEmulator, clock: Clock, end: str,
                                                                   evidence: Evidence) -> None:
    """A vehicle at either end of the state-B resistance band is recognised: the EVSE starts PWM (B2)
    and supplies nothing (read as C, it would close)."""
    band = limit("iec61851", "state_b_resistance_band")
    ohm = band.low if end == "low" else band.high
    assert ohm is not None
    evidence.parameters["resistance_ohm"] = ohm
    t_r = cp.set_resistance(ohm)
    observe_b2(clock)
    edges = cp.read_edges()
    to_pwm = delay_s(edges, t_r, "PWM", "1")
    evidence.trace(f"B at {ohm:.0f} ohm", edges, markers(vehicle_R=t_r, PWM_on=t_r + to_pwm),
                   window=(t_r, t_r + (limit("rig", "b2_observation").high or 0.0)))
    evidence.check(f"time to PWM with {ohm:.0f} ohm", to_pwm, limit("rig", "b2_observation"), t_s=t_r)
    evidence.check(f"contactor closures with {ohm:.0f} ohm (a vehicle in B asks for no power)",
                   count_edges(edges, "OVP", "1", t_r),
                   Limit("no_closure_in_b", 0, 0, "", "IEC 61851-1:2017 Annex A (state B: no supply)", band.source))


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (diode check before closing)")
def test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault(cp: CpEmulator, clock: Clock,
                                                                     evidence: Evidence) -> None:
    """With the vehicle diode shorted, the EVSE never closes the contactor and signals a fault on CP."""
    close = limit("iec61851", "contactor_close_after_c")
    assert close.high is not None
    cp.set_diode(False)
    plug_in(cp, clock)
    t_c = cp.set_state("C")
    clock.sleep(close.high * 1.5)
    edges = cp.read_edges()
    evidence.trace("C with shorted diode", edges, markers(vehicle_C=t_c), window=(t_c, t_c + close.high))
    fault = any(e.channel == "CPH" and float(e.value) < -1.0 and e.t_s >= t_c for e in edges)
    evidence.check("contactor closures with a shorted diode", count_edges(edges, "OVP", "1", t_c),
                   Limit("no_closure", 0, 0, "", close.clause, "IEC text quoted in SmartEVSE-3.5 issues 83/133"))
    evidence.check("fault (state F, negative CP) signalled", 1.0 if fault else 0.0,
                   Limit("fault_signalled", 1, 1, "", "IEC 61851-1:2017 Annex A (state F)",
                         "SIE: state F -12 V, EVSE not available / fault"))


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state E: CP shorted to PE)")
def test_contactor_opens_when_cp_is_shorted_to_pe_while_charging(cp: CpEmulator, clock: Clock, rig: Rig,
                                                                 evidence: Evidence) -> None:
    """A CP-PE short while charging (state E) opens the contactor within the profile's deadline."""
    lim = profile_limit(rig.profile, "control_pilot.e_f_contactor_open_ms", "s",
                        "IEC 61851-1:2017 Annex A (state E)", scale=0.001)
    judge_contactor_opening(cp, clock, evidence, lim, lambda: cp.set_state("E"), "CP shorted", "C2 to E",
                            "contactor opening time after CP short")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state D: ventilation required)")
def test_state_d_is_honoured_as_the_profile_declares_ventilation(cp: CpEmulator, clock: Clock, rig: Rig,
                                                                 evidence: Evidence) -> None:
    """State D (ventilation required) charges only on an EVSE that supports ventilation."""
    close = limit("iec61851", "contactor_close_after_c")
    assert close.high is not None
    supported = bool(rig.profile.value("control_pilot.ventilation_supported"))
    plug_in(cp, clock)
    t_d = cp.set_state("D")
    clock.sleep(close.high * 1.5)
    edges = cp.read_edges()
    evidence.trace("B2 to D", edges, markers(vehicle_D=t_d), window=(t_d, t_d + close.high))
    expected = 1 if supported else 0
    evidence.check("contactor closures in state D", min(count_edges(edges, "OVP", "1", t_d), 1),
                   Limit("closures_in_d", expected, expected, "", "IEC 61851-1:2017 Annex A (state D)",
                         f"DUT profile {rig.profile.id}: control_pilot.ventilation_supported = {supported}"))


@pytest.mark.needs("cp", "load")
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (vehicle draws more than the PWM offers)")
def test_charging_stops_when_the_vehicle_draws_more_than_offered(cp: CpEmulator, clock: Clock, load: AcLoad,
                                                                 rig: Rig, evidence: Evidence) -> None:
    """A vehicle drawing 5 A more than offered is cut off within the profile's window."""
    lim = profile_limit(rig.profile, "control_pilot.overcurrent_stop_within_s", "s",
                        "IEC 61851-1:2017 Annex A (overcurrent by the vehicle)")
    assert lim.high is not None
    excess = limit("rig", "overcurrent_excess").low or 0.0
    start_charging(cp, clock)
    offered = measured_offer_a(cp)  # what this EVSE offers, so the excess is over its own offer
    load.set_current(offered)
    load.set_on(True)
    clock.sleep(1.0)
    t_before = cp.time()
    load.set_current(offered + excess)
    t_after = cp.time()
    clock.sleep(lim.high * 1.5)
    edges = cp.read_edges()
    stop = delay_s(edges, t_before, "OVP", "0")  # from before the step: the longest it can have taken
    evidence.parameters.update(offered_a=offered, drawn_a=offered + excess)
    evidence.record("load step uncertainty (command round trip)", t_after - t_before, "s", t_s=t_before)
    evidence.trace("overcurrent", edges, markers(load_step=t_before, contactor_open=t_before + stop),
                   window=(t_before, t_before + lim.high))
    evidence.check("time to stop charging after overcurrent", stop, lim, t_s=t_before,
                   note=f"offered {offered:g} A, drawn {offered + excess:g} A per phase")


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state C recognised across the R2 tolerance band)")
def test_state_c_is_recognised_at_both_ends_of_the_resistance_band(cp: CpEmulator, clock: Clock, end: str,
                                                                   evidence: Evidence) -> None:
    """A vehicle switching in R2 at either end of its band (R3 nominal) is recognised as C: the EVSE closes."""
    band = limit("iec61851", "state_c_switched_resistance_band")
    r3 = limit("iec61851", "vehicle_r3").low
    close = limit("iec61851", "contactor_close_after_c")
    r2 = band.low if end == "low" else band.high
    assert r2 is not None and r3 is not None and close.high is not None
    ohm = 1.0 / (1.0 / r3 + 1.0 / r2)
    evidence.parameters.update(r2_ohm=r2, cp_pe_ohm=round(ohm, 1))
    plug_in(cp, clock)
    t_c = cp.set_resistance(ohm)
    clock.sleep(close.high * 1.5)
    edges = cp.read_edges()
    closing = delay_s(edges, t_c, "OVP", "1")
    evidence.trace(f"C with R2 {r2:.0f} ohm", edges, markers(vehicle_C=t_c, contactor_closed=t_c + closing),
                   window=(t_c, t_c + close.high))
    evidence.check(f"contactor closing time with R2 = {r2:.0f} ohm ({ohm:.0f} ohm CP-PE)", closing, close, t_s=t_c)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state sequence: C straight from A, no offer made)")
def test_direct_jump_from_a_to_c_never_closes_without_an_offer(cp: CpEmulator, clock: Clock,
                                                               evidence: Evidence) -> None:
    """A vehicle that jumps from A straight to C (no B seen) gets no supply before the EVSE offers PWM."""
    close = limit("iec61851", "contactor_close_after_c")
    assert close.high is not None
    t_c = cp.set_state("C")
    clock.sleep(close.high * 1.5)
    edges = cp.read_edges()
    offer = first_edge(edges, "PWM", "1", t_c)
    t_offer = offer.t_s if offer is not None else INF
    evidence.trace("A to C", edges, markers(vehicle_C=t_c, PWM_on=t_offer), window=(t_c, t_c + close.high))
    evidence.check("contactor closures before any PWM offer", count_edges(edges, "OVP", "1", t_c, t_offer),
                   Limit("no_closure_without_offer", 0, 0, "", "IEC 61851-1:2017 Annex A (x1/x2)", NO_CLOSURE_SOURCE))


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (loss of PE: CP reads as A)")
def test_contactor_opens_when_the_vehicle_loses_pe_while_charging(cp: CpEmulator, clock: Clock,
                                                                  evidence: Evidence) -> None:
    """A broken PE return while charging leaves the vehicle's resistors floating: CP reads as A
    (vehicle gone), so the contactor opens as after an unplug."""
    judge_contactor_opening(cp, clock, evidence, limit("iec61851", "contactor_open_after_unplug"),
                            lambda: cp.set_pe(False), "PE lost", "PE lost in C2",
                            "contactor opening time after loss of PE")


@pytest.mark.needs("cp", "installer", "load")
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (EVSE removes PWM in C2: C2 -> C1)")
def test_vehicle_that_keeps_drawing_after_pwm_is_removed_is_cut_off(cp: CpEmulator, installer: Installer,
                                                                    load: AcLoad, clock: Clock, rig: Rig,
                                                                    evidence: Evidence) -> None:
    """When the EVSE withdraws its offer in C2 and the vehicle stays in C drawing current, the EVSE
    opens the contactor, but not before the vehicle's 6 s grace (no switching under load too early)."""
    grace = limit("iec61851", "c1_cutoff")
    latest = profile_limit(rig.profile, "control_pilot.c1_contactor_open_within_s", "s", grace.clause)
    lim = Limit("c1_cutoff", grace.low, latest.high, "s", grace.clause, f"{grace.source}; latest: {latest.source}")
    assert lim.high is not None
    start_charging(cp, clock)
    offered = measured_offer_a(cp)  # a vehicle draws what is offered, no more
    load.set_current(offered)
    load.set_on(True)
    clock.sleep(1.0)
    t_pause = cp.time()
    installer.set_paused(True)
    clock.sleep(lim.high * 1.5)
    edges = cp.read_edges()
    removed = first_edge(edges, "PWM", "0", t_pause)
    if removed is None:
        raise ConformanceFailure("the EVSE kept its PWM offer after it was paused through the installer interface")
    opening = delay_s(edges, removed.t_s, "OVP", "0")
    evidence.parameters["drawn_a"] = offered
    evidence.trace("C2 to C1, vehicle stays in C", edges,
                   markers(paused=t_pause, PWM_off=removed.t_s, contactor_open=removed.t_s + opening),
                   window=(removed.t_s + (lim.low or 0.0), removed.t_s + lim.high))
    evidence.check("PWM removed to contactor open, vehicle still in C", opening, lim, t_s=removed.t_s,
                   note=f"the load kept drawing {offered:g} A per phase")


@pytest.mark.requirement(clause="IEC 61851-1:2017 A.5.3 (wake-up)")
def test_wake_up_step_in_b2_is_as_the_profile_declares(cp: CpEmulator, clock: Clock, rig: Rig,
                                                       evidence: Evidence) -> None:
    """A vehicle left in B2 without asking for power: an EVSE with wake-up (A.5.3) makes one step of
    3-4 s without PWM; one without it keeps its offer steady."""
    declared = bool(rig.profile.value("control_pilot.wake_up"))
    watch = limit("rig", "wake_up_observation").high
    assert watch is not None
    t_b = plug_in(cp, clock)
    clock.sleep(max(0.0, watch - (cp.time() - t_b)))
    edges = cp.read_edges()
    offer = first_edge(edges, "PWM", "1", t_b)
    if offer is None:
        raise ConformanceFailure("precondition: the EVSE never offered PWM after plug-in")
    steps = pulses(edges, "PWM", "0", offer.t_s, t_b + watch)
    evidence.parameters["wake_up_declared"] = declared
    evidence.trace("B2 without C", edges, markers(plug_in=t_b, **{f"step_{k + 1}": t for k, (t, _) in
                                                                   enumerate(steps)}), window=(t_b, t_b + watch))
    expected = 1 if declared else 0
    evidence.check("steps without PWM while the vehicle waits in B2", len(steps),
                   Limit("wake_up_steps", expected, expected, "", "IEC 61851-1:2017 A.5.3",
                         f"EVC, PHX p. 30: one step, once; DUT profile {rig.profile.id}: control_pilot.wake_up "
                         f"= {declared}"))
    for start, end in steps[:1] if declared else []:
        evidence.record("time in B2 before the step", start - offer.t_s, "s", t_s=start, note="A.5.3: about 30 s")
        evidence.check("wake-up step length", end - start, limit("iec61851", "wake_up_step"), t_s=start)

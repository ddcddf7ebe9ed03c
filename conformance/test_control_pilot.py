"""IEC 61851-1 control-pilot catalogue: levels, state recognition, diode check, error states,
ventilation, C1 handling, wake-up, overcurrent.

Every test: arrange (DUT idle in A1, capture running) → act (vehicle emulator or load) →
measure (board timestamps, readings) → judge (limits from conformance/limits or, where the IEC
text is unconfirmed, from the DUT profile).
"""

from __future__ import annotations

import pytest

from core.types import Channel
from conformance.limits import LIMITS
from conformance.session import (act_and_record, bracketed_u_s, judge_contactor_closing, judge_contactor_opening,
                                  measured_offer_a, observe_b2, plug_in, start_charging, watch)
from core.limits import Band, Count, derived_from
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, delay_s, first_edge, markers, pulses
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.installer import Installer
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp")

INF = float("inf")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (CP generator +12 V)")
@pytest.mark.red_on("cp_generator_v=11.2")
def test_cp_generator_high_level_is_12_v_in_state_a(cp: CpEmulator, evidence: Evidence) -> None:
    """With no vehicle (A1), the EVSE's CP generator sits at +12 V ±5 %."""
    level = cp.measure_cp_level()
    evidence.check("CP level in A1", level.volts, LIMITS.iec61851.cp_generator_high, t_s=level.t_s, u=level.u_v)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (CP generator -12 V)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("cp_generator_v=11.2")
def test_cp_generator_low_level_is_minus_12_v_in_b2(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """In B2 the negative half of the PWM reaches -12 V ±5 % (the vehicle diode blocks it)."""
    plug_in(cp, clock)
    m = cp.measure_cp()
    evidence.check("CP low level in B2", m.low_v, LIMITS.iec61851.cp_generator_low, t_s=m.t_s)


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state B recognised across the R3 tolerance band)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("classifies_b_up_to_ohm=4000", profile="mini-wallbox-plus", only=("high",))
def test_state_b_is_recognised_at_both_ends_of_the_resistance_band(cp: CpEmulator, clock: Clock, end: str,
                                                                   evidence: Evidence) -> None:
    """A vehicle at either end of the state-B resistance band is recognised: the EVSE starts PWM (B2)
    and supplies nothing (read as C, it would close)."""
    band = LIMITS.iec61851.state_b_resistance_band
    ohm = band.low if end == "low" else band.high
    evidence.parameters["resistance_ohm"] = ohm
    t_r = cp.set_resistance(ohm)
    observe_b2(clock)
    edges = cp.read_edges()
    to_pwm = delay_s(edges, t_r, Channel.PWM, "1")
    evidence.trace(f"B at {ohm:.0f} ohm", edges, markers(vehicle_R=t_r, PWM_on=t_r + to_pwm),
                   window=(t_r, t_r + LIMITS.rig.b2_observation.high))
    evidence.check(f"time to PWM with {ohm:.0f} ohm", to_pwm, LIMITS.rig.b2_observation, t_s=t_r, u=cp.interval_u_s)
    evidence.check(f"contactor closures with {ohm:.0f} ohm (a vehicle in B asks for no power)",
                   count_edges(edges, Channel.OVP, "1", t_r), LIMITS.iec61851.closures_in_state_b)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (diode check before closing)")
@pytest.mark.red_on("closes_on_a_to_c_jump=true")
@pytest.mark.red_on("diode_check=false")
def test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault(cp: CpEmulator, clock: Clock,
                                                                     evidence: Evidence) -> None:
    """With the vehicle diode shorted, the EVSE never closes the contactor and signals a fault on CP."""
    close = LIMITS.iec61851.contactor_close_after_c
    cp.set_diode(False)
    plug_in(cp, clock)
    t_c = cp.set_state("C")
    clock.sleep(watch(close))
    edges = cp.read_edges()
    evidence.trace("C with shorted diode", edges, markers(vehicle_C=t_c), window=(t_c, t_c + close.high))
    negative = LIMITS.rig.negative_cp.value
    fault = any(e.channel == Channel.CPH and float(e.value) < negative and e.t_s >= t_c for e in edges)
    evidence.check("contactor closures with a shorted diode", count_edges(edges, Channel.OVP, "1", t_c),
                   LIMITS.iec61851.closures_with_shorted_diode)
    evidence.check("fault (state F, negative CP) signalled", 1 if fault else 0,
                   LIMITS.iec61851.faults_on_shorted_diode)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state E: CP shorted to PE)")
@pytest.mark.red_on("state_e_open_delay_ms=150")
def test_contactor_opens_when_cp_is_shorted_to_pe_while_charging(cp: CpEmulator, clock: Clock, rig: Rig,
                                                                 evidence: Evidence) -> None:
    """A CP-PE short while charging (state E) opens the contactor within the profile's deadline."""
    lim = rig.profile.control_pilot.e_f_contactor_open_ms
    judge_contactor_opening(cp, clock, evidence, lim, lambda: cp.set_state("E"), "CP shorted", "C2 to E",
                            "contactor opening time after CP short", cp_step="flat")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state D: ventilation required)")
@pytest.mark.red_on("ventilation_supported=true")
def test_state_d_is_honoured_as_the_profile_declares_ventilation(cp: CpEmulator, clock: Clock, rig: Rig,
                                                                 evidence: Evidence) -> None:
    """State D (ventilation required) charges only on an EVSE that supports ventilation."""
    close = LIMITS.iec61851.contactor_close_after_c
    supported = rig.profile.control_pilot.ventilation_supported
    plug_in(cp, clock)
    t_d = cp.set_state("D")
    clock.sleep(watch(close))
    edges = cp.read_edges()
    evidence.trace("B2 to D", edges, markers(vehicle_D=t_d), window=(t_d, t_d + close.high))
    declared = Count(name="closures_in_state_d", value=int(supported), unit="", clause="IEC 61851-1:2017 Annex A (state D)",
                     source=f"DUT profile {rig.profile.id}: [control_pilot] ventilation_supported = {supported} "
                            "(state D charges only with ventilation)", cites=("MANUAL",))
    evidence.check("contactor closures in state D", min(count_edges(edges, Channel.OVP, "1", t_d), 1), declared)


@pytest.mark.needs("cp", "load")
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (vehicle draws more than the PWM offers)")
@pytest.mark.red_on("overcurrent_detection=false")
@pytest.mark.red_on("overcurrent_trip_s=15", profile="mini-wallbox-plus")
def test_charging_stops_when_the_vehicle_draws_more_than_offered(cp: CpEmulator, clock: Clock, load: AcLoad,
                                                                 rig: Rig, evidence: Evidence) -> None:
    """A vehicle drawing 5 A more than offered is cut off within the profile's window."""
    lim = rig.profile.control_pilot.overcurrent_stop_within_s
    excess = LIMITS.rig.overcurrent_excess.value
    start_charging(cp, clock)
    offered = measured_offer_a(cp)  # what this EVSE offers, so the excess is over its own offer
    load.set_current(offered)
    load.set_on(True)
    clock.sleep(LIMITS.rig.load_settle.value)
    t_before = cp.time()
    load.set_current(offered + excess)
    t_after = cp.time()
    clock.sleep(watch(lim))
    edges = cp.read_edges()
    stop = delay_s(edges, t_before, Channel.OVP, "0")  # from before the step: the longest it can have taken
    evidence.parameters.update(offered_a=offered, drawn_a=offered + excess)
    evidence.record("load step uncertainty (command round trip)", t_after - t_before, "s", t_s=t_before)
    evidence.trace("overcurrent", edges, markers(load_step=t_before, contactor_open=t_before + stop),
                   window=(t_before, t_before + lim.high))
    evidence.check("time to stop charging after overcurrent", stop, lim, t_s=t_before,
                   u=bracketed_u_s(cp, t_before, t_after),
                   note=f"offered {offered:g} A, drawn {offered + excess:g} A per phase")


@pytest.mark.parametrize("end", ["low", "high"])
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state C recognised across the R2 tolerance band)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("classifies_c_down_to_ohm=750", only=("low",))
@pytest.mark.red_on("contactor_close_delay_ms=3500")
@pytest.mark.red_on("classifies_c_up_to_ohm=1000", profile="mini-wallbox-plus", only=("high",))
def test_state_c_is_recognised_at_both_ends_of_the_resistance_band(cp: CpEmulator, clock: Clock, end: str,
                                                                   evidence: Evidence) -> None:
    """A vehicle switching in R2 at either end of its band (R3 nominal) is recognised as C: the EVSE closes."""
    band = LIMITS.iec61851.state_c_switched_resistance_band
    r3 = LIMITS.iec61851.vehicle_r3.value
    r2 = band.low if end == "low" else band.high
    ohm = 1.0 / (1.0 / r3 + 1.0 / r2)
    evidence.parameters.update(r2_ohm=r2, cp_pe_ohm=round(ohm, 1))
    plug_in(cp, clock)
    judge_contactor_closing(cp, clock, evidence, lambda: cp.set_resistance(ohm), "vehicle: C",
                            f"C with R2 {r2:.0f} ohm",
                            f"contactor closing time with R2 = {r2:.0f} ohm ({ohm:.0f} ohm CP-PE)")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (state sequence: C straight from A, no offer made)")
@pytest.mark.red_on("closes_on_a_to_c_jump=true")
def test_direct_jump_from_a_to_c_never_closes_without_an_offer(cp: CpEmulator, clock: Clock,
                                                               evidence: Evidence) -> None:
    """A vehicle that jumps from A straight to C (no B seen) gets no supply before the EVSE offers PWM."""
    close = LIMITS.iec61851.contactor_close_after_c
    t_c = cp.set_state("C")
    clock.sleep(watch(close))
    edges = cp.read_edges()
    offer = first_edge(edges, Channel.PWM, "1", t_c)
    t_offer = offer.t_s if offer is not None else INF
    evidence.trace("A to C", edges, markers(vehicle_C=t_c, PWM_on=t_offer), window=(t_c, t_c + close.high))
    evidence.check("contactor closures before any PWM offer", count_edges(edges, Channel.OVP, "1", t_c, t_offer),
                   LIMITS.iec61851.closures_before_an_offer)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (loss of PE: CP reads as A)")
@pytest.mark.red_on("contactor_open_delay_ms=150")
def test_contactor_opens_when_the_vehicle_loses_pe_while_charging(cp: CpEmulator, clock: Clock,
                                                                  evidence: Evidence) -> None:
    """A broken PE return while charging leaves the vehicle's resistors floating: CP reads as A
    (vehicle gone), so the contactor opens as after an unplug."""
    judge_contactor_opening(cp, clock, evidence, LIMITS.iec61851.contactor_open_after_unplug,
                            lambda: cp.set_pe(False), "PE lost", "PE lost in C2",
                            "contactor opening time after loss of PE", cp_step="up")


@pytest.mark.needs("cp", "installer", "load")
@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (EVSE removes PWM in C2: C2 -> C1)")
@pytest.mark.red_on("c1_cutoff_s=3")
@pytest.mark.red_on("c1_cutoff_s=15", profile="mini-wallbox-plus")
def test_vehicle_that_keeps_drawing_after_pwm_is_removed_is_cut_off(cp: CpEmulator, installer: Installer,
                                                                    load: AcLoad, clock: Clock, rig: Rig,
                                                                    evidence: Evidence) -> None:
    """When the EVSE withdraws its offer in C2 and the vehicle stays in C drawing current, the EVSE
    opens the contactor, but not before the vehicle's 6 s grace (no switching under load too early)."""
    grace = LIMITS.iec61851.c1_cutoff
    latest = rig.profile.control_pilot.c1_contactor_open_within_s
    lim = Band(name="c1_cutoff", low=grace.low, high=latest.high, unit="s", clause=grace.clause,
               **derived_from(grace, latest))
    start_charging(cp, clock)
    offered = measured_offer_a(cp)  # a vehicle draws what is offered, no more
    load.set_current(offered)
    load.set_on(True)
    clock.sleep(LIMITS.rig.load_settle.value)

    def pause() -> float:
        t = cp.time()
        installer.set_paused(True)
        return t
    t_pause, edges, u = act_and_record(cp, clock, evidence, pause, lim.high * LIMITS.rig.observation_factor.value,
                                       "withdrawn")
    removed = evidence.found("PWM withdrawn after the pause through the installer interface",
                             first_edge(edges, Channel.PWM, "0", t_pause), LIMITS.iec61851.pwm_withdrawals_when_paused,
                             t_s=t_pause)
    opening = delay_s(edges, removed.t_s, Channel.OVP, "0")
    evidence.parameters["drawn_a"] = offered
    evidence.trace("C2 to C1, vehicle stays in C", edges,
                   markers(paused=t_pause, PWM_off=removed.t_s, contactor_open=removed.t_s + opening),
                   window=(removed.t_s + lim.low, removed.t_s + lim.high))
    evidence.check("PWM removed to contactor open, vehicle still in C", opening, lim, t_s=removed.t_s,
                   u=u, note=f"the load kept drawing {offered:g} A per phase")


@pytest.mark.requirement(clause="IEC 61851-1:2017 A.5.3 (wake-up)")
@pytest.mark.red_on("wake_up_enabled=true")
@pytest.mark.red_on("wake_up_enabled=true", "wake_up_step_s=5", profile="generic-with-wake-up")
def test_wake_up_step_in_b2_is_as_the_profile_declares(cp: CpEmulator, clock: Clock, rig: Rig,
                                                       evidence: Evidence) -> None:
    """A vehicle left in B2 without asking for power: an EVSE with wake-up (A.5.3) makes one step of
    3-4 s without PWM; one without it keeps its offer steady."""
    declared = rig.profile.control_pilot.wake_up
    observe = LIMITS.rig.wake_up_observation.value
    t_b = plug_in(cp, clock)
    clock.sleep(max(0.0, observe - (cp.time() - t_b)))
    edges = cp.read_edges()
    offer = evidence.found("PWM offered after plug-in", first_edge(edges, Channel.PWM, "1", t_b),
                           LIMITS.iec61851.offers_after_plug_in, t_s=t_b)
    steps = pulses(edges, Channel.PWM, "0", offer.t_s, t_b + observe)
    evidence.parameters["wake_up_declared"] = declared
    evidence.trace("B2 without C", edges, markers(plug_in=t_b, **{f"step_{k + 1}": t for k, (t, _) in
                                                                   enumerate(steps)}), window=(t_b, t_b + observe))
    steps_expected = Count(name="wake_up_steps", value=int(declared), unit="", clause="IEC 61851-1:2017 A.5.3",
                           source=f"{LIMITS.iec61851.wake_up_step.source}; DUT profile {rig.profile.id}: "
                                  f"[control_pilot] wake_up = {declared}", cites=("EVC", "PHX", "MANUAL"))
    evidence.check("steps without PWM while the vehicle waits in B2", len(steps), steps_expected)
    for start, end in steps[:1] if declared else []:
        evidence.record("time in B2 before the step", start - offer.t_s, "s", t_s=start, note="A.5.3: about 30 s")
        evidence.check("wake-up step length", end - start, LIMITS.iec61851.wake_up_step, t_s=start,
                       u=cp.interval_u_s)

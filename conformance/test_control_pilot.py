"""IEC 61851-1 control-pilot and proximity catalogue: levels, state recognition, diode check,
error states, ventilation, overcurrent, cable coding.

Every test: arrange (DUT idle in A1, capture running) → act (vehicle emulator or load) →
measure (board timestamps, readings) → judge (limits from conformance/limits or, where the IEC
text is unconfirmed, from the DUT profile).
"""

from __future__ import annotations

import pytest

from conformance.limits import Limit, limit, pp_codings, profile_limit
from conformance.session import observe_b2, offered_current_a, plug_in, start_charging
from fixtures.evidence import Evidence
from fixtures.timing import delay_s
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.types import Edge
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp")

INF = float("inf")


def closures_after(edges: list[Edge], t_s: float) -> int:
    return sum(1 for e in edges if e.channel == "OVP" and e.value == "1" and e.t_s >= t_s)


def _markers(**events: float) -> dict[str, float]:
    return {name.replace("_", " "): t for name, t in events.items() if t != INF}


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
    """A vehicle at either end of the state-B resistance band is recognised: the EVSE starts PWM (B2)."""
    band = limit("iec61851", "state_b_resistance_band")
    ohm = band.low if end == "low" else band.high
    assert ohm is not None
    evidence.parameters["resistance_ohm"] = ohm
    t_r = cp.set_resistance(ohm)
    observe_b2(clock)
    edges = cp.read_edges()
    to_pwm = delay_s(edges, t_r, "PWM", "1")
    evidence.trace(f"B at {ohm:.0f} ohm", edges, _markers(vehicle_R=t_r, PWM_on=t_r + to_pwm),
                   window=(t_r, t_r + (limit("rig", "b2_observation").high or 0.0)))
    evidence.check(f"time to PWM with {ohm:.0f} ohm", to_pwm, limit("rig", "b2_observation"), t_s=t_r)


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
    evidence.trace("C with shorted diode", edges, _markers(vehicle_C=t_c), window=(t_c, t_c + close.high))
    fault = any(e.channel == "CPH" and float(e.value) < -1.0 and e.t_s >= t_c for e in edges)
    evidence.check("contactor closures with a shorted diode", closures_after(edges, t_c),
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
    assert lim.high is not None
    start_charging(cp, clock)
    t_e = cp.set_state("E")
    clock.sleep(max(1.0, lim.high * 5))
    edges = cp.read_edges()
    opening = delay_s(edges, t_e, "OVP", "0")
    evidence.trace("C2 to E", edges, _markers(CP_shorted=t_e, contactor_open=t_e + opening),
                   window=(t_e, t_e + lim.high))
    evidence.check("contactor opening time after CP short", opening, lim, t_s=t_e)


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
    evidence.trace("B2 to D", edges, _markers(vehicle_D=t_d), window=(t_d, t_d + close.high))
    expected = 1 if supported else 0
    evidence.check("contactor closures in state D", min(closures_after(edges, t_d), 1),
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
    offered = offered_current_a(rig)
    excess = limit("rig", "overcurrent_excess").low or 0.0
    start_charging(cp, clock)
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
    evidence.trace("overcurrent", edges, _markers(load_step=t_before, contactor_open=t_before + stop),
                   window=(t_before, t_before + lim.high))
    evidence.check("time to stop charging after overcurrent", stop, lim, t_s=t_before,
                   note=f"offered {offered:g} A, drawn {offered + excess:g} A per phase")


@pytest.mark.requirement(wb_id="WB-EL-04", clause="IEC 61851-1:2017 Annex B (PP coding of the tethered cable)")
def test_tethered_plug_codes_at_least_the_rated_current(cp: CpEmulator, rig: Rig, evidence: Evidence) -> None:
    """The tethered plug's PP-PE resistor codes a cable rating of at least the wallbox's rated current."""
    if rig.profile.value("connector.kind") != "tethered":
        pytest.skip("socket-outlet EVSE: the cable brings its own coding")
    pp = cp.measure_pp()
    coding = next((c for c in pp_codings() if c.low <= pp.value <= c.high), None)
    evidence.record("PP-PE resistance of the plug", pp.value, "ohm", t_s=pp.t_s,
                    note=f"coding window {coding.low:g}-{coding.high:g} ohm ({coding.source})" if coding
                    else "outside every coding window")
    rated = float(rig.profile.value("connector.cable_rating_a"))
    evidence.check("cable rating coded on PP", coding.rating_a if coding else 0.0,
                   Limit("pp_rating", rated, None, "A", "IEC 61851-1:2017 Annex B",
                         f"DUT profile {rig.profile.id}: connector.cable_rating_a (WB-EL-04); EVB coding windows"),
                   t_s=pp.t_s)

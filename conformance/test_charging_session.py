"""A first IEC 61851-1 charging session: plug in, offer, charge, stop, unplug.

Each test: arrange (DUT idle in A1, capture running) → act (the vehicle emulator switches) →
measure (instrument timestamps and readings) → judge (limits from conformance/limits).
"""

from __future__ import annotations

import pytest

from conformance.limits import LIMITS, expected_duty_pct
from conformance.session import (judge_contactor_closing, judge_contactor_opening, offered_current_a, plug_in,
                                 start_charging)
from core.limits import AtMost
from core.uncertainty import times
from fixtures.evidence import Evidence
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.power_analyser import PowerAnalyser
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (CP PWM frequency 1 kHz)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("pwm_frequency_hz=1030")
@pytest.mark.red_on("pwm_frequency_hz=970", profile="mini-wallbox-plus")
def test_pwm_frequency_is_1_khz_in_b2(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """The CP PWM the EVSE starts after plug-in runs at 1 kHz (980-1020 Hz)."""
    plug_in(cp, clock)
    m = cp.measure_cp()
    evidence.check("PWM frequency in B2", m.frequency_hz, LIMITS.iec61851.pwm_frequency, t_s=m.t_s,
                   u=cp.frequency_u_hz(m.frequency_hz))


@pytest.mark.requirement(wb_id="WB-EL-03", clause="IEC 61851-1:2017 Annex A (duty cycle for the maximum current)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="generic-iec61851")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus")
def test_duty_cycle_offers_configured_current_in_b2(cp: CpEmulator, clock: Clock, rig: Rig,
                                                    evidence: Evidence) -> None:
    """In B2 the duty cycle offers the installer's current setting (within the pulse-width accuracy)."""
    offered = offered_current_a(rig)
    expected, source = expected_duty_pct(offered)
    evidence.parameters["offered_current_a"] = offered
    plug_in(cp, clock)
    m = cp.measure_cp()
    evidence.record("duty cycle in B2", m.duty_pct, "%", t_s=m.t_s, u=cp.duty_u_pct,
                    note=f"expected {expected:.3f} % for {offered:g} A ({source})")
    evidence.check("duty cycle error", m.duty_pct - expected, LIMITS.iec61851.duty_tolerance, t_s=m.t_s,
                   u=cp.duty_u_pct)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (B2 -> C2)")
@pytest.mark.red_on("b2_pwm_delay_ms=3500")
@pytest.mark.red_on("contactor_close_delay_ms=3500")
def test_contactor_closes_within_3_s_after_b2_to_c2(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """When the vehicle asks for power (B2 -> C2), the EVSE closes the contactor within 3 s."""
    plug_in(cp, clock)
    judge_contactor_closing(cp, clock, evidence, lambda: cp.set_state("C"), "vehicle: C", "B2 to C2",
                            "contactor closing time after C",
                            note="from the vehicle's switch to C to output voltage on the vehicle side")


def judge_opening_after(vehicle_state: str, lim: AtMost, cp: CpEmulator, clock: Clock,
                        evidence: Evidence) -> None:
    """Charge, switch the vehicle to `vehicle_state`, judge the time to contactor open."""
    judge_contactor_opening(cp, clock, evidence, lim, lambda: cp.set_state(vehicle_state),
                            f"vehicle: {vehicle_state}", f"C2 to {vehicle_state}",
                            f"contactor opening time after C -> {vehicle_state}", cp_step="up")


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (C2 -> B2)")
@pytest.mark.red_on("contactor_open_delay_ms=150")
def test_contactor_opens_within_100_ms_after_c_to_b(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """When the vehicle stops asking for power (C2 -> B2), the contactor opens within 100 ms."""
    judge_opening_after("B", LIMITS.iec61851.contactor_open_after_c_to_b, cp, clock, evidence)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A, Table A.6 (C2 -> A)")
@pytest.mark.red_on("contactor_open_delay_ms=150")
def test_contactor_opens_within_100_ms_after_unplug(cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """When the vehicle is unplugged while charging (C2 -> A), the contactor opens within 100 ms."""
    judge_opening_after("A", LIMITS.iec61851.contactor_open_after_unplug, cp, clock, evidence)


@pytest.mark.needs("cp", "load", "analyser")
@pytest.mark.requirement(wb_id="WB-EL-01", clause="IEC 61851-1:2017 (mode 3 supply on the EVSE's phases)")
@pytest.mark.red_on("phases=1")
def test_charging_current_flows_on_every_supplied_phase(cp: CpEmulator, clock: Clock, load: AcLoad,
                                                        analyser: PowerAnalyser, rig: Rig,
                                                        evidence: Evidence) -> None:
    """In C2 the vehicle's draw flows on every phase the profile supplies, and energy is delivered."""
    phases = rig.profile.electrical.phases
    draw = min(LIMITS.rig.phase_test_draw.value, offered_current_a(rig))
    start_charging(cp, clock)
    load.set_current(draw)
    load.set_on(True)
    before = analyser.read()
    clock.sleep(LIMITS.rig.phase_test_duration.value)
    after = analyser.read()
    fraction = LIMITS.rig.phase_current_fraction
    for k in range(phases):
        evidence.record(f"L{k + 1} voltage", after.phases[k].u_v, "V", t_s=after.t_s,
                        u=analyser.u_v(after.phases[k].u_v))
        evidence.check(f"L{k + 1} current / load setpoint", after.phases[k].i_a / draw, fraction, t_s=after.t_s,
                       note=f"load set to {draw:g} A per phase", u=times(analyser.u_a(after.phases[k].i_a), 1.0 / draw))
    delivered = after.energy_wh - before.energy_wh
    evidence.record(f"energy delivered in {LIMITS.rig.phase_test_duration.value:g} s", delivered, "Wh", t_s=after.t_s,
                    u=analyser.u_wh(delivered, after.t_s - before.t_s, phases))

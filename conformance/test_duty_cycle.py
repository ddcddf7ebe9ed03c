"""Duty cycle ↔ current for every settable current of the profile, and the 5 s update rule.

The installer interface changes the DUT's current setting (WB-EL-03); what the EVSE then offers
is read on CP as the duty, and every time judged is a difference of CP-board time stamps.
"""

from __future__ import annotations

import pytest

from core.types import Channel
from conformance.limits import LIMITS, decoded_current_a, expected_duty_pct
from conformance.session import offered_current_a, plug_in, settable_currents, watch
from fixtures.evidence import Evidence
from fixtures.timing import count_edges, markers
from instruments.cp_emulator import CpEmulator
from instruments.installer import Installer
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "installer")

DUTY_CLAUSE = "IEC 61851-1:2017 Annex A (duty cycle for the maximum current)"


@pytest.mark.requirement(wb_id="WB-EL-03", clause=DUTY_CLAUSE)
@pytest.mark.red_on("b2_pwm_delay_ms=3500", only=("10A", "12A", "16A", "20A", "24A", "32A", "6A"))
@pytest.mark.red_on("min_current_duty_pct=8", only=("6A",))
@pytest.mark.red_on("pp_resistance_ohm=680", only=("24A", "32A"))
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", only=("10A", "12A", "16A", "20A", "24A", "32A", "6A"))
@pytest.mark.red_on("zero_setting_offers_min=true", only=("0A",))
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="generic-iec61851")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus")
def test_duty_cycle_offers_each_settable_current(cp: CpEmulator, installer: Installer, clock: Clock, rig: Rig,
                                                 setting_a: float, evidence: Evidence) -> None:
    """Each current the installer can set is offered as its duty in B2; a setting below 6 A (BMW's
    0 A) offers nothing: no PWM, and no supply when the vehicle asks."""
    installer.set_current_a(setting_a)
    offered = offered_current_a(rig, setting_a)
    evidence.parameters.update(setting_a=setting_a, offered_current_a=offered)
    t_b = plug_in(cp, clock)
    m = cp.measure_cp()
    if offered > 0:
        expected, source = expected_duty_pct(offered)
        evidence.record("duty cycle in B2", m.duty_pct, "%", t_s=m.t_s, u=cp.duty_u_pct,
                        note=f"expected {expected:.3f} % for {offered:g} A ({source})")
        evidence.record("current a vehicle reads from the duty", decoded_current_a(m.duty_pct), "A", t_s=m.t_s,
                        u=LIMITS.offer_u_a(decoded_current_a(m.duty_pct), cp.duty_u_pct),
                        note=LIMITS.iec61851.six_amp_region.source if offered == 6 else "")
        evidence.check("duty cycle error", m.duty_pct - expected, LIMITS.iec61851.duty_tolerance, t_s=m.t_s,
                       u=cp.duty_u_pct)
        return
    close = LIMITS.iec61851.contactor_close_after_c
    t_c = cp.set_state("C")
    clock.sleep(watch(close))
    edges = cp.read_edges()
    evidence.trace(f"{setting_a:g} A set: B then C", edges, markers(vehicle_B=t_b, vehicle_C=t_c),
                   window=(t_c, t_c + close.high))
    evidence.check(f"PWM offers with {setting_a:g} A set", count_edges(edges, Channel.PWM, "1", t_b),
                   LIMITS.iec61851.offers_at_zero_setting)
    evidence.check(f"contactor closures with {setting_a:g} A set", count_edges(edges, Channel.OVP, "1", t_c),
                   LIMITS.iec61851.closures_at_zero_setting)


@pytest.mark.requirement(clause="IEC 61851-1:2017 Annex A (change of the offered current)")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="generic-iec61851")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus")
@pytest.mark.red_on("pwm_update_min_interval_s=1", profile="mini-wallbox-plus")
def test_offered_duty_changes_at_most_once_per_5_s(cp: CpEmulator, installer: Installer, clock: Clock, rig: Rig,
                                                  evidence: Evidence) -> None:
    """Settings sent faster than the EVSE may follow: the duty changes at most once per 5 s, and the
    last setting is offered in the end."""
    interval = LIMITS.iec61851.pwm_update_min_interval
    spacing = LIMITS.rig.setting_change_spacing.value
    settle = LIMITS.rig.duty_update_settle.value
    first = offered_current_a(rig)
    offers = {v: offered_current_a(rig, v) for v in settable_currents(rig.profile)}
    sequence = [v for v, offer in offers.items() if offer > 0 and offer != first][-4:]
    if len(sequence) < 2:
        pytest.skip(f"profile {rig.profile.id} has fewer than two other settable currents")
    t_b = plug_in(cp, clock)
    changes: dict[str, float] = {}
    for setting in sequence:
        changes[f"set {setting:g} A"] = cp.time()
        installer.set_current_a(setting)
        clock.sleep(spacing)
    clock.sleep(settle * interval.low)
    m = cp.measure_cp()
    edges = cp.read_edges()
    duty_edges = sorted((e for e in edges if e.channel == Channel.DUTY and e.t_s >= t_b), key=lambda e: e.t_s)
    gaps = [b.t_s - a.t_s for a, b in zip(duty_edges, duty_edges[1:])]
    evidence.parameters["settings_a"] = sequence
    evidence.trace("setting changes in B2", edges, {"plug in": t_b, **changes},
                   window=(min(changes.values()), m.t_s))
    evidence.record("duty changes seen", len(duty_edges) - 1, "", t_s=t_b,
                    note=", ".join(f"{e.value} % at {e.t_s - t_b:.2f} s" for e in duty_edges))
    if gaps:
        evidence.check("shortest time between duty changes", min(gaps), interval, t_s=t_b, u=cp.interval_u_s)
    expected, source = expected_duty_pct(offers[sequence[-1]])
    evidence.check(f"duty error once {sequence[-1]:g} A is set and settled", m.duty_pct - expected,
                   LIMITS.iec61851.duty_tolerance, t_s=m.t_s, u=cp.duty_u_pct,
                   note=f"expected {expected:.3f} % ({source})")

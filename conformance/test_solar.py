"""Solar-optimised charging (WB-PV-01): the charging power follows the PV surplus the meter sees.

With enough surplus only PV power is used (no grid import); with too little, the DUT charges
from PV and grid with its power deliberately limited (taken as the IEC minimum, the profile's
`energy.solar_limited_current_a`).  Powers come from the analyser and the meter emulator's view
of the grid connection on the analyser's timebase.
"""

from __future__ import annotations

import pytest

from conformance.grid import Building, configure_energy, require_energy_feature
from conformance.limits import LIMITS
from core.limits import Band, derived_from
from conformance.session import start_charging
from fixtures.evidence import Evidence
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "load", "analyser", "meter", "installer")

HOUSE_A = 2.0
"""Household base load per phase (460 W each)."""
PV_HIGH_W = 10_000.0
PV_MEDIUM_W = 7_000.0
PV_LOW_W = 2_500.0
"""Surplus well above, above and below what 6 A on three phases draws (4.1 kW)."""


def _arrange(rig: Rig, building: Building, pv_w: float) -> None:
    require_energy_feature(rig, "solar")
    configure_energy(rig, "solar")
    building.set_house(HOUSE_A)
    building.set_pv(pv_w)
    building.vehicle_on()
    start_charging(rig.cp, rig.clock)


def _plateau(building: Building, t_from: float) -> list:
    return [x for x in building.samples if x.t_s >= t_from]


@pytest.mark.requirement(wb_id="WB-PV-01")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665")
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8")
@pytest.mark.red_on("solar_charging=false")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus")
@pytest.mark.red_on("solar_min_current_a=10", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_misread_model=inepro-pro380", "meter_misread=power_x2")
def test_charging_follows_pv_surplus_without_grid_import(idle_dut: Rig, building: Building, evidence: Evidence) -> None:
    """WB-PV-01: with enough surplus the charging power follows it as the PV output changes, and
    nothing is imported from the grid."""
    rig = idle_dut
    _arrange(rig, building, PV_HIGH_W)
    settle = LIMITS.rig.solar_settle.value
    for pv_w in (PV_HIGH_W, PV_MEDIUM_W):
        t_step = building.set_pv(pv_w)
        building.run(settle)
        plateau = _plateau(building, t_step + settle / 2)
        house_w = 3 * HOUSE_A * LIMITS.rig.nominal_supply_voltage.value  # the household draws on three phases
        surplus_w = pv_w - house_w
        worst_import = max(x.grid_p_w for x in plateau)
        mean_charging = sum(x.charging_p_w for x in plateau) / len(plateau)
        usable_w = min(surplus_w, building.ev_max_a * plateau[-1].supplied_v)   # what the vehicle can take
        evidence.check(f"grid import with {pv_w:g} W PV", worst_import, LIMITS.rig.solar_import_max,
                       t_s=t_step, note=f"surplus about {surplus_w:.0f} W")
        evidence.check(f"charging power below the usable surplus with {pv_w:g} W PV", usable_w - mean_charging,
                       Band(name="solar_follow", low=-LIMITS.rig.solar_import_max.high,
                            high=LIMITS.rig.solar_follow_margin.value, unit="W", clause="WB-PV-01",
                            **derived_from(LIMITS.rig.solar_import_max, LIMITS.rig.solar_follow_margin)), t_s=t_step)
    building.plot(evidence, "grid connection (power)", power=True)


@pytest.mark.requirement(wb_id="WB-PV-01", clause="IEC 61851-1 Annex A")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665")
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("solar_charging=false")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
@pytest.mark.red_on("solar_min_current_a=10", profile="mini-wallbox-plus")
def test_too_little_surplus_charges_limited_from_pv_and_grid(idle_dut: Rig, building: Building,
                                                             evidence: Evidence) -> None:
    """WB-PV-01: with less surplus than the minimum current needs, the DUT charges from PV and
    grid with its power deliberately limited to the minimum."""
    rig = idle_dut
    _arrange(rig, building, PV_LOW_W)
    settle = LIMITS.rig.solar_settle.value
    t_step = building.set_pv(PV_LOW_W)
    building.run(settle)
    building.plot(evidence, "grid connection (power)", power=True)
    plateau = _plateau(building, t_step + settle / 2)
    limited = rig.profile.energy.solar_limited_current_a
    tolerance = LIMITS.rig.failsafe_tolerance.value
    evidence.check("offer with too little surplus", max(x.offer_a for x in plateau),
                   Band(name="solar_limited", low=limited - tolerance, high=limited + tolerance, unit="A",
                        clause="WB-PV-01",
                        source=f"DUT profile {rig.profile.id}: [energy] solar_limited_current_a (unconfirmed); "
                               f"failsafe_tolerance: {LIMITS.rig.failsafe_tolerance.source}",
                        cites=("MANUAL", "RIG")), t_s=t_step)
    evidence.record("grid import while limited", sum(x.grid_p_w for x in plateau) / len(plateau), "W")

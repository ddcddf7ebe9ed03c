"""Solar-optimised charging (WB-PV-01): the charging power follows the PV surplus the meter sees.

With enough surplus only PV power is used (no grid import); with too little, the DUT charges
from PV and grid with its power deliberately limited (taken as the IEC minimum, the profile's
`energy.solar_limited_current_a`).  Powers come from the analyser and the meter emulator's view
of the grid connection on the analyser's timebase.
"""

from __future__ import annotations

import pytest

from conformance.grid import (SINGLE_PHASE_METERS, THREE_PHASE_METERS, Building, configure_energy,
                              require_energy_feature)
from conformance.limits import LIMITS
from core.limits import Band, derived_from
from conformance.session import try_charging, offer_u_a
from fixtures.evidence import Evidence
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "load", "analyser", "meter", "installer")

HOUSE_A = 2.0
"""Household base load on each phase of the connection (460 W each)."""
PV_HIGH_W = 3_400.0
PV_MEDIUM_W = 2_400.0
PV_LOW_W = 800.0
"""PV per phase of the connection (three-phase: 10.2, 7.2 and 2.4 kW): a surplus well above, above
and below what 6 A draws on those phases (1.38 kW a phase)."""


def _arrange(rig: Rig, building: Building, model: str, pv_per_phase_w: float, evidence: Evidence) -> None:
    require_energy_feature(rig, "solar")
    if model == "none":
        pytest.skip(f"DUT profile {rig.profile.id} lists no supported meter ([meter] models)")
    configure_energy(rig, "solar", model)
    building.connect(evidence)
    building.set_house(HOUSE_A)
    building.set_pv(pv_per_phase_w * building.phases)
    building.vehicle_on()
    # judged, not arranged: with PV to spare (or too little, at the limited current) the DUT must charge
    evidence.found(f"contactor closed when the vehicle asked, with {building.pv_w:g} W PV",
                   try_charging(rig.cp, rig.clock), LIMITS.iec61851.closures_when_asked)


def _plateau(building: Building, t_from: float) -> list:
    return [x for x in building.samples if x.t_s >= t_from]


@pytest.mark.requirement(wb_id="WB-PV-01", clause="WB-MB-03")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665",
                    only=("inepro-pro2", "inepro-pro380", "janitza-b21", "janitza-b23", "schneider-a9mem3150"))
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", only=THREE_PHASE_METERS)  # 0.5 A: 110 W on one phase
@pytest.mark.red_on("solar_charging=false")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus", only=THREE_PHASE_METERS)
@pytest.mark.red_on("solar_min_current_a=10", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_misread_model=inepro-pro380", "meter_misread=power_x2", only=("inepro-pro380",))
@pytest.mark.red_on("meter_misread_model=janitza-b23", only=("janitza-b23",))
@pytest.mark.red_on("meter_misread_model=siemens-7kt1665", "meter_misread=unreadable", only=("siemens-7kt1665",))
@pytest.mark.red_on("single_phase_supported=false", only=SINGLE_PHASE_METERS)
def test_charging_follows_pv_surplus_without_grid_import(idle_dut: Rig, building: Building, evidence: Evidence,
                                                        model: str) -> None:
    """WB-PV-01 with each meter of WB-MB-03: with enough surplus the charging power follows it as
    the PV output changes, and nothing is imported from the grid."""
    rig = idle_dut
    _arrange(rig, building, model, PV_HIGH_W, evidence)
    settle = LIMITS.rig.solar_settle.value
    for pv_w in (PV_HIGH_W * building.phases, PV_MEDIUM_W * building.phases):
        t_step = building.set_pv_after_a_poll(pv_w)
        building.run(settle)
        plateau = _plateau(building, t_step + settle / 2)
        house_w = building.phases * HOUSE_A * LIMITS.rig.nominal_supply_voltage.value  # on every phase
        surplus_w = pv_w - house_w
        worst = max(plateau, key=lambda x: x.grid_p_w)
        worst_import = worst.grid_p_w
        mean_charging = sum(x.charging_p_w for x in plateau) / len(plateau)
        usable_w = min(surplus_w, building.ev_max_a * plateau[-1].supplied_v)   # what the vehicle can take
        evidence.check(f"grid import with {pv_w:g} W PV", worst_import, LIMITS.rig.solar_import_max,
                       t_s=t_step, note=f"surplus about {surplus_w:.0f} W", u=building.grid_u_w(worst))
        evidence.check(f"charging power below the usable surplus with {pv_w:g} W PV", usable_w - mean_charging,
                       Band(name="solar_follow", low=-LIMITS.rig.solar_import_max.high,
                            high=LIMITS.rig.solar_follow_margin.value, unit="W", clause="WB-PV-01",
                            **derived_from(LIMITS.rig.solar_import_max, LIMITS.rig.solar_follow_margin)), t_s=t_step,
                       u=building.charging_u_w(plateau[-1]))   # the mean of the plateau's: its U is one sample's
    building.plot(evidence, "grid connection (power)", power=True)


@pytest.mark.requirement(wb_id="WB-PV-01", clause="IEC 61851-1 Annex A")
@pytest.mark.red_on("meter_baud=19200")
@pytest.mark.red_on("meter_model=siemens-7kt1665",
                    only=("inepro-pro2", "inepro-pro380", "janitza-b21", "janitza-b23", "schneider-a9mem3150"))
@pytest.mark.red_on("meter_poll_interval_s=45")
@pytest.mark.red_on("solar_charging=false")
@pytest.mark.red_on("load_management=false", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
@pytest.mark.red_on("solar_min_current_a=10", profile="mini-wallbox-plus")
@pytest.mark.red_on("single_phase_supported=false", only=SINGLE_PHASE_METERS)
@pytest.mark.red_on("meter_misread_model=siemens-7kt1665", "meter_misread=unreadable", only=("siemens-7kt1665",))
def test_too_little_surplus_charges_limited_from_pv_and_grid(idle_dut: Rig, building: Building,
                                                             evidence: Evidence, model: str) -> None:
    """WB-PV-01 with each meter of WB-MB-03: with less surplus than the minimum current needs, the
    DUT charges from PV and grid with its power deliberately limited to the minimum."""
    rig = idle_dut
    _arrange(rig, building, model, PV_MEDIUM_W, evidence)
    settle = LIMITS.rig.solar_settle.value
    building.run(settle)     # charging from the surplus first; then the sun goes, right after a meter read
    t_step = building.set_pv_after_a_poll(PV_LOW_W * building.phases)
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
                        cites=("MANUAL", "RIG")), t_s=t_step, u=offer_u_a(rig.cp, max(x.offer_a for x in plateau)))
    evidence.record("grid import while limited", sum(x.grid_p_w for x in plateau) / len(plateau), "W",
                    u=building.grid_u_w(plateau[-1]))

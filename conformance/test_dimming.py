"""Grid-operator dimming (WB-PS-01, §14a EnWG) through the PS_1/PS_2 contact input.

The fault box closes the grid operator's contact while a vehicle charges: the charging power
must come down to the DUT profile's dimming limit, and, §14a EnWG, the offer must still allow at
least 4.2 kW.  Opened again, charging returns to the configured current.
"""

from __future__ import annotations

import pytest

from conformance.grid import (SINGLE_PHASE_METERS, Building, configure_energy, first_time, grid_limit_a,
                              require_energy_feature, sample_time_u_s)
from conformance.limits import LIMITS
from core.limits import AtLeast, AtMost
from conformance.session import offered_current_a, start_charging
from fixtures.evidence import Evidence
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "load", "analyser", "meter", "installer", "fault_box")

HOUSE_A = 2.0
"""Household base load on each phase of the connection: load management leaves the vehicle the rest."""


@pytest.mark.requirement(wb_id="WB-PS-01", clause="§14a EnWG")
@pytest.mark.red_on("dimming_limit_w=3500")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("dimming_limit_w=6000", profile="mini-wallbox-plus")
@pytest.mark.red_on("pwm_duty_offset_pct=0.8", profile="mini-wallbox-plus")
@pytest.mark.red_on("single_phase_supported=false", only=SINGLE_PHASE_METERS)
@pytest.mark.red_on("meter_baud=19200")   # no meter data: load management holds the failsafe current
@pytest.mark.red_on("meter_model=siemens-7kt1665",
                    only=("inepro-pro2", "inepro-pro380", "janitza-b21", "janitza-b23", "schneider-a9mem3150"))
@pytest.mark.red_on("meter_misread_model=janitza-b23", only=("janitza-b23",))
@pytest.mark.red_on("meter_misread_model=siemens-7kt1665", "meter_misread=unreadable", only=("siemens-7kt1665",))
@pytest.mark.red_on("meter_id=2", profile="mini-wallbox-plus")
@pytest.mark.red_on("meter_parity=N", profile="mini-wallbox-plus")
def test_dimming_contact_limits_power_and_keeps_4_2_kw(idle_dut: Rig, building: Building, evidence: Evidence,
                                                      model: str) -> None:
    """WB-PS-01 with load management on each meter of WB-MB-03 (a dimmed wallbox still reads its
    meter): contact closed → charging power at most the dimming limit, offer never below §14a's
    4.2 kW; contact open → back to what the connection leaves of the configured current."""
    rig = idle_dut
    require_energy_feature(rig, "dimming")
    if model == "none":
        pytest.skip(f"DUT profile {rig.profile.id} lists no supported meter ([meter] models)")
    configure_energy(rig, "load", model)
    building.connect(evidence)
    building.set_house(HOUSE_A)
    building.vehicle_on()
    start_charging(rig.cp, rig.clock)
    building.run(LIMITS.rig.dimming_settle.value)
    respond = LIMITS.rig.dimming_response.high
    margin = LIMITS.rig.dimming_margin.value
    dim_w = rig.profile.energy.dimming_limit_w
    floor_w = rig.profile.energy.dimming_floor_w

    rig.fault_box.set_grid_contact(True, False)
    t_close = building.step()
    building.marks["PS_1 closed"] = t_close
    building.run(respond + LIMITS.rig.dimming_settle.value)
    rig.fault_box.set_grid_contact(False, False)
    t_open = building.step()
    building.marks["PS_1 open"] = t_open
    building.run(respond)
    building.plot(evidence, "charging power", power=True)

    dimmed = first_time(building.samples, t_close, lambda x: x.charging_p_w <= dim_w + margin)
    evidence.check("dimmed after the contact closed", (dimmed - t_close) if dimmed is not None else float("inf"),
                   LIMITS.rig.dimming_response, t_s=t_close, u=sample_time_u_s())
    held = [x for x in building.samples if t_close + respond <= x.t_s < t_open]
    highest = max(held, key=lambda x: x.charging_p_w)
    evidence.check("charging power while dimmed", highest.charging_p_w,
                   AtMost(name="dimmed_power", high=dim_w + margin, unit="W", clause="WB-PS-01",
                          source=f"DUT profile {rig.profile.id}: [energy] dimming_limit_w; "
                                 f"dimming_margin: {LIMITS.rig.dimming_margin.source}", cites=("MANUAL", "RIG")),
                   u=building.charging_u_w(highest))
    lowest = min(held, key=lambda x: x.offered_w)
    offered_w = lowest.offered_w
    evidence.check("power the dimmed offer allows", offered_w,
                   AtLeast(name="dimming_floor", low=floor_w - margin, unit="W", clause="§14a EnWG",
                           source=f"DUT profile {rig.profile.id}: [energy] dimming_floor_w (§14a EnWG: a dimmed "
                                  f"controllable consumer keeps at least 4.2 kW); "
                                  f"dimming_margin: {LIMITS.rig.dimming_margin.source}", cites=("ENWG14A", "RIG")),
                   u=building.offered_u_w(lowest))
    expected = min(offered_current_a(rig), grid_limit_a() - building.house_a)  # load management caps it
    back = first_time(building.samples, t_open, lambda x: x.offer_a >= expected - LIMITS.rig.offer_restored_within.value)
    evidence.check("back to the configured current after the contact opened",
                   (back - t_open) if back is not None else float("inf"), LIMITS.rig.dimming_response, t_s=t_open,
                   note=f"configured offer {offered_current_a(rig):g} A, {expected:g} A of it left by the "
                        f"{grid_limit_a():g} A connection", u=sample_time_u_s())

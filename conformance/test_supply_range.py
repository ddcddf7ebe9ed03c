"""Charging on every supply the manual rates (WB-EL-01, WB-EL-02): three-phase at both ends of
380-415 V, single-phase (L1, N, PE only) at both ends of the variant's range (BMW 100-240 V, MINI
110-240 V), and at each rated frequency (50/60 Hz).

A wallbox learns its installation when it powers up, so each case powers the DUT up on that
supply; it must come up ready, close when the vehicle asks, and offer its full current for the
rig's dwell while the vehicle draws it, the analyser confirming the supply and the current on
every supplied phase.  Afterwards the `installation` fixture puts it back on the rig's supply.
"""

from __future__ import annotations

import pytest

from conformance.injection import hold
from conformance.installation import Installation, Supply
from conformance.limits import LIMITS
from conformance.session import full_offer_limit, measured_offer_a, offer_u_a, offered_current_a, try_charging
from core.uncertainty import times
from fixtures.evidence import Evidence, step
from instruments.cp_emulator import CpEmulator
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "source", "load", "analyser")


def judge_full_current_on(supply: Supply, cp: CpEmulator, rig: Rig, installation: Installation,
                          evidence: Evidence, rated_key: str) -> None:
    """Power up on `supply`, charge at the full offer for the rig's dwell, judge offer and current.
    `rated_key`: the profile's `[electrical]` range this supply is an end of, quoted in the limit."""
    clock, load = rig.clock, rig.load
    low, high = getattr(rig.profile.electrical, rated_key)
    rated = f"{rated_key} = [{low:g}, {high:g}] {'Hz' if rated_key.endswith('_hz') else 'V'}"
    full = offered_current_a(rig)
    where = supply.describe()
    evidence.parameters["supply"] = where
    t_ready = installation.ready_on(supply, evidence)
    evidence.found(f"contactor closed when the vehicle asked, on {where}", try_charging(cp, clock),
                   LIMITS.iec61851.closures_when_asked)
    with step("act and measure", f"the vehicle draws {full:g} A for {LIMITS.rig.supply_variant_dwell.value:g} s"):
        load.set_current(full)
        load.set_on(True)
        clock.sleep(LIMITS.rig.load_settle.value)
        installation.confirm_applied(rig.analyser.read(), evidence)
        offers = hold(clock, LIMITS.rig.supply_variant_dwell.value, LIMITS.rig.supply_variant_sample.value,
                      lambda: (cp.measure_cp().t_s, measured_offer_a(cp)))
        record = rig.analyser.read()
        load.set_on(False)
    evidence.series(f"charging on {where}", {"offered current (A)": offers}, {"ready on this supply": t_ready},
                    {"offered current (A)": (full, None)})
    draw = LIMITS.rig.phase_current_fraction
    for k in range(min(supply.phases, rig.profile.electrical.phases)):
        evidence.check(f"L{k + 1} current / load setpoint on {where}", record.phases[k].i_a / full, draw,
                       t_s=record.t_s, note=f"load set to {full:g} A per phase",
                       u=times(rig.analyser.u_a(record.phases[k].i_a), 1.0 / full))
    # judged last, so the plot of the offer carries this verdict
    lowest = min(a for _, a in offers)
    evidence.check(f"lowest offer while charging on {where}", lowest,
                   full_offer_limit("full_current_on_rated_supply", full, rated,
                                    f"DUT profile {rig.profile.id}: [electrical] {rated}, rated "
                                    f"{rig.profile.electrical.rated_current_a:g} A; the full offer for the configured "
                                    "current on any rated supply"), t_s=offers[0][0], u=offer_u_a(cp, lowest))


@pytest.mark.requirement(wb_id="WB-EL-02", clause="product manual: single-phase supply (L1, N, PE only)")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("single_phase_supported=false")
@pytest.mark.red_on("supply_max_nominal_v=230", only=("240V",))
@pytest.mark.red_on("supply_min_nominal_v=110", only=("100V",))
@pytest.mark.red_on("supply_nominal_detection=false", only=("100V",))
@pytest.mark.red_on("supply_min_nominal_v=120", profile="mini-wallbox-plus", only=("110V",))
def test_full_current_on_a_single_phase_supply_at_both_ends_of_the_rated_range(
        cp: CpEmulator, idle_dut: Rig, installation: Installation, single_phase_v: float, evidence: Evidence) -> None:
    """WB-EL-02: installed on L1, N and PE alone, at the lowest and the highest voltage of the
    variant's single-phase range, the DUT comes up, charges and offers its full current."""
    supply = Supply(1, single_phase_v, LIMITS.rig.nominal_supply_frequency.value)
    judge_full_current_on(supply, cp, idle_dut, installation, evidence, "supply_single_phase_v")


@pytest.mark.requirement(wb_id="WB-EL-01", clause="product manual: three-phase supply")
@pytest.mark.red_on("phases=1")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("supply_max_nominal_v=230", only=("415V",))
def test_full_current_on_a_three_phase_supply_at_both_ends_of_the_rated_range(
        cp: CpEmulator, idle_dut: Rig, installation: Installation, three_phase_v: float, evidence: Evidence) -> None:
    """WB-EL-01: on a three-phase supply at the lowest and the highest rated line-to-line voltage,
    the DUT comes up, charges on every phase and offers its full current."""
    supply = Supply.three_phase(three_phase_v, LIMITS.rig.nominal_supply_frequency.value)
    judge_full_current_on(supply, cp, idle_dut, installation, evidence, "supply_three_phase_v")


@pytest.mark.requirement(wb_id="WB-EL-01", clause="product manual: rated supply frequency")
@pytest.mark.red_on("phases=1")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("supply_max_hz=55", only=("60Hz",))
def test_full_current_at_each_rated_supply_frequency(cp: CpEmulator, idle_dut: Rig, installation: Installation,
                                                     supply_hz: float, evidence: Evidence) -> None:
    """WB-EL-01 / WB-EL-02 "50/60 Hz": powered up on the nominal three-phase supply at each rated
    frequency, the DUT comes up, charges and offers its full current."""
    supply = Supply(3, LIMITS.rig.nominal_supply_voltage.value, supply_hz)
    judge_full_current_on(supply, cp, idle_dut, installation, evidence, "supply_frequency_hz")

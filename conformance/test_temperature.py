"""Temperature (WB-TH-01, WB-TH-02): the fault box overrides the DUT's temperature sensor in a
ramp, or (a bench of bought parts) ramps the ambient of a climate chamber; the offer is read from
the CP duty as a vehicle reads it.

The manual gives no thresholds: the latest stop temperature and the resume time are DUT profile
data (unconfirmed; vendor practice as the profile comments cite it).
"""

from __future__ import annotations

import pytest

from conformance.injection import INF, hold
from conformance.limits import LIMITS
from conformance.thermal import (can_set, prepare_ramp, ramp_end, ramp_mode, ramp_until_stop, record_ramp, settle,
                                 stop_limit)
from core.uncertainty import combined, expanded_u, lag_u
from conformance.session import (full_offer_limit, measured_offer_a, offer_u_a, offered_current_a, start_charging,
                                 try_charging, watch)
from fixtures.evidence import Evidence
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "fault_box")



@pytest.mark.requirement(wb_id="WB-TH-02", clause="product manual: stops charging on over-temperature")
@pytest.mark.red_on("overtemp_stop_c=90")
def test_over_temperature_stops_charging(cp: CpEmulator, fault_box: FaultBox, clock: Clock, rig: Rig,
                                         evidence: Evidence) -> None:
    """A rising sensor temperature makes the DUT withdraw its offer by the profile's latest stop temperature."""
    lim = stop_limit(rig)
    prepare_ramp(fault_box, clock)
    start_charging(cp, clock)
    ramp = ramp_until_stop(cp, fault_box, clock, ramp_end(rig))
    record_ramp(evidence, ramp, lim.high)
    first, step = ramp.temperatures[0][1], (ramp.temperatures[1][1] - ramp.temperatures[0][1]
                                            if len(ramp.temperatures) > 1 else 0.0)
    evidence.check(f"{'sensor' if ramp.mode == 'sensor' else 'ambient'} temperature at which charging stopped",
                   ramp.stop_c, lim, t_s=ramp.t_stop, u=lag_u(abs(step)),
                   note=f"ramp from {first:g} degC in {step:g} degC steps"
                   + ("" if ramp.mode == "sensor" else "; the DUT's own rise puts its sensor above the ambient"))


@pytest.mark.requirement(wb_id="WB-TH-02", clause="product manual: high temperature may first reduce the current")
@pytest.mark.red_on("overtemp_derate_c=80")
def test_over_temperature_reduces_the_current_before_it_stops(cp: CpEmulator, fault_box: FaultBox, clock: Clock,
                                                              rig: Rig, evidence: Evidence) -> None:
    """Where the profile declares derating, the ramp shows a reduced offer before the stop."""
    if not rig.profile.temperature.derates_before_stop:
        pytest.skip(f"DUT profile {rig.profile.id} declares no derating before the stop")
    lim = stop_limit(rig)
    full = offered_current_a(rig)
    prepare_ramp(fault_box, clock)
    start_charging(cp, clock)
    ramp = ramp_until_stop(cp, fault_box, clock, ramp_end(rig))
    record_ramp(evidence, ramp, lim.high)
    derated = ramp.derated_offers(full)
    if derated:
        evidence.record("lowest derated offer", min(derated), "A", u=offer_u_a(cp, min(derated)))
    evidence.check("ramp steps with a reduced (non-zero) offer", len(derated), LIMITS.rig.derated_offers)


@pytest.mark.requirement(wb_id="WB-TH-02", clause="product manual: resumes by itself once cooled down")
@pytest.mark.red_on("overtemp_resume_c=20")
@pytest.mark.red_on("overtemp_stop_c=90")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("overtemp_auto_resume=false", profile="mini-wallbox-plus")
def test_charging_resumes_by_itself_after_cooling(cp: CpEmulator, fault_box: FaultBox, clock: Clock, rig: Rig,
                                                  evidence: Evidence) -> None:
    """After an over-temperature stop, cooling brings the full offer and the contactor back without the
    vehicle being re-plugged.  With the sensor overridden, within the profile's resume time of the
    sensor cooling.  With a chamber the instant the sensor cools is the enclosure's to choose (its time
    constant is the DUT's, unknown from outside): the ambient goes back to room temperature and is held
    a dwell and the resume time, the comeback is judged, and its time from the cooling command, the
    enclosure's cooling in it, is recorded, not judged."""
    if not rig.profile.temperature.resumes_after_cooling:
        pytest.skip(f"DUT profile {rig.profile.id} declares no resume by itself ([temperature] resumes_after_cooling)")
    lim = stop_limit(rig)
    resume = rig.profile.temperature.resume_within_s
    full = offered_current_a(rig)
    mode = ramp_mode(fault_box)
    prepare_ramp(fault_box, clock)
    start_charging(cp, clock)
    ramp = ramp_until_stop(cp, fault_box, clock, ramp_end(rig))
    step = ramp.temperatures[1][1] - ramp.temperatures[0][1] if len(ramp.temperatures) > 1 else 0.0
    evidence.check(f"{'sensor' if mode == 'sensor' else 'ambient'} temperature at which charging stopped "
                   "(before cooling)", ramp.stop_c, lim, t_s=ramp.t_stop, u=lag_u(abs(step)))
    cooled = LIMITS.rig.temperature_cooled.value
    t_cool = fault_box.set_temperature(mode, cooled)
    ramp.temperatures.append((t_cool, cooled))
    if mode == "sensor":
        poll_s, window = 1.0, watch(resume)
    else:
        settle(fault_box, clock, cooled)
        poll_s, window = LIMITS.rig.chamber_settle_poll.value, LIMITS.rig.chamber_ramp_dwell.value + watch(resume)
    back = INF
    for t, offer in hold(clock, window, poll_s, lambda: (cp.measure_cp().t_s, measured_offer_a(cp))):
        ramp.offers.append((t, offer))
        if back == INF and offer >= full and cp.output_present().value == 1:
            back = t
    record_ramp(evidence, ramp, lim.high, {"cooled": t_cool, **({"full offer": back} if back != INF else {})})
    u = combined(cp.interval_u_s, expanded_u(poll_s))
    if mode == "sensor":
        evidence.check("time from cooling to full offer again", back - t_cool, resume, t_s=t_cool, u=u)
        return
    evidence.found(f"full offer again without re-plugging, the ambient back at {cooled:g} degC for "
                   f"{window - watch(resume):g} s and {watch(resume):g} s more", None if back == INF else back,
                   LIMITS.rig.offers_back_after_cooling,
                   t_s=t_cool)
    evidence.record("time from the chamber's cooling command to the full offer (the enclosure's cooling in it)",
                    back - t_cool, "s", t_s=t_cool, u=u,
                    note=f"not judged against the profile's {resume.high:g} s: that runs from the sensor cooling, "
                         "which a chamber cannot time")


@pytest.mark.parametrize("end", ["coldest", "hottest"])
@pytest.mark.needs("cp", "fault_box", "load")
@pytest.mark.requirement(wb_id="WB-TH-01", clause="product manual: operating temperature range")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("thermal_rise_c=30", only=("hottest",))
@pytest.mark.red_on("undertemp_stop_c=-30", only=("coldest",))
def test_full_current_at_the_ends_of_the_operating_temperature_range(cp: CpEmulator, fault_box: FaultBox,
                                                                     load: AcLoad, clock: Clock, rig: Rig, end: str,
                                                                     evidence: Evidence) -> None:
    """Soaked unplugged in the chamber at the coldest and hottest operating ambient, the DUT then
    offers its full current through a second soak while the vehicle draws it (self-heating included)."""
    can_set(fault_box, "chamber")
    low, high = rig.profile.temperature.operating_c
    ambient = low if end == "coldest" else high
    full = offered_current_a(rig)
    soak = LIMITS.rig.thermal_soak.value
    evidence.parameters.update(ambient_c=ambient, soak_s=soak)
    t_chamber = fault_box.set_temperature("chamber", ambient)
    clock.sleep(soak)  # the enclosure takes the ambient before the vehicle arrives
    evidence.found(f"contactor closed when the vehicle asked, at {ambient:g} degC", try_charging(cp, clock),
                   LIMITS.iec61851.closures_when_asked)
    load.set_current(full)
    load.set_on(True)
    offers = hold(clock, soak, LIMITS.rig.soak_offer_sample.value, lambda: (cp.measure_cp().t_s, measured_offer_a(cp)))
    load.set_on(False)
    evidence.series(f"soak at {ambient:g} degC", {"offered current (A)": offers}, {"chamber set": t_chamber},
                    {"offered current (A)": (full, None)})
    lowest = min(a for _, a in offers)
    evidence.check(f"lowest offer during {soak:g} s at {ambient:g} degC", lowest,
                   full_offer_limit("full_current", full, "WB-TH-01",
                                    f"DUT profile {rig.profile.id}: [temperature] operating_c = [{low:g}, {high:g}]; "
                                    "full current anywhere in it (the offer for the configured current)"),
                   u=offer_u_a(cp, lowest))

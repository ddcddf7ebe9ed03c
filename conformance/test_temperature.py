"""Temperature (WB-TH-01, WB-TH-02): the fault box overrides the DUT's temperature sensor in a
ramp, or (a bench of bought parts) ramps the ambient of a climate chamber; the offer is read from
the CP duty as a vehicle reads it.

The manual gives no thresholds: the latest stop temperature and the resume time are DUT profile
data (unconfirmed; vendor practice as the profile comments cite it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conformance.injection import INF, hold
from conformance.limits import LIMITS
from core.uncertainty import combined, expanded_u, lag_u
from core.errors import PreconditionError
from core.limits import AtMost
from conformance.session import (full_offer_limit, measured_offer_a, offer_u_a, offered_current_a, start_charging,
                                 try_charging, watch)
from fixtures.evidence import Evidence
from instruments.ac_load import AcLoad
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.clock import Clock
from rig.rig import Rig

pytestmark = pytest.mark.needs("cp", "fault_box")



@dataclass
class ThermalRamp:
    temperatures: list[tuple[float, float]] = field(default_factory=list)
    offers: list[tuple[float, float]] = field(default_factory=list)
    stop_c: float = INF
    t_stop: float = INF
    mode: str = "sensor"

    def derated_offers(self, full_a: float) -> list[float]:
        return [a for _, a in self.offers if 0 < a < full_a]


def ramp_mode(box: FaultBox) -> str:
    """How this bench raises the DUT's temperature: its sensor overridden (a board inside the housing)
    or, from outside, the ambient of a climate chamber; neither: the test skips."""
    for mode in ("sensor", "chamber"):
        if mode in box.temperature_modes:
            return mode
    pytest.skip(f"this rig's fault injection ({type(box).__name__}) cannot set the DUT's temperature")


def settle(box: FaultBox, clock: Clock, celsius: float) -> None:
    """Wait (on the rig clock) until the chamber's air reads `celsius`; a chamber that does not get
    there is the rig's fault, so the test is broken, not failed."""
    tolerance = LIMITS.rig.chamber_settle_tolerance.value
    timeout = LIMITS.rig.chamber_settle_timeout.value
    if not clock.wait_until(lambda: abs(box.readback().temperature_c - celsius) <= tolerance, timeout,
                            poll_s=LIMITS.rig.chamber_settle_poll.value):
        raise PreconditionError(f"the chamber did not reach {celsius:g} degC within {timeout:g} s")


def prepare_ramp(box: FaultBox, clock: Clock) -> None:
    """With a chamber, the DUT starts the ramp soaked at its first ambient (an earlier test may have
    left the enclosure hot); a sensor override needs no wait."""
    if ramp_mode(box) == "chamber":
        start = LIMITS.rig.chamber_ramp_from.value
        box.set_temperature("chamber", start)
        settle(box, clock, start)
        clock.sleep(LIMITS.rig.chamber_ramp_dwell.value)


def ramp_until_stop(cp: CpEmulator, box: FaultBox, clock: Clock, up_to_c: float) -> ThermalRamp:
    """Raise the temperature step by step until the DUT withdraws its offer.  With a chamber each
    step waits for the air and then for the enclosure to follow (the dwell is several enclosure
    time constants), so the DUT's sensor reads the ambient plus its own rise: a stop at an ambient
    under the latest stop temperature is a stop under it inside as well."""
    mode = ramp_mode(box)
    rig = LIMITS.rig
    start, step, dwell = ((rig.temperature_ramp_from, rig.temperature_ramp_step, rig.temperature_ramp_dwell)
                          if mode == "sensor" else (rig.chamber_ramp_from, rig.chamber_ramp_step, rig.chamber_ramp_dwell))
    ramp = ThermalRamp(mode=mode)
    celsius = start.value
    while celsius <= up_to_c + 1e-9:
        t = box.set_temperature(mode, celsius)
        if mode == "chamber":
            settle(box, clock, celsius)
        ramp.temperatures.append((t, celsius))
        clock.sleep(dwell.value)
        m = cp.measure_cp()
        offer = measured_offer_a(cp)
        ramp.offers.append((m.t_s, offer))
        if offer == 0:
            ramp.stop_c, ramp.t_stop = celsius, m.t_s
            break
        celsius += step.value
    return ramp


def record_ramp(evidence: Evidence, ramp: ThermalRamp, stop_by: float, extra: dict[str, float] | None = None) -> None:
    label = f"{'sensor' if ramp.mode == 'sensor' else 'ambient'} temperature (degC)"
    evidence.series("temperature ramp", {label: ramp.temperatures, "offered current (A)": ramp.offers},
                    {**({"stop": ramp.t_stop} if ramp.t_stop != INF else {}), **(extra or {})},
                    {label: (None, stop_by)})


def can_set(box: FaultBox, mode: str, why: str = "") -> None:
    """Skip where this bench cannot set the DUT's temperature this way (a bench of parts without a chamber)."""
    if mode not in box.temperature_modes:
        pytest.skip(f"this rig's fault injection ({type(box).__name__}) cannot set the temperature by {mode}"
                    + (f": {why}" if why else ""))


def stop_limit(rig: Rig) -> AtMost:
    return rig.profile.temperature.stop_by_c


def ramp_end(rig: Rig) -> float:
    return stop_limit(rig).high + LIMITS.rig.temperature_ramp_overshoot.value


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
        evidence.record("lowest derated offer", min(derated), "A")
    evidence.check("ramp steps with a reduced (non-zero) offer", len(derated), LIMITS.rig.derated_offers)


@pytest.mark.requirement(wb_id="WB-TH-02", clause="product manual: resumes by itself once cooled down")
@pytest.mark.red_on("overtemp_resume_c=20")
@pytest.mark.red_on("overtemp_stop_c=90")
@pytest.mark.red_on("pp_resistance_ohm=680")
@pytest.mark.red_on("rated_current_a=16")
@pytest.mark.red_on("overtemp_auto_resume=false", profile="mini-wallbox-plus")
def test_charging_resumes_by_itself_after_cooling(cp: CpEmulator, fault_box: FaultBox, clock: Clock, rig: Rig,
                                                  evidence: Evidence) -> None:
    """After an over-temperature stop, a cooled sensor brings the full offer and the contactor back
    without the vehicle being re-plugged, within the profile's resume time."""
    lim = stop_limit(rig)
    resume = rig.profile.temperature.resume_within_s
    full = offered_current_a(rig)
    can_set(fault_box, "sensor", "a resume time needs the sensor cooled at a known instant; from outside the "
                                 "housing the enclosure cools on its own time")
    start_charging(cp, clock)
    ramp = ramp_until_stop(cp, fault_box, clock, ramp_end(rig))
    step = ramp.temperatures[1][1] - ramp.temperatures[0][1] if len(ramp.temperatures) > 1 else 0.0
    evidence.check("sensor temperature at which charging stopped (before cooling)", ramp.stop_c, lim, t_s=ramp.t_stop,
                   u=lag_u(abs(step)))
    cooled = LIMITS.rig.temperature_cooled.value
    t_cool = fault_box.set_temperature("sensor", cooled)
    ramp.temperatures.append((t_cool, cooled))
    back = INF
    poll_s = 1.0
    samples = hold(clock, watch(resume), poll_s, lambda: (cp.measure_cp().t_s, measured_offer_a(cp)))
    for t, offer in samples:
        ramp.offers.append((t, offer))
        if back == INF and offer >= full and cp.output_present().value == 1:
            back = t
    record_ramp(evidence, ramp, lim.high, {"cooled": t_cool, **({"full offer": back} if back != INF else {})})
    evidence.check("time from cooling to full offer again", back - t_cool, resume, t_s=t_cool,
                   u=combined(cp.interval_u_s, expanded_u(poll_s)))


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

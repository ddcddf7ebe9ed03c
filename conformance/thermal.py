"""Heating and cooling the DUT: the fault box overrides its temperature sensor (a board inside the
housing), or a climate chamber sets its ambient (a bench of bought parts, from outside the housing).

The temperature family ramps to find the stop; the OCPP status family only needs the DUT over-
temperature while it charges.  After a chamber test the fault box fixture puts the ambient back at
room temperature and soaks the enclosure there (`restore_ambient`): the next test must not start on a
hot DUT.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conformance.injection import INF
from conformance.limits import LIMITS
from conformance.session import measured_offer_a
from core.errors import PreconditionError
from core.limits import AtMost
from fixtures.evidence import Evidence
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.clock import Clock
from rig.rig import Rig


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


def overheat(cp: CpEmulator, box: FaultBox, clock: Clock, rig: Rig) -> float:
    """Put the charging DUT over temperature, beyond any conforming stop; the time of the act.

    Sensor: set well beyond the profile's latest stop (`fault_overtemperature_margin`).  Chamber: the
    ambient set to the latest stop temperature itself, since the DUT's sensor reads the ambient plus
    its own rise while it charges; the rig waits, polling the offer, until the DUT withdraws it or the
    chamber's settle and a dwell have passed (a DUT that never acts is judged by the caller)."""
    stop_by = stop_limit(rig).high
    if ramp_mode(box) == "sensor":
        return box.set_temperature("sensor", stop_by + LIMITS.ocpp.fault_overtemperature_margin.value)
    t = box.set_temperature("chamber", stop_by)
    rig_limits = LIMITS.rig
    clock.wait_until(lambda: measured_offer_a(cp) == 0,
                     rig_limits.chamber_settle_timeout.value + rig_limits.chamber_ramp_dwell.value,
                     poll_s=rig_limits.chamber_settle_poll.value)
    return t


def restore_ambient(box: FaultBox, clock: Clock) -> None:
    """After a test that moved the chamber: back at room temperature, and the enclosure soaked there
    for a dwell, so that the next test finds the DUT as cool as the one before did (the rig's safe
    state sets the chamber's setpoint but does not wait for a wall box to cool).  A chamber already at
    room temperature, or a sensor override (the fault box's safe state removes it at once), needs nothing."""
    state = box.readback()
    room = LIMITS.rig.temperature_cooled.value
    if state.temperature_mode != "chamber" or abs(state.temperature_c - room) <= LIMITS.rig.chamber_settle_tolerance.value:
        return
    box.set_temperature("chamber", room)
    settle(box, clock, room)
    clock.sleep(LIMITS.rig.chamber_ramp_dwell.value)

"""LED status (WB-LED-01 … 07): the bar shows what the manual's table says for each situation.

The LED sensor (a colour sensor board or a camera) records the four segments; the classifier
(`instruments.led.classifier`) says per segment off / solid / blinking / breathing / sweeping and
which colour; the test compares with the DUT profile's `[led]` table.  The recording is attached
as a timeline strip (colour per segment over time) with the classifier's reading beside it.
Blink, breathing and sweep rates are judged against the profile's `pattern_period_s` (the manuals
name no rate, so the band is marked unconfirmed there): a bar blinking at 2 Hz does not pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from conformance.led import observe
from conformance.limits import LIMITS
from core.limits import Count
from conformance.session import plug_in, start_charging
from fixtures.evidence import Evidence
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from instruments.installer import Installer
from instruments.led.classifier import SegmentState, summary
from rig.clock import Clock
from core.errors import RigError

pytestmark = pytest.mark.needs("cp", "led")

ANY_LIT = "lit"
"""Expected pattern that accepts any lit pattern (the manual gives only the colour)."""


def judge(evidence: Evidence, rig: Rig, states: list[SegmentState], expected: Sequence[tuple[str, str]],
          situation: str, wb_id: str) -> None:
    """Every segment as expected: `expected` is (pattern, colour) per segment S1-S4."""
    matches = sum(1 for state, (pattern, colour) in zip(states, expected)
                  if state.colour == colour and (state.pattern == pattern or (pattern == ANY_LIT and state.pattern != "off")))
    wanted = ", ".join(f"S{k + 1} {colour} {pattern}" for k, (pattern, colour) in enumerate(expected))
    segments = LIMITS.rig.led_segments_as_declared
    declared = Count(name=f"led_{situation}", value=segments.value, unit="", clause=wb_id,
                     source=f"DUT profile {rig.profile.id} [led]: {wanted}; {segments.source}", cites=("MANUAL",))
    evidence.check(f"segments as the manual shows {situation}", matches, declared, note=f"seen: {summary(states)}")
    period = rig.profile.led.pattern_period_s
    for state, (pattern, _) in zip(states, expected):
        if pattern in RATED and state.pattern == pattern and state.frequency_hz:
            evidence.check(f"{state.segment} {pattern} period {situation}", 1.0 / state.frequency_hz, period,
                           note=f"{state.frequency_hz:.3g} Hz", u=state.period_u_s)


RATED = ("blinking", "breathing", "sweeping")
"""Patterns with a rate: the profile's period band judges it (the MINI's "slow blinking" included)."""


def bar(rig: Rig, pattern: str) -> list[tuple[str, str]]:
    """Every segment in `pattern` and the bar's colour."""
    return [(pattern, rig.profile.led.colour)] * LIMITS.rig.led_segments_as_declared.value


def defect_bar(rig: Rig, pattern: str) -> list[tuple[str, str]]:
    """S1-S3 in `pattern` and the bar colour, S4 solid in the defect colour."""
    return bar(rig, pattern)[:-1] + [("solid", rig.profile.led.comms_defect_segment4)]


def comms_module(rig: Rig, defective: bool) -> None:
    """These tests need the bench's DUT as the rig file declares it (`[dut] comms_module`)."""
    declared = rig.config.dut.comms_module == "defective"
    if declared != defective:
        pytest.skip("the rig file declares this DUT's communication module "
                    + ("defective: its standby and charging bars are WB-LED-05/06's" if declared
                       else "working (set [dut] comms_module = \"defective\" on a bench with a failed module)"))


@pytest.mark.requirement(wb_id="WB-LED-02", clause="product manual: LED bar, standby")
@pytest.mark.red_on("led_colour=green")
@pytest.mark.red_on("led_standby=breathing")
def test_standby_shows_the_standby_pattern(rig: Rig, cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """Ready with no vehicle: the standby pattern in the product's colour (BMW blue, MINI yellow)."""
    comms_module(rig, defective=False)
    judge(evidence, rig, observe(rig.led, clock, evidence, "standby"), bar(rig, rig.profile.led.standby), "in standby",
          "WB-LED-02")


@pytest.mark.requirement(wb_id="WB-LED-03", clause="product manual: LED bar, charging")
@pytest.mark.red_on("led_charging=blinking")
@pytest.mark.red_on("led_colour=green")
@pytest.mark.red_on("led_charging=solid", profile="mini-wallbox-plus")
@pytest.mark.red_on("led_period_s=0.5")
@pytest.mark.red_on("led_period_s=0.5", profile="mini-wallbox-plus")
def test_charging_shows_the_charging_pattern(rig: Rig, cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """Charging (C2, contactor closed): BMW breathing blue, MINI slowly blinking yellow."""
    comms_module(rig, defective=False)
    start_charging(cp, clock)
    judge(evidence, rig, observe(rig.led, clock, evidence, "charging"), bar(rig, rig.profile.led.charging), "while charging",
          "WB-LED-03")


@pytest.mark.requirement(wb_id="WB-LED-01", clause="product manual: LED bar, initialising")
@pytest.mark.red_on("led_colour=green")
@pytest.mark.red_on("led_initialising=solid", profile="mini-wallbox-plus")
@pytest.mark.red_on("led_period_s=0.5")
@pytest.mark.red_on("led_period_s=0.5", profile="mini-wallbox-plus")
def test_initialising_shows_the_sweep(rig: Rig, cp: CpEmulator, clock: Clock, evidence: Evidence) -> None:
    """Right after power-up, while the DUT initialises: the sweep, left to right."""
    if not rig.has("source"):
        pytest.skip("watching the boot needs the source to power the DUT up")
    rig.source.set_output(False)
    clock.sleep(LIMITS.rig.mains_outage.value)
    rig.energise()
    clock.sleep(LIMITS.rig.led_boot_lead.value)
    states = observe(rig.led, clock, evidence, "initialising", LIMITS.rig.led_observation.value / 2)
    if not clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.5):
        raise RigError(f"the DUT did not come back to A1 within {READY_TIMEOUT_S:.0f} s of power-up")
    judge(evidence, rig, states, bar(rig, rig.profile.led.initialising), "while initialising", "WB-LED-01")


@pytest.mark.needs("cp", "led", "installer")
@pytest.mark.requirement(wb_id="WB-LED-01", clause="product manual: LED bar, temporarily out of service / paused")
@pytest.mark.red_on("led_colour=green")
@pytest.mark.red_on("led_paused=blinking")
@pytest.mark.red_on("led_period_s=0.5")
@pytest.mark.red_on("led_period_s=0.5", profile="mini-wallbox-plus")
def test_paused_shows_the_sweep(rig: Rig, cp: CpEmulator, installer: Installer, clock: Clock,
                                evidence: Evidence) -> None:
    """Paused from the installer interface with a vehicle plugged in: the out-of-service pattern."""
    plug_in(cp, clock)
    installer.set_paused(True)
    try:
        states = observe(rig.led, clock, evidence, "paused")
    finally:
        installer.set_paused(False)
    judge(evidence, rig, states, bar(rig, rig.profile.led.paused), "while paused", "WB-LED-01")


@pytest.mark.needs("cp", "led", "fault_box")
@pytest.mark.requirement(wb_id="WB-LED-04", clause="product manual: LED bar, fault (after a residual-current trip)")
@pytest.mark.red_on("led_fault_colour=yellow")
@pytest.mark.red_on("rcd_latch=false")
def test_fault_shows_red(rig: Rig, cp: CpEmulator, fault_box: FaultBox, clock: Clock, evidence: Evidence) -> None:
    """After a residual-current trip the whole bar is red (any lit pattern: the manual says only red)."""
    start_charging(cp, clock)
    trip_ma = rig.profile.residual_current.ac_trip_band_ma.high * LIMITS.rig.led_fault_trip_multiple.value
    fault_box.set_residual_ma("ac", trip_ma)
    clock.sleep(LIMITS.rig.fault_observation.high)
    fault_box.set_residual_ma("ac", 0.0)
    states = observe(rig.led, clock, evidence, "fault")
    red = [(ANY_LIT, rig.profile.led.fault_colour)] * LIMITS.rig.led_segments_as_declared.value
    judge(evidence, rig, states, red, "in a fault", "WB-LED-04")



@pytest.mark.parametrize("vehicle", ["A", "B"])
@pytest.mark.requirement(wb_id="WB-LED-05", clause="product manual: LED bar, communication module defective in standby")
@pytest.mark.red_on("comms_module_fault=firmware_update", profile="bmw-with-comms-defect")
@pytest.mark.red_on("comms_module_fault=none", profile="bmw-with-comms-defect")
def test_defective_comms_module_in_standby_shows_s4_red(rig: Rig, cp: CpEmulator, clock: Clock, vehicle: str,
                                                         evidence: Evidence) -> None:
    """With the communication module defective, in standby (no vehicle: A1; plugged in: B2):
    S1-S3 in the bar colour, S4 red."""
    comms_module(rig, defective=True)
    if vehicle == "B":
        plug_in(cp, clock)
    states = observe(rig.led, clock, evidence, f"comms defect, vehicle {vehicle}")
    judge(evidence, rig, states, defect_bar(rig, rig.profile.led.comms_defect_standby),
          f"with a defective communication module, vehicle in {vehicle}", "WB-LED-05")


@pytest.mark.requirement(wb_id="WB-LED-06", clause="product manual: LED bar, communication module defective while charging")
@pytest.mark.red_on("comms_module_fault=firmware_update", profile="bmw-with-comms-defect")
@pytest.mark.red_on("comms_module_fault=none", profile="bmw-with-comms-defect")
@pytest.mark.red_on("comms_module_fault=standby", profile="bmw-with-comms-defect")
@pytest.mark.red_on("led_comms_defect_charging=blinking", profile="bmw-with-comms-defect")
def test_defective_comms_module_while_charging_shows_s4_red(rig: Rig, cp: CpEmulator, clock: Clock,
                                                            evidence: Evidence) -> None:
    """With the communication module defective, while charging: S1-S3 breathing (BMW) or pulsing
    (MINI) in the bar colour, S4 red."""
    comms_module(rig, defective=True)
    start_charging(cp, clock)
    states = observe(rig.led, clock, evidence, "comms defect, charging")
    judge(evidence, rig, states, defect_bar(rig, rig.profile.led.comms_defect_charging),
          "with a defective communication module while charging", "WB-LED-06")


@pytest.mark.needs("cp", "led", "installer")
@pytest.mark.requirement(wb_id="WB-LED-07", clause="product manual: LED bar, communication module defective during a firmware update")
@pytest.mark.red_on("comms_module_fault=none", profile="bmw-with-comms-defect")
@pytest.mark.red_on("comms_module_fault=standby", profile="bmw-with-comms-defect")
@pytest.mark.red_on("led_firmware_update=solid", profile="bmw-with-comms-defect")
def test_defective_comms_module_during_firmware_update_shows_s4_red(rig: Rig, cp: CpEmulator, installer: Installer,
                                                                    clock: Clock, evidence: Evidence) -> None:
    """With the communication module defective, during a firmware update started from the
    installer interface: S1-S3 sweeping in the bar colour, S4 red; the DUT comes back afterwards."""
    comms_module(rig, defective=True)
    installer.start_firmware_update()
    clock.sleep(LIMITS.rig.led_boot_lead.value)
    states = observe(rig.led, clock, evidence, "comms defect, firmware update",
                     LIMITS.rig.led_observation.value / 2)
    back_within = LIMITS.rig.firmware_update_max.value
    if not clock.wait_until(lambda: not installer.firmware_updating() and dut_idle(rig), back_within, poll_s=1.0):
        raise RigError(f"the DUT did not come back to A1 within {back_within:g} s of the firmware update")
    judge(evidence, rig, states, defect_bar(rig, rig.profile.led.comms_defect_firmware_update),
          "with a defective communication module during a firmware update", "WB-LED-07")

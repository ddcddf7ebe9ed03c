"""The BMW i Wallbox Connect's pairing button (WB-CO-03): held long enough inside its window after
power-up, the wallbox pairs, and the backend hears its ID; too short, or too late, nothing.

The button role holds the button on the rig clock; the window is opened by cutting and restoring the
supply with the AC source; the backend role's journal is what "the backend sees it" means: a
DataTransfer with the profile's messageId, carrying the Wallbox ID.  When the window opens and how the
report looks are the product's values in the profile's [pairing] table (unconfirmed there).
"""

from __future__ import annotations

import pytest

from conformance.access import pairing_of
from conformance.injection import outage
from conformance.limits import LIMITS
from core.limits import Count
from core.profile import Pairing
from fixtures.evidence import Evidence, step
from instruments.backend import CALL, Backend
from instruments.button import Button
from instruments.cp_emulator import CpEmulator
from rig.clock import Clock
from rig.rig import Rig

pytestmark = [pytest.mark.needs("cp", "source", "button", "backend"),
              pytest.mark.requirement(wb_id="WB-CO-03", clause="WB-CO-03 (pairing button: >= 5 s within 5 minutes)")]


def press(button: Button, clock: Clock, at_s: float, t_on: float, hold_s: float) -> float:
    """Press `at_s` after the supply came back (rig clock), hold `hold_s`; returns the press's rig time."""
    clock.sleep(max(0.0, t_on + at_s - clock.now()))
    with step("act", f"press the pairing button {at_s:g} s after power-up, hold {hold_s:g} s"):
        t_down = clock.now()
        button.press_down()
        clock.sleep(hold_s)
        button.release()
    return t_down


def power_up(cp: CpEmulator, rig: Rig, clock: Clock) -> float:
    """Cut the supply and restore it: the pairing window opens; its rig time."""
    with step("arrange", "supply off and on: the pairing window opens at power-up"):
        outage(cp, rig.source, clock)
        return clock.now()


def pairing_reports(backend: Backend, pairing: Pairing, since: float) -> list[str]:
    """The Wallbox IDs the DUT announced since `since` (DataTransfer, the profile's messageId)."""
    return [str(f.payload.get("data", "")) for f in backend.frames(since)
            if f.direction == "in" and f.kind == CALL and f.action == pairing.report
            and f.payload.get("messageId") == pairing.message_id]


def settle(clock: Clock) -> None:
    """Long enough for the DUT's comms module to be up and to tell the backend."""
    clock.sleep(LIMITS.ocpp.boot_timeout.value)


def pairs_after(cp: CpEmulator, button: Button, clock: Clock, rig: Rig, backend: Backend, evidence: Evidence,
                at_s: float, hold_s: float, what: str) -> list[str]:
    """Power up, press `at_s` later for `hold_s`, let the DUT report: the IDs the backend heard."""
    pairing = pairing_of(rig)
    t_on = power_up(cp, rig, clock)
    since = press(button, clock, at_s, t_on, hold_s)
    settle(clock)
    evidence.messages(f"OCPP messages after the {what}", backend.messages(since))
    return pairing_reports(backend, pairing, since)


@pytest.mark.red_on("pairing_window_s=240", profile="bmw-i-wallbox-connect")
@pytest.mark.red_on("pairing_hold_s=8", profile="bmw-i-wallbox-connect")
@pytest.mark.red_on("wallbox_id=4001234", profile="bmw-i-wallbox-connect")
def test_the_button_held_long_enough_late_in_the_window_pairs_with_an_8_digit_id(
        cp: CpEmulator, button: Button, clock: Clock, rig: Rig, backend: Backend, evidence: Evidence) -> None:
    """The button held the declared time, ending the rig's margin before the window closes: the
    backend hears one pairing, and the ID has the declared number of digits."""
    pairing = pairing_of(rig)
    reports = pairs_after(cp, button, clock, rig, backend, evidence,
                          pairing.window_s - LIMITS.access.pairing_late_margin.value - pairing.hold_s, pairing.hold_s,
                          "press")
    evidence.check("pairings reported", len(reports), LIMITS.access.pairing_reports, note=f"IDs: {reports}")
    digits = Count(name="id_digits", value=int(pairing.id_digits), unit="digits", clause="WB-CO-03",
                   cites=("MANUAL",), source=f"DUT profile {rig.profile.id} [pairing] id_digits")
    wallbox_id = reports[0]
    evidence.check("Wallbox ID digits", len(wallbox_id) if wallbox_id.isdigit() else 0, digits,
                   note=f"ID {wallbox_id!r}")


@pytest.mark.red_on("pairing_hold_s=3", profile="bmw-i-wallbox-connect")
def test_a_press_shorter_than_the_hold_time_does_not_pair(
        cp: CpEmulator, button: Button, clock: Clock, rig: Rig, backend: Backend, evidence: Evidence) -> None:
    """The button held the rig's short time (1 s under the manual's 5 s), early in the window: no pairing."""
    reports = pairs_after(cp, button, clock, rig, backend, evidence, LIMITS.ocpp.boot_timeout.value,
                          LIMITS.access.pairing_short_hold.value, "short press")
    evidence.check("pairings reported after a short press", len(reports), LIMITS.access.pairing_reports_refused,
                   note=f"IDs: {reports}")


@pytest.mark.red_on("pairing_window_s=600", profile="bmw-i-wallbox-connect")
def test_a_press_after_the_window_does_not_pair(
        cp: CpEmulator, button: Button, clock: Clock, rig: Rig, backend: Backend, evidence: Evidence) -> None:
    """The button held the declared time, starting the rig's margin after the window closed: no pairing."""
    pairing = pairing_of(rig)
    reports = pairs_after(cp, button, clock, rig, backend, evidence,
                          pairing.window_s + LIMITS.access.pairing_after_window.value, pairing.hold_s, "late press")
    evidence.check("pairings reported after the window", len(reports), LIMITS.access.pairing_reports_refused,
                   note=f"IDs: {reports}")

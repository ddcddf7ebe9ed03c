"""Arrange steps shared by the conformance families: plug in, start charging, what is offered.

They only drive the vehicle emulator and the clock; judging stays in the tests.
"""

from __future__ import annotations

from conformance.limits import limit
from fixtures.evidence import ConformanceFailure
from fixtures.timing import first_edge
from instruments.cp_emulator import CpEmulator
from rig.clock import Clock
from rig.rig import Rig

CHARGE_ARRANGE_TIMEOUT_S = 10.0
"""How long an arrange step waits for the contactor before it declares the precondition unmet."""
CHARGE_DWELL_S = 1.0
"""Time spent charging before the act step, so the event starts from a settled C2."""


def offered_current_a(rig: Rig) -> float:
    """What the DUT should offer: the installer's setting, capped by a tethered cable's rating."""
    configured = rig.config.dut.configured_current_a
    if configured is None:
        configured = float(rig.profile.value("electrical.default_current_a"))
    if rig.profile.value("connector.kind") == "tethered":
        configured = min(configured, float(rig.profile.value("connector.cable_rating_a")))
    return configured


def observe_b2(clock: Clock) -> None:
    """Give the EVSE the rig's observation window to react to a plug-in."""
    clock.sleep(limit("rig", "b2_observation").high or 0.0)


def plug_in(cp: CpEmulator, clock: Clock) -> float:
    t_b = cp.set_state("B")
    observe_b2(clock)
    return t_b


def start_charging(cp: CpEmulator, clock: Clock) -> float:
    """Plug in, ask for power, wait for the contactor, charge a moment; returns when it closed."""
    plug_in(cp, clock)
    t_c = cp.set_state("C")
    if not clock.wait_until(lambda: cp.output_present().value == 1, CHARGE_ARRANGE_TIMEOUT_S):
        raise ConformanceFailure(f"precondition: the contactor did not close within {CHARGE_ARRANGE_TIMEOUT_S} s "
                                 "of state C, so this test cannot judge what follows")
    edge = first_edge(cp.read_edges(), "OVP", "1", t_c)
    assert edge is not None, "the board saw output voltage but captured no OVP edge"
    clock.sleep(CHARGE_DWELL_S)
    return edge.t_s

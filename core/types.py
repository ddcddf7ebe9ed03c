"""Timestamped values shared by every instrument interface: a value is worthless without its unit and instrument time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Reading:
    """One value stamped by the instrument that measured it (t_s on the rig's timebase)."""

    value: float
    unit: str
    t_s: float


class Channel(StrEnum):
    """The CP board's edge channels (docs/protocols/cp-emulator.md, "Edge channels").

    A named set, so that a misspelt channel is an AttributeError at import and not a test that
    silently finds no edge."""

    VEH = "VEH"
    """The board's own switching: vehicle state, resistance, diode, PE, PP."""
    CPH = "CPH"
    """CP high level in V."""
    PWM = "PWM"
    """The EVSE starts (1) or stops (0) PWM."""
    DUTY = "DUTY"
    """PWM duty in %, at every start or change (the offered current)."""
    OVP = "OVP"
    """Output voltage on the vehicle side appears (1) or disappears (0): the contactor."""


@dataclass(frozen=True)
class Edge:
    """One captured transition: `channel` took `value` at instrument time `t_s`.

    Values stay text because channels differ: a vehicle state letter, a CP level in volts, 0/1.
    """

    t_s: float
    channel: Channel
    value: str

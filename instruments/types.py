"""Timestamped values shared by every instrument interface: a value is worthless without its unit and instrument time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    """One value stamped by the instrument that measured it (t_s on the rig's timebase)."""

    value: float
    unit: str
    t_s: float


@dataclass(frozen=True)
class Edge:
    """One captured transition: `channel` took `value` at instrument time `t_s`.

    Values stay text because channels differ: a vehicle state letter, a CP level in volts, 0/1.
    """

    t_s: float
    channel: str
    value: str

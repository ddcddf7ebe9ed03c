"""How the backend plans a session the way a charging service does (WB-CO-02: the cheapest times
of the tariff before the departure, own PV first), as a TxDefaultProfile to send.

The plan works in whole hours of UTC: each hour before the departure gets a price (PV surplus
first and free, then night, then day), the cheapest hours are filled at full current until the
asked-for energy is covered, and every other hour is limit 0.  `backend serve --schedule` sends
such a plan to the first charge point that boots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MIN_A = 6.0
"""The smallest current a PWM offer can carry (IEC 61851-1 Table A.8): a PV hour offers at least this."""


@dataclass(frozen=True)
class Tariff:
    """A two-rate tariff: night from `night_from_h` to `night_to_h` (UTC hours) is the cheap rate."""

    night_from_h: int = 22
    night_to_h: int = 6
    pv_surplus_w: Mapping[int, float] = field(default_factory=dict)
    """Forecast PV surplus per UTC hour of day (W): such hours come first, at what the sun gives."""

    def price(self, hour: int) -> int:
        if self.pv_surplus_w.get(hour, 0.0) > 0:
            return 0
        night = hour >= self.night_from_h or hour < self.night_to_h
        return 1 if night else 2


@dataclass(frozen=True)
class Plan:
    profile: dict[str, Any]
    periods: list[tuple[float, float, float]]
    """(start s, end s, limit A) from the plan's start, as the profile states them."""
    expected_wh: float


def plan_departure(now: datetime, departure: datetime, energy_wh: float, max_a: float, phases: int, volts: float,
                   tariff: Tariff, profile_id: int = 900) -> Plan:
    """The cheapest hours before `departure` that carry `energy_wh`, as a TxDefaultProfile."""
    if departure <= now:
        raise ValueError(f"departure {departure} is not after {now}")
    edges = [now]
    hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour < departure:
        edges.append(hour)
        hour += timedelta(hours=1)
    edges.append(departure)
    slots = list(zip(edges, edges[1:]))

    def amps(start: datetime) -> float:
        """Full current, or in a PV hour what the sun gives (at least the minimum offer), in the
        0.1 A steps a profile's limit takes (OCPP 1.6 §7.10: multipleOf 0.1), rounded down."""
        surplus = tariff.pv_surplus_w.get(start.hour, 0.0)
        current = max(MIN_A, min(max_a, surplus / (volts * phases))) if surplus > 0 else max_a
        return math.floor(current * 10.0 + 1e-9) / 10.0

    chosen: dict[datetime, float] = {}
    need = energy_wh
    for start, end in sorted(slots, key=lambda s: (tariff.price(s[0].hour), s[0])):
        if need <= 0:
            break
        current = amps(start)
        chosen[start] = current
        need -= current * volts * phases * (end - start).total_seconds() / 3600.0
    periods: list[tuple[float, float, float]] = []
    for start, end in slots:
        limit = chosen.get(start, 0.0)
        a, b = (start - now).total_seconds(), (end - now).total_seconds()
        if periods and periods[-1][2] == limit:
            periods[-1] = (periods[-1][0], b, limit)
        else:
            periods.append((a, b, limit))
    profile = {"chargingProfileId": profile_id, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": {"chargingRateUnit": "A", "duration": int((departure - now).total_seconds()),
                                    "startSchedule": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "chargingSchedulePeriod": [{"startPeriod": int(a), "limit": limit}
                                                               for a, _, limit in periods]}}
    expected = sum(limit * volts * phases * (b - a) / 3600.0 for a, b, limit in periods)
    return Plan(profile, periods, expected)

"""The firmware's smart charging (OCPP 1.6 §3.13): installed charging profiles and the limit they
set now, written from the firmware's side (the suite computes what it expects on its own).

Times are seconds on the charge point's own UTC clock (POSIX seconds); a profile keeps its raw
JSON, parsed where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from sim.params import Knobs

_PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
_RECURRENCE_S = {"Daily": 86_400.0, "Weekly": 7 * 86_400.0}
MAX_STACK_LEVEL = 8
MAX_PERIODS = 48


def posix(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


@dataclass
class Installed:
    connector: int
    profile: dict[str, Any]

    @property
    def purpose(self) -> str:
        return str(self.profile["chargingProfilePurpose"])

    @property
    def level(self) -> int:
        return int(self.profile["stackLevel"])


@dataclass(frozen=True)
class Limit:
    value: float
    unit: str
    phases: int


class ProfileStore:
    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.installed: list[Installed] = []

    # --- SetChargingProfile / ClearChargingProfile ---------------------------------------------
    def install(self, connector: int, profile: dict[str, Any], transaction_id: int | None) -> str:
        try:
            purpose = profile["chargingProfilePurpose"]
            level = int(profile["stackLevel"])
            schedule = profile["chargingSchedule"]
            periods = schedule["chargingSchedulePeriod"]
            kind = profile["chargingProfileKind"]
        except (KeyError, TypeError, ValueError):
            return "Rejected"
        if purpose not in _PURPOSES or not 0 <= level <= MAX_STACK_LEVEL or not periods or len(periods) > MAX_PERIODS:
            return "Rejected"
        if schedule.get("chargingRateUnit") not in ("A", "W"):
            return "Rejected"
        if purpose == "ChargePointMaxProfile" and connector != 0:
            return "Rejected"
        if purpose == "TxProfile" and (connector == 0 or transaction_id is None):
            return "Rejected"   # a TxProfile needs a running transaction on its connector
        if kind == "Recurring" and profile.get("recurrencyKind") not in _RECURRENCE_S:
            return "Rejected"
        if kind in ("Absolute", "Recurring") and not schedule.get("startSchedule"):
            return "Rejected"
        same = [i for i in self.installed if i.profile.get("chargingProfileId") == profile.get("chargingProfileId")
                or (i.purpose == purpose and i.level == level and i.connector == connector)]
        for old in same:   # §3.13.2: the same id, or the same purpose and level, replaces
            self.installed.remove(old)
        self.installed.append(Installed(connector, dict(profile)))
        return "Accepted"

    def clear(self, criteria: dict[str, Any]) -> str:
        def matches(i: Installed) -> bool:
            if "id" in criteria:
                return i.profile.get("chargingProfileId") == criteria["id"]
            return all((key not in criteria or value == criteria[key]) for key, value in
                       (("connectorId", i.connector), ("chargingProfilePurpose", i.purpose), ("stackLevel", i.level)))
        gone = [i for i in self.installed if matches(i)]
        for i in gone:
            self.installed.remove(i)
        return "Accepted" if gone else "Unknown"

    def end_transaction(self) -> None:
        """TxProfiles live as long as their transaction (§3.13.3)."""
        self.installed = [i for i in self.installed if i.purpose != "TxProfile"]

    # --- evaluation ----------------------------------------------------------------------------
    def _schedule_start(self, profile: dict[str, Any], now: float, tx_start: float | None) -> float | None:
        kind = profile["chargingProfileKind"]
        schedule = profile["chargingSchedule"]
        if kind == "Relative":
            return tx_start
        start = posix(schedule.get("startSchedule"))
        if start is None:
            return None
        if kind == "Recurring":
            period = _RECURRENCE_S[profile["recurrencyKind"]]
            if self.knobs.ocpp.recurring_resets_at_midnight and period == _RECURRENCE_S["Daily"]:
                midnight = now - now % 86_400.0
                return midnight + start % 86_400.0   # today's start, even when that is still to come
            return start + ((now - start) // period) * period
        return start

    def _limit_of(self, profile: dict[str, Any], now: float, tx_start: float | None) -> Limit | None:
        valid_from, valid_to = posix(profile.get("validFrom")), posix(profile.get("validTo"))
        if valid_from is not None and now < valid_from:
            return None
        if valid_to is not None and now >= valid_to and self.knobs.ocpp.honours_valid_to:
            return None
        start = self._schedule_start(profile, now, tx_start)
        if start is None or now < start:
            return None
        schedule = profile["chargingSchedule"]
        into = now - start
        if schedule.get("duration") is not None and into >= float(schedule["duration"]):
            return None
        current = None
        for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
            if period["startPeriod"] <= into:
                current = period
        if current is None:
            return None
        return Limit(float(current["limit"]), str(schedule["chargingRateUnit"]), int(current.get("numberPhases", 3)))

    def _winner(self, candidates: list[Installed], now: float, tx_start: float | None) -> Limit | None:
        order = sorted(candidates, key=lambda i: i.level, reverse=self.knobs.ocpp.stack_level_highest_wins)
        for item in order:
            limit = self._limit_of(item.profile, now, tx_start)
            if limit is not None:
                return limit
        return None

    def limit_a(self, now: float, tx_start: float | None, tx_id: int | None, volts: float, phases: int) -> float:
        """The current the profiles allow on connector 1 now (inf: no limit)."""
        def amps(limit: Limit | None) -> float:
            if limit is None:
                return float("inf")
            if limit.unit == "A":
                return limit.value
            used = max(1, min(phases, limit.phases))
            at = 230.0 if self.knobs.ocpp.watts_at_nominal_v else volts
            return limit.value / (at * used) if at > 0 else 0.0

        tx = [i for i in self.installed if i.purpose == "TxProfile" and i.connector == 1 and tx_id is not None
              and i.profile.get("transactionId", tx_id) == tx_id]
        default = [i for i in self.installed if i.purpose == "TxDefaultProfile" and i.connector in (0, 1)]
        session = self._winner(tx, now, tx_start) if tx else None
        if session is None and tx_id is not None:
            session = self._winner(default, now, tx_start)
        cap = self._winner([i for i in self.installed if i.purpose == "ChargePointMaxProfile"], now, tx_start)
        return min(amps(session), amps(cap))

    def boundaries(self, now: float, horizon_s: float, tx_start: float | None) -> list[float]:
        """Instants in (now, now + horizon] at which some profile's limit may change."""
        out: set[float] = set()
        for item in self.installed:
            p = item.profile
            for edge in (posix(p.get("validFrom")), posix(p.get("validTo"))):
                if edge is not None:
                    out.add(edge)
            schedule = p["chargingSchedule"]
            kind = p["chargingProfileKind"]
            starts: list[float] = []
            if kind == "Recurring":
                base = posix(schedule.get("startSchedule"))
                period = _RECURRENCE_S[p["recurrencyKind"]]
                if base is not None:
                    first = base + ((now - base) // period) * period
                    starts = [first + k * period for k in range(int(horizon_s // period) + 2)]
            else:
                start = self._schedule_start(p, now, tx_start)
                starts = [start] if start is not None else []
            for start in starts:
                out.update(start + float(period["startPeriod"]) for period in schedule["chargingSchedulePeriod"])
                if schedule.get("duration") is not None:
                    out.add(start + float(schedule["duration"]))
        return sorted(t for t in out if now < t <= now + horizon_s)

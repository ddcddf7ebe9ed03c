"""Limits as data: every number a conformance test judges against, with its clause and source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rig.config import Table, read_toml

LIMITS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Limit:
    name: str
    low: float | None
    high: float | None
    unit: str
    clause: str
    source: str


@cache
def _document(name: str) -> dict[str, Any]:
    return read_toml(LIMITS_DIR / f"{name}.toml")


def limit(document: str, name: str) -> Limit:
    """`limit("iec61851", "pwm_frequency")`: a missing or mistyped entry names file and key."""
    path = LIMITS_DIR / f"{document}.toml"
    table = Table(_document(document), path).table(name, required=True)
    assert table is not None
    low = table.get("low", float, None)
    high = table.get("high", float, None)
    return Limit(name, low, high, table.get("unit", str), table.get("clause", str, ""), table.get("source", str))


@dataclass(frozen=True)
class DutyRow:
    duty_min_pct: float
    duty_max_pct: float
    amps_per_pct: float
    duty_offset_pct: float
    source: str

    def current_a(self, duty_pct: float) -> float:
        return (duty_pct - self.duty_offset_pct) * self.amps_per_pct


def current_to_duty_rows() -> list[DutyRow]:
    path = LIMITS_DIR / "iec61851.toml"
    rows = []
    for k, raw in enumerate(_document("iec61851")["current_to_duty"]):
        t = Table(raw, path, f"current_to_duty[{k}]")
        rows.append(DutyRow(t.get("duty_min_pct", float), t.get("duty_max_pct", float),
                            t.get("amps_per_pct", float), t.get("duty_offset_pct", float), t.get("source", str)))
    return rows


def expected_duty_pct(current_a: float) -> tuple[float, str]:
    """The duty an EVSE must show to offer `current_a`, and the row's source."""
    for row in current_to_duty_rows():
        if row.current_a(row.duty_min_pct) <= current_a <= row.current_a(row.duty_max_pct):
            return current_a / row.amps_per_pct + row.duty_offset_pct, row.source
    raise ValueError(f"{current_a} A cannot be offered by PWM (outside the duty table)")


def profile_limit(profile: Any, key: str, unit: str, clause: str, scale: float = 1.0,
                  low: bool = False) -> Limit:
    """A limit the IEC text leaves unconfirmed, taken from the DUT profile (`section.key`).

    `scale` converts the profile's unit to `unit`; `low` makes it a lower bound instead of an upper one.
    """
    value = float(profile.value(key)) * scale
    source = f"DUT profile {profile.id}: {key} (unconfirmed in IEC text; iec-facts.md)"
    return Limit(key, value if low else None, None if low else value, unit, clause, source)


def decoded_current_a(duty_pct: float) -> float:
    """The maximum current a vehicle reads from a duty: the table rows plus the 8-10 % = 6 A region;
    0 where the duty allows no charging."""
    region = limit("iec61851", "six_amp_region")
    if region.low is not None and region.high is not None and region.low <= duty_pct < region.high:
        return 6.0
    for row in current_to_duty_rows():
        if row.duty_min_pct <= duty_pct <= row.duty_max_pct:
            return row.current_a(duty_pct)
    return 0.0


@dataclass(frozen=True)
class PpCoding:
    rating_a: float
    nominal: float
    low: float
    high: float
    source: str


def pp_codings() -> list[PpCoding]:
    path = LIMITS_DIR / "iec61851.toml"
    out = []
    for k, raw in enumerate(_document("iec61851")["pp_coding"]):
        t = Table(raw, path, f"pp_coding[{k}]")
        out.append(PpCoding(t.get("rating_a", float), t.get("nominal", float), t.get("low", float),
                            t.get("high", float), t.get("source", str)))
    return out


def profile_band(profile: Any, key: str, unit: str, clause: str) -> Limit:
    """A [low, high] window from the DUT profile (a product promise or an unconfirmed threshold)."""
    low, high = (float(v) for v in profile.value(key))
    return Limit(key, low, high, unit, clause, f"DUT profile {profile.id}: {key}")

"""The suite's limits as data (`*.toml` beside this file), read as typed records: `LIMITS.rig.b2_observation`.

`LIMITS` loads on first use (the plugin validates it before the first test, so a broken file
stops the run with one line); `use_folder` points a run at another folder of limit files, for
reviewing a limit change (`--wbr-limits DIR`; the report names the folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from conformance.limits.access import AccessLimits
from conformance.limits.iec61851 import Iec61851Limits, PpCoding
from conformance.limits.ocpp import OcppLimits
from conformance.limits.protection import ProtectionLimits
from conformance.limits.rig import RigLimits
from core.limits import Source, load_documents


@dataclass(frozen=True)
class Limits:
    """Every limits file of the suite, parsed and validated."""

    iec61851: Iec61851Limits
    protection: ProtectionLimits
    rig: RigLimits
    ocpp: OcppLimits
    access: AccessLimits
    folder: Path
    sources: dict[str, Source]
    """The bibliography: key -> document."""

    def source(self, key: str) -> Source:
        return self.sources[key]

    def expected_duty_pct(self, current_a: float) -> tuple[float, str]:
        """The duty an EVSE must show to offer `current_a`, and the row's source."""
        for row in self.iec61851.current_to_duty:
            if row.current_a(row.duty_min_pct) <= current_a <= row.current_a(row.duty_max_pct):
                return current_a / row.amps_per_pct + row.duty_offset_pct, row.source
        raise ValueError(f"{current_a} A cannot be offered by PWM (outside the duty table)")

    def decoded_current_a(self, duty_pct: float) -> float:
        """The maximum current a vehicle reads from a duty: the table rows plus the 8-10 % region
        (the minimum offer); 0 where the duty allows no charging."""
        region = self.iec61851.six_amp_region
        if region.low <= duty_pct < region.high:
            return self.iec61851.min_offered_current.low
        for row in self.iec61851.current_to_duty:
            if row.duty_min_pct <= duty_pct <= row.duty_max_pct:
                return row.current_a(duty_pct)
        return 0.0

    def decoded_current_u_a(self, duty_pct: float, duty_u_pct: float) -> float:
        """U of `decoded_current_a` from the U of the duty: the table row's slope times it (GUM §5.1.3,
        a linear model), 0 on the flat 8-10 % region."""
        region = self.iec61851.six_amp_region
        if region.low <= duty_pct < region.high:
            return 0.0
        for row in self.iec61851.current_to_duty:
            if row.duty_min_pct <= duty_pct <= row.duty_max_pct:
                return abs(row.amps_per_pct) * duty_u_pct
        return 0.0

    def amps_per_duty_pct(self, offer_a: float) -> float:
        """How much the offer a vehicle reads moves per % of duty around `offer_a` (Table A.8's slope
        of the row whose currents hold it); 0 for no offer or the flat 8-10 % region."""
        for row in self.iec61851.current_to_duty:
            low, high = sorted((row.current_a(row.duty_min_pct), row.current_a(row.duty_max_pct)))
            if low <= offer_a <= high:
                return abs(row.amps_per_pct)
        return 0.0

    def offer_u_a(self, offer_a: float, duty_u_pct: float) -> float:
        """U of an offer decoded from a duty whose U is `duty_u_pct`."""
        return self.amps_per_duty_pct(offer_a) * duty_u_pct


SCHEMAS: dict[str, type] = {"iec61851": Iec61851Limits, "protection": ProtectionLimits, "rig": RigLimits,
                            "ocpp": OcppLimits, "access": AccessLimits}
"""Each limits file and its schema, which sits beside it (`iec61851.toml` ↔ `iec61851.py`): a new
limit is an entry in the schema and a table in the file, and nothing in `core/`."""


def load_limits(folder: Path) -> Limits:
    """Every limits file of `folder`, parsed against its schema, and the bibliography."""
    parsed, sources = load_documents(folder, SCHEMAS)
    return Limits(folder=Path(folder), sources=sources, **parsed)

LIMITS_DIR = Path(__file__).resolve().parent
_folder: list[Path] = [LIMITS_DIR]


def use_folder(folder: Path | None) -> None:
    """Judge against the limit files in `folder` (None: the suite's own)."""
    _folder[0] = Path(folder) if folder is not None else LIMITS_DIR
    load.cache_clear()


@cache
def load() -> Limits:
    """All limit files, parsed and validated once (a `ConfigError` names file and key)."""
    return load_limits(_folder[0])


class _Lazy:
    """Stands for the loaded `Limits` so that importing a test module never reads a file."""

    def __getattr__(self, name: str) -> Any:
        return getattr(load(), name)


LIMITS = cast(Limits, _Lazy())


def expected_duty_pct(current_a: float) -> tuple[float, str]:
    """The duty an EVSE must show to offer `current_a`, and the row's source."""
    return load().expected_duty_pct(current_a)


def decoded_current_a(duty_pct: float) -> float:
    """The maximum current a vehicle reads from a duty (0 where the duty allows no charging)."""
    return load().decoded_current_a(duty_pct)


def decoded_current_u_a(duty_pct: float, duty_u_pct: float) -> float:
    return load().decoded_current_u_a(duty_pct, duty_u_pct)


def pp_codings() -> tuple[PpCoding, ...]:
    return load().iec61851.pp_coding

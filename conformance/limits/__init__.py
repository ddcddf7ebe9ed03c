"""The suite's limits as data (`*.toml` beside this file), read as typed records: `LIMITS.rig.b2_observation`.

`LIMITS` loads on first use (the plugin validates it before the first test, so a broken file
stops the run with one line); `use_folder` points a run at another folder of limit files, for
reviewing a limit change (`--wbr-limits DIR`; the report names the folder).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, cast

from core.limits import Limits, PpCoding, load_limits

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


def pp_codings() -> tuple[PpCoding, ...]:
    return load().iec61851.pp_coding

"""What a standalone meter emulator serves (`wallbox-rig meter serve --scenario FILE`).

A scenario is TOML: either one `[grid]` table, or `[[steps]]` each with `at_s` (a time series,
held step-wise, optionally `repeat = true`).  A table gives any of `u_v`, `i_a`, `p_w` (three
numbers each, import positive, export negative), `f_hz`, and at the top level the starting
energies `e_import_wh`, `e_export_wh`.  Where `p_w` is missing it is `u × i` at power factor
0.95; where `i_a` is missing it is `|p| / u`.  Without a scenario: a plausible household.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.meter import GridState
from core.errors import ConfigError

HOUSEHOLD = {"u_v": [230.0, 231.0, 229.0], "i_a": [4.2, 2.1, 1.3], "f_hz": 50.0}
"""Some load on every phase, a little voltage unbalance."""
PF = 0.95


@dataclass(frozen=True)
class Scenario:
    steps: tuple[tuple[float, GridState], ...]
    repeat: bool

    def at(self, t_s: float) -> GridState:
        period = self.steps[-1][0] if self.repeat and self.steps[-1][0] > 0 else None
        if period:
            t_s %= period
        current = self.steps[0][1]
        for start, state in self.steps:
            if start <= t_s:
                current = state
        return current


def _triple(path: Path, key: str, value: Any) -> tuple[float, float, float]:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                               for v in value)):
        raise ConfigError(path, key, "three numbers, one per phase", value)
    return (float(value[0]), float(value[1]), float(value[2]))


def _state(path: Path, where: str, table: dict[str, Any], energies: tuple[float, float]) -> GridState:
    known = {"u_v", "i_a", "p_w", "f_hz", "at_s"}
    for key in table:
        if key not in known:
            raise ConfigError(path, f"{where}.{key}", f"one of {', '.join(sorted(known))}", key)
    u = _triple(path, f"{where}.u_v", table.get("u_v", HOUSEHOLD["u_v"]))
    if "i_a" not in table and "p_w" not in table:
        raise ConfigError(path, where, "i_a or p_w (three numbers each)")
    i = _triple(path, f"{where}.i_a", table["i_a"]) if "i_a" in table else None
    p = _triple(path, f"{where}.p_w", table["p_w"]) if "p_w" in table else None
    if p is None and i is not None:
        p = (u[0] * i[0] * PF, u[1] * i[1] * PF, u[2] * i[2] * PF)
    if i is None and p is not None:
        i = (abs(p[0]) / u[0], abs(p[1]) / u[1], abs(p[2]) / u[2])
    assert i is not None and p is not None
    f = table.get("f_hz", 50.0)
    if not isinstance(f, (int, float)) or not 40 <= f <= 70:
        raise ConfigError(path, f"{where}.f_hz", "a frequency between 40 and 70 Hz", f)
    return GridState(u, i, p, float(f), *energies)


def household() -> Scenario:
    return Scenario(((0.0, _state(Path("<household>"), "grid", HOUSEHOLD, (12_345_600.0, 0.0))),), False)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, "", "a readable scenario file", str(exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", "valid TOML", str(exc)) from exc
    energies = (float(data.get("e_import_wh", 0.0)), float(data.get("e_export_wh", 0.0)))
    if "grid" in data:
        return Scenario(((0.0, _state(path, "grid", data["grid"], energies)),), False)
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ConfigError(path, "", "a [grid] table or [[steps]] with at_s")
    out: list[Any] = []
    for k, step in enumerate(steps):
        at = step.get("at_s")
        if not isinstance(at, (int, float)) or at < 0 or (out and at <= out[-1][0]):
            raise ConfigError(path, f"steps[{k}].at_s", "a time in s, increasing from step to step", at)
        out.append((float(at), _state(path, f"steps[{k}]", step, energies)))
    if out[0][0] != 0.0:
        raise ConfigError(path, "steps[0].at_s", "0 (the first step starts the series)", out[0][0])
    return Scenario(tuple(out), bool(data.get("repeat", False)))

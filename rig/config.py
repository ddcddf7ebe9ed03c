"""Rig files (TOML): *where* things are, never how to drive them.

A rig file names the DUT profile, the clock and, per instrument role, a driver and an address.
`[sim]` makes it a virtual-lab rig: the lab starts in-process and `sim:NAME` addresses are
resolved to its loopback endpoints.  Every error names the file, the key, what was expected
and what was found.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.transport.factory import address_problem
from rig.errors import ConfigError
from rig.registry import ROLES, available_drivers

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RIG = REPO_ROOT / "rigs" / "sim.toml"

_MISSING = object()


class Table:
    """A TOML table that knows its file and dotted path, so every complaint can say where."""

    def __init__(self, data: dict[str, Any], file: Path, path: str = "") -> None:
        self.data, self.file, self.path = data, file, path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        if name not in self.data:
            if default is _MISSING:
                raise ConfigError(self.file, self.key(name), f"a {_kind_name(kind)}", hint="the key is missing")
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise ConfigError(self.file, self.key(name), f"a {_kind_name(kind)}", value)
        if not isinstance(value, kind):
            if kind is float and isinstance(value, int):
                return float(value)
            raise ConfigError(self.file, self.key(name), f"a {_kind_name(kind)}", value)
        return value

    def table(self, name: str, required: bool = False) -> Table | None:
        if name not in self.data:
            if required:
                raise ConfigError(self.file, self.key(name), "a table", hint="the table is missing")
            return None
        value = self.data[name]
        if not isinstance(value, dict):
            raise ConfigError(self.file, self.key(name), "a table", value)
        return Table(value, self.file, self.key(name))

    def reject_unknown(self, allowed: set[str]) -> None:
        for name in self.data:
            if name not in allowed:
                raise ConfigError(self.file, self.key(name), f"one of {', '.join(sorted(allowed))}",
                                  name, hint="unknown key")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean (true/false)",
             list: "list", dict: "table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, "", "an existing TOML file", hint="no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", "valid TOML", hint=str(exc)) from None


@dataclass(frozen=True)
class InstrumentConfig:
    role: str
    driver: str
    addresses: tuple[str, ...]
    settings: dict[str, Any]
    calibration_due: str | None = None


@dataclass(frozen=True)
class SafetyConfig:
    """What "safe" means on this bench: the source's idle and whether it may be on at all."""

    source_idle_on: bool = True
    source_idle_v: float = 230.0
    source_idle_hz: float = 50.0
    interlock: bool | None = None
    """Energise only with the interlock loop closed (read by the CP board); None: on a lab rig, not
    in the virtual lab."""


@dataclass(frozen=True)
class SuiteConfig:
    """How much the suite does on this rig: statistics cost minutes per trial in a lab, none in the virtual lab."""

    cold_load_trials: int = 50


SUITE_LIMITS = {"cold_load_trials": (20, 10_000)}
COMMS_MODULE_STATES = ("working", "defective")


@dataclass(frozen=True)
class DutConfig:
    """Station facts about the DUT on the bench: its identity and how the installer set it up."""

    firmware: str = "unknown"
    serial: str = "unknown"
    configured_current_a: float | None = None
    comms_module: str = "working"
    """"defective" on a bench set up with a failed communication module (WB-LED-05/06 then apply)."""


@dataclass(frozen=True)
class RigConfig:
    path: Path
    name: str
    profile: str
    clock: str
    clock_address: str | None
    instruments: dict[str, InstrumentConfig]
    safety: SafetyConfig
    dut: DutConfig
    sim: dict[str, Any] | None = None
    sim_dut: dict[str, Any] = field(default_factory=dict)
    suite: SuiteConfig = field(default_factory=SuiteConfig)

    @property
    def virtual(self) -> bool:
        return self.sim is not None


def load_rig_file(path: str | Path) -> RigConfig:
    path = Path(path)
    root = Table(read_toml(path), path)
    root.reject_unknown({"rig", "clock", "sim", "instruments", "safety", "dut", "suite"})

    rig = root.table("rig", required=True)
    assert rig is not None
    rig.reject_unknown({"name", "profile"})
    name = rig.get("name", str)
    profile = rig.get("profile", str)

    sim_table = root.table("sim")
    sim: dict[str, Any] | None = None
    sim_dut: dict[str, Any] = {}
    if sim_table is not None:
        sim_table.reject_unknown({"seed", "dut", "realtime", "dut_for_profile"})
        sim = {"seed": sim_table.get("seed", int, 1), "realtime": sim_table.get("realtime", bool, False),
               "dut_for_profile": {}}
        dut_knobs = sim_table.table("dut")
        sim_dut = dict(dut_knobs.data) if dut_knobs else {}
        per_profile = sim_table.table("dut_for_profile")
        for profile_id in per_profile.data if per_profile else ():
            knobs = per_profile.table(profile_id)  # type: ignore[union-attr]
            assert knobs is not None
            sim["dut_for_profile"][profile_id] = dict(knobs.data)

    clock = root.table("clock", required=True)
    assert clock is not None
    clock.reject_unknown({"kind", "address"})
    clock_kind = clock.get("kind", str)
    if clock_kind not in ("real", "virtual"):
        raise ConfigError(path, "clock.kind", '"real" or "virtual"', clock_kind)
    if clock_kind == "virtual" and sim is None:
        raise ConfigError(path, "clock.kind", '"real" on a rig without a [sim] table', clock_kind,
                          hint="virtual time exists only in the virtual lab")
    clock_address = clock.get("address", str, None)
    if clock_kind == "virtual" and clock_address is None:
        raise ConfigError(path, "clock.address", 'the virtual lab clock endpoint, e.g. "sim:clock"')

    instruments: dict[str, InstrumentConfig] = {}
    inst_root = root.table("instruments", required=True)
    assert inst_root is not None
    for role in inst_root.data:
        if role not in ROLES:
            raise ConfigError(path, inst_root.key(role), f"an instrument role ({', '.join(ROLES)})", role)
        table = inst_root.table(role)
        assert table is not None
        driver = table.get("driver", str)
        drivers = available_drivers(role)
        if driver not in drivers:
            raise ConfigError(path, table.key("driver"),
                              f"a {role} driver ({', '.join(sorted(drivers)) or 'none registered'})", driver)
        address = table.get("address", (str, list))
        addresses = (address,) if isinstance(address, str) else tuple(address)
        if not addresses or not all(isinstance(a, str) and a for a in addresses):
            raise ConfigError(path, table.key("address"), "a non-empty string or list of strings", address)
        if sim is None and any(a.startswith("sim:") for a in addresses):
            raise ConfigError(path, table.key("address"), "a real instrument address on a rig without [sim]",
                              address)
        for a in addresses:
            problem = None if a.startswith("sim:") else address_problem(a)
            if problem is not None:
                raise ConfigError(path, table.key("address"), problem, a)
        settings = {k: v for k, v in table.data.items() if k not in {"driver", "address", "calibration_due"}}
        if role == "meter":
            _check_meter_settings(path, table, settings)
        due = table.get("calibration_due", str, None)
        instruments[role] = InstrumentConfig(role, driver, addresses, settings, due)

    safety_table = root.table("safety")
    safety = SafetyConfig()
    if safety_table is not None:
        safety_table.reject_unknown({"source_idle_on", "source_idle_v", "source_idle_hz", "interlock"})
        safety = SafetyConfig(safety_table.get("source_idle_on", bool, True),
                              safety_table.get("source_idle_v", float, 230.0),
                              safety_table.get("source_idle_hz", float, 50.0),
                              safety_table.get("interlock", bool, None))

    dut_table = root.table("dut")
    dut = DutConfig()
    if dut_table is not None:
        dut_table.reject_unknown({"firmware", "serial", "configured_current_a", "comms_module"})
        comms = dut_table.get("comms_module", str, "working")
        if comms not in COMMS_MODULE_STATES:
            raise ConfigError(path, "dut.comms_module", " or ".join(f'"{c}"' for c in COMMS_MODULE_STATES), comms)
        dut = DutConfig(dut_table.get("firmware", str, "unknown"), dut_table.get("serial", str, "unknown"),
                        dut_table.get("configured_current_a", float, None), comms)

    suite_table = root.table("suite")
    suite = SuiteConfig()
    if suite_table is not None:
        suite_table.reject_unknown(set(SUITE_LIMITS))
        trials = suite_table.get("cold_load_trials", int, suite.cold_load_trials)
        low, high = SUITE_LIMITS["cold_load_trials"]
        if not low <= trials <= high:
            raise ConfigError(path, "suite.cold_load_trials", f"an integer in [{low}, {high}]", trials,
                              hint="fewer trials cannot tell a random delay from a handful of values")
        suite = SuiteConfig(trials)

    return RigConfig(path, name, profile, clock_kind, clock_address, instruments, safety, dut, sim, sim_dut, suite)


def parse_assignments(items: list[str], option: str = "--sim-set") -> dict[str, str]:
    """`["a=1", "b = x"]` → `{"a": "1", "b": "x"}`; anything without a name and '=' is refused."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{option} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _check_meter_settings(path: Path, table: Table, settings: dict[str, Any]) -> None:
    """The meter emulator's model and line settings, checked before anything is opened."""
    from instruments.meter.registers import model_names
    from instruments.transport.modbus import BAUDS, PARITIES
    checks = {
        "model": (lambda v: v in model_names(), f"a meter model ({', '.join(model_names())})"),
        "id": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 247, "a Modbus id 1…247"),
        "baud": (lambda v: v in BAUDS, f"a baud rate ({', '.join(map(str, BAUDS))})"),
        "parity": (lambda v: v in PARITIES, "N, E or O"),
        "stopbits": (lambda v: v in (1, 2), "1 or 2"),
        "framer": (lambda v: v in ("socket", "rtu"), '"socket" (Modbus TCP) or "rtu"'),
    }
    for key, (ok, expected) in checks.items():
        if key in settings and not ok(settings[key]):
            raise ConfigError(path, table.key(key), expected, settings[key])

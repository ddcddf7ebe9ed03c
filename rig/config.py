"""Rig files (TOML): *where* things are, never how to drive them.

A rig file names the DUT profile, the clock and, per instrument role, a driver and an address.
`[sim]` makes it a virtual-lab rig: the lab starts in-process and `sim:NAME` addresses are
resolved to its loopback endpoints.  Every error names the file, the key, what was expected
and what was found.
"""

from __future__ import annotations

import json

import dataclasses
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from instruments.base import Instrument
from instruments.transport.factory import address_problem
from core.records import DecisionRule
from core.errors import ConfigError
from core.tables import Table, nearest, read_toml
from rig.places import PlaceSpec, references
from core.errors import InvalidValue
from instruments.parts.wiring import Wiring, parse_wiring
from rig.registry import ROLE_NAMES, available_drivers, load_object
from rig.registry import role as role_of

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RIG = REPO_ROOT / "rigs" / "sim.toml"

@dataclass(frozen=True)
class InstrumentConfig:
    role: str
    driver: str
    addresses: tuple[str, ...]
    settings: dict[str, Any]
    calibration_due: str | None = None
    calibration_certificate: str | None = None
    """The certificate of the instrument's last calibration (its number), for the provenance."""


SOURCE_V_MAX = 300.0
"""The highest idle voltage a rig file may name: above any AC wallbox's rated line-to-neutral supply
(IEC 61851-1 mode 3 wallboxes are rated up to 230/400 V + 10 %, 253 V per phase)."""
SOURCE_HZ = (45.0, 65.0)
"""Idle frequencies a rig file may name: 50 or 60 Hz mains with room for a frequency test's ends."""


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
    """How much the suite does on this rig (statistics cost minutes per trial in a lab, none in the
    virtual lab), and the decision rule the lab states with every verdict."""

    cold_load_trials: int = 50
    decision_rule: DecisionRule = DecisionRule.SIMPLE
    """`[suite] decision_rule`: "simple" or "guarded" acceptance (ILAC-G8:09/2019 §4.2), printed in every report."""


SUITE_LIMITS = {"cold_load_trials": (20, 10_000)}
SUITE_KEYS = {"cold_load_trials", "decision_rule"}


def check_trials(trials: int, path: Path | None, key: str) -> None:
    """A cold-load trial count in range, or a ConfigError naming where it came from."""
    low, high = SUITE_LIMITS["cold_load_trials"]
    if not low <= trials <= high:
        raise ConfigError(path, key, f"an integer in [{low}, {high}]", trials,
                          hint="fewer trials cannot tell a random delay from a handful of values")


def with_trials(config: RigConfig, trials: int | None, option: str) -> RigConfig:
    """`config` with its cold-load trial count overridden from the command line (None: as it is)."""
    if trials is None:
        return config
    check_trials(trials, None, option)
    return dataclasses.replace(config, suite=dataclasses.replace(config.suite, cold_load_trials=trials))
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
    place: PlaceSpec | None = None
    """A labgrid place the instruments' `place:NAME` addresses come from (None: addresses as written)."""
    wiring: Wiring | None = None
    """What each switch channel does (`[wiring]`), for roles composed of bought parts."""
    attached: bool = False
    """A session on a served virtual lab that outlives this process (`--attach`): a supply found on
    stays on, and the exit's safe state is the one between tests, so the next call finds the DUT as
    this one left it (a card registration begun with the setup card, say)."""

    @property
    def virtual(self) -> bool:
        return self.sim is not None

    @property
    def in_process_lab(self) -> bool:
        """The virtual lab starts in this process (`sim:NAME` addresses); a served one (`[sim] served =
        true`, e.g. `wallbox-rig sim serve` behind a labgrid place) runs elsewhere."""
        return self.sim is not None and not self.sim["served"]


def rig_path(path: str | Path) -> Path:
    """A rig file as given; else one shipped with the package, by its name (`sim-cots`) or by its path in
    the repository (`rigs/sim-cots.toml`), so the commands the docs give work from an installed wheel,
    whose shipped rig files lie in site-packages rather than under the current folder."""
    given = Path(path)
    if given.exists() or given.parent not in (Path("."), Path("rigs")):
        return given
    shipped = REPO_ROOT / "rigs"
    for candidate in (shipped / given.name, shipped / f"{given.name}.toml"):
        if candidate.is_file():
            return candidate
    return given


def load_rig_file(path: str | Path) -> RigConfig:
    path = rig_path(path)
    root = Table(read_toml(path), path)
    root.reject_unknown({"rig", "clock", "sim", "instruments", "safety", "dut", "suite", "place", "wiring"})

    rig = root.required_table("rig")
    rig.reject_unknown({"name", "profile"})
    name = rig.get("name", str)
    profile = rig.get("profile", str)

    sim_table = root.table("sim")
    sim: dict[str, Any] | None = None
    sim_dut: dict[str, Any] = {}
    if sim_table is not None:
        sim_table.reject_unknown({"seed", "dut", "realtime", "dut_for_profile", "served"})
        sim = {"seed": sim_table.get("seed", int, 1), "realtime": sim_table.get("realtime", bool, False),
               "served": sim_table.get("served", bool, False), "dut_for_profile": {}}
        dut_knobs = sim_table.table("dut")
        sim_dut = dict(dut_knobs.data) if dut_knobs else {}
        per_profile = sim_table.table("dut_for_profile")
        for profile_id in per_profile.data if per_profile else ():
            assert per_profile is not None  # iterated only when present
            sim["dut_for_profile"][profile_id] = dict(per_profile.required_table(profile_id).data)

    clock = root.required_table("clock")
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

    place = _place(path, root.table("place"))
    if place is None and clock_address is not None and references(clock_address):
        raise ConfigError(path, "clock.address", "an address of its own, or a [place] table for place:NAME",
                          clock_address)

    instruments: dict[str, InstrumentConfig] = {}
    inst_root = root.required_table("instruments")
    for role in inst_root.data:
        if role not in ROLE_NAMES:
            raise ConfigError(path, inst_root.key(role), f"an instrument role ({', '.join(ROLE_NAMES)})", role,
                              hint=nearest(role, list(ROLE_NAMES)))
        instruments[role] = _instrument(path, role, inst_root.required_table(role),
                                        sim is not None and not sim["served"], place is not None)

    _one_role_per_port(path, instruments)
    wiring = _wiring(path, root.table("wiring"), instruments)

    safety_table = root.table("safety")
    safety = SafetyConfig()
    if safety_table is not None:
        safety_table.reject_unknown({"source_idle_on", "source_idle_v", "source_idle_hz", "interlock"})
        safety = SafetyConfig(safety_table.get("source_idle_on", bool, True),
                              safety_table.number("source_idle_v", 230.0, low=0.0, high=SOURCE_V_MAX),
                              safety_table.number("source_idle_hz", 50.0, low=SOURCE_HZ[0], high=SOURCE_HZ[1]),
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
        suite_table.reject_unknown(SUITE_KEYS)
        trials = suite_table.get("cold_load_trials", int, suite.cold_load_trials)
        check_trials(trials, path, "suite.cold_load_trials")
        rule = suite_table.get("decision_rule", str, str(suite.decision_rule))
        if rule not in set(DecisionRule):
            raise ConfigError(path, "suite.decision_rule", " or ".join(f'"{r}"' for r in DecisionRule), rule,
                              hint="ILAC-G8:09/2019 §4.2: simple acceptance, or guarded acceptance with w = U")
        suite = SuiteConfig(trials, DecisionRule(rule))

    return RigConfig(path, name, profile, clock_kind, clock_address, instruments, safety, dut, sim, sim_dut, suite,
                     place, wiring)


def _one_role_per_port(path: Path, instruments: dict[str, InstrumentConfig]) -> None:
    """Two roles on one serial port or one resource would talk over each other's commands."""
    owner: dict[str, str] = {}
    for role, inst in instruments.items():
        for address in inst.addresses:
            if address in owner:
                raise ConfigError(path, f"instruments.{role}.address", f"a port or resource of its own ({address} is "
                                  f"the {owner[address]}'s)", address)
            owner[address] = role


def _wiring(path: Path, table: Table | None, instruments: dict[str, InstrumentConfig]) -> Wiring | None:
    """`[wiring]`, checked against the composed roles that read it: every part they are built from
    present, every channel they switch wired, no channel twice."""
    try:
        wiring = parse_wiring(table.data) if table is not None else None
    except InvalidValue as exc:
        raise ConfigError(path, "wiring", "a valid wiring table (docs/bench/cots.md)", hint=str(exc)) from None
    for role, inst in instruments.items():
        cls = load_object(available_drivers(role)[inst.driver])
        if not cls.parts:
            continue
        for part in cls.parts:
            if part not in instruments:
                raise ConfigError(path, f"instruments.{part}", f"a {part} instrument: the {inst.driver} {role} is built "
                                  f"from {', '.join(cls.parts)}")
        if wiring is None:
            raise ConfigError(path, "wiring", f"a [wiring] table: the {inst.driver} {role} switches channels by function")
        try:
            cls.check_wiring(wiring, inst.settings)
        except InvalidValue as exc:
            raise ConfigError(path, "wiring", f"what the {inst.driver} {role} switches", hint=str(exc)) from None
    return wiring


def _place(path: Path, table: Table | None) -> PlaceSpec | None:
    """`[place]`: the labgrid place this rig's instruments sit on (name, or tags), its coordinator."""
    if table is None:
        return None
    table.reject_unknown({"name", "tags", "coordinator", "wait_s"})
    name = table.get("name", str, None)
    tags_table = table.table("tags")
    tags = {k: str(v) for k, v in (tags_table.data.items() if tags_table else ())}
    if (name is None) == (not tags):
        raise ConfigError(path, "place", "either a place name (name = ...) or tags (tags = { key = value })",
                          hint="labgrid reserves a place by its name or by tags its admin set")
    wait_s = table.get("wait_s", float, 3600.0)
    if wait_s <= 0:
        raise ConfigError(path, "place.wait_s", "a positive number of seconds to wait for the place", wait_s)
    return PlaceSpec(name, tags, table.get("coordinator", str, None), wait_s)


def with_place(config: RigConfig, name: str | None, tags: Mapping[str, str] | None) -> RigConfig:
    """`config` on another place of the same kind (`wallbox-rig run --place NAME | --place-tag k=v`)."""
    if not name and not tags:
        return config
    if config.place is None:
        raise ConfigError(config.path, "place", "a [place] table (with place:NAME addresses) for --place / "
                                                "--place-tag to choose among")
    return dataclasses.replace(config, place=dataclasses.replace(config.place, name=name or None,
                                                                 tags=dict(tags or {}) if not name else {}))

def parse_assignments(items: list[str], option: str = "--sim-set") -> dict[str, str]:
    """`["a=1", "b = x"]` → `{"a": "1", "b": "x"}`; anything without a name and '=' is refused."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{option} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _instrument(path: Path, role: str, table: Table, virtual: bool, placed: bool) -> InstrumentConfig:
    """One `[instruments.ROLE]` table: a known driver (imported here, so a broken plug-in is found by
    `rig check`), reachable addresses, and exactly the settings that driver class declares."""
    driver = table.get("driver", str)
    drivers = available_drivers(role)
    if driver not in drivers:
        raise ConfigError(path, table.key("driver"),
                          f"a {role} driver ({', '.join(sorted(drivers)) or 'none registered'})", driver,
                          hint=nearest(driver, list(drivers)))
    try:
        cls = load_object(drivers[driver])
    except Exception as exc:  # noqa: BLE001 - any import failure of a plug-in is the rig file's problem to report
        raise ConfigError(path, table.key("driver"), f"an importable driver ({drivers[driver]})", driver,
                          hint=f"importing it failed: {type(exc).__name__}: {exc}") from None
    interface = load_object(role_of(role).interface)
    if not (isinstance(cls, type) and issubclass(cls, interface) and issubclass(cls, Instrument)):
        raise ConfigError(path, table.key("driver"), f"a driver class implementing {interface.__name__} "
                          f"({role_of(role).interface})", driver, hint=f"{drivers[driver]} does not")
    declared = cls.declared_settings()
    fixed = {"driver", "calibration_due", "calibration_certificate"} | ({"address"} if cls.opens is not None else set())
    if cls.opens is None and "address" in table.data:
        raise ConfigError(path, table.key("address"), f"no address: {driver} is built from other instruments "
                          f"({', '.join(cls.parts)}) and the [wiring] table", table.data["address"])
    table.reject_unknown(fixed | set(declared))
    settings = {k: v for k, v in table.data.items() if k not in fixed}
    for key, value in settings.items():
        problem = declared[key].problem(value)
        if problem is not None:
            raise ConfigError(path, table.key(key), problem, value)
    for key, setting in declared.items():
        if setting.required and key not in settings:
            raise ConfigError(path, table.key(key), setting.describe(), hint=f"the {driver} driver needs it")
    due = table.date("calibration_due", None)
    calibration_due = due.isoformat() if due is not None else None
    certificate = table.get("calibration_certificate", str, None)
    if cls.opens is None:
        return InstrumentConfig(role, driver, (), settings, calibration_due, certificate)
    address = table.get("address", (str, list))
    addresses = (address,) if isinstance(address, str) else tuple(address)
    if not addresses or not all(isinstance(a, str) and a for a in addresses):
        raise ConfigError(path, table.key("address"), "a non-empty string or list of strings", address)
    if not virtual and any(a.startswith("sim:") for a in addresses):
        raise ConfigError(path, table.key("address"), "a real instrument address on a rig without an in-process "
                          "virtual lab ([sim], not served)", address)
    if not placed and any(references(a) for a in addresses):
        raise ConfigError(path, table.key("address"), "an address of its own, or a [place] table for place:NAME",
                          address)
    for a in addresses:
        problem = None if a.startswith("sim:") or references(a) else address_problem(a)
        if problem is not None:
            raise ConfigError(path, table.key("address"), problem, a)
    return InstrumentConfig(role, driver, addresses, settings, calibration_due, certificate)


def overdue_calibrations(config: RigConfig, today: date | None = None) -> dict[str, str]:
    """Role → its calibration due date, for every instrument whose calibration has run out."""
    today = today or date.today()
    return {role: inst.calibration_due for role, inst in config.instruments.items()
            if inst.calibration_due is not None and date.fromisoformat(inst.calibration_due) < today}


def check_against_profile(config: RigConfig, profile: Any) -> None:
    """What the rig file says about the DUT must fit the product the profile describes."""
    current = config.dut.configured_current_a
    rated = profile.electrical.rated_current_a
    if current is not None and not 0.0 <= current <= rated:
        raise ConfigError(config.path, "dut.configured_current_a",
                          f"a current the DUT can be set to, 0…{rated:g} A (profile {profile.id}: rated_current_a)",
                          current)
    analyser = config.instruments.get("analyser")
    if analyser is not None:
        # a reading above its fixed range is over-range (a broken rig mid-run): the ranges must hold the
        # most the suite makes flow and the highest supply it applies
        amps, volts = analyser.settings.get("current_range_a"), analyser.settings.get("voltage_range_v")
        if amps is not None and amps < rated:
            raise ConfigError(config.path, "instruments.analyser.current_range_a",
                              f"a range of at least the DUT's rated {rated:g} A (profile {profile.id})", amps)
        if volts is not None and volts < SOURCE_V_MAX:
            raise ConfigError(config.path, "instruments.analyser.voltage_range_v",
                              f"a range of at least {SOURCE_V_MAX:g} V (the supply ramps go up to it)", volts)
    if current is not None and profile.electrical.settable_currents_kind == "discrete" \
            and current not in profile.electrical.settable_currents_a:
        raise ConfigError(config.path, "dut.configured_current_a",
                          f"one of the settings of {profile.id} ({', '.join(f'{v:g}' for v in profile.electrical.settable_currents_a)} A)",
                          current)


def attach_served(config: RigConfig, endpoints_file: str | Path) -> RigConfig:
    """`config` (a rig file of the in-process virtual lab) pointed at a lab that `wallbox-rig sim serve
    --endpoints-json FILE` runs: each `sim:NAME` address becomes that lab's endpoint NAME; the meter
    emulator and the backend listen where that lab dials them."""
    path = Path(endpoints_file)
    if not config.in_process_lab:
        raise ConfigError(config.path, "sim", "a rig file of the virtual lab ([sim], not served) to attach with",
                          hint="--attach points a virtual-lab rig file at a served lab")
    try:
        endpoints = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(path, "", "the endpoints JSON `wallbox-rig sim serve --endpoints-json` writes",
                          hint=str(exc)) from None
    if not isinstance(endpoints, dict) or not all(isinstance(v, str) for v in endpoints.values()):
        raise ConfigError(path, "", "an object of endpoint name → address", endpoints)

    def resolved(address: str, key: str) -> str:
        if not address.startswith("sim:"):
            return address
        if address[4:] not in endpoints:
            raise ConfigError(path, address[4:], f"the endpoint {key} names ({config.path})",
                              hint=f"the served lab has {', '.join(sorted(endpoints))}")
        return str(endpoints[address[4:]])

    instruments = {role: replace(inst, addresses=tuple(resolved(a, f"[instruments.{role}.address]")
                                                       for a in inst.addresses))
                   for role, inst in config.instruments.items()}
    return replace(config, instruments=instruments, clock_address=resolved(config.clock_address or "", "[clock.address]"),
                   sim={**(config.sim or {}), "served": True}, attached=True)

"""Rig files (TOML): *where* things are, never how to drive them.

A rig file names the DUT profile, the clock and, per instrument role, a driver and an address.
`[sim]` makes it a virtual-lab rig: the lab starts in-process and `sim:NAME` addresses are
resolved to its loopback endpoints.  Every error names the file, the key, what was expected
and what was found.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from instruments.transport.factory import address_problem
from core.errors import ConfigError
from core.tables import Table, nearest, read_toml
from rig.places import PlaceSpec, references
from core.errors import InvalidValue
from instruments.card import uid_ok
from instruments.parts.wiring import Wiring, parse_wiring
from rig.registry import COMPOSED, DRIVER_KINDS, ROLES, available_drivers, load_object

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RIG = REPO_ROOT / "rigs" / "sim.toml"

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

    @property
    def virtual(self) -> bool:
        return self.sim is not None

    @property
    def in_process_lab(self) -> bool:
        """The virtual lab starts in this process (`sim:NAME` addresses); a served one (`[sim] served =
        true`, e.g. `wallbox-rig sim serve` behind a labgrid place) runs elsewhere."""
        return self.sim is not None and not self.sim["served"]


def load_rig_file(path: str | Path) -> RigConfig:
    path = Path(path)
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
        if role not in ROLES:
            raise ConfigError(path, inst_root.key(role), f"an instrument role ({', '.join(ROLES)})", role,
                              hint=nearest(role, list(ROLES)))
        instruments[role] = _instrument(path, role, inst_root.required_table(role),
                                        sim is not None and not sim["served"], place is not None)

    wiring = _wiring(path, root.table("wiring"), instruments)

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
        check_trials(trials, path, "suite.cold_load_trials")
        suite = SuiteConfig(trials)

    return RigConfig(path, name, profile, clock_kind, clock_address, instruments, safety, dut, sim, sim_dut, suite,
                     place, wiring)


def _wiring(path: Path, table: Table | None, instruments: dict[str, InstrumentConfig]) -> Wiring | None:
    """`[wiring]`, checked against the composed roles that read it: every part they are built from
    present, every channel they switch wired, no channel twice."""
    try:
        wiring = parse_wiring(table.data) if table is not None else None
    except InvalidValue as exc:
        raise ConfigError(path, "wiring", "a valid wiring table (docs/bench/cots.md)", hint=str(exc)) from None
    for role, inst in instruments.items():
        if inst.driver not in COMPOSED:
            continue
        cls = load_object(available_drivers(role)[inst.driver])
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


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _roi(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 4 and all(_integer(x) and x >= 0 for x in v)
            and v[2] > 0 and v[3] > 0)


SERIAL_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def _setting_checks() -> dict[str, tuple[Any, str]]:
    """Every instrument setting a built-in driver or transport reads: (check, what is expected)."""
    from instruments.meter.registers import model_names
    from instruments.transport.modbus import BAUDS, PARITIES
    checks: dict[str, tuple[Any, str]] = {
        "timeout_s": (lambda v: _number(v) and 0 < v <= 600, "a reply timeout in s, (0, 600]"),
        "baudrate": (lambda v: v in SERIAL_BAUDS and _integer(v), f"a baud rate ({', '.join(map(str, SERIAL_BAUDS))})"),
        "visa_library": (lambda v: isinstance(v, str) and bool(v), 'a pyvisa library ("@py", "@ivi" or a path)'),
        "bitrate": (lambda v: _integer(v) and 10_000 <= v <= 1_000_000, "a CAN bit rate, 10000…1000000"),
        "gamma": (lambda v: _number(v) and 1.0 <= v <= 3.0, "the camera's gamma, 1.0…3.0"),
        "model": (lambda v: v in model_names(), f"a meter model ({', '.join(model_names())})"),
        "id": (lambda v: _integer(v) and 1 <= v <= 247, "a Modbus id 1…247"),
        "baud": (lambda v: v in BAUDS and _integer(v), f"a baud rate ({', '.join(map(str, BAUDS))})"),
        "parity": (lambda v: v in PARITIES, "N, E or O"),
        "stopbits": (lambda v: v in (1, 2) and _integer(v), "1 or 2"),
        "framer": (lambda v: v in ("socket", "rtu"), '"socket" (Modbus TCP) or "rtu"'),
        "seed": (_integer, "an integer"),
        "serial_number": (lambda v: _integer(v) and 0 <= v < 2**32, "a serial number, 0…4294967295"),
        "cp_channel": (lambda v: v in (1, 2, 3, 4) and _integer(v), "a scope channel 1…4"),
        "output_channel": (lambda v: v in (1, 2, 3, 4) and _integer(v), "a scope channel 1…4"),
        "output_probe": (lambda v: _number(v) and 1 <= v <= 10000, "the output probe's attenuation, 1…10000"),
    }
    for segment in ("S1", "S2", "S3", "S4", "ref"):
        checks[f"roi_{segment}"] = (_roi, "[x, y, width, height] in pixels (width, height > 0)")
    checks.update({
        "auto_exposure": (lambda v: isinstance(v, bool), "true or false (false: the exposure stays as set)"),
        "exposure": (_number, "the camera's exposure, in its backend's unit (V4L2: 100 µs steps)"),
        "gain": (lambda v: _number(v) and v >= 0, "the camera's gain, >= 0"),
        "white_balance_k": (lambda v: _number(v) and 2000 <= v <= 10000, "a white balance in K, 2000…10000"),
    })
    checks.update({
        "charge_point_id": (lambda v: isinstance(v, str) and 0 < len(v) <= 48 and "/" not in v,
                            "the charge point identity the DUT connects as (1…48 characters, no '/')"),
        "password": (lambda v: isinstance(v, str) and 16 <= len(v) <= 40,
                     "the basic-auth password of security profile 1 (16…40 characters, OCPP 1.6 security "
                     "whitepaper AuthorizationKey)"),
        "certfile": (lambda v: isinstance(v, str) and bool(v), "a PEM certificate file (wss://, security profile 2)"),
        "keyfile": (lambda v: isinstance(v, str) and bool(v), "the certificate's PEM key file"),
        "configuration": (lambda v: isinstance(v, dict) and all(isinstance(x, (str, int, float, bool))
                                                                for x in v.values()),
                          "a table of OCPP configuration keys and values set once the DUT has booted"),
        "accepted_id_tags": (lambda v: isinstance(v, list) and all(isinstance(x, str) and 0 < len(x) <= 20
                                                                   for x in v), "a list of idTags (≤ 20 characters)"),
        "heartbeat_interval_s": (lambda v: _integer(v) and 1 <= v <= 86400, "a heartbeat interval in s, 1…86400"),
        "epoch_utc": (_iso_utc, 'the virtual lab\'s calendar at rig time 0, e.g. "2026-06-01T12:00:00Z"'),
    })
    checks.update({
        "setup_card": (uid_ok, "the setup card's UID in hex, 4 or 7 bytes (e.g. \"A1B2C3D4\")"),
        "cards": (lambda v: isinstance(v, list) and 0 < len(v) <= 6 and all(uid_ok(u) for u in v),
                  "a list of 1…6 card UIDs in hex (MIFARE Classic cards the tests may register)"),
        "foreign_card": (uid_ok, "the UID of a card that is not MIFARE Classic (an NTAG213), 7 bytes in hex"),
        "sample_rate": (lambda v: _integer(v) and 8000 <= v <= 192_000, "a sample rate in Hz, 8000…192000"),
    })
    return checks


def _iso_utc(value: Any) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


SETTINGS_BY_KIND = {
    "serial": ("timeout_s", "baudrate"),
    "visa": ("timeout_s", "visa_library", "baudrate"),
    "can": ("timeout_s", "bitrate"),
    "camera": ("roi_S1", "roi_S2", "roi_S3", "roi_S4", "gamma", "roi_ref", "auto_exposure", "exposure", "gain",
               "white_balance_k"),
    "meter": ("model", "id", "baud", "parity", "stopbits", "framer", "seed", "serial_number"),
    "modbus": ("timeout_s", "id", "baud", "parity", "stopbits"),
    "parts-cp": ("cp_channel", "output_channel", "output_probe"),
    "parts-faults": (),
    "card": ("setup_card", "cards", "foreign_card"),
    "audio": ("sample_rate",),
    "button": (),
    "ocpp": ("charge_point_id", "password", "certfile", "keyfile", "configuration", "accepted_id_tags",
             "heartbeat_interval_s", "epoch_utc"),
}
"""Which settings a driver of each transport kind reads (`rig.registry.DRIVER_KINDS`)."""
REQUIRED_BY_KIND = {"camera": ("roi_S1", "roi_S2", "roi_S3", "roi_S4"), "ocpp": ("charge_point_id",),
                    "card": ("setup_card",)}


def _instrument(path: Path, role: str, table: Table, virtual: bool, placed: bool) -> InstrumentConfig:
    """One `[instruments.ROLE]` table: a known driver (imported here, so a broken plug-in is found by
    `rig check`), reachable addresses, the settings that driver reads, a calibration date."""
    driver = table.get("driver", str)
    drivers = available_drivers(role)
    if driver not in drivers:
        raise ConfigError(path, table.key("driver"),
                          f"a {role} driver ({', '.join(sorted(drivers)) or 'none registered'})", driver,
                          hint=nearest(driver, list(drivers)))
    try:
        load_object(drivers[driver])
    except Exception as exc:  # noqa: BLE001 - any import failure of a plug-in is the rig file's problem to report
        raise ConfigError(path, table.key("driver"), f"an importable driver ({drivers[driver]})", driver,
                          hint=f"importing it failed: {type(exc).__name__}: {exc}") from None
    if driver in COMPOSED:
        if "address" in table.data:
            raise ConfigError(path, table.key("address"), f"no address: {driver} is built from other instruments "
                              "and the [wiring] table", table.data["address"])
        table.reject_unknown({"driver", *SETTINGS_BY_KIND[DRIVER_KINDS[driver][0]]})
        checks = _setting_checks()
        settings = {k: v for k, v in table.data.items() if k != "driver"}
        for key, value in settings.items():
            if not checks[key][0](value):
                raise ConfigError(path, table.key(key), checks[key][1], value)
        for key in REQUIRED_BY_KIND.get(DRIVER_KINDS[driver][0], ()):
            if key not in settings:
                raise ConfigError(path, table.key(key), checks[key][1], hint=f"the {driver} driver needs it")
        return InstrumentConfig(role, driver, (), settings)
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
    kinds = DRIVER_KINDS.get(driver, tuple(SETTINGS_BY_KIND))
    allowed = {"driver", "address", "calibration_due"} | {k for kind in kinds for k in SETTINGS_BY_KIND[kind]}
    table.reject_unknown(allowed)
    checks = _setting_checks()
    settings = {k: v for k, v in table.data.items() if k not in {"driver", "address", "calibration_due"}}
    for key, value in settings.items():
        ok, expected = checks[key]
        if not ok(value):
            raise ConfigError(path, table.key(key), expected, value)
    for kind in kinds if driver in DRIVER_KINDS else ():
        for key in REQUIRED_BY_KIND.get(kind, ()):
            if key not in settings:
                raise ConfigError(path, table.key(key), checks[key][1], hint=f"the {driver} driver needs it")
    due = table.date("calibration_due", None)
    return InstrumentConfig(role, driver, addresses, settings, due.isoformat() if due is not None else None)


def check_against_profile(config: RigConfig, profile: Any) -> None:
    """What the rig file says about the DUT must fit the product the profile describes."""
    current = config.dut.configured_current_a
    rated = profile.electrical.rated_current_a
    if current is not None and not 0.0 <= current <= rated:
        raise ConfigError(config.path, "dut.configured_current_a",
                          f"a current the DUT can be set to, 0…{rated:g} A (profile {profile.id}: rated_current_a)",
                          current)
    if current is not None and profile.electrical.settable_currents_kind == "discrete" \
            and current not in profile.electrical.settable_currents_a:
        raise ConfigError(config.path, "dut.configured_current_a",
                          f"one of the settings of {profile.id} ({', '.join(f'{v:g}' for v in profile.electrical.settable_currents_a)} A)",
                          current)

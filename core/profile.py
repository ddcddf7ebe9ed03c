"""The DUT profile as typed records: the product facts a test expects, each under its requirement IDs.

A profile file is parsed once, at load: every key a test reads is required and typed, unknown
keys are refused with the nearest valid one, and the product's promised windows and deadlines
come out as judged limits (`Band`, `AtMost`) with their unit, clause and source, so a test reads
`profile.protection.weld_signal_within_s.high` and never a string key or a fallback.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from core.errors import ConfigError
from core.limits import AtMost, Band
from core.tables import Table, nearest, read_toml

UNCONFIRMED = "unconfirmed in the public IEC text; the product's value, set in this profile"
PATTERNS = ("off", "solid", "blinking", "breathing", "sweeping")
COLOURS = ("blue", "yellow", "red", "green", "white")
Pattern = Literal["off", "solid", "blinking", "breathing", "sweeping"]
Beep = Literal["none", "short", "two short", "long"]
Colour = Literal["blue", "yellow", "red", "green", "white"]


def judged(unit: str, clause: str, *, scale: float = 1.0, unconfirmed: bool = False, low: float | None = None,
           high: float | None = None, random: bool = False) -> Any:
    """A profile value that tests judge against: a number (`AtMost`) or a [low, high] pair (`Band`).

    `scale` converts the file's unit to `unit` (ms in the file, s in the verdict).  Field metadata,
    written `field(metadata=judged(…))` so that type checkers see a field without a default."""
    return {"unit": unit, "clause": clause, "scale": scale, "unconfirmed": unconfirmed,
            "low": low, "high": high, "random": random}


def bounds(low: float | None = None, high: float | None = None) -> dict[str, float | None]:
    """Field metadata: a plain number (or each number of a pair or list) must lie in [low, high]."""
    return {"low": low, "high": high}


@dataclass(frozen=True)
class Head:
    id: str
    name: str
    part_number: str
    claims: str


@dataclass(frozen=True)
class Electrical:
    requirements: tuple[str, ...]
    phases: Literal[1, 3]
    supply_three_phase_v: tuple[float, float] = field(metadata=bounds(0.0, 500.0))
    supply_single_phase_v: tuple[float, float] = field(metadata=bounds(0.0, 300.0))
    supply_frequency_hz: tuple[float, float] = field(metadata=bounds(40.0, 70.0))
    rated_current_a: float = field(metadata=bounds(6.0, 80.0))
    settable_currents_kind: Literal["discrete", "range"]
    settable_currents_a: tuple[float, ...] = field(metadata=bounds(0.0, 80.0))
    default_current_a: float = field(metadata=bounds(0.0, 80.0))


@dataclass(frozen=True)
class Connector:
    requirements: tuple[str, ...]
    kind: Literal["tethered", "socket"]
    type: str
    cable_length_m: float = field(metadata=bounds(0.0, 50.0))
    cable_rating_a: float = field(metadata=bounds(0.0, 80.0))


@dataclass(frozen=True)
class ControlPilot:
    simplified_control_supported: bool
    ventilation_supported: bool
    wake_up: bool
    e_f_contactor_open_ms: AtMost = field(metadata=judged("s", "IEC 61851-1:2017 Annex A (state E)", scale=0.001,
                                           unconfirmed=True, low=0.0, high=10_000.0))
    overcurrent_stop_within_s: AtMost = field(metadata=judged("s", "IEC 61851-1:2017 Annex A (overcurrent by the vehicle)",
                                               unconfirmed=True, low=0.0, high=600.0))
    c1_contactor_open_within_s: AtMost = field(metadata=judged(
        "s", "IEC 61851-1:2017 Annex A, Table A.6 (EVSE removes PWM in C2: C2 -> C1)", unconfirmed=True,
        low=0.0, high=600.0))


@dataclass(frozen=True)
class ResidualCurrent:
    requirements: tuple[str, ...]
    ac_trip_band_ma: Band = field(metadata=judged("mA", "IEC 62955 / EN 61008-1 (AC residual current, type A)", low=0.0, high=300.0))
    dc_trip_band_ma: Band = field(metadata=judged("mA", "IEC 62955 (RDC-DD, smooth DC)", low=0.0, high=60.0))
    latch_until_power_cycle: bool


@dataclass(frozen=True)
class Temperature:
    requirements: tuple[str, ...]
    operating_c: tuple[float, float] = field(metadata=bounds(-60.0, 80.0))
    derates_before_stop: bool
    resumes_after_cooling: bool
    stop_by_c: AtMost = field(metadata=judged("degC", "over-temperature stop (WB-TH-02)", unconfirmed=True, low=0.0, high=150.0))
    resume_within_s: AtMost = field(metadata=judged("s", "resume after cooling (WB-TH-02)", unconfirmed=True, low=0.0, high=3600.0))


@dataclass(frozen=True)
class Protection:
    requirements: tuple[str, ...]
    weld_signal_within_s: AtMost = field(metadata=judged("s", "relay weld protection (WB-PR-01)", unconfirmed=True,
                                          low=0.0, high=60.0))
    overvoltage_trip_v: Band = field(metadata=judged("V", "over-voltage protection (WB-PR-01)", unconfirmed=True,
                                      low=230.0, high=400.0))
    undervoltage_trip_v: Band = field(metadata=judged("V", "under-voltage protection (WB-PR-01)", unconfirmed=True,
                                       low=50.0, high=230.0))
    supply_response_within_s: AtMost = field(metadata=judged("s", "supply supervision (WB-PR-01)", unconfirmed=True,
                                              low=0.0, high=600.0))
    frequency_out_of_range_hz: tuple[float, float] = field(metadata=bounds(1.0, 100.0))
    pe_open_stop_within_s: AtMost = field(metadata=judged("s", "earth fault protection (WB-PR-01)", unconfirmed=True,
                                           low=0.0, high=600.0))
    resume_within_s: AtMost = field(metadata=judged("s", "supply supervision (WB-PR-01)", unconfirmed=True, low=0.0, high=3600.0))


@dataclass(frozen=True)
class ColdLoad:
    requirements: tuple[str, ...]
    delay_range_s: Band = field(metadata=judged("s", "WB-CL-01", low=0.0, high=3600.0, random=True))
    ride_through_ms: float = field(metadata=bounds(0.0, 1000.0))
    distribution: Literal["uniform"] | None = None
    """The distribution the product declares for its delay, if any: then the KS test is judged."""


@dataclass(frozen=True)
class Led:
    requirements: tuple[str, ...]
    colour: Colour
    initialising: Pattern
    standby: Pattern
    charging: Pattern
    fault_colour: Colour
    paused: Pattern
    comms_defect_standby: Pattern
    comms_defect_charging: Pattern
    comms_defect_firmware_update: Pattern
    comms_defect_segment4: Colour
    pattern_period_s: Band = field(metadata=judged("s", "WB-LED-01 … WB-LED-07 (pattern rate)", unconfirmed=True, low=0.05, high=60.0))
    """The period a blinking, breathing or sweeping pattern may have."""


@dataclass(frozen=True)
class Meter:
    requirements: tuple[str, ...]
    models: tuple[str, ...]
    cable_max_m: float = field(metadata=bounds(0.0, 1200.0))


@dataclass(frozen=True)
class Energy:
    requirements: tuple[str, ...]
    load_management: bool
    solar: bool
    dimming: bool
    dimming_limit_w: float = field(metadata=bounds(0.0, 50_000.0))
    dimming_floor_w: float = field(metadata=bounds(0.0, 50_000.0))
    solar_limited_current_a: float = field(metadata=bounds(0.0, 80.0))


@dataclass(frozen=True)
class Ocpp:
    """The connected product (WB-CO-01, WB-CO-02): what its OCPP side promises and how fast.  The
    manuals name OCPP without a version's behaviour in numbers, so the latencies are the product's
    values set here (unconfirmed until a maker confirms them)."""

    requirements: tuple[str, ...]
    version: Literal["1.6J"]
    smart_charging: bool
    power_loss: Literal["stop", "resume"]
    """After a mains loss mid-session: the transaction ends with reason PowerLoss, or it resumes."""
    status_within_s: AtMost = field(metadata=judged("s", "OCPP 1.6 §4.9 StatusNotification (a change of the connector's status)",
                                     unconfirmed=True, low=0.0, high=600.0))
    remote_start_offer_within_s: AtMost = field(metadata=judged("s", "OCPP 1.6 §5.11 RemoteStartTransaction (to the PWM offer)",
                                                 unconfirmed=True, low=0.0, high=600.0))
    remote_stop_open_within_s: AtMost = field(metadata=judged("s", "OCPP 1.6 §5.12 RemoteStopTransaction (to contactor open)",
                                               unconfirmed=True, low=0.0, high=600.0))
    schedule_within_s: AtMost = field(metadata=judged("s", "OCPP 1.6 §3.13 smart charging (a period's start to its limit on CP)",
                                       unconfirmed=True, low=0.0, high=600.0))
    energy_accuracy_pct: AtMost = field(metadata=judged("%", "OCPP 1.6 §4.7 MeterValues / §6.47 meterStop (metered vs true energy)",
                                         unconfirmed=True, low=0.0, high=50.0))
    current_accuracy_a: AtMost = field(metadata=judged("A", "OCPP 1.6 §4.7 MeterValues Current.Import (metered vs true current)",
                                        unconfirmed=True, low=0.0, high=10.0))


@dataclass(frozen=True)
class Access:
    """Access control by RFID card (WB-AC-01 … WB-AC-04, WB-AC-06): the factory default, the beeps of
    the registration flow, the card technology.  What the manuals leave open (the latency from card to
    offer, what a refused card sounds like) is the product's value set here, unconfirmed."""

    requirements: tuple[str, ...]
    factory_default: Literal["off", "on"]
    card_technology: Literal["mifare-classic"]
    mode_on_beep: Beep
    card_registered_beep: Beep
    mode_off_beep: Beep
    refused_card_beep: Beep
    """An unregistered card presented to authorise (the manuals are silent: the product's value)."""
    refused_card_led: Pattern
    """The bar (in the product's colour) after a refused card: the manuals are silent; the product's value."""
    stop_with_card: bool
    vehicles_with_cards: float = field(metadata=bounds(0.0, 16.0))
    """How many vehicles (one card each) the backend service tells apart; 0 where it has none (WB-AC-06)."""
    authorise_within_s: AtMost = field(metadata=judged("s", "WB-AC-02 (a registered card to the PWM offer)", unconfirmed=True,
                                        low=0.0, high=600.0))
    card_stop_within_s: AtMost = field(metadata=judged("s", "WB-AC-02 (the same card again to the offer withdrawn)",
                                        unconfirmed=True, low=0.0, high=600.0))


@dataclass(frozen=True)
class PlugAndCharge:
    """ISO 15118 vehicles registered by their EVCC ID, the MAC, in place of a card (the MINI's
    WB-AC-05): with registration mode on (the setup card, as for cards), a vehicle that plugs in is
    registered, with a beep; later it charges without a card.  The protocol an AC wallbox negotiates,
    the latency and the idTag a backend hears are the product's values, unconfirmed."""

    requirements: tuple[str, ...]
    protocol: Literal["iso2", "din"]
    """What the DUT chooses in supportedAppProtocol (an AC wallbox: ISO 15118-2)."""
    vehicle_registered_beep: Beep
    authorise_within_s: AtMost = field(metadata=judged("s", "WB-AC-05 (a registered vehicle's SessionSetupReq to "
                                                      "the PWM offer)", unconfirmed=True, low=0.0, high=600.0))
    ocpp_id_tag: str
    """How an OCPP 1.6 backend hears a vehicle authorised by its MAC: the text with {mac} as the MAC in
    upper-case hex (OCPP 2.0.1 names it by idToken type MacAddress)."""


@dataclass(frozen=True)
class Pairing:
    """The backend pairing button (WB-CO-03): held at least `hold_s` inside a window that opens at
    power-up; the wallbox's ID has `id_digits` digits; the backend hears of it in a DataTransfer."""

    requirements: tuple[str, ...]
    hold_s: float = field(metadata=bounds(0.1, 60.0))
    window_s: float = field(metadata=bounds(1.0, 86_400.0))
    window_opens: Literal["power-up"]
    id_digits: float = field(metadata=bounds(1.0, 20.0))
    report: Literal["DataTransfer"]
    message_id: str


@dataclass(frozen=True)
class Profile:
    """A DUT profile, parsed and checked; `data` keeps the file's tables for the report's requirement list."""

    path: Path
    profile: Head
    electrical: Electrical
    connector: Connector
    control_pilot: ControlPilot
    residual_current: ResidualCurrent
    temperature: Temperature
    protection: Protection
    cold_load: ColdLoad
    led: Led
    meter: Meter
    energy: Energy
    ocpp: Ocpp | None = None
    """Absent: the product speaks no OCPP (the backend families skip)."""
    access: Access | None = None
    """Absent: the product has no card reader (the access-control family skips)."""
    pairing: Pairing | None = None
    """Absent: no pairing button (only the BMW i Wallbox Connect has one)."""
    plug_and_charge: PlugAndCharge | None = None
    """Absent: the product registers no ISO 15118 vehicles (the plug-and-charge family skips)."""
    manual_requirements: dict[str, str] = field(default_factory=dict)
    """Every requirement the product's manual makes: ID -> its text (empty for a generic profile)."""
    not_covered: dict[str, str] = field(default_factory=dict)
    partly_covered: dict[str, str] = field(default_factory=dict)
    """Requirement → the parts of it no test covers (its tests judge the rest): the matrix says
    *partial* and names them, never *pass* for what was not tested."""
    """Why a requirement has no test here (yet): ID -> reason."""
    data: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def socket_outlet(self) -> bool:
        """A socket-outlet EVSE reads the cable's PP coding; a tethered one carries its own."""
        return self.connector.kind == "socket"

    def requirement_ids(self) -> list[str]:
        return list(self.manual_requirements)


SECTIONS = ("profile", "electrical", "connector", "control_pilot", "residual_current", "temperature",
            "protection", "cold_load", "led", "meter", "energy")
OPTIONAL_SECTIONS = ("ocpp", "access", "pairing", "plug_and_charge")
TEXT_TABLES = ("manual_requirements", "not_covered", "partly_covered")


def parse_profile(path: Path, known_models: tuple[str, ...] = ()) -> Profile:
    """Parse and check one profile file; `known_models` are the meter models the rig can serve."""
    path = Path(path)
    root = Table(read_toml(path), path)
    root.reject_unknown(SECTIONS + OPTIONAL_SECTIONS + TEXT_TABLES)
    hints = get_type_hints(Profile)
    head = root.required_table("profile")
    profile_id = head.get("id", str)
    sections: dict[str, Any] = {name: _section(hints[name], root.required_table(name), path, profile_id)
                                for name in SECTIONS}
    for name in OPTIONAL_SECTIONS:
        table = root.table(name)
        if table is not None:
            schema = next(a for a in get_args(hints[name]) if a is not type(None))
            sections[name] = _section(schema, table, path, profile_id)
    texts: dict[str, Any] = {name: _texts(root, name) for name in TEXT_TABLES}
    profile = Profile(path=path, data=root.data, **sections, **texts)
    _cross_checks(profile, root, known_models)
    return profile


def _texts(root: Table, name: str) -> dict[str, str]:
    """A table of requirement ID -> text (or reason); absent means none."""
    table = root.table(name)
    if table is None:
        return {}
    out = {}
    for rid in table.data:
        if not rid.startswith("WB-"):
            raise ConfigError(table.file, table.key(rid), "a requirement ID (WB-…)", rid)
        out[rid] = table.get(rid, str)
    return out


def _section(schema: type, table: Table, path: Path, profile_id: str) -> Any:
    hints = get_type_hints(schema)
    fields = {f.name: f for f in dataclasses.fields(schema)}
    table.reject_unknown(set(fields))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        kind = hints[name]
        optional = type(None) in get_args(kind)
        if name not in table.data:
            if optional:
                values[name] = None
                continue
            raise ConfigError(path, table.key(name), f"{_describe(kind)} (every profile declares it)",
                              hint="the key is missing")
        values[name] = _value(kind, table, name, f.metadata, path, profile_id)
    return schema(**values)


def _describe(kind: Any) -> str:
    origin = get_origin(kind)
    if kind in (AtMost, Band):
        return "a number" if kind is AtMost else "a [low, high] pair of numbers"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(kind))
    if origin is tuple:
        return "a list"
    return {bool: "true or false", str: "a string", float: "a number", int: "an integer"}.get(kind, str(kind))


def _value(kind: Any, table: Table, name: str, meta: Any, path: Path, profile_id: str) -> Any:
    key = table.key(name)
    raw = table.data[name]
    args = [a for a in get_args(kind) if a is not type(None)]
    origin = get_origin(kind)
    if origin is Literal or (args and get_origin(args[0]) is Literal):
        choices = get_args(kind) if origin is Literal else get_args(args[0])
        if isinstance(raw, bool) or raw not in choices:
            hint = nearest(str(raw), [str(c) for c in choices])
            raise ConfigError(path, key, "one of " + ", ".join(repr(c) for c in choices), raw, hint=hint)
        return raw
    if kind is bool:
        return table.get(name, bool)
    if kind is str:
        return table.get(name, str)
    if kind is float:
        return table.number(name, low=meta.get("low"), high=meta.get("high"))
    if kind in (AtMost, Band):
        return _judged(kind, table, name, meta, path, profile_id)
    if origin is tuple:
        item = get_args(kind)[0]
        items = table.get(name, list)
        pair = len(get_args(kind)) == 2 and get_args(kind)[1] is not Ellipsis
        return _items(items, item, pair, meta, path, key)
    raise TypeError(f"profile schema: no parser for {kind!r} ({key})")


def _items(items: list[Any], item: type, pair: bool, meta: Any, path: Path, key: str) -> tuple[Any, ...]:
    if pair and len(items) != 2:
        raise ConfigError(path, key, "a [low, high] pair", items)
    out: list[Any] = []
    for value in items:
        if item is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(path, key, "a list of numbers", items)
            low, high = meta.get("low"), meta.get("high")
            if (low is not None and value < low) or (high is not None and value > high):
                raise ConfigError(path, key, f"numbers in [{low:g}, {high:g}]", items)
            out.append(float(value))
        else:
            if not isinstance(value, str):
                raise ConfigError(path, key, "a list of strings", items)
            out.append(value)
    if pair and out[0] > out[1]:
        raise ConfigError(path, key, "a [low, high] pair with low <= high", items)
    return tuple(out)


def _judged(kind: type, table: Table, name: str, meta: Any, path: Path, profile_id: str) -> AtMost | Band:
    source = f"DUT profile {profile_id}: [{table.path}] {name}" + (f" ({UNCONFIRMED})" if meta["unconfirmed"] else "")
    scale = meta["scale"]
    if kind is AtMost:
        value = table.number(name, low=meta.get("low"), high=meta.get("high"))
        return AtMost(name=name, high=value * scale, unit=meta["unit"], clause=meta["clause"], source=source,
                      cites=("MANUAL",))
    low, high = _items(table.get(name, list), float, True, meta, path, table.key(name))
    return Band(name=name, low=low * scale, high=high * scale, unit=meta["unit"], clause=meta["clause"], source=source,
                cites=("MANUAL",), random=meta["random"])


def _cross_checks(p: Profile, root: Table, known_models: tuple[str, ...]) -> None:
    """What no single key can say: settings inside the rating, models the rig can serve."""
    e = p.electrical
    where = root.required_table("electrical")
    if any(v > e.rated_current_a for v in e.settable_currents_a):
        raise ConfigError(p.path, where.key("settable_currents_a"), f"settings <= rated_current_a ({e.rated_current_a:g})",
                          list(e.settable_currents_a))
    if e.settable_currents_kind == "range" and len(e.settable_currents_a) != 2:
        raise ConfigError(p.path, where.key("settable_currents_a"), 'a [low, high] pair (settable_currents_kind = "range")',
                          list(e.settable_currents_a))
    if not 0.0 <= e.default_current_a <= e.rated_current_a:
        raise ConfigError(p.path, where.key("default_current_a"), f"a current in [0, {e.rated_current_a:g}] A",
                          e.default_current_a)
    if p.connector.kind == "tethered" and p.connector.cable_rating_a <= 0:
        raise ConfigError(p.path, "connector.cable_rating_a", "the tethered cable's rating (> 0 A)",
                          p.connector.cable_rating_a)
    listed = {rid for name in SECTIONS[1:] + OPTIONAL_SECTIONS if isinstance(p.data.get(name), dict)
              for rid in p.data[name].get("requirements", [])}
    for rid in sorted(listed - set(p.manual_requirements)):
        raise ConfigError(p.path, f"manual_requirements.{rid}", "the requirement's text (every ID a section lists)",
                          hint="the key is missing")
    for rid in sorted(set(p.not_covered) - set(p.manual_requirements)):
        raise ConfigError(p.path, f"not_covered.{rid}", "a requirement of [manual_requirements]", rid)
    for rid in sorted(set(p.partly_covered) - set(p.manual_requirements)):
        raise ConfigError(p.path, f"partly_covered.{rid}", "a requirement of [manual_requirements]", rid)
    for rid in sorted(set(p.partly_covered) & set(p.not_covered)):
        raise ConfigError(p.path, f"partly_covered.{rid}", "a requirement some test covers (it is in [not_covered])",
                          rid)
    for model in p.meter.models:
        if known_models and model not in known_models:
            raise ConfigError(p.path, "meter.models", f"meter models the rig serves ({', '.join(known_models)})",
                              model, hint=nearest(model, known_models))

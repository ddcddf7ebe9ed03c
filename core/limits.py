"""Limits as typed records: every number a conformance test judges against, with unit and source.

A limit file is parsed once into frozen records whose kind says which bounds it has, so that a
test reads `LIMITS.iec61851.contactor_open_after_c_to_b.high` as a float and never needs a
fallback: a missing bound, a unit left out, an unknown or misspelt entry is a `ConfigError`
naming the file and the key, raised when the limits are loaded (at the start of a run and by
`wallbox-rig rig check`), never in the middle of a test.

Kinds (the schema below fixes each entry's kind; the file gives the values):

- `Band`: `low` and `high`;  `AtMost`: `high`;  `AtLeast`: `low`;  `Count`: an exact count `value`.
  These are *judged*: `Evidence.check` accepts only them.  Each may declare `marginal`, a
  distance (in its unit) inside the limits within which a pass is flagged as marginal.
- `Setting`: a `value` the suite uses to *test* (an observation window, a ramp step, a dwell);
  never judged, but kept here with its unit and its reasoning so that every report can trace it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

from core.errors import ConfigError
from core.tables import Table, nearest, read_toml


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """What every entry carries: where it is from and what it is in."""

    name: str
    unit: str
    source: str
    clause: str = ""
    cites: tuple[str, ...] = ()
    """Keys of the documents in the bibliography (`sources.toml`) this value rests on."""

    KEYS: ClassVar[tuple[str, ...]] = ()
    """The bound keys of this kind (beside unit, source, clause, marginal)."""


@dataclass(frozen=True, kw_only=True)
class _Judged(Quantity):
    marginal: float | None = None
    random: bool = False
    """The judged quantity is random by design (a cold-load delay, a test statistic): a trend never
    reads a change of its margin as drift."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Band(_Judged):
    low: float
    high: float
    KEYS: ClassVar[tuple[str, ...]] = ("low", "high")

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}] {self.unit}".rstrip()

    def lower(self) -> AtLeast:
        """The band's lower end alone (the shortest of many values is judged against it)."""
        return AtLeast(name=f"{self.name}.low", low=self.low, **self._common())

    def upper(self) -> AtMost:
        """The band's upper end alone."""
        return AtMost(name=f"{self.name}.high", high=self.high, **self._common())

    def _common(self) -> dict[str, Any]:
        return {"unit": self.unit, "clause": self.clause, "source": self.source, "cites": self.cites,
                "marginal": self.marginal, "random": self.random}


@dataclass(frozen=True, kw_only=True)
class AtMost(_Judged):
    high: float
    KEYS: ClassVar[tuple[str, ...]] = ("high",)

    @property
    def low(self) -> None:
        return None

    def describe(self) -> str:
        return f"<= {self.high:g} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class AtLeast(_Judged):
    low: float
    KEYS: ClassVar[tuple[str, ...]] = ("low",)

    @property
    def high(self) -> None:
        return None

    def describe(self) -> str:
        return f">= {self.low:g} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class Count(_Judged):
    """An exact number of events (closures, offers, interruptions): `value` and nothing else passes."""

    value: int
    KEYS: ClassVar[tuple[str, ...]] = ("value",)

    @property
    def low(self) -> float:
        return float(self.value)

    @property
    def high(self) -> float:
        return float(self.value)

    def describe(self) -> str:
        return f"= {self.value} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class Setting(Quantity):
    """A value the suite tests with (a window, a step, a dwell); not a verdict."""

    value: float
    KEYS: ClassVar[tuple[str, ...]] = ("value",)


Judged = Band | AtMost | AtLeast | Count
"""What `Evidence.check` judges against."""


def sources_of(*parts: Quantity) -> str:
    """The sources of the records a derived limit is computed from, each named."""
    return "; ".join(f"{p.name}: {p.source}" for p in parts)


def cites_of(*parts: Quantity) -> tuple[str, ...]:
    """The bibliography keys of the records a derived limit is computed from."""
    return tuple(dict.fromkeys(key for p in parts for key in p.cites))


def derived_from(*parts: Quantity) -> dict[str, Any]:
    """`source` and `cites` of a limit computed from `parts` (as keyword arguments)."""
    return {"source": sources_of(*parts), "cites": cites_of(*parts)}


@dataclass(frozen=True)
class Source:
    """One document of the bibliography, expanded so a report can be checked without this repo's authors."""

    key: str
    document: str
    edition: str
    where: str
    says: str

    def cite(self) -> str:
        return f"{self.key}: {self.document}, {self.edition}, {self.where}"


# --- table rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DutyRow:
    """One row of the duty -> current table: I = (d - duty_offset_pct) x amps_per_pct."""

    duty_min_pct: float
    duty_max_pct: float
    amps_per_pct: float
    duty_offset_pct: float
    source: str
    cites: tuple[str, ...] = ()

    def current_a(self, duty_pct: float) -> float:
        return (duty_pct - self.duty_offset_pct) * self.amps_per_pct


@dataclass(frozen=True)
class PpCoding:
    """A Type 2 PP coding window as the EVSE reads it."""

    rating_a: float
    nominal: float
    low: float
    high: float
    source: str
    cites: tuple[str, ...] = ()


# --- the schema: one record class per limits file ----------------------------------------------
@dataclass(frozen=True)
class Iec61851Limits:
    """conformance/limits/iec61851.toml: IEC 61851-1:2017 (Annex A control pilot, Annex B proximity)."""

    cp_generator_high: Band
    cp_generator_low: Band
    state_a_level: Band
    state_b_level: Band
    state_c_level: Band
    state_f_level: Band
    pwm_frequency: Band
    duty_tolerance: Band
    current_to_duty: tuple[DutyRow, ...]
    six_amp_region: Band
    min_offered_current: AtLeast
    contactor_close_after_c: AtMost
    contactor_open_after_c_to_b: AtMost
    contactor_open_after_unplug: AtMost
    state_b_resistance_band: Band
    state_c_switched_resistance_band: Band
    vehicle_r3: Setting
    pp_coding: tuple[PpCoding, ...]
    pp_invalid_below: AtMost
    pp_invalid_above: AtLeast
    pwm_update_min_interval: AtLeast
    c1_cutoff: AtLeast
    wake_up_step: Band
    closures_in_state_b: Count
    closures_with_shorted_diode: Count
    faults_on_shorted_diode: Count
    closures_before_an_offer: Count
    closures_at_zero_setting: Count
    offers_at_zero_setting: Count
    closures_on_invalid_pp: Count
    offers_after_plug_in: AtLeast
    pwm_withdrawals_when_paused: AtLeast
    closures_when_asked: AtLeast


@dataclass(frozen=True)
class ProtectionLimits:
    """conformance/limits/protection.toml: residual current, welding, recovery."""

    rcd_ac_trip_time_1x: AtMost
    rcd_ac_trip_time_2x: AtMost
    rcd_ac_trip_time_5x: AtMost
    rcd_dc_trip_time: AtMost
    interruptions_below_the_band: Count
    closures_after_recovery: Count
    offers_while_welded: Count


@dataclass(frozen=True)
class RigLimits:
    """conformance/limits/rig.toml: the suite's own conventions, each with its reasoning."""

    observation_factor: Setting
    opening_observation_factor: Setting
    opening_observation_min: Setting
    weld_observation_factor: Setting
    trip_observation_factor: Setting
    trip_observation_min: Setting
    charge_arrange_timeout: Setting
    charge_dwell: Setting
    load_settle: Setting
    replug_pause: Setting
    power_off: Setting
    boot_allowance: Setting
    b2_observation: AtMost
    phase_current_fraction: Band
    phase_test_draw: Setting
    phase_test_duration: Setting
    overcurrent_excess: Setting
    socket_test_cable: Setting
    wake_up_observation: Setting
    duty_update_settle: Setting
    setting_change_spacing: Setting
    negative_cp: Setting
    generator_up: Setting
    rcd_ramp_step: Setting
    rcd_ac_ramp_dwell: Setting
    rcd_dc_ramp_dwell: Setting
    rcd_ramp_start: Setting
    rcd_ramp_overshoot_steps: Setting
    rcd_no_trip_hold: Setting
    fault_observation: AtMost
    latch_observation: Setting
    healthy_pole_open: AtMost
    temperature_ramp_step: Setting
    temperature_ramp_dwell: Setting
    derated_offers: AtLeast
    thermal_soak: Setting
    supply_ramp_step: Setting
    mains_outage: Setting
    cold_load_min_distinct: AtLeast
    cold_load_resolution: Setting
    cold_load_uniform_p: AtLeast
    cold_load_power_parts: Setting
    cold_load_power_target: Setting
    cold_load_repeated_outages: Setting
    restarts_between_outages: Count
    dip_recovery: Setting
    led_observation: Setting
    led_sample_rate: Setting
    led_boot_lead: Setting
    led_segments_as_declared: Count
    firmware_update_max: Setting
    grid_loop_step: Setting
    meter_poll_sync: Setting
    grid_limit: Setting
    grid_limit_tolerance: Setting
    failsafe_current: Setting
    failsafe_tolerance: Setting
    offer_resolution: Setting
    load_management_response: AtMost
    load_management_recovery: AtMost
    load_management_settle: Setting
    meter_polls: AtLeast
    meter_worked_first: Count
    pp_beyond_window: Setting
    nominal_supply_voltage: Setting
    nominal_supply_frequency: Setting
    supply_ramp_overshoot: Setting
    overvoltage_act: Setting
    mains_loss_watch_factor: Setting
    mains_loss_sample: Setting
    temperature_ramp_from: Setting
    temperature_ramp_overshoot: Setting
    temperature_cooled: Setting
    chamber_ramp_from: Setting
    chamber_ramp_step: Setting
    chamber_ramp_dwell: Setting
    chamber_settle_tolerance: Setting
    chamber_settle_timeout: Setting
    chamber_settle_poll: Setting
    soak_offer_sample: Setting
    led_fault_trip_multiple: Setting
    offer_back_within: Setting
    offer_restored_within: Setting
    dimming_settle: Setting
    meter_fault_response: AtMost
    solar_import_max: AtMost
    solar_follow_margin: Setting
    solar_settle: Setting
    dimming_margin: Setting
    dimming_response: AtMost
    ready_after_power_up: AtLeast
    supply_variant_dwell: Setting
    supply_variant_sample: Setting
    supply_applied_tolerance: Setting


@dataclass(frozen=True)
class OcppLimits:
    """conformance/limits/ocpp.toml: what OCPP 1.6 fixes, and how the suite exercises the backend."""

    boot_timeout: Setting
    status_observation_factor: Setting
    meter_sample_interval: Setting
    meter_session: Setting
    meter_draw: Setting
    meter_interval_jitter: AtMost
    offered_vs_duty: AtMost
    meter_samples: AtLeast
    closures_without_authorisation: Count
    offers_without_authorisation: Count
    lost_transaction_messages: Count
    out_of_order_messages: Count
    offline_duration: Setting
    schedule_period: Setting
    schedule_limit_high: Setting
    schedule_limit_low: Setting
    schedule_draw_margin: AtMost
    vehicle_follow_step: Setting
    zero_limit_offers: Count
    suspended_reports: AtLeast
    composite_mismatches: Count
    watts_supply_v: Setting
    fault_overvoltage_margin: Setting
    fault_overtemperature_margin: Setting
    clock_jump: Setting
    power_loss_stops: Count
    power_loss_stops_when_resumed: Count
    offline_openings: Count
    tariff_start: Setting
    tariff_night: Setting
    tariff_night_end: Setting
    tariff_energy: Setting
    tariff_departure_after: Setting
    departure_energy_shortfall: AtMost


@dataclass(frozen=True)
class AccessLimits:
    """conformance/limits/access.toml: how the suite handles cards, listens for beeps and presses the
    pairing button, and the counts access control fixes (what the manual promises is in the profile)."""

    card_hold: Setting
    card_gap: Setting
    beep_listen: Setting
    watch_without_card: Setting
    offers_without_card: Count
    closures_without_card: Count
    offers_after_ignored_card: Count
    offers_with_access_off: AtLeast
    closures_with_access_off: AtLeast
    beeps_when_refused: Count
    card_tag_mismatches: Count
    pairing_short_hold: Setting
    pairing_late_margin: Setting
    pairing_after_window: Setting
    pairing_reports: Count
    pairing_reports_refused: Count
    one_vehicle_tags: Count


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


DOCUMENTS: dict[str, type] = {"iec61851": Iec61851Limits, "protection": ProtectionLimits, "rig": RigLimits,
                              "ocpp": OcppLimits, "access": AccessLimits}
ROWS: dict[type, tuple[str, ...]] = {
    DutyRow: ("duty_min_pct", "duty_max_pct", "amps_per_pct", "duty_offset_pct"),
    PpCoding: ("rating_a", "nominal", "low", "high"),
}
_COMMON = ("unit", "source", "clause", "cites")


def parse_quantity(kind: type[Quantity], table: Table, name: str) -> Quantity:
    """One entry of `kind` from its table: every bound the kind needs, nothing it does not know."""
    allowed = set(_COMMON) | set(kind.KEYS) | ({"marginal", "random"} if issubclass(kind, _Judged) else set())
    table.reject_unknown(allowed)
    values: dict[str, Any] = {"name": name, "unit": table.get("unit", str), "source": table.get("source", str),
                              "clause": table.get("clause", str, ""), "cites": _cites(table)}
    if not values["source"].strip():
        raise ConfigError(table.file, table.key("source"), "the document this value comes from", "")
    for key in kind.KEYS:
        values[key] = table.get(key, int) if kind is Count else table.number(key)
    if issubclass(kind, _Judged):
        values["marginal"] = table.number("marginal", None, low=0.0)
        values["random"] = table.get("random", bool, False)
    if kind is Band and values["low"] > values["high"]:
        raise ConfigError(table.file, table.key("low"), f"low <= high ({values['high']:g})", values["low"])
    return kind(**values)


def _parse_rows(kind: type, items: Any, file: Path, name: str) -> tuple[Any, ...]:
    if not isinstance(items, list) or not items:
        raise ConfigError(file, name, "an array of tables ([[" + name + "]])", items)
    rows = []
    for k, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise ConfigError(file, f"{name}[{k}]", "a table", raw)
        t = Table(raw, file, f"{name}[{k}]")
        t.reject_unknown(set(ROWS[kind]) | {"source", "cites"})
        rows.append(kind(*(t.number(key) for key in ROWS[kind]), t.get("source", str), _cites(t)))
    return tuple(rows)


def _cites(table: Table) -> tuple[str, ...]:
    cites = table.get("cites", list)
    if not cites or not all(isinstance(c, str) and c for c in cites):
        raise ConfigError(table.file, table.key("cites"), "a non-empty list of bibliography keys (sources.toml)", cites)
    return tuple(cites)


SOURCE_KEYS = ("document", "edition", "where", "says")


def parse_sources(path: Path) -> dict[str, Source]:
    """The bibliography: every key with its document, edition, where in it, and what it says."""
    root = Table(read_toml(path), path)
    out = {}
    for key in root.data:
        table = root.required_table(key)
        table.reject_unknown(SOURCE_KEYS)
        out[key] = Source(key, *(table.get(k, str) for k in SOURCE_KEYS))
    return out


def _check_cites(limits: Limits) -> None:
    for doc in DOCUMENTS:
        path = limits.folder / f"{doc}.toml"
        record = getattr(limits, doc)
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                for key in item.cites:
                    if key not in limits.sources:
                        raise ConfigError(path, f"{f.name}.cites", f"keys of sources.toml ({', '.join(limits.sources)})",
                                          key, hint=nearest(key, list(limits.sources)))


def parse_document(schema: type, path: Path) -> Any:
    """One limits file against its schema class: every entry present, typed, and nothing else."""
    root = Table(read_toml(path), path)
    hints = get_type_hints(schema)
    fields = [f.name for f in dataclasses.fields(schema)]
    for name in root.data:
        if name not in hints:
            hint = nearest(name, fields)
            raise ConfigError(path, name, f"an entry the suite knows ({len(fields)} of them)", name,
                              hint=f"unknown entry; {hint}" if hint else "unknown entry")
    values: dict[str, Any] = {}
    for name in fields:
        kind = hints[name]
        if name not in root.data:
            raise ConfigError(path, name, f"a {_kind_label(kind)} entry", hint="the entry is missing")
        if getattr(kind, "__origin__", None) is tuple:
            values[name] = _parse_rows(kind.__args__[0], root.data[name], path, name)
        else:
            values[name] = parse_quantity(kind, root.required_table(name), name)
    return schema(**values)


def _kind_label(kind: Any) -> str:
    if getattr(kind, "__origin__", None) is tuple:
        return f"[[table]] of {kind.__args__[0].__name__}"
    return f"{kind.__name__} ({', '.join(kind.KEYS)}, unit, source)"


def load_limits(folder: Path) -> Limits:
    """All limit files of `folder`; a file the schema does not know is refused too."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(folder, "", "a folder of limit files", hint="no such folder")
    known = {f"{name}.toml" for name in DOCUMENTS} | {"sources.toml"}
    for path in sorted(folder.glob("*.toml")):
        if path.name not in known:
            raise ConfigError(path, "", f"one of the suite's limit files ({', '.join(sorted(known))})",
                              path.name, hint="unknown limits file")
    parsed = {name: parse_document(schema, folder / f"{name}.toml") for name, schema in DOCUMENTS.items()}
    limits = Limits(folder=folder, sources=parse_sources(folder / "sources.toml"), **parsed)
    _check_cites(limits)
    return limits

"""The schema of iec61851.toml, beside it: which entries the file holds and of which kind."""

from __future__ import annotations

from dataclasses import dataclass

from core.limits import AtLeast, AtMost, Band, Count, Row, Setting


@dataclass(frozen=True)
class DutyRow(Row):
    """One row of the duty -> current table: I = (d - duty_offset_pct) x amps_per_pct."""

    KEYS = ("duty_min_pct", "duty_max_pct", "amps_per_pct", "duty_offset_pct")

    duty_min_pct: float
    duty_max_pct: float
    amps_per_pct: float
    duty_offset_pct: float
    source: str
    cites: tuple[str, ...] = ()

    def current_a(self, duty_pct: float) -> float:
        return (duty_pct - self.duty_offset_pct) * self.amps_per_pct


@dataclass(frozen=True)
class PpCoding(Row):
    """A Type 2 PP coding window as the EVSE reads it."""

    KEYS = ("rating_a", "nominal", "low", "high")

    rating_a: float
    nominal: float
    low: float
    high: float
    source: str
    cites: tuple[str, ...] = ()


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

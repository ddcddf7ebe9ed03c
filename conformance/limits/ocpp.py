"""The schema of ocpp.toml, beside it: which entries the file holds and of which kind."""

from __future__ import annotations

from dataclasses import dataclass

from core.limits import AtLeast, AtMost, Count, Setting


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
    remote_plug_in_after: Setting
    remote_transactions: Count
    clock_aligned_interval: Setting
    clock_aligned_samples: AtLeast
    misaligned_samples: Count
    connection_timeout: Setting
    unavailable_reports: AtLeast
    offers_while_inoperative: Count
    closures_while_inoperative: Count
    charging_reports: AtLeast
    composite_watts_error: AtMost
    unmerged_periods: Count
    repeated_status_reports: Count
    boot_reports: AtLeast
    reset_stops: Count
    triggered_status_mismatches: Count
    triggered_value_reports: AtLeast
    trigger_draw: Setting
    available_reports: AtLeast

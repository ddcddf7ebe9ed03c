"""The schema of rig.toml, beside it: which entries the file holds and of which kind."""

from __future__ import annotations

from dataclasses import dataclass

from core.limits import AtLeast, AtMost, Band, Count, Setting


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
    offers_back_after_cooling: AtLeast
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

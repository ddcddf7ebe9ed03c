"""The suite's self-test: the conformance suite must go red when, and only when, the simulated
wallbox misbehaves in the way a test judges.

Each case runs the real `wallbox-rig run` (the README's main job) in a subprocess with one
knob bent, and compares the set of failed tests with the expected set: every other test must
stay green, and nothing may be *broken* (a rig fault would mask the verdict).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rig.config import REPO_ROOT

pytestmark = pytest.mark.timeout(3000)
"""The first test carries the `runs` fixture: every case's run, two at a time (about 15 minutes on
two cores), well over the project's 900 s per-test limit."""

CLOSE_TEST = "test_contactor_closes_within_3_s_after_b2_to_c2"
OPEN_C_B = "test_contactor_opens_within_100_ms_after_c_to_b"
OPEN_C_A = "test_contactor_opens_within_100_ms_after_unplug"
FREQ = "test_pwm_frequency_is_1_khz_in_b2"
DUTY = "test_duty_cycle_offers_configured_current_in_b2"
PHASES = "test_charging_current_flows_on_every_supplied_phase"
CP_HIGH = "test_cp_generator_high_level_is_12_v_in_state_a"
CP_LOW = "test_cp_generator_low_level_is_minus_12_v_in_b2"
B_BAND = "test_state_b_is_recognised_at_both_ends_of_the_resistance_band"
C_BAND = "test_state_c_is_recognised_at_both_ends_of_the_resistance_band"
DIODE = "test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault"
STATE_E = "test_contactor_opens_when_cp_is_shorted_to_pe_while_charging"
STATE_D = "test_state_d_is_honoured_as_the_profile_declares_ventilation"
OVERCURRENT = "test_charging_stops_when_the_vehicle_draws_more_than_offered"
A_TO_C = "test_direct_jump_from_a_to_c_never_closes_without_an_offer"
PE_LOSS = "test_contactor_opens_when_the_vehicle_loses_pe_while_charging"
C1 = "test_vehicle_that_keeps_drawing_after_pwm_is_removed_is_cut_off"
WAKE = "test_wake_up_step_in_b2_is_as_the_profile_declares"
PP = "test_tethered_plug_codes_at_least_the_rated_current"
SOCKET_OFFER = "test_socket_outlet_offer_never_exceeds_the_cable_rating"
SOCKET_INVALID = "test_socket_outlet_refuses_to_charge_on_an_invalid_coding"
SETTABLE = "test_duty_cycle_offers_each_settable_current"
DUTY_5S = "test_offered_duty_changes_at_most_once_per_5_s"
R_BELOW = "test_residual_current_just_below_the_band_does_not_trip"
R_BAND = "test_residual_current_trip_threshold_lies_in_the_band"
R_TIME = "test_ac_residual_current_trips_within_the_type_a_time"
R_DC_TIME = "test_dc_residual_current_at_the_band_top_trips_within_10_s"
R_LATCH = "test_residual_current_trip_signals_a_fault_and_recovers_as_the_manual_says"
W_AFTER = "test_welded_pole_is_detected_after_the_contactor_opens"
W_NEXT = "test_welded_contactor_never_starts_a_new_session"
W_BEFORE = "test_weld_present_before_a_session_prevents_it"
T_STOP = "test_over_temperature_stops_charging"
T_DERATE = "test_over_temperature_reduces_the_current_before_it_stops"
T_RESUME = "test_charging_resumes_by_itself_after_cooling"
T_RANGE = "test_full_current_at_the_ends_of_the_operating_temperature_range"
S_WINDOW = "test_supply_voltage_out_of_range_stops_charging_inside_the_profile_window"
S_RESUME = "test_charging_resumes_once_the_supply_voltage_is_back_in_range"
S_FREQ = "test_supply_frequency_out_of_range_stops_charging"
S_PE = "test_interrupted_supply_pe_stops_charging"
S_MAINS = "test_session_interrupted_by_a_mains_loss_resumes_by_itself_offer_first"
S_PHASE = "test_loss_of_one_phase_stops_charging"
S_PHASE_RESUME = "test_charging_resumes_once_the_lost_phase_returns"


def p(test: str, *ids: str) -> set[str]:
    """Parametrised test names: `p(B_BAND, "low")` → {"...[low]"}."""
    return {f"{test}[{i}]" for i in ids}


BMW_SETTINGS = ("6A", "10A", "12A", "16A", "20A", "24A", "32A")  # and 0A, which offers nothing
MINI_SETTINGS = ("6A", "7A", "19A", "31A", "32A")
CABLES = ("13A-cable", "20A-cable", "32A-cable", "63A-cable")
INVALID_PP = ("open", "short", "below-window", "above-window")
SOCKET_TESTS = p(SOCKET_OFFER, *CABLES) | p(SOCKET_INVALID, *INVALID_PP)
COMMON = ({CLOSE_TEST, OPEN_C_B, OPEN_C_A, FREQ, DUTY, PHASES, CP_HIGH, CP_LOW, DIODE, STATE_E, STATE_D, OVERCURRENT,
           A_TO_C, PE_LOSS, C1, WAKE, PP, DUTY_5S} | p(B_BAND, "low", "high") | p(C_BAND, "low", "high")
          | SOCKET_TESTS)
CL_RANGE = "test_every_restart_delay_lies_in_the_declared_range"
CL_RANDOM = "test_restart_delays_are_random"
CL_REPEAT = "test_outages_during_the_delay_each_restart_the_wait"
CL_DIP = "test_short_dip_is_ridden_through_without_a_restart"
L_STANDBY = "test_standby_shows_the_standby_pattern"
L_CHARGING = "test_charging_shows_the_charging_pattern"
L_INIT = "test_initialising_shows_the_sweep"
L_PAUSED = "test_paused_shows_the_sweep"
L_FAULT = "test_fault_shows_red"
L_COMMS_STANDBY = "test_defective_comms_module_in_standby_shows_s4_red"
L_COMMS_CHARGING = "test_defective_comms_module_while_charging_shows_s4_red"
L_COMMS_UPDATE = "test_defective_comms_module_during_firmware_update_shows_s4_red"
LED = {L_STANDBY, L_CHARGING, L_INIT, L_PAUSED, L_FAULT}
LM = "test_grid_current_stays_within_limit_as_household_load_steps"
LM_FLOOR = "test_pauses_rather_than_overloading_when_less_than_6_a_is_left"
MB_MASTER = "test_dut_reads_the_meter_as_modbus_master"
MB_MISMATCH = "test_no_meter_data_when_parameters_do_not_match"
MB_FAULT = "test_falls_back_to_failsafe_current_when_meter_data_stops"
PV_FOLLOW = "test_charging_follows_pv_surplus_without_grid_import"
PV_LIMITED = "test_too_little_surplus_charges_limited_from_pv_and_grid"
DIM = "test_dimming_contact_limits_power_and_keeps_4_2_kw"
METERS = ("inepro-pro2", "inepro-pro380", "janitza-b21", "janitza-b23", "schneider-a9mem3150", "siemens-7kt1665")
LM_ALL = p(LM, *METERS)
MISMATCHES = p(MB_MISMATCH, "baud", "id", "parity")
METER_FAULTS = p(MB_FAULT, "crc", "no_answer", "stale", "wrong_id")
ENERGY = LM_ALL | MISMATCHES | METER_FAULTS | {LM_FLOOR, MB_MASTER, PV_FOLLOW, PV_LIMITED, DIM}
NO_METER_DATA = LM_ALL | METER_FAULTS | {LM_FLOOR, MB_MASTER, PV_FOLLOW, PV_LIMITED}
"""What goes red when the DUT never gets meter data although the meter is entered right: every
load and solar test, and every fault test's precondition (a working meter first)."""
COMMS_DEFECT_TESTS = p(L_COMMS_STANDBY, "A", "B") | {L_COMMS_CHARGING, L_COMMS_UPDATE}

PHASE_LOSS = p(S_PHASE, "2", "3") | {S_PHASE_RESUME}
FAULTS = ({R_DC_TIME, R_LATCH, W_AFTER, W_NEXT, W_BEFORE, T_STOP, T_DERATE, T_RESUME, S_RESUME, S_PE, S_MAINS}
          | PHASE_LOSS | {CL_RANGE, CL_RANDOM, CL_REPEAT, CL_DIP} | LED | COMMS_DEFECT_TESTS
          | p(R_BELOW, "ac", "dc") | p(R_BAND, "ac", "dc") | p(R_TIME, "1x", "2x", "5x") | p(T_RANGE, "coldest", "hottest")
          | p(S_WINDOW, "over", "under") | p(S_FREQ, "low", "high"))
COMMON |= FAULTS | ENERGY
TESTS_ON = {  # every test a run of the profile holds, and those it skips
    "bmw-wallbox-plus": (COMMON | p(SETTABLE, "0A", *BMW_SETTINGS), SOCKET_TESTS | COMMS_DEFECT_TESTS),
    "mini-wallbox-plus": (COMMON | p(SETTABLE, *MINI_SETTINGS), SOCKET_TESTS | COMMS_DEFECT_TESTS),
    # the generic profile declares no derating
    # the generic profile supports no meter: the per-model test is one skipped "none" case
    "generic-iec61851": ((COMMON - LM_ALL) | p(LM, "none") | p(SETTABLE, *MINI_SETTINGS),
                         {PP, T_DERATE} | COMMS_DEFECT_TESTS | (ENERGY - LM_ALL) | p(LM, "none")),
}
COMMS_DEFECT = "bmw-with-comms-defect"
"""The BMW profile on rigs/sim-comms-defect.toml: a bench whose DUT has a failed communication module."""
RIGS = {COMMS_DEFECT: ("rigs/sim-comms-defect.toml", "bmw-wallbox-plus")}
TESTS_ON[COMMS_DEFECT] = (TESTS_ON["bmw-wallbox-plus"][0], SOCKET_TESTS | {L_STANDBY, L_CHARGING})
WAKE_UP_PROFILE = "generic-with-wake-up"
"""The generic profile declaring A.5.3 wake-up (written by the fixture): no shipped profile has it."""
TESTS_ON[WAKE_UP_PROFILE] = TESTS_ON["generic-iec61851"]

# (case id, profile, knobs, tests expected red)
CASES: list[tuple[str, str, tuple[str, ...], set[str]]] = [
    ("bmw-conforms", "bmw-wallbox-plus", (), set()),
    ("mini-conforms", "mini-wallbox-plus", (), set()),
    ("generic-conforms", "generic-iec61851", (), set()),
    # Loss of PE reads as an unplug (CP at +12 V), so the same opening delay judges all three.
    ("open-delay-150ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=150",), {OPEN_C_B, OPEN_C_A, PE_LOSS}),
    ("close-delay-3.5s", "bmw-wallbox-plus", ("contactor_close_delay_ms=3500",), {CLOSE_TEST} | p(C_BAND, "low", "high")),
    ("pwm-1030Hz", "bmw-wallbox-plus", ("pwm_frequency_hz=1030",), {FREQ}),
    ("pwm-970Hz", "mini-wallbox-plus", ("pwm_frequency_hz=970",), {FREQ}),
    # The vehicle reads 0.5 A more than the firmware meant: solar imports, dimmed power is exceeded.
    ("duty-offset-0.8%", "bmw-wallbox-plus", ("pwm_duty_offset_pct=0.8",),
     {DUTY, DUTY_5S, PV_FOLLOW, DIM} | p(SETTABLE, *BMW_SETTINGS)),
    # Offering 16 A where 32 A is configured also fails the tests that wait for the full offer.
    ("offers-16A-not-32A", "bmw-wallbox-plus", ("rated_current_a=16",),
     {DUTY, T_RESUME, DIM} | p(T_RANGE, "coldest", "hottest") | LM_ALL),
    # A DUT wired for one phase supervises only L1, so losing L2 or L3 goes unnoticed as well.
    ("one-phase-switched", "bmw-wallbox-plus", ("phases=1",), {PHASES} | PHASE_LOSS),
    ("open-delay-73ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=73",), set()),
    # 11.2 V: both levels outside +/-5 %, yet state F (-11.2 V) still inside its band, clear of the noise.
    ("generator-11.2V", "bmw-wallbox-plus", ("cp_generator_v=11.2",), {CP_HIGH, CP_LOW}),
    ("b-only-up-to-4k", "mini-wallbox-plus", ("classifies_b_up_to_ohm=4000",), p(B_BAND, "high")),
    ("c-only-up-to-1k", "mini-wallbox-plus", ("classifies_c_up_to_ohm=1000",), p(C_BAND, "high")),
    ("c-only-down-to-750", "bmw-wallbox-plus", ("classifies_c_down_to_ohm=750",), p(C_BAND, "low")),
    ("no-diode-check", "bmw-wallbox-plus", ("diode_check=false",), {DIODE}),
    ("state-e-150ms", "bmw-wallbox-plus", ("state_e_open_delay_ms=150",), {STATE_E}),
    ("charges-in-d", "bmw-wallbox-plus", ("ventilation_supported=true",), {STATE_D}),
    # After its diode fault the firmware re-reads the vehicle, finds C with no B before it, and closes:
    # the diode test catches the same bug from the other side.
    # ... and so does the mains-loss restart, where the vehicle sits in C while the DUT boots.
    # ... and the cold-load trials, which all restart with the vehicle sitting in C.
    ("closes-on-a-to-c", "bmw-wallbox-plus", ("closes_on_a_to_c_jump=true",),
     {A_TO_C, DIODE, S_MAINS, CL_RANGE, CL_RANDOM, CL_REPEAT}),
    ("overcurrent-15s", "mini-wallbox-plus", ("overcurrent_trip_s=15",), {OVERCURRENT}),
    ("no-overcurrent-check", "bmw-wallbox-plus", ("overcurrent_detection=false",), {OVERCURRENT}),
    # A 680 ohm plug codes 20 A: the firmware then offers 20 A, so every duty above it goes red too.
    ("plug-codes-20A", "bmw-wallbox-plus", ("pp_resistance_ohm=680",),
     {PP, DUTY, DUTY_5S, T_RESUME, DIM} | p(SETTABLE, "24A", "32A") | p(T_RANGE, "coldest", "hottest")),
    ("6A-shown-as-8%", "bmw-wallbox-plus", ("min_current_duty_pct=8",), p(SETTABLE, "6A")),
    ("0A-offers-6A", "bmw-wallbox-plus", ("zero_setting_offers_min=true",), p(SETTABLE, "0A")),
    ("duty-updates-every-1s", "mini-wallbox-plus", ("pwm_update_min_interval_s=1",), {DUTY_5S}),
    ("c1-cutoff-after-3s", "bmw-wallbox-plus", ("c1_cutoff_s=3",), {C1}),
    ("c1-cutoff-after-15s", "mini-wallbox-plus", ("c1_cutoff_s=15",), {C1}),
    ("wake-up-not-declared", "bmw-wallbox-plus", ("wake_up_enabled=true",), {WAKE}),
    ("wake-up-declared", WAKE_UP_PROFILE, ("wake_up_enabled=true",), set()),
    ("wake-up-step-5s", WAKE_UP_PROFILE, ("wake_up_enabled=true", "wake_up_step_s=5"), {WAKE}),
    ("socket-ignores-cable", "generic-iec61851", ("pp_caps_offer=false",), p(SOCKET_OFFER, "13A-cable", "20A-cable")),
    ("socket-charges-without-coding", "generic-iec61851", ("pp_invalid_blocks=false",), p(SOCKET_INVALID, *INVALID_PP)),
    # --- fault injection ---
    # No trip at the rated 30 mA: the 1x trip time is infinite, and so is the latch test's trip.
    ("rcd-ac-trips-at-32mA", "bmw-wallbox-plus", ("rcd_ac_trip_ma=32",), p(R_BAND, "ac") | p(R_TIME, "1x") | {R_LATCH}),
    ("rcd-ac-trips-at-14mA", "mini-wallbox-plus", ("rcd_ac_trip_ma=14",), p(R_BELOW, "ac") | p(R_BAND, "ac")),
    ("rcd-ac-200ms", "bmw-wallbox-plus", ("rcd_ac_trip_time_ms=200",), p(R_TIME, "2x", "5x")),
    ("rcd-dc-trips-at-6.5mA", "bmw-wallbox-plus", ("rcd_dc_trip_ma=6.5",), p(R_BAND, "dc") | {R_DC_TIME}),
    ("rcd-dc-trips-at-2.5mA", "generic-iec61851", ("rcd_dc_trip_ma=2.5",), p(R_BELOW, "dc") | p(R_BAND, "dc")),
    ("rcd-dc-12s", "mini-wallbox-plus", ("rcd_dc_trip_time_ms=12000",), {R_DC_TIME}),
    # An unlatched trip is over before the bar is watched: no red either (WB-TR-01 keeps it red).
    ("rcd-no-latch", "bmw-wallbox-plus", ("rcd_latch=false",), {R_LATCH, L_FAULT}),
    ("no-weld-detection", "bmw-wallbox-plus", ("weld_detection=false",), {W_AFTER, W_NEXT, W_BEFORE}),
    ("weld-check-after-3s", "mini-wallbox-plus", ("weld_check_after_open_ms=3000",), {W_AFTER}),
    ("no-derating", "bmw-wallbox-plus", ("overtemp_derate_c=80",), {T_DERATE}),
    ("stops-at-90C", "bmw-wallbox-plus", ("overtemp_stop_c=90",), {T_STOP, T_RESUME}),
    ("no-resume-after-cooling", "mini-wallbox-plus", ("overtemp_auto_resume=false",), {T_RESUME}),
    ("hot-enclosure", "bmw-wallbox-plus", ("thermal_rise_c=30",), p(T_RANGE, "hottest")),
    ("stops-below-minus-30C", "bmw-wallbox-plus", ("undertemp_stop_c=-30",), p(T_RANGE, "coldest")),
    ("overvoltage-at-280V", "bmw-wallbox-plus", ("overvoltage_v=280",), p(S_WINDOW, "over") | {S_RESUME}),
    ("undervoltage-at-175V", "mini-wallbox-plus", ("undervoltage_v=175",), p(S_WINDOW, "under")),
    ("slow-supply-supervision", "bmw-wallbox-plus", ("supply_fault_delay_s=10",),
     {S_RESUME} | p(S_FREQ, "low", "high") | PHASE_LOSS),
    ("no-phase-supervision", "mini-wallbox-plus", ("phase_supervision=false",), PHASE_LOSS),
    ("charges-at-70Hz", "bmw-wallbox-plus", ("supply_max_hz=75",), p(S_FREQ, "high")),
    ("no-pe-monitoring", "generic-iec61851", ("pe_monitoring=false",), {S_PE}),
    ("no-restart-after-mains-loss", "bmw-wallbox-plus", ("restarts_after_mains_loss=false",),
     {S_MAINS, CL_RANGE, CL_RANDOM, CL_REPEAT}),
    # --- cold-load pickup ---
    ("cold-load-125-to-130s", "bmw-wallbox-plus", ("cold_load_min_s=125", "cold_load_max_s=130"), {CL_RANGE, CL_REPEAT}),
    ("cold-load-under-1s", "mini-wallbox-plus", ("cold_load_min_s=0.1", "cold_load_max_s=0.9"), {CL_RANGE, CL_REPEAT}),
    ("cold-load-fixed", "bmw-wallbox-plus", ("cold_load_distribution=fixed",), {CL_RANDOM}),
    ("cold-load-4-values", "mini-wallbox-plus", ("cold_load_distribution=steps",), {CL_RANDOM}),
    ("cold-load-same-seed-every-boot", "bmw-wallbox-plus", ("cold_load_seed_per_boot=false",), {CL_RANDOM}),
    ("cold-load-served-once", "bmw-wallbox-plus", ("cold_load_every_boot=false",), {CL_REPEAT}),
    ("no-hold-up", "mini-wallbox-plus", ("hold_up_ms=0",), {CL_DIP}),
    # --- LED bar ---
    ("led-green-bar", "bmw-wallbox-plus", ("led_colour=green",), LED - {L_FAULT}),
    ("led-charging-solid", "mini-wallbox-plus", ("led_charging=solid",), {L_CHARGING}),
    ("led-charging-blinks", "bmw-wallbox-plus", ("led_charging=blinking",), {L_CHARGING}),
    ("led-standby-breathing", "bmw-wallbox-plus", ("led_standby=breathing",), {L_STANDBY}),
    ("led-boot-solid", "mini-wallbox-plus", ("led_initialising=solid",), {L_INIT}),
    ("led-paused-blinking", "bmw-wallbox-plus", ("led_paused=blinking",), {L_PAUSED}),
    ("led-fault-yellow", "bmw-wallbox-plus", ("led_fault_colour=yellow",), {L_FAULT}),
    ("comms-defect-shown", COMMS_DEFECT, (), set()),
    ("comms-defect-not-shown", COMMS_DEFECT, ("comms_module_fault=none",), COMMS_DEFECT_TESTS),
    ("comms-defect-standby-only", COMMS_DEFECT, ("comms_module_fault=standby",), {L_COMMS_CHARGING, L_COMMS_UPDATE}),
    ("comms-defect-update-only", COMMS_DEFECT, ("comms_module_fault=firmware_update",),
     p(L_COMMS_STANDBY, "A", "B") | {L_COMMS_CHARGING}),
    ("comms-defect-update-solid", COMMS_DEFECT, ("led_firmware_update=solid",), {L_COMMS_UPDATE}),
    ("comms-defect-charging-blinks", COMMS_DEFECT, ("led_comms_defect_charging=blinking",), {L_COMMS_CHARGING}),
    # --- Smart-Energy meter and energy management ---
    # Firmware that polls another model, address, baud rate or parity than entered gets no meter data;
    # the forced model's own LM case still passes (the emulator then serves that very model).
    ("meter-model-forced", "bmw-wallbox-plus", ("meter_model=siemens-7kt1665",),
     NO_METER_DATA - p(LM, "siemens-7kt1665")),
    ("meter-id-forced", "mini-wallbox-plus", ("meter_id=2",), NO_METER_DATA),
    ("meter-baud-forced", "bmw-wallbox-plus", ("meter_baud=19200",), NO_METER_DATA),
    ("meter-parity-forced", "mini-wallbox-plus", ("meter_parity=N",), NO_METER_DATA),
    # A poll every 45 s: which fault tests see it depends on where the polls fall (seed 1, these do).
    ("meter-polled-every-45s", "bmw-wallbox-plus", ("meter_poll_interval_s=45",),
     LM_ALL | {LM_FLOOR, PV_FOLLOW, PV_LIMITED} | p(MB_FAULT, "crc", "stale", "wrong_id")),
    ("no-load-management", "mini-wallbox-plus", ("load_management=false",),
     LM_ALL | MISMATCHES | METER_FAULTS | {LM_FLOOR, PV_FOLLOW, PV_LIMITED}),
    ("grid-limit-32A", "bmw-wallbox-plus", ("grid_limit_a=32",), LM_ALL | {LM_FLOOR}),
    ("failsafe-16A", "bmw-wallbox-plus", ("failsafe_current_a=16",), MISMATCHES | METER_FAULTS),
    ("lm-response-12s", "bmw-wallbox-plus", ("lm_response_s=12",), LM_ALL | {LM_FLOOR}),
    ("offers-6A-instead-of-pausing", "mini-wallbox-plus", ("lm_pauses_below_min=false",), {LM_FLOOR}),
    ("meter-lost-after-40s", "mini-wallbox-plus", ("meter_lost_after_s=40",), p(MB_FAULT, "crc", "no_answer", "wrong_id")),
    ("meter-never-stale", "bmw-wallbox-plus", ("meter_stale_after_s=0",), p(MB_FAULT, "stale")),
    ("no-solar-charging", "bmw-wallbox-plus", ("solar_charging=false",), {PV_FOLLOW, PV_LIMITED}),
    ("solar-limited-at-10A", "mini-wallbox-plus", ("solar_min_current_a=10",), {PV_FOLLOW, PV_LIMITED}),
    ("dims-to-6kW", "mini-wallbox-plus", ("dimming_limit_w=6000",), {DIM}),
    ("dims-below-4.2kW", "bmw-wallbox-plus", ("dimming_limit_w=3500",), {DIM}),
]
PLOTTED = "bmw-conforms"
"""The one case rendered with plots (its report is checked); the rest only need verdicts."""


def run_suite(out: Path, profile: str, knobs: tuple[str, ...], plots: bool) -> tuple[int, list[dict], dict]:
    rig, profile = RIGS.get(profile, (None, profile))
    cmd = [sys.executable, "-m", "cli.main", "run", "--profile", profile, "--out", str(out)]
    if rig is not None:
        cmd += ["--rig", str(REPO_ROOT / rig)]
    if not plots:
        cmd.append("--no-plots")
    for knob in knobs:
        cmd += ["--sim-set", knob]
    proc = subprocess.run(cmd + ["--", "-q"], capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()] \
        if (out / "tests.jsonl").exists() else []
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    if not summary:
        raise AssertionError(f"no summary from {' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.returncode, records, summary


def wake_up_profile(folder: Path) -> Path:
    """The generic profile, declaring the A.5.3 wake-up (same id, so the rig file's socket outlet holds)."""
    text = (REPO_ROOT / "rig" / "profiles" / "generic-iec61851.toml").read_text()
    assert "wake_up = false" in text
    path = folder / f"{WAKE_UP_PROFILE}.toml"
    path.write_text(text.replace("wake_up = false", "wake_up = true"))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[dict], dict]]:
    base = tmp_path_factory.mktemp("selftest")
    profiles = {WAKE_UP_PROFILE: str(wake_up_profile(base))}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(run_suite, base / case, profiles.get(profile, profile), knobs, case == PLOTTED)
                   for case, profile, knobs, _ in CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.parametrize("case, profile, knobs, expected_red", CASES, ids=[c[0] for c in CASES])
def test_suite_goes_red_exactly_on_its_knob(runs: dict, case: str, profile: str, knobs: tuple[str, ...],
                                           expected_red: set[str]) -> None:
    code, records, summary = runs[case]
    outcomes = {r["name"]: r["outcome"] for r in records}
    held, skipped = TESTS_ON[profile]
    assert set(outcomes) == held, f"the suite ran {sorted(set(outcomes) ^ held)} unexpectedly (or not)"
    red = {name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    assert red == expected_red
    assert {n for n, o in outcomes.items() if o == "skipped"} == skipped
    assert all(outcomes[name] == "failed" for name in expected_red), f"red must be failed, not broken: {outcomes}"
    assert code == (1 if expected_red else 0)
    assert summary["counts"]["failed"] == len(expected_red)
    assert summary["provenance"]["profile"] == RIGS.get(profile, (None, profile))[1].replace(WAKE_UP_PROFILE,
                                                                                             "generic-iec61851")


def test_measured_c_to_b_opening_equals_the_simulated_delay(runs: dict) -> None:
    _, records, _ = runs["open-delay-73ms"]
    for name in (OPEN_C_B, OPEN_C_A):
        record = next(r for r in records if r["name"] == name)
        judged = [m for m in record["measurements"] if m["verdict"] != "info"]
        assert judged and judged[0]["value"] == pytest.approx(0.073, abs=0.001)


def judged(runs: dict, case: str, test: str) -> list[dict]:
    _, records, _ = runs[case]
    record = next(r for r in records if r["name"] == test)
    return [m for m in record["measurements"] if m["verdict"] != "info"]


def test_measured_times_equal_the_simulated_behaviour(runs: dict) -> None:
    """The catalogue measures what the simulated firmware does, from board time stamps alone."""
    assert judged(runs, "bmw-conforms", C1)[0]["value"] == pytest.approx(6.5, abs=0.001)          # c1_cutoff_s
    assert judged(runs, "bmw-conforms", PE_LOSS)[0]["value"] == pytest.approx(0.040, abs=0.001)   # open delay
    assert judged(runs, "mini-conforms", DUTY_5S)[0]["value"] == pytest.approx(5.2, abs=0.001)   # update interval
    steps, length = judged(runs, "wake-up-declared", WAKE)
    assert steps["value"] == 1 and length["value"] == pytest.approx(3.5, abs=0.001)              # wake_up_step_s
    assert judged(runs, "wake-up-step-5s", WAKE)[1]["verdict"] == "fail"
    assert judged(runs, "bmw-conforms", f"{R_BAND}[ac]")[0]["value"] == 22.0                      # rcd_ac_trip_ma
    assert judged(runs, "bmw-conforms", f"{R_BAND}[dc]")[0]["value"] == 4.5                       # rcd_dc_trip_ma
    assert judged(runs, "bmw-conforms", f"{R_TIME}[5x]")[0]["value"] == pytest.approx(0.025, abs=1e-6)
    assert judged(runs, "bmw-conforms", R_DC_TIME)[0]["value"] == pytest.approx(0.400, abs=1e-6)
    assert judged(runs, "bmw-conforms", W_AFTER)[1]["value"] == pytest.approx(0.040 + 0.200, abs=1e-6)
    assert judged(runs, "bmw-conforms", f"{S_WINDOW}[over]")[0]["value"] == 266.0                # first step > 264 V
    assert judged(runs, "bmw-conforms", f"{S_WINDOW}[under]")[0]["value"] == 194.0               # first step < 195 V
    assert judged(runs, "bmw-conforms", T_STOP)[0]["value"] == 71.0                              # overtemp_stop_c


def test_a_failed_verdict_carries_value_limit_and_source(runs: dict) -> None:
    _, records, _ = runs["open-delay-150ms"]
    record = next(r for r in records if r["name"] == OPEN_C_B)
    m = record["measurements"][0]
    assert m["verdict"] == "fail" and m["value"] == pytest.approx(0.150, abs=0.001) and m["high"] == 0.1
    assert "Table A.6" in m["clause"] and "EVI" in m["source"]
    assert "outside <= 0.1 s" in record["message"]


def test_run_writes_report_allure_results_junit_and_evidence(runs: dict, tmp_path_factory) -> None:
    code, records, summary = runs["bmw-conforms"]
    out = Path(summary["out_dir"])
    assert code == 0 and summary["virtual_time_s"] > 0 and summary["seed"] == 1
    assert summary["provenance"]["identities"]["cp"].startswith("WALLBOX-RIG")
    assert (out / "junit.xml").read_text().count("<testcase") == len(TESTS_ON["bmw-wallbox-plus"][0])
    assert "| test_pwm_frequency_is_1_khz_in_b2 |" in (out / "report.md").read_text()
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    labels = {(lab["name"], lab["value"]) for r in results for lab in r["labels"]}
    assert ("requirement", "WB-EL-03") in labels and ("epic", "IEC 61851-1") in labels
    assert {("epic", "Product manual"), ("epic", "§14a EnWG"), ("feature", "load management")} <= labels
    assert ("severity", "critical") in labels
    plot = out / "evidence" / OPEN_C_B / "C2 to B.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

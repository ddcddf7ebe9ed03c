"""The suite's self-test: the conformance suite must go red when, and only when, the simulated
wallbox misbehaves in the way a test judges.

Each case runs the real `wallbox-rig run` (the README's main job) in a subprocess with one
knob bent, and compares the set of failed tests with the expected set: every other test must
stay green, and nothing may be *broken* (a rig fault would mask the verdict).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance import catalogue
from rig.config import REPO_ROOT

pytestmark = pytest.mark.timeout(3000)
"""The first test carries the `runs` fixture: every case's run, three at a time on two cores (about 15
minutes), well over the project's 900 s per-test limit."""
CONCURRENT_RUNS = (os.cpu_count() or 1) + 1
"""A suite run keeps a core about 80 % busy (the rest is waiting on loopback round trips), so one run
more than there are cores fills them: on CI's two cores, three at a time."""

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
PER_METER = (LM, PV_FOLLOW, PV_LIMITED, DIM)
"""The energy tests parametrised over every meter the profile supports (a `none` case where it lists none)."""
LM_ALL = {name for test in PER_METER for name in p(test, *METERS)}
NO_METER = {name for test in PER_METER for name in p(test, "none")}
MISMATCHES = p(MB_MISMATCH, "baud", "id", "parity")
METER_FAULTS = p(MB_FAULT, "crc", "no_answer", "stale", "wrong_id")
ENERGY = LM_ALL | MISMATCHES | METER_FAULTS | {LM_FLOOR, MB_MASTER}
SUPPLY_1PH = "test_full_current_on_a_single_phase_supply_at_both_ends_of_the_rated_range"
SUPPLY_3PH = "test_full_current_on_a_three_phase_supply_at_both_ends_of_the_rated_range"
SUPPLY_HZ = "test_full_current_at_each_rated_supply_frequency"
SUPPLY_3PH_ENDS = p(SUPPLY_3PH, "380V", "415V")
"""What goes red when the DUT never gets meter data although the meter is entered right: every
load and solar test, and every fault test's precondition (a working meter first)."""
COMMS_DEFECT_TESTS = p(L_COMMS_STANDBY, "A", "B") | {L_COMMS_CHARGING, L_COMMS_UPDATE}

PHASE_LOSS = p(S_PHASE, "2", "3") | {S_PHASE_RESUME}
BACKEND = {"test_status_follows_the_session_the_cp_edges_show",
           *p("test_a_fault_is_reported_faulted_with_its_error_code", "residual", "weld", "overvoltage",
              "overtemperature"),
           "test_transaction_energy_is_the_energy_the_analyser_measured",
           "test_meter_values_come_at_the_interval_and_agree_with_the_instruments",
           "test_remote_start_offers_then_closes_and_remote_stop_opens",
           "test_an_id_tag_the_backend_rejects_never_closes_the_contactor",
           "test_transaction_messages_made_offline_arrive_in_order_on_reconnection",
           "test_a_mains_loss_ends_the_transaction_with_reason_power_loss",
           "test_each_period_of_a_charging_profile_is_followed", "test_the_higher_stack_level_rules",
           "test_a_profile_stops_applying_at_its_valid_to",
           "test_a_tariff_plan_charges_in_the_cheap_hours_and_is_ready_by_departure",
           "test_the_composite_schedule_claims_what_the_duty_does",
           "test_a_limit_in_watts_is_turned_into_current_at_the_measured_voltage",
           "test_a_daily_recurring_profile_runs_across_midnight",
           "test_a_jump_of_the_backends_clock_leaves_a_relative_schedule_alone"}
"""The backend families (OCPP status, metering, remote, offline, smart charging): they skip where the
rig has no backend (a bench of parts, a DUT with a failed comms module) or the profile no [ocpp]."""
ACCESS = {"test_from_the_factory_plugging_in_charges_without_a_card",
          "test_with_access_control_on_nothing_is_offered_without_a_card",
          "test_an_unregistered_card_never_starts_charging_and_is_refused_as_declared",
          "test_a_registered_card_starts_charging_within_the_declared_latency_and_the_same_card_stops_it",
          "test_registration_beeps_short_then_two_short_per_card_then_long_and_registers",
          "test_registration_is_refused_with_a_vehicle_connected_or_the_bar_not_solid",
          "test_a_card_that_is_not_mifare_is_neither_registered_nor_accepted",
          "test_a_setup_card_entered_in_the_installer_app_opens_registration"}
"""WB-AC-01 … WB-AC-04: the Wallbox Plus's card reader (skipped on a profile without them or a rig
without a card presenter)."""
CONNECT_ONLY = {"test_each_card_starts_a_session_with_its_own_id_tag_and_without_cards_there_is_one_vehicle",
                "test_the_button_held_long_enough_late_in_the_window_pairs_with_an_8_digit_id",
                "test_a_press_shorter_than_the_hold_time_does_not_pair", "test_a_press_after_the_window_does_not_pair"}
"""WB-AC-06 and WB-CO-03: the BMW i Wallbox Connect's backend cards and pairing button."""
FAULTS = ({R_DC_TIME, R_LATCH, W_AFTER, W_NEXT, W_BEFORE, T_STOP, T_DERATE, T_RESUME, S_RESUME, S_PE, S_MAINS}
          | PHASE_LOSS | {CL_RANGE, CL_RANDOM, CL_REPEAT, CL_DIP} | LED | COMMS_DEFECT_TESTS
          | p(R_BELOW, "ac", "dc") | p(R_BAND, "ac", "dc") | p(R_TIME, "1x", "2x", "5x") | p(T_RANGE, "coldest", "hottest")
          | p(S_WINDOW, "over", "under") | p(S_FREQ, "low", "high"))
COMMON |= FAULTS | ENERGY | BACKEND | ACCESS | CONNECT_ONLY
TESTS_ON = {  # every test a run of the profile holds, and those it skips
    "bmw-wallbox-plus": (COMMON | p(SETTABLE, "0A", *BMW_SETTINGS) | p(SUPPLY_1PH, "100V", "240V") | SUPPLY_3PH_ENDS
                         | p(SUPPLY_HZ, "50Hz", "60Hz"), SOCKET_TESTS | COMMS_DEFECT_TESTS | CONNECT_ONLY),
    "mini-wallbox-plus": (COMMON | p(SETTABLE, *MINI_SETTINGS) | p(SUPPLY_1PH, "110V", "240V") | SUPPLY_3PH_ENDS
                          | p(SUPPLY_HZ, "50Hz", "60Hz"), SOCKET_TESTS | COMMS_DEFECT_TESTS | CONNECT_ONLY),
    # the generic profile declares no derating
    # the generic profile supports no meter: each per-model test is one skipped "none" case
    "generic-iec61851": ((COMMON - LM_ALL) | NO_METER | p(SETTABLE, *MINI_SETTINGS) | p(SUPPLY_1PH, "207V", "253V")
                         | SUPPLY_3PH_ENDS | p(SUPPLY_HZ, "50Hz"),
                         {PP, T_DERATE} | COMMS_DEFECT_TESTS | (ENERGY - LM_ALL) | NO_METER | BACKEND | ACCESS
                         | CONNECT_ONLY),
}
CONNECT = "bmw-i-wallbox-connect"
TESTS_ON[CONNECT] = (TESTS_ON["bmw-wallbox-plus"][0], SOCKET_TESTS | COMMS_DEFECT_TESTS | ACCESS)
"""The Connect's electrical side is the Wallbox Plus's (its profile says so, unconfirmed); of the card
tests it holds WB-AC-06 and its pairing button, not the Plus's registration flow."""
COMMS_DEFECT = "bmw-with-comms-defect"
"""The BMW profile on rigs/sim-comms-defect.toml: a bench whose DUT has a failed communication module."""
RIGS = {COMMS_DEFECT: ("rigs/sim-comms-defect.toml", "bmw-wallbox-plus")}
TESTS_ON[COMMS_DEFECT] = (TESTS_ON["bmw-wallbox-plus"][0],
                          SOCKET_TESTS | {L_STANDBY, L_CHARGING} | BACKEND | ACCESS | CONNECT_ONLY)
SENSOR_TEMPERATURE = {T_RESUME}
"""The test that needs the DUT's sensor cooled at a known instant: a bench of parts has only a
chamber (the stop and the derating it judges by ramping the ambient)."""
BMW_PARTS, GENERIC_PARTS = "bmw-on-parts", "generic-on-parts"
"""The reference profiles on rigs/sim-cots.toml: the same suite through bought instruments."""
RIGS[BMW_PARTS] = ("rigs/sim-cots.toml", "bmw-wallbox-plus")
RIGS[GENERIC_PARTS] = ("rigs/sim-cots.toml", "generic-iec61851")
TESTS_ON[BMW_PARTS] = (TESTS_ON["bmw-wallbox-plus"][0], TESTS_ON["bmw-wallbox-plus"][1] | SENSOR_TEMPERATURE | BACKEND)
TESTS_ON[GENERIC_PARTS] = (TESTS_ON["generic-iec61851"][0], TESTS_ON["generic-iec61851"][1] | SENSOR_TEMPERATURE)
PARTS_KNOBS: list[tuple[str, tuple[str, ...]]] = [
    ("bmw-wallbox-plus", ("cp_generator_v=11.2",)), ("bmw-wallbox-plus", ("diode_check=false",)),
    ("bmw-wallbox-plus", ("contactor_open_delay_ms=150",)), ("bmw-wallbox-plus", ("b2_pwm_delay_ms=3500",)),
    ("bmw-wallbox-plus", ("rcd_ac_trip_time_ms=200",)), ("bmw-wallbox-plus", ("rcd_dc_trip_ma=6.5",)),
    ("bmw-wallbox-plus", ("weld_detection=false",)), ("bmw-wallbox-plus", ("thermal_rise_c=30",)),
    ("bmw-wallbox-plus", ("overtemp_stop_c=90",)), ("bmw-wallbox-plus", ("overtemp_derate_c=80",)),
    ("generic-iec61851", ("pe_monitoring=false",)),
]
"""Knob cases of the CP, timing, residual-current, weld, supply-PE and temperature families run
again on the bench of parts: each must go red there exactly as on the board bench.  They run only the
families their red tests belong to (`wallbox-rig run --family`): that the other families stay green
under the knob is the board-bench case's to show, and that the bench of parts measures them at all is
`bmw-on-parts-conforms`'s; a whole suite on the bench of parts costs a minute, its families seconds."""
WAKE_UP_PROFILE = "generic-with-wake-up"
"""The generic profile declaring A.5.3 wake-up (written by the fixture): no shipped profile has it."""
TESTS_ON[WAKE_UP_PROFILE] = TESTS_ON["generic-iec61851"]

GREEN_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("bmw-conforms", "bmw-wallbox-plus", ()),
    ("mini-conforms", "mini-wallbox-plus", ()),
    ("generic-conforms", "generic-iec61851", ()),
    ("open-delay-73ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=73",)),   # inside 100 ms: nothing red
    ("wake-up-declared", WAKE_UP_PROFILE, ("wake_up_enabled=true",)),        # declared, so conforming
    ("comms-defect-shown", COMMS_DEFECT, ()),
    ("bmw-on-parts-conforms", BMW_PARTS, ()),
    ("connect-conforms", CONNECT, ()),
]
"""Cases in which nothing may go red; every red case comes from a test's `red_on` marker."""


def case_id(profile: str, knobs: tuple[str, ...]) -> str:
    return ",".join(knobs) + ("" if profile == catalogue.DEFAULT_PROFILE else f"@{profile}")


RED_CASES = catalogue.cases()
# (case id, profile, knobs, the catalogue entries that declare they go red there)
CASES: list[tuple[str, str, tuple[str, ...], list]] = (
    [(name, profile, knobs, []) for name, profile, knobs in GREEN_CASES]
    + [(case_id(profile, knobs), profile, knobs, entries) for (profile, knobs), entries in sorted(RED_CASES.items())]
    + [(case_id(profile, knobs) + "@parts", BMW_PARTS if profile == "bmw-wallbox-plus" else GENERIC_PARTS, knobs,
        RED_CASES[(profile, knobs)]) for profile, knobs in PARTS_KNOBS])


def families_of(entries: list) -> tuple[str, ...]:
    """The families (module stems without `test_`) holding the tests a case declares red."""
    return tuple(sorted({info.module.rsplit(".", 1)[-1].removeprefix("test_") for info, _ in entries}))


SCOPED_KNOBS = {("bmw-wallbox-plus", ("access_control=factory_on",))}
"""Knob cases that run only the families of their red tests: a wallbox delivered with access control
on charges for no test that brings no card, so the whole suite would go red, not only WB-AC-01."""


def scoped(case: str, profile: str, knobs: tuple[str, ...]) -> bool:
    """Bench-of-parts cases, the Connect's knob cases (its `connect-conforms` case runs the whole suite
    green) and the SCOPED_KNOBS run only their families."""
    return case.endswith("@parts") or (profile == CONNECT and bool(knobs)) or (profile, knobs) in SCOPED_KNOBS


PARTS_FAMILIES = {case: families_of([(info, red) for info, red in entries
                                     if not any(n.split("[")[0] == info.name for n in TESTS_ON[profile][1])])
                  for case, profile, knobs, entries in CASES if scoped(case, profile, knobs)}
"""Case id → the families a scoped knob case runs."""
MODULE_OF = {info.name: info.module.rsplit(".", 1)[-1].removeprefix("test_") for info in catalogue.tests()}


def held_in(held: set[str], families: tuple[str, ...]) -> set[str]:
    """The instances of `held` whose test lives in one of `families` (all of them without a selection)."""
    return {n for n in held if not families or MODULE_OF[n.split("[")[0]] in families}


def expected_red(entries: list, held: set[str]) -> set[str]:
    """What the markers say must go red, resolved against the instances this run holds."""
    return {name for info, red in entries for name in info.red_names(red, held)} & held


PLOTTED = "bmw-conforms"
"""The one case rendered with plots (its report is checked); the rest only need verdicts."""


FULL_TRIALS_CASES = {"bmw-conforms", "mini-conforms", "generic-conforms"}
"""Green cases run the virtual lab's full cold-load trial count (its power is what keeps them green
and catches a bound 1 s off); so does every case a cold-load test declares.  The rest, whose knobs
no cold-load test is about, run 50 trials, as the suite did before it stated its power: the
self-test costs 100 suite runs, and 311 trials fewer save about 5 s of each."""
FEW_TRIALS = 50


def full_trials(case: str, entries: list) -> bool:
    return case in FULL_TRIALS_CASES or any(info.module.endswith("test_cold_load") for info, _ in entries)


def run_suite(out: Path, profile: str, knobs: tuple[str, ...], plots: bool,
              trials: int | None = None, families: tuple[str, ...] = ()) -> tuple[int, list[dict], dict]:
    rig, profile = RIGS.get(profile, (None, profile))
    cmd = [sys.executable, "-m", "cli.main", "run", "--profile", profile, "--out", str(out)]
    if families:
        cmd += ["--family", ",".join(families)]
    if rig is not None:
        cmd += ["--rig", str(REPO_ROOT / rig)]
    if not plots:
        cmd.append("--no-plots")
    if trials is not None:
        cmd += ["--cold-load-trials", str(trials)]
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
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        futures = {case: pool.submit(run_suite, base / case, profiles.get(profile, profile), knobs, case == PLOTTED,
                                     None if full_trials(case, entries) else FEW_TRIALS, PARTS_FAMILIES.get(case, ()))
                   for case, profile, knobs, entries in CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.parametrize("case, profile, knobs, entries", CASES, ids=[c[0] for c in CASES])
def test_suite_goes_red_exactly_on_its_knob(runs: dict, case: str, profile: str, knobs: tuple[str, ...],
                                           entries: list) -> None:
    code, records, summary = runs[case]
    outcomes = {r["name"]: r["outcome"] for r in records}
    families = PARTS_FAMILIES.get(case, ())
    held, skipped = (held_in(names, families) for names in TESTS_ON[profile])
    assert set(outcomes) == held, f"the suite ran {sorted(set(outcomes) ^ held)} unexpectedly (or not)"
    red = {name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    expected = expected_red(entries, held - skipped)
    assert red == expected, f"red but not declared: {sorted(red - expected)}; declared, not red: {sorted(expected - red)}"
    expected_red_set = expected
    assert {n for n, o in outcomes.items() if o == "skipped"} == skipped
    assert all(outcomes[name] == "failed" for name in expected_red_set), \
        f"red must be failed, not broken: { {n: o for n, o in outcomes.items() if o not in ('passed', 'skipped')} }"
    assert code == (1 if expected_red_set else 0)
    assert summary["counts"]["failed"] == len(expected_red_set)
    assert not families or set(families) == {MODULE_OF[n.split("[")[0]] for n in outcomes}
    assert summary["provenance"]["profile"] == RIGS.get(profile, (None, profile))[1].replace(WAKE_UP_PROFILE,
                                                                                             "generic-iec61851")


def test_measured_c_to_b_opening_equals_the_simulated_delay(runs: dict) -> None:
    _, records, _ = runs["open-delay-73ms"]
    for name in (OPEN_C_B, OPEN_C_A):
        record = next(r for r in records if r["name"] == name)
        judged = [m for m in record["measurements"] if m["verdict"] != "info"]
        assert judged and judged[0]["value"] == pytest.approx(0.073, abs=0.001)


def judged(runs: dict, case: str, test: str, *names: str) -> list[dict]:
    """The judged measurements of `test` in `case` (those whose name starts with one of `names`, if given)."""
    _, records, _ = runs[case]
    record = next(r for r in records if r["name"] == test)
    return [m for m in record["measurements"] if m["verdict"] != "info"
            and (not names or m["name"].startswith(names))]


def test_measured_times_equal_the_simulated_behaviour(runs: dict) -> None:
    """The catalogue measures what the simulated firmware does, from board time stamps alone."""
    assert judged(runs, "bmw-conforms", C1, "PWM removed to contactor open")[0]["value"] == pytest.approx(6.5, abs=0.001)          # c1_cutoff_s
    assert judged(runs, "bmw-conforms", PE_LOSS)[0]["value"] == pytest.approx(0.040, abs=0.001)   # open delay
    assert judged(runs, "mini-conforms", DUTY_5S)[0]["value"] == pytest.approx(5.2, abs=0.001)   # update interval
    steps, length = judged(runs, "wake-up-declared", WAKE, "steps without PWM", "wake-up step length")
    assert steps["value"] == 1 and length["value"] == pytest.approx(3.5, abs=0.001)              # wake_up_step_s
    assert judged(runs, case_id(WAKE_UP_PROFILE, ("wake_up_enabled=true", "wake_up_step_s=5")), WAKE, "wake-up step length")[0]["verdict"] == "fail"
    assert judged(runs, "bmw-conforms", f"{R_BAND}[ac]")[0]["value"] == 22.0                      # rcd_ac_trip_ma
    assert judged(runs, "bmw-conforms", f"{R_BAND}[dc]")[0]["value"] == 4.5                       # rcd_dc_trip_ma
    assert judged(runs, "bmw-conforms", f"{R_TIME}[5x]")[0]["value"] == pytest.approx(0.025, abs=1e-6)
    assert judged(runs, "bmw-conforms", R_DC_TIME)[0]["value"] == pytest.approx(0.400, abs=1e-6)
    assert judged(runs, "bmw-conforms", W_AFTER, "weld detection time")[0]["value"] == pytest.approx(0.040 + 0.200, abs=1e-6)
    assert judged(runs, "bmw-conforms", f"{S_WINDOW}[over]")[0]["value"] == 266.0                # first step > 264 V
    assert judged(runs, "bmw-conforms", f"{S_WINDOW}[under]")[0]["value"] == 194.0               # first step < 195 V
    assert judged(runs, "bmw-conforms", T_STOP)[0]["value"] == 71.0                              # overtemp_stop_c
    card = "test_a_registered_card_starts_charging_within_the_declared_latency_and_the_same_card_stops_it"
    assert judged(runs, "bmw-conforms", card, "registered card to PWM offer")[0]["value"] == pytest.approx(1.0, abs=1e-3)
    assert judged(runs, case_id("bmw-wallbox-plus", ("rfid_auth_delay_s=12",)), card,
                  "registered card to PWM offer")[0]["value"] == pytest.approx(12.0, abs=1e-3)   # rfid_auth_delay_s


def test_the_bench_of_parts_measures_what_the_board_bench_measures(runs: dict) -> None:
    """Times read out of the scope's record (rigs/sim-cots.toml) against the board's own stamps:
    within a millisecond for the contactor, and the same residual-current trip values."""
    for test in (OPEN_C_B, OPEN_C_A, PE_LOSS):
        parts = judged(runs, "bmw-on-parts-conforms", test)[0]["value"]
        board = judged(runs, "bmw-conforms", test)[0]["value"]
        assert abs(parts - board) <= 1e-3, (test, parts, board)
    assert judged(runs, "bmw-on-parts-conforms", f"{R_BAND}[ac]")[0]["value"] == 22.0
    assert judged(runs, "bmw-on-parts-conforms", f"{R_TIME}[5x]")[0]["value"] == pytest.approx(0.025, abs=1e-3)
    assert judged(runs, "bmw-on-parts-conforms", W_AFTER, "weld detection time")[0]["value"] == \
        pytest.approx(0.040 + 0.200, abs=1e-3)


def test_a_failed_verdict_carries_value_limit_and_source(runs: dict) -> None:
    _, records, _ = runs[case_id("bmw-wallbox-plus", ("contactor_open_delay_ms=150",))]
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

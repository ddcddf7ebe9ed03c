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

CLOSE_TEST = "test_contactor_closes_within_3_s_after_b2_to_c2"
OPEN_C_B = "test_contactor_opens_within_100_ms_after_c_to_b"
OPEN_C_A = "test_contactor_opens_within_100_ms_after_unplug"
FREQ = "test_pwm_frequency_is_1_khz_in_b2"
DUTY = "test_duty_cycle_offers_configured_current_in_b2"
PHASES = "test_charging_current_flows_on_every_supplied_phase"
CP_HIGH = "test_cp_generator_high_level_is_12_v_in_state_a"
CP_LOW = "test_cp_generator_low_level_is_minus_12_v_in_b2"
B_LOW = "test_state_b_is_recognised_at_both_ends_of_the_resistance_band[low]"
B_HIGH = "test_state_b_is_recognised_at_both_ends_of_the_resistance_band[high]"
DIODE = "test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault"
STATE_E = "test_contactor_opens_when_cp_is_shorted_to_pe_while_charging"
STATE_D = "test_state_d_is_honoured_as_the_profile_declares_ventilation"
OVERCURRENT = "test_charging_stops_when_the_vehicle_draws_more_than_offered"
PP = "test_tethered_plug_codes_at_least_the_rated_current"
ALL_TESTS = {CLOSE_TEST, OPEN_C_B, OPEN_C_A, FREQ, DUTY, PHASES, CP_HIGH, CP_LOW, B_LOW, B_HIGH, DIODE, STATE_E,
             STATE_D, OVERCURRENT, PP}

# (case id, profile, knobs, tests expected red)
CASES: list[tuple[str, str, tuple[str, ...], set[str]]] = [
    ("bmw-conforms", "bmw-wallbox-plus", (), set()),
    ("mini-conforms", "mini-wallbox-plus", (), set()),
    ("generic-conforms", "generic-iec61851", (), set()),
    ("open-delay-150ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=150",), {OPEN_C_B, OPEN_C_A}),
    ("close-delay-3.5s", "bmw-wallbox-plus", ("contactor_close_delay_ms=3500",), {CLOSE_TEST}),
    ("pwm-1030Hz", "bmw-wallbox-plus", ("pwm_frequency_hz=1030",), {FREQ}),
    ("pwm-970Hz", "mini-wallbox-plus", ("pwm_frequency_hz=970",), {FREQ}),
    ("duty-offset-0.8%", "bmw-wallbox-plus", ("pwm_duty_offset_pct=0.8",), {DUTY}),
    ("offers-16A-not-32A", "bmw-wallbox-plus", ("rated_current_a=16",), {DUTY}),
    ("one-phase-switched", "bmw-wallbox-plus", ("phases=1",), {PHASES}),
    ("open-delay-73ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=73",), set()),
    # An 11 V generator also pulls 1870 ohm below the firmware's B floor (7.4 V): physics, not a side effect.
    ("generator-11V", "bmw-wallbox-plus", ("cp_generator_v=11",), {CP_HIGH, CP_LOW, B_LOW}),
    ("b-only-up-to-4k", "mini-wallbox-plus", ("classifies_b_up_to_ohm=4000",), {B_HIGH}),
    ("no-diode-check", "bmw-wallbox-plus", ("diode_check=false",), {DIODE}),
    ("state-e-150ms", "bmw-wallbox-plus", ("state_e_open_delay_ms=150",), {STATE_E}),
    ("charges-in-d", "bmw-wallbox-plus", ("ventilation_supported=true",), {STATE_D}),
    ("overcurrent-15s", "mini-wallbox-plus", ("overcurrent_trip_s=15",), {OVERCURRENT}),
    ("no-overcurrent-check", "bmw-wallbox-plus", ("overcurrent_detection=false",), {OVERCURRENT}),
    # A 680 ohm plug codes 20 A: the firmware then offers 20 A, so the duty test goes red with it.
    ("plug-codes-20A", "bmw-wallbox-plus", ("cable_pp_ohm=680",), {PP, DUTY}),
]
SKIPPED_ON = {"generic-iec61851": {PP}}


def run_suite(out: Path, profile: str, knobs: tuple[str, ...]) -> tuple[int, list[dict], dict]:
    cmd = [sys.executable, "-m", "cli.main", "run", "--profile", profile, "--out", str(out)]
    for knob in knobs:
        cmd += ["--sim-set", knob]
    proc = subprocess.run(cmd + ["--", "-q"], capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()] \
        if (out / "tests.jsonl").exists() else []
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    if not summary:
        raise AssertionError(f"no summary from {' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.returncode, records, summary


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[dict], dict]]:
    base = tmp_path_factory.mktemp("selftest")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case: pool.submit(run_suite, base / case, profile, knobs) for case, profile, knobs, _ in CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.mark.parametrize("case, profile, knobs, expected_red", CASES, ids=[c[0] for c in CASES])
def test_suite_goes_red_exactly_on_its_knob(runs: dict, case: str, profile: str, knobs: tuple[str, ...],
                                           expected_red: set[str]) -> None:
    code, records, summary = runs[case]
    outcomes = {r["name"]: r["outcome"] for r in records}
    assert set(outcomes) == ALL_TESTS, f"the suite ran {sorted(outcomes)}"
    red = {name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    assert red == expected_red
    assert {n for n, o in outcomes.items() if o == "skipped"} == SKIPPED_ON.get(profile, set())
    assert all(outcomes[name] == "failed" for name in expected_red), f"red must be failed, not broken: {outcomes}"
    assert code == (1 if expected_red else 0)
    assert summary["counts"]["failed"] == len(expected_red) and summary["provenance"]["profile"] == profile


def test_measured_c_to_b_opening_equals_the_simulated_delay(runs: dict) -> None:
    _, records, _ = runs["open-delay-73ms"]
    for name in (OPEN_C_B, OPEN_C_A):
        record = next(r for r in records if r["name"] == name)
        judged = [m for m in record["measurements"] if m["verdict"] != "info"]
        assert judged and judged[0]["value"] == pytest.approx(0.073, abs=0.001)


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
    assert (out / "junit.xml").read_text().count("<testcase") == len(ALL_TESTS)
    assert "| test_pwm_frequency_is_1_khz_in_b2 |" in (out / "report.md").read_text()
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    labels = {(lab["name"], lab["value"]) for r in results for lab in r["labels"]}
    assert ("requirement", "WB-EL-03") in labels and ("epic", "IEC 61851-1:2017") in labels
    plot = out / "evidence" / OPEN_C_B / "C2 to B.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

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
ALL_TESTS = {CLOSE_TEST, OPEN_C_B, OPEN_C_A, FREQ, DUTY, PHASES}

# (case id, profile, knobs, tests expected red)
CASES: list[tuple[str, str, tuple[str, ...], set[str]]] = [
    ("bmw-conforms", "bmw-wallbox-plus", (), set()),
    ("mini-conforms", "mini-wallbox-plus", (), set()),
    ("open-delay-150ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=150",), {OPEN_C_B, OPEN_C_A}),
    ("close-delay-3.5s", "bmw-wallbox-plus", ("contactor_close_delay_ms=3500",), {CLOSE_TEST}),
    ("pwm-1030Hz", "bmw-wallbox-plus", ("pwm_frequency_hz=1030",), {FREQ}),
    ("pwm-970Hz", "mini-wallbox-plus", ("pwm_frequency_hz=970",), {FREQ}),
    ("duty-offset-0.8%", "bmw-wallbox-plus", ("pwm_duty_offset_pct=0.8",), {DUTY}),
    ("offers-16A-not-32A", "bmw-wallbox-plus", ("rated_current_a=16",), {DUTY}),
    ("one-phase-switched", "bmw-wallbox-plus", ("phases=1",), {PHASES}),
    ("open-delay-73ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=73",), set()),
]


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
    red = {name for name, outcome in outcomes.items() if outcome != "passed"}
    assert red == expected_red
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

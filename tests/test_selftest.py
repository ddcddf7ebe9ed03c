"""The suite's self-test: the conformance suite must go red when, and only when, the simulated
wallbox misbehaves in the way a test judges.

Each case runs the real `wallbox-rig run` (the README's Quickstart main job) in a subprocess with one
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

from conformance import (catalogue, test_access_control, test_charging_session, test_control_pilot, test_duty_cycle,
                         test_residual_current, test_supply, test_temperature, test_welding)
from rig.config import REPO_ROOT, load_rig_file

pytestmark = pytest.mark.timeout(3000)
"""The first test carries the `runs` fixture: every case's run, three at a time on two cores (minutes;
13 with WBR_SELFTEST=whole-suite), well over the project's 900 s per-test limit."""
CONCURRENT_RUNS = (os.cpu_count() or 1) + 1
"""A suite run keeps a core about 80 % busy (the rest is waiting on loopback round trips), so one run
more than there are cores fills them: on CI's two cores, three at a time."""

# The tests whose measured values the self-test compares with the simulated behaviour, by their
# functions: a rename is followed (or fails at import), never silently left behind.
OPEN_C_B = test_charging_session.test_contactor_opens_within_100_ms_after_c_to_b.__name__
OPEN_C_A = test_charging_session.test_contactor_opens_within_100_ms_after_unplug.__name__
PE_LOSS = test_control_pilot.test_contactor_opens_when_the_vehicle_loses_pe_while_charging.__name__
CLOSE_B_C = test_charging_session.test_contactor_closes_within_3_s_after_b2_to_c2.__name__
CP_SHORT = test_control_pilot.test_contactor_opens_when_cp_is_shorted_to_pe_while_charging.__name__
C1 = test_control_pilot.test_vehicle_that_keeps_drawing_after_pwm_is_removed_is_cut_off.__name__
WAKE = test_control_pilot.test_wake_up_step_in_b2_is_as_the_profile_declares.__name__
DUTY_5S = test_duty_cycle.test_offered_duty_changes_at_most_once_per_5_s.__name__
R_BAND = test_residual_current.test_residual_current_trip_threshold_lies_in_the_band.__name__
R_TIME = test_residual_current.test_ac_residual_current_trips_within_the_type_a_time.__name__
R_DC_TIME = test_residual_current.test_dc_residual_current_at_the_band_top_trips_within_10_s.__name__
W_AFTER = test_welding.test_welded_pole_is_detected_after_the_contactor_opens.__name__
S_WINDOW = test_supply.test_supply_voltage_out_of_range_stops_charging_inside_the_profile_window.__name__
T_STOP = test_temperature.test_over_temperature_stops_charging.__name__
CARD = test_access_control.\
    test_a_registered_card_starts_charging_within_the_declared_latency_and_the_same_card_stops_it.__name__

CONNECT = "bmw-i-wallbox-connect"
COMMS_DEFECT = "bmw-with-comms-defect"
"""The BMW profile on rigs/sim-comms-defect.toml: a bench whose DUT has a failed communication module."""
BMW_PARTS, GENERIC_PARTS = "bmw-on-parts", "generic-on-parts"
"""The reference profiles on rigs/sim-cots.toml: the same suite through bought instruments."""
WAKE_UP_PROFILE = "generic-with-wake-up"
"""The generic profile declaring A.5.3 wake-up (written by the fixture): no shipped profile has it."""
OCPP201 = "bmw-on-ocpp201"
"""The BMW profile on rigs/sim-ocpp201.toml: backend and simulated wallbox both on OCPP 2.0.1."""
RIGS = {COMMS_DEFECT: ("rigs/sim-comms-defect.toml", "bmw-wallbox-plus"),
        BMW_PARTS: ("rigs/sim-cots.toml", "bmw-wallbox-plus"),
        GENERIC_PARTS: ("rigs/sim-cots.toml", "generic-iec61851"),
        OCPP201: ("rigs/sim-ocpp201.toml", "bmw-wallbox-plus")}
"""Benches other than rigs/sim.toml, by the name the cases use: (rig file, profile)."""
PARTS_KNOBS: list[tuple[str, tuple[str, ...]]] = [
    ("bmw-wallbox-plus", ("cp_generator_v=11.2",)), ("bmw-wallbox-plus", ("diode_check=false",)),
    ("bmw-wallbox-plus", ("contactor_open_delay_ms=150",)), ("bmw-wallbox-plus", ("b2_pwm_delay_ms=3500",)),
    ("bmw-wallbox-plus", ("state_e_open_delay_ms=150",)), ("bmw-wallbox-plus", ("c1_cutoff_s=3",)),
    ("bmw-wallbox-plus", ("rcd_ac_trip_time_ms=200",)), ("bmw-wallbox-plus", ("rcd_dc_trip_ma=6.5",)),
    ("bmw-wallbox-plus", ("weld_detection=false",)), ("bmw-wallbox-plus", ("thermal_rise_c=30",)),
    ("bmw-wallbox-plus", ("overtemp_stop_c=90",)), ("bmw-wallbox-plus", ("overtemp_derate_c=80",)),
    ("bmw-wallbox-plus", ("ocpp_status_on_fault=SuspendedEVSE",)),   # the over-temperature through the chamber
    ("bmw-wallbox-plus", ("overtemp_resume_c=20",)),   # never resumes: the chamber's room temperature is above it
    ("generic-iec61851", ("pe_monitoring=false",)),
]
"""Knob cases of the CP, timing, residual-current, weld, supply-PE, temperature and fault-status families run
again on the bench of parts: each must go red there exactly as on the board bench.  They run only the
families their red tests belong to (`wallbox-rig run --family`): that the other families stay green
under the knob is the board-bench case's to show, and that the bench of parts measures them at all is
`bmw-on-parts-conforms`'s; a whole suite on the bench of parts costs a minute, its families seconds."""

GREEN_CASES: list[tuple[str, str, tuple[str, ...]]] = [
    ("bmw-conforms", "bmw-wallbox-plus", ()),
    ("mini-conforms", "mini-wallbox-plus", ()),
    ("generic-conforms", "generic-iec61851", ()),
    ("open-delay-73ms", "bmw-wallbox-plus", ("contactor_open_delay_ms=73",)),   # inside 100 ms: nothing red
    ("wake-up-declared", WAKE_UP_PROFILE, ("wake_up_enabled=true",)),        # declared, so conforming
    ("comms-defect-shown", COMMS_DEFECT, ()),
    ("bmw-on-parts-conforms", BMW_PARTS, ()),
    ("connect-conforms", CONNECT, ()),
    ("generic-on-parts-conforms", GENERIC_PARTS, ()),
    ("bmw-on-ocpp201-conforms", OCPP201, ()),
]
"""Cases in which nothing may go red; every red case comes from a test's `red_on` marker.  Each bench
(rig file and profile) a case runs on has one: what it holds and skips is the others' reference."""
BASELINE = {profile: case for case, profile, knobs in GREEN_CASES}
"""Bench → its conforming case."""


def case_id(profile: str, knobs: tuple[str, ...]) -> str:
    return ",".join(knobs) + ("" if profile == catalogue.DEFAULT_PROFILE else f"@{profile}")


RED_CASES = catalogue.cases()
OCPP_FAMILIES = frozenset({"ocpp_status", "ocpp_remote", "ocpp_metering", "ocpp_offline", "smart_charging"})
"""The families that judge what the DUT says over OCPP: each of their knob cases runs again on 2.0.1."""
# (case id, profile, knobs, the catalogue entries that declare they go red there)
CASES: list[tuple[str, str, tuple[str, ...], list]] = (
    [(name, profile, knobs, []) for name, profile, knobs in GREEN_CASES]
    + [(case_id(profile, knobs), profile, knobs, entries) for (profile, knobs), entries in sorted(RED_CASES.items())]
    + [(case_id(profile, knobs) + "@parts", BMW_PARTS if profile == "bmw-wallbox-plus" else GENERIC_PARTS, knobs,
        RED_CASES[(profile, knobs)]) for profile, knobs in PARTS_KNOBS]
    + [(case_id(profile, knobs) + "@ocpp201", OCPP201, knobs, entries)
       for (profile, knobs), entries in sorted(RED_CASES.items())
       if profile == "bmw-wallbox-plus" and {info.module.rsplit(".", 1)[-1].removeprefix("test_")
                                             for info, _ in entries} <= OCPP_FAMILIES])
"""Every case, green and red: the board bench's, the bench of parts' (PARTS_KNOBS) and, for each BMW
knob whose red tests are all OCPP families', the same knob with both sides on OCPP 2.0.1 (the OCPP
families judge the same physics on both versions, so each knob must turn the same tests red)."""


def families_of(entries: list) -> tuple[str, ...]:
    """The families (module stems without `test_`) holding the tests a case declares red."""
    return tuple(sorted({info.module.rsplit(".", 1)[-1].removeprefix("test_") for info, _ in entries}))


WHOLE_SUITE = os.environ.get("WBR_SELFTEST") == "whole-suite"
"""`WBR_SELFTEST=whole-suite`: every red case runs the whole suite, so it also shows that no test of
another family goes red under the knob (13 minutes on two cores, measured: a nightly's job).  By default a
red case runs the families of its declared red tests (a whole suite costs about 15 s of CPU, a family
2-4 s): within them, exactly the declared tests must fail; that the rest of the suite stays green on
a conforming DUT is the green cases' to show, each of which runs the whole suite on its bench."""

SCOPED_KNOBS = {("bmw-wallbox-plus", ("access_control=factory_on",))}
"""Knob cases that run only the families of their red tests even with WBR_SELFTEST=whole-suite: a
wallbox delivered with access control on charges for no test that brings no card, so the whole suite
would go red, not only WB-AC-01."""


def scoped(case: str, profile: str, knobs: tuple[str, ...], entries: list) -> bool:
    """Red cases run only their families (see WHOLE_SUITE); even in a whole-suite self-test, so do the
    bench-of-parts cases, the Connect's knob cases (its `connect-conforms` case runs the whole suite
    green) and the SCOPED_KNOBS."""
    if not WHOLE_SUITE:
        return bool(entries)
    return case.endswith(("@parts", "@ocpp201")) or (profile == CONNECT and bool(knobs)) \
        or (profile, knobs) in SCOPED_KNOBS


CASE_FAMILIES = {case: families_of(entries) for case, profile, knobs, entries in CASES
                 if scoped(case, profile, knobs, entries)}
CASE_FAMILIES["generic-on-parts-conforms"] = tuple(sorted({f for case, profile, knobs, entries in CASES
                                                            if profile == GENERIC_PARTS and knobs
                                                            for f in families_of(entries)}))
"""Case id → the families a scoped case runs (the generic profile's bench of parts is run where its
knob cases run: the board bench shows the rest)."""
MODULE_OF = {info.name: info.module.rsplit(".", 1)[-1].removeprefix("test_") for info in catalogue.tests()}
NEEDS = {info.name: set(info.needs) for info in catalogue.tests()}


def bench_of(profile: str) -> tuple[str, str]:
    """(rig file, profile name or file) a case's bench stands for."""
    rig, name = RIGS.get(profile, ("rigs/sim.toml", profile))
    return rig, name


def collect(rig: str, profile: str) -> set[str]:
    """Every test instance the suite holds on this rig and profile, as pytest collects them (the
    parametrisations come from the profile: its settable currents, meters, supplies)."""
    cmd = [sys.executable, "-m", "pytest", str(REPO_ROOT / "conformance"), "--collect-only", "-q", "--wbr-rig",
           str(REPO_ROOT / rig), "--wbr-profile", profile, "-p", "no:cacheprovider", "-p", "no:labgrid",
           "-p", "no:hypothesispytest"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    names = {line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line}
    if proc.returncode != 0 or not names:
        raise AssertionError(f"collecting the suite failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return names


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
    cmd = [sys.executable, "-m", "cli.main", "run", "--workers", "1", "--profile", profile, "--out", str(out)]
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
                                     None if full_trials(case, entries) else FEW_TRIALS, CASE_FAMILIES.get(case, ()))
                   for case, profile, knobs, entries in CASES}
        return {case: f.result() for case, f in futures.items()}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Bench → the test instances pytest collects there."""
    profiles = {WAKE_UP_PROFILE: str(wake_up_profile(tmp_path_factory.mktemp("collect")))}
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        futures = {bench: pool.submit(collect, bench_of(bench)[0], profiles.get(bench, bench_of(bench)[1]))
                   for bench in BASELINE}
        return {bench: f.result() for bench, f in futures.items()}


def outcomes_of(runs: dict, case: str) -> dict[str, str]:
    return {r["name"]: r["outcome"] for r in runs[case][1]}


@pytest.mark.parametrize("case, profile, knobs, entries", CASES, ids=[c[0] for c in CASES])
def test_suite_goes_red_exactly_on_its_knob(runs: dict, collected: dict, case: str, profile: str,
                                           knobs: tuple[str, ...], entries: list) -> None:
    """Held: what pytest collects for the bench; skipped: what the bench's conforming case skips (each
    skip with its reason, those for a missing role as the markers say: see the test below); red: what
    the markers declare, and nothing else."""
    code, records, summary = runs[case]
    outcomes = outcomes_of(runs, case)
    families = CASE_FAMILIES.get(case, ())
    held = held_in(collected[profile], families)
    baseline = outcomes_of(runs, BASELINE[profile])
    skipped = held_in({n for n, o in baseline.items() if o == "skipped"}, families)
    assert set(outcomes) == held, f"the suite ran {sorted(set(outcomes) ^ held)} unexpectedly (or not)"
    red = {name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")}
    expected = expected_red(entries, held - skipped)
    assert red == expected, f"red but not declared: {sorted(red - expected)}; declared, not red: {sorted(expected - red)}"
    assert {n for n, o in outcomes.items() if o == "skipped"} == skipped
    assert all(outcomes[name] == "failed" for name in expected), \
        f"red must be failed, not broken: { {n: o for n, o in outcomes.items() if o not in ('passed', 'skipped')} }"
    assert code == (1 if expected else 0)
    assert summary["counts"]["failed"] == len(expected)
    assert not families or set(families) == {MODULE_OF[n.split("[")[0]] for n in outcomes}
    assert summary["provenance"]["profile"] == bench_of(profile)[1].replace(WAKE_UP_PROFILE, "generic-iec61851")


@pytest.mark.parametrize("bench", sorted(BASELINE))
def test_a_conforming_bench_skips_only_what_its_roles_and_profile_rule_out(runs: dict, collected: dict,
                                                                          bench: str) -> None:
    """The reference the knob cases are held to: every test that needs a role the rig file lacks is
    skipped for that reason (the `needs` markers), and every other skip states its reason (a profile
    that does not declare the feature, a bench that cannot do it)."""
    rig_roles = set(load_rig_file(REPO_ROOT / bench_of(bench)[0]).instruments)
    records = {r["name"]: r for r in runs[BASELINE[bench]][1]}
    families = CASE_FAMILIES.get(BASELINE[bench], ())
    lacking = {n for n in held_in(collected[bench], families) if NEEDS[n.split("[")[0]] - rig_roles}
    assert all(records[n]["outcome"] == "skipped" and "this rig has no" in records[n]["message"] for n in lacking)
    for name, record in records.items():
        if record["outcome"] == "skipped":
            assert record["message"].strip(), f"{name} skipped without a reason"


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
    over = judged(runs, "bmw-conforms", f"{S_WINDOW}[over]")[0]   # first step > 264 V, as the analyser measured it
    assert over["value"] == pytest.approx(266.0, abs=0.5) and over["u"] == pytest.approx(2.36, abs=0.05)
    assert judged(runs, "bmw-conforms", f"{S_WINDOW}[under]")[0]["value"] == pytest.approx(194.0, abs=0.5)  # < 195 V
    assert judged(runs, "bmw-conforms", T_STOP)[0]["value"] == 71.0                              # overtemp_stop_c
    assert judged(runs, "bmw-conforms", CARD, "registered card to PWM offer")[0]["value"] == pytest.approx(1.0, abs=1e-3)
    assert judged(runs, case_id("bmw-wallbox-plus", ("rfid_auth_delay_s=12",)), CARD,
                  "registered card to PWM offer")[0]["value"] == pytest.approx(12.0, abs=1e-3)   # rfid_auth_delay_s


def test_the_bench_of_parts_measures_what_the_board_bench_measures(runs: dict) -> None:
    """Times read out of the scope's record (rigs/sim-cots.toml) against the board's own stamps:
    within a millisecond for the contactor, the same trip times, and the residual-current threshold within
    the U of the current the bench measures."""
    for test in (OPEN_C_B, OPEN_C_A, PE_LOSS):
        parts, board = judged(runs, "bmw-on-parts-conforms", test)[0], judged(runs, "bmw-conforms", test)[0]
        assert abs(parts["value"] - board["value"]) <= 1e-3, (test, parts, board)
        # each states its uncertainty (k = 2): the board's 1 us stamps; one single acquisition's 2 us grid plus
        # what the signals hide (up to 1 ms for a vehicle step, 0.2 ms at a zero crossing); and the two agree
        # within it
        assert board["u"] == pytest.approx(8.2e-7, rel=0.01) and parts["u"] == pytest.approx(1.18e-3, rel=0.01)
        assert abs(parts["value"] - board["value"]) <= parts["u"] + board["u"]
    # the opening after a CP short from a pattern trigger, the short found in the record: only the zero
    # crossing hides anything (0.2 ms), so its U is a fifth of a vehicle step's
    parts, board = judged(runs, "bmw-on-parts-conforms", CP_SHORT)[0], judged(runs, "bmw-conforms", CP_SHORT)[0]
    assert parts["u"] == pytest.approx(2.31e-4, rel=0.01)
    assert abs(parts["value"] - board["value"]) <= parts["u"] + board["u"], (parts, board)
    # the PWM withdrawn to the opening (C1 cut-off): the same trigger, the stop up to a period early
    parts = judged(runs, "bmw-on-parts-conforms", C1, "PWM removed to contactor open")[0]
    board = judged(runs, "bmw-conforms", C1, "PWM removed to contactor open")[0]
    assert parts["u"] == pytest.approx(1.18e-3, rel=0.01)
    assert abs(parts["value"] - board["value"]) <= parts["u"] + board["u"], (parts, board)
    # the closing after B -> C from a runt trigger, up to 2 ms after the step: short by at most that, within U
    parts, board = judged(runs, "bmw-on-parts-conforms", CLOSE_B_C)[0], judged(runs, "bmw-conforms", CLOSE_B_C)[0]
    assert parts["u"] == pytest.approx(2.32e-3, rel=0.01)
    assert 0.0 <= board["value"] - parts["value"] <= parts["u"] + board["u"], (parts, board)
    measured = judged(runs, "bmw-on-parts-conforms", f"{R_BAND}[ac]")[0]   # the ladder's current, measured
    assert measured["value"] == pytest.approx(22.0, abs=measured["u"]) and measured["u"] < 0.5
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


def test_run_writes_report_allure_results_junit_and_evidence(runs: dict, collected: dict) -> None:
    code, records, summary = runs["bmw-conforms"]
    out = Path(summary["out_dir"])
    assert code == 0 and summary["virtual_time_s"] > 0 and summary["seed"] == 1
    assert summary["provenance"]["identities"]["cp"].startswith("WALLBOX-RIG")
    assert (out / "junit.xml").read_text().count("<testcase") == len(collected["bmw-wallbox-plus"])
    assert "| test_pwm_frequency_is_1_khz_in_b2 |" in (out / "report.md").read_text()
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    labels = {(lab["name"], lab["value"]) for r in results for lab in r["labels"]}
    assert ("requirement", "WB-EL-03") in labels and ("epic", "IEC 61851-1") in labels
    assert {("epic", "Product manual"), ("epic", "§14a EnWG"), ("feature", "load management")} <= labels
    assert ("severity", "critical") in labels
    plot = out / "evidence" / OPEN_C_B / "C2 to B.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

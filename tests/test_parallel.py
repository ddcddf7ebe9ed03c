"""Parallel virtual labs (`wallbox-rig run --workers 2`): one run folder from two labs, the same
verdicts and the same random draws per test as one lab, and a stop that reaches both labs' safe
states."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.config import REPO_ROOT

SUBSET = "test_charging_session or test_duty_cycle or test_proximity or test_cold_load"
"""Four modules (so both labs get work), among them a noisy measurement and the random delays."""


def _run(out: Path, workers: int, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", str(workers), "--out", str(out),
           "--cold-load-trials", "20", *extra, "--", "-q", "-k", SUBSET]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def _records(out: Path) -> dict[str, dict]:
    return {r["name"]: r for r in map(json.loads, (out / "tests.jsonl").read_text().splitlines())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("parallel")
    single, parallel = base / "one", base / "two"
    for out, workers in ((single, 1), (parallel, 2)):
        proc = _run(out, workers)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return single, parallel


def test_two_labs_write_one_run_folder(runs: tuple[Path, Path]) -> None:
    single, parallel = runs
    summary = json.loads((parallel / "summary.json").read_text())
    records = _records(parallel)
    assert summary["status"] == "passed" and summary["total"] == len(records) == len(_records(single))
    assert summary["provenance"]["workers"] == 2
    journals = sorted(p.name for p in parallel.glob("lab-journal*.jsonl"))
    assert journals == ["lab-journal-gw0.jsonl", "lab-journal-gw1.jsonl"]
    # the rig time of the run is both labs' together: what one bench would take for the same tests
    lab_times = [max(json.loads(line)["t_s"] for line in (parallel / j).read_text().splitlines()) for j in journals]
    assert summary["virtual_time_s"] == pytest.approx(sum(lab_times), abs=1.0)
    assert "| test_pwm_frequency_is_1_khz_in_b2 |" in (parallel / "report.md").read_text()
    assert (parallel / "junit.xml").read_text().count("<testcase") == len(records)


def test_each_test_draws_the_same_on_either_lab(runs: tuple[Path, Path]) -> None:
    """Every test starts the lab's randomness from its own seed: the noisy PWM frequency and the
    random cold-load delays come out the same whichever lab ran them, after whatever ran before."""
    one, two = (_records(r) for r in runs)
    assert {n: r["outcome"] for n, r in one.items()} == {n: r["outcome"] for n, r in two.items()}
    for name in ("test_pwm_frequency_is_1_khz_in_b2", "test_every_restart_delay_lies_in_the_declared_range"):
        values = [[(m["name"], m["value"]) for m in r[name]["measurements"]] for r in (one, two)]
        assert values[0] == values[1] and values[0]


def test_a_stop_reaches_both_labs_safe_states(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", "2", "--out", str(out), "--", "-q"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        tests = out / "tests.jsonl"
        if tests.exists() and len(tests.read_text().splitlines()) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, output[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["provenance"]["workers"] == 2
    for journal in sorted(out.glob("lab-journal*.jsonl")):
        events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
        assert events[-2:] == ["safe_state", "lab_stopped"], (journal.name, events[-5:])
    assert len(list(out.glob("lab-journal*.jsonl"))) == 2  # no lab was started in a stopped one's place

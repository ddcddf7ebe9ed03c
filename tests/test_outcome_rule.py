"""The outcome rule (issue 15): *failed* comes only from the suite's own conformance failure, raised
by a judged measurement outside its limits; every other exception in a test is *broken*."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SUITE = '''
import pytest

from core.errors import InstrumentOperationError, PreconditionError
from core.limits import AtMost
from fixtures.evidence import Evidence

LIMIT = AtMost(name="t", high=0.1, unit="s", clause="IEC 61851-1:2017 Table A.6", source="a test of the rig")


@pytest.mark.requirement(clause="x")
def test_out_of_limits(evidence: Evidence) -> None:
    evidence.check("opening time", 0.15, LIMIT)


@pytest.mark.requirement(clause="x")
def test_within_limits(evidence: Evidence) -> None:
    evidence.check("opening time", 0.05, LIMIT)


@pytest.mark.requirement(clause="x")
def test_bare_assert(evidence: Evidence) -> None:
    edge = None
    assert edge is not None


@pytest.mark.requirement(clause="x")
def test_garbled_answer(evidence: Evidence) -> None:
    raise InstrumentOperationError("cp", "MEAS:CP?: not numbers: '12.0,-12.0,1k,5'")


@pytest.mark.requirement(clause="x")
def test_unmet_precondition(evidence: Evidence) -> None:
    raise PreconditionError("the contactor did not close within 10 s of state C")


@pytest.mark.requirement(clause="x")
def test_setting_passed_as_a_limit(evidence: Evidence) -> None:
    from conformance.limits import LIMITS
    evidence.check("observation", 1.0, LIMITS.rig.observation_factor)
'''


def test_only_a_judged_measurement_outside_its_limits_fails(tmp_path: Path) -> None:
    suite = tmp_path / "conformance"
    suite.mkdir()
    (suite / "test_rule.py").write_text(SUITE)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suite), "--wbr-out", str(out), "-q",
                           "--alluredir", str(out / "allure-results"), "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    outcomes = {json.loads(line)["name"]: json.loads(line)["outcome"]
                for line in (out / "tests.jsonl").read_text().splitlines()}
    assert outcomes == {"test_out_of_limits": "failed", "test_within_limits": "passed",
                        "test_bare_assert": "broken", "test_garbled_answer": "broken",
                        "test_unmet_precondition": "broken", "test_setting_passed_as_a_limit": "broken"}, proc.stdout
    # Allure says the same, both ways: a ConformanceFailure is failed (allure-pytest alone calls it
    # broken), a bare assert is broken (allure-pytest alone calls it failed)
    allure = {r["name"]: r["status"] for r in (json.loads(p.read_text())
                                               for p in (out / "allure-results").glob("*-result.json"))}
    assert allure == outcomes
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "broken" and summary["exit_code"] == 2

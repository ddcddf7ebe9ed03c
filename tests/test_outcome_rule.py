"""The outcome rule (issue 15): *failed* comes only from the suite's own conformance failure, raised
by a judged measurement outside its limits; every other exception in a test is *broken*."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConformanceFailure, InstrumentOperationError, RigError
from core.limits import AtMost
from fixtures.evidence import Evidence

SUITE = '''
import pytest

from core.errors import ConformanceFailure, InstrumentOperationError, PreconditionError
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


def test_an_analyser_with_no_data_or_over_range_is_the_rigs_fault_never_a_verdict() -> None:
    """A Yokogawa WT answers NAN (no data) and INF (over-range) in its ASCII format; SCPI instruments
    9.91E+37 and 9.9E+37.  Each is an instrument error (broken, naming the role), never a value."""
    from instruments.power_analyser import YokogawaWT
    from instruments.transport.scripted import ScriptedTransport

    items = len(YokogawaWT._ITEMS)
    for bad in ("NAN", "INF", "-INF", "9.91E+37", "9.9E+37"):
        answer = ",".join(["230.0", "16.0", "3680.0"] * 3 + ["1.0", "12.5"]).split(",")
        answer[1] = bad
        assert len(answer) == items
        analyser = YokogawaWT(ScriptedTransport([(":NUMERIC:NORMAL:VALUE?", ",".join(answer))], role="analyser"))
        with pytest.raises(InstrumentOperationError, match=r"analyser: :NUMERIC:NORMAL:VALUE\?: no data or over-range"):
            analyser.read()


def test_a_judged_value_that_is_not_a_number_is_broken_not_failed() -> None:
    evidence = Evidence("t::x", "", "")
    limit = AtMost(name="ratio", high=1.05, unit="", source="test", clause="test", cites=("IEC61851",))
    with pytest.raises(RigError, match="not a number the rig measured"):
        evidence.check("L1 current / load setpoint", float("nan"), limit)
    with pytest.raises(ConformanceFailure):   # +inf is "it never came": the DUT's
        evidence.check("contactor open after", float("inf"), limit)


LOST_SUITE = '''
import pytest

from core.errors import InstrumentLost


@pytest.mark.requirement(clause="x")
def test_first(rig):
    pass


@pytest.mark.requirement(clause="x")
def test_the_analyser_goes_away(rig):
    raise InstrumentLost("analyser", "TCPIP0::10.0.0.5::5025::SOCKET is gone: [Errno 104] Connection reset by peer")


@pytest.mark.requirement(clause="x")
def test_never_run_1(rig):
    pass


@pytest.mark.requirement(clause="x")
def test_never_run_2(rig):
    pass
'''


def test_an_instrument_that_goes_away_stops_the_run_once(tmp_path: Path) -> None:
    """A lost connection breaks the test it happened in and stops the run there (exit 2, one line),
    instead of breaking every test after it; what finished is kept."""
    suite = tmp_path / "conformance"
    suite.mkdir()
    (suite / "test_lost.py").write_text(LOST_SUITE)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suite), "--wbr-out", str(out), "-q", "-p",
                           "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    outcomes = {json.loads(line)["name"]: json.loads(line)["outcome"]
                for line in (out / "tests.jsonl").read_text().splitlines()}
    assert outcomes == {"test_first": "passed", "test_the_analyser_goes_away": "broken"}, proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "broken" and summary["exit_code"] == 2 and not summary["interrupted"]
    assert "Connection reset by peer" in summary["instrument_lost"]
    assert "went away" in (out / "report.md").read_text()


def test_a_closed_connection_is_a_lost_instrument_not_a_timeout() -> None:
    import socket
    import threading

    from core.errors import InstrumentLost
    from instruments.transport.factory import open_line_transport

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(100)
        conn.close()   # the instrument powers off mid-exchange

    threading.Thread(target=serve, daemon=True).start()
    transport = open_line_transport("cp", f"socket://127.0.0.1:{server.getsockname()[1]}", {"timeout_s": 2.0})
    try:
        with pytest.raises(InstrumentLost, match="closed the connection"):
            transport.query("MEAS:CP?")
    finally:
        transport.close()
        server.close()

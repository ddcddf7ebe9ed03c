"""The outcome rule (issue 15): *failed* comes only from the suite's own conformance failure, raised
by a judged measurement outside its limits; every other exception in a test is *broken*."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConformanceFailure, InstrumentOperationError, RigError
from core.limits import AtMost, Count
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


def test_a_value_within_its_uncertainty_of_a_limit_is_conditional_and_the_rule_decides() -> None:
    """ILAC-G8:09/2019 §4.2: 0.0999 s ± 0.0005 s against ≤ 0.1 s is a conditional pass: simple
    acceptance passes it, guarded acceptance (w = U) fails it; both say so and keep value ± U."""
    from core.records import Decision, DecisionRule, Verdict, decide

    assert decide(0.0999, None, 0.1, 0.0005) is Decision.CONDITIONAL_PASS
    assert decide(0.1003, None, 0.1, 0.0005) is Decision.CONDITIONAL_FAIL
    assert decide(0.0990, None, 0.1, 0.0005) is Decision.PASS
    assert decide(0.1010, None, 0.1, 0.0005) is Decision.FAIL
    assert decide(float("inf"), None, 0.1, 0.0005) is Decision.FAIL          # the event never came
    assert decide(5.0, 4.0, 6.0, None) is Decision.PASS                       # no stated U: the value decides
    limit = AtMost(name="contactor_open", high=0.1, unit="s", clause="IEC 61851-1 Table A.6", source="test")
    simple = Evidence("t::x", rule=DecisionRule.SIMPLE)
    m = simple.check("C2 to B", 0.0999, limit, u=0.0005)
    assert (m.decision, m.verdict, m.rule, m.u) == ("conditional pass", Verdict.PASS, "simple", 0.0005)
    assert m.value_text() == "0.0999 ± 0.0005 s (k = 2)"
    guarded = Evidence("t::x", rule=DecisionRule.GUARDED)
    with pytest.raises(ConformanceFailure, match=r"0.0999 ± 0.0005 s \(k = 2\) is conditional pass against "
                                                 r"<= 0.1 s \(guarded acceptance"):
        guarded.check("C2 to B", 0.0999, limit, u=0.0005)
    assert guarded.measurements[-1].verdict is Verdict.FAIL
    with pytest.raises(RigError, match="uncertainty nan"):
        simple.check("C2 to B", 0.05, limit, u=float("nan"))


def with_rule(rig_text: str, rule: str) -> str:
    """A rig file's text with `[suite] decision_rule` set."""
    assert "\n[suite]" in rig_text
    return rig_text.replace("\n[suite]", f'\n[suite]\ndecision_rule = "{rule}"', 1)


def test_the_rig_file_states_the_decision_rule_and_a_wrong_one_is_refused(tmp_path: Path) -> None:
    from core.errors import ConfigError
    from core.records import DecisionRule
    from rig.config import REPO_ROOT, load_rig_file

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    rig = tmp_path / "guarded.toml"
    rig.write_text(with_rule(text, "guarded"))
    assert load_rig_file(rig).suite.decision_rule is DecisionRule.GUARDED
    assert load_rig_file(REPO_ROOT / "rigs" / "sim.toml").suite.decision_rule is DecisionRule.SIMPLE
    rig.write_text(with_rule(text, "lenient"))
    with pytest.raises(ConfigError, match=r'guarded.toml: \[suite.decision_rule\].*"simple" or "guarded"'):
        load_rig_file(rig)


def guarded_run(tmp_path: Path, families: str) -> Path:
    """`families` of the suite on the virtual lab under guarded acceptance; the run folder (exit 0 asserted)."""
    from rig.config import REPO_ROOT

    rig = tmp_path / "guarded.toml"
    rig.write_text(with_rule((REPO_ROOT / "rigs" / "sim.toml").read_text(), "guarded"))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--rig", str(rig), "--workers", "1", "--no-plots",
                           "--family", families, "--out", str(out), "--", "-q"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def test_a_guarded_run_says_its_rule_in_every_report_and_states_u_for_contactor_times(tmp_path: Path) -> None:
    out = guarded_run(tmp_path, "charging_session")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decision_rule"] == "guarded" and summary["conditional_decisions"] == 0
    assert "guarded acceptance (ILAC-G8:09/2019 §4.2.2" in (out / "report.md").read_text()
    assert "guarded acceptance" in (out / "matrix.md").read_text()
    assert 'name="decision_rule" value="guarded"' in (out / "junit.xml").read_text()
    records = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()]
    judged = {m["name"]: m for r in records for m in r["measurements"] if m["low"] is not None or m["high"] is not None}
    opening = judged["contactor opening time after C -> B"]
    assert opening["u"] == pytest.approx(8.2e-7, rel=0.01) and opening["decision"] == "pass"
    # the board's 1 us stamps over a 1 kHz period: 0.1 % per edge and the 0.01 % duty is reported in
    assert judged["duty cycle error"]["u"] == pytest.approx(2 * (0.02 / 12 + 0.0001 / 12) ** 0.5, rel=1e-6)
    assert judged["PWM frequency in B2"]["u"] == pytest.approx(1000.0 ** 2 * 8.165e-7, rel=0.01)
    # the analyser's accuracy (WT1800 bulletin p. 17, on its fixed 50 A range): the ratio's U is the current's
    # over the setpoint, ± (0.1 % of the current + 0.05 % of 50 A), uniform, k = 2
    ratios = [m for name, m in judged.items() if "current / load setpoint" in name]
    for m in ratios:
        draw = float(m["note"].split("load set to ")[1].split(" A")[0])
        assert m["u"] == pytest.approx(2 * 2 * (0.001 * m["value"] * draw + 0.025) / 12 ** 0.5 / draw, rel=0.01), m
    assert ratios
    assert not {name for name, m in judged.items() if m["u"] is None}


def test_counts_are_exact_and_each_cp_figure_carries_the_emulators_resolution() -> None:
    """A count (an int) is judged with U = 0; duty, frequency and offer U follow from the stamp grid
    (IEC 61851-1 Table A.8's slope: 0.6 A per % between 10 % and 85 %, 2.5 A per % above)."""
    from conformance.backend import Offset
    from conformance.limits import LIMITS
    from core.uncertainty import expanded_u, interval_u
    from instruments.cp_emulator import WbrCpEmulator

    closures = Count(name="closures", value=0, unit="", clause="test", source="test")
    evidence = Evidence("t::x")
    assert evidence.check("closures", 0, closures).u == 0.0
    assert evidence.check("closures", 0.0, closures).u is None           # a float is a measured value: no U assumed
    board = WbrCpEmulator.__new__(WbrCpEmulator)
    assert board.interval_u_s == pytest.approx(interval_u(1e-6))
    assert board.duty_u_pct == pytest.approx(expanded_u(0.1, 0.1, 0.01))
    assert board.frequency_u_hz(1000.0) == pytest.approx(1e6 * interval_u(1e-6))
    assert LIMITS.offer_u_a(16.0, 0.1) == pytest.approx(0.06)
    assert LIMITS.offer_u_a(60.0, 0.1) == pytest.approx(0.25)
    assert LIMITS.offer_u_a(0.0, 0.1) == 0.0
    assert Offset(0.5, 0.0).delay_u_s(board) == pytest.approx(board.interval_u_s)
    assert Offset(0.5, 1e-3).delay_u_s(board) == pytest.approx((board.interval_u_s ** 2 + expanded_u(1e-3) ** 2) ** 0.5)


def test_expanded_uncertainty_follows_the_gum_for_rectangular_bounds() -> None:
    """JCGM 100:2008 §4.3.7: a bound of full width w is a rectangular distribution, u = w/√12; k = 2."""
    from core.uncertainty import expanded_u, interval_u

    assert expanded_u(12.0) == pytest.approx(2 * 12.0 / 12 ** 0.5)
    assert expanded_u(3.0, 4.0) == pytest.approx(2 * 5.0 / 12 ** 0.5)                 # in quadrature
    assert interval_u(1e-6) == pytest.approx(2 * 1e-6 / 6 ** 0.5)                    # two 1 us stamps
    with pytest.raises(ValueError):
        expanded_u(-1.0)


def test_a_one_sided_lag_is_stated_as_plus_minus_its_whole_width() -> None:
    """An uncorrected lag of up to w puts the error in [0, w]: its U must reach w itself, which a
    rectangular of width w about the value (U = 2w/√12 ≈ 0.58 w) does not."""
    from core.uncertainty import expanded_u, lag_u

    assert lag_u(1e-3) == pytest.approx(expanded_u(2e-3)) and lag_u(1e-3) >= 1e-3
    assert expanded_u(1e-3) < 1e-3
    assert lag_u(3.0, 4.0) == pytest.approx(2 * 10.0 / 12 ** 0.5)


def test_a_conforming_dut_offering_exactly_the_full_current_passes_guarded_acceptance(tmp_path: Path) -> None:
    """The "full offer" limits allow the pulse-width accuracy (Table A.8's slope times the duty
    tolerance, 0.3 A at 32 A): without it a DUT offering exactly 32 A was only a conditional pass
    against the offer's U (0.08 A), and a guarded run failed a conforming DUT 8 times."""
    out = guarded_run(tmp_path, "supply_range,temperature")
    records = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()]
    full = [m for r in records for m in r["measurements"] if m["name"].startswith("lowest offer")]
    assert full and all(m["value"] == 32.0 and m["low"] == pytest.approx(31.7) and m["decision"] == "pass"
                        for m in full), full
    assert json.loads((out / "summary.json").read_text())["conditional_decisions"] == 0


def test_an_analyser_driver_without_facts_states_no_u_rather_than_a_made_up_one() -> None:
    """A plug-in analyser that has not written its datasheet's figures down: its verdicts say "not stated",
    and what is worked from its readings stays not stated (never made smaller by leaving a part out)."""
    from core.uncertainty import combined_known, times
    from instruments.power_analyser import AnalyserRecord, PowerAnalyser

    class Bare(PowerAnalyser):
        def configure(self) -> None: ...
        def start_integration(self) -> None: ...
        def read(self) -> AnalyserRecord: raise NotImplementedError
        def safe(self) -> None: ...

    bare = Bare()
    assert bare.u_v(230.0) is None and bare.u_a(16.0) is None and bare.u_w([3680.0]) is None
    assert bare.u_wh(920.0, 900.0) is None
    assert times(None, 100.0) is None and times(0.5, -2.0) == 1.0
    assert combined_known(0.3, None) is None and combined_known(0.3, 0.4) == pytest.approx(0.5)

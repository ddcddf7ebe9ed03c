"""The certification matrix and the trend, built from real run folders of the virtual lab."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.allure_report import write_environment
from reports.build import build_reports
from reports.matrix import build_rows, load_run
from core.errors import RigError


def _run(out: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", "cli.main", "run", "--no-plots", "--workers", "1", "--out", str(out), *extra]
    subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("reports")
    selection = ["--", "-q", "-k", "frequency or diode or opens_within or settable"]
    _run(base / "before", *selection)
    _run(base / "after", "--sim-set", "diode_check=false", "--sim-set", "contactor_open_delay_ms=90", *selection)
    return base / "before", base / "after"


def test_report_against_a_previous_run_exits_1_on_new_failures_as_trend_does(two_runs: tuple[Path, Path]) -> None:
    from cli.main import main
    before, after = two_runs
    assert main(["report", str(after), "--previous", str(before)]) == 1   # the diode test newly fails
    assert main(["report", str(before), "--previous", str(before)]) == 0


def test_matrix_lists_every_requirement_and_never_drops_one(two_runs: tuple[Path, Path]) -> None:
    before, _ = two_runs
    rows = {r.requirement: r for r in build_rows(load_run(before))}
    el03 = rows["WB-EL-03"]  # the configured-current test is deselected: listed, not run
    assert el03.verdict == "pass" and len(el03.tests) == 9 and len(el03.results) == 8
    assert rows["WB-MB-02"].verdict == "not covered"           # in the profile, no test (cable length)
    assert rows["WB-MB-01"].verdict == "not run" and rows["WB-MB-01"].tests  # in the catalogue, deselected
    assert rows["WB-RC-01"].verdict == "not run" and rows["WB-RC-01"].tests  # in the catalogue, deselected
    state_e = next(r for k, r in rows.items() if "state E" in k)
    assert state_e.verdict == "not run" and state_e.tests      # in the catalogue, deselected by -k
    diode = next(r for k, r in rows.items() if "diode check" in k)
    assert diode.verdict == "pass" and diode.key is not None and diode.key.name.startswith("contactor closures")


def test_report_writes_html_markdown_csv_and_trend(two_runs: tuple[Path, Path]) -> None:
    before, after = two_runs
    written = build_reports(after, previous=before, margin_drop=0.2)
    assert {p.name for p in written} == {"matrix.html", "matrix.md", "matrix.csv", "trend.json"}
    trend = json.loads((after / "trend.json").read_text())
    assert [t[0] for t in trend["new_failures"]] == ["test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault"]
    shrunk = {s["test"] for s in trend["shrunk_margins"]}
    assert shrunk == {"test_contactor_opens_within_100_ms_after_c_to_b", "test_contactor_opens_within_100_ms_after_unplug"}
    page = (after / "matrix.html").read_text()
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # offline, self-contained
    HTMLParser().feed(page)
    assert page.count("v-fail") >= 2 and "not covered" in page and "Trend against" in page
    csv_rows = (after / "matrix.csv").read_text().splitlines()
    assert csv_rows[0].startswith("requirement,document,verdict") and any(",fail," in r for r in csv_rows)


def test_report_on_a_folder_that_is_not_a_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(RigError, match="tests.jsonl: missing"):
        build_reports(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cli.main", "report", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "tests.jsonl" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr


def test_allure_results_carry_environment_and_severity(two_runs: tuple[Path, Path]) -> None:
    before, _ = two_runs
    env = dict(line.split("=", 1) for line in (before / "allure-results" / "environment.properties").read_text()
               .splitlines())
    assert env["dut.profile"] == "bmw-wallbox-plus" and env["driver.source"] == "ametek-lx"
    assert env["identity.cp"].startswith("WALLBOX-RIG,CPEMU") and env["seed"] == "1" and env["git.commit"]
    severities = {}
    for path in (before / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        labels = {label["name"]: label["value"] for label in result["labels"]}
        severities[labels["feature"]] = labels["severity"]
    assert severities["control pilot"] == "critical" and severities["charging session"] == "normal"


def test_environment_values_are_escaped_for_java_properties(tmp_path: Path) -> None:
    path = write_environment(tmp_path, {"rig_file": "C:\\rigs\\bench.toml", "dut_serial": "a\nb"})
    assert path.read_text() == "rig.file=C:\\\\rigs\\\\bench.toml\ndut.serial=a\\nb\n"


def test_a_failing_run_reports_its_failures_first_with_value_limit_and_sources(two_runs: tuple[Path, Path]) -> None:
    """Issue 20: what failed opens report.md and the matrix, with the value against its limit, and the
    sources the limits cite are expanded in the run's own folder."""
    _, after = two_runs
    report = (after / "report.md").read_text()
    head = report[:report.index("## All tests")]
    assert "## Failed and broken" in head and "test_shorted_vehicle_diode_prevents_charging_and_signals_a_fault" in head
    assert "| **failed** |" in head and "virtual lab (simulated DUT)" in head
    assert "## Sources" in report and "**EVB**: EVerest everest-core, hardware bring-up guide" in report
    matrix = (after / "matrix.md").read_text()
    assert matrix.index("## Failed and broken") < matrix.index("## Requirements")
    page = (after / "matrix.html").read_text()
    assert page.index("Failed and broken") < page.index("Product manual (BMW Wallbox Plus)")
    assert 'id="src-EVB"' in page and 'href="#src-EVB"' in page
    notebook = "/".join(("..", "shared"))  # the team notebook is never cited by a report
    assert notebook not in report + matrix + page


def test_each_requirement_is_one_row_with_its_text_or_the_reason_it_is_not_covered(two_runs) -> None:
    before, _ = two_runs
    rows = {r.requirement: r for r in build_rows(load_run(before))}
    manual = [r for r in rows if r.startswith("WB-")]
    assert len(manual) == 36 and all(rows[r].text for r in manual)   # BMW's manual: every ID but the MINI's AC-05
    assert rows["WB-EL-05"].verdict == "not covered" and "installation" in rows["WB-EL-05"].reason
    assert not any(r.startswith("product manual") for r in rows), "a product-manual clause stood as its own row"


def test_the_generic_profile_lists_iec_clauses_and_no_product_ids(tmp_path: Path) -> None:
    out = tmp_path / "generic"
    _run(out, "--profile", "generic-iec61851", "--", "-q", "-k", "frequency or standby")
    rows = build_rows(load_run(out))
    assert rows and not any(r.requirement.startswith("WB-") for r in rows)
    assert any(r.requirement.startswith("IEC 61851-1") for r in rows)


def test_junit_carries_requirement_measurement_and_limit_per_test(two_runs: tuple[Path, Path]) -> None:
    _, after = two_runs
    junit = (after / "junit.xml").read_text()
    assert '<property name="measurement" value="contactor closures with a shorted diode"' in junit
    assert '<property name="verdict" value="fail"' in junit and '<property name="limit" value="= 0"' in junit
    assert '<property name="wallbox_rig.status" value="failed"' in junit


def test_a_reused_out_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    from cli.main import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    assert main(["run", "--out", str(out), "--", "-k", "pwm_frequency"]) == 2
    assert (out / "summary.json").read_text() == "{}"
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert main(["run", "--out", str(other), "--force", "--", "-k", "pwm_frequency"]) == 2
    assert (other / "mine.txt").exists()


def _synthetic_run(folder: Path, profile: str, margins: dict[str, float], outcome: str = "passed") -> Path:
    """A run folder as `wallbox-rig run` writes it, with chosen margins (value = limit - margin)."""
    folder.mkdir(parents=True)
    records = []
    for name, margin in margins.items():
        random = name.startswith("cold")
        records.append({"nodeid": f"conformance/test_x.py::{name}", "name": name, "requirement": "", "clause": "c",
                        "outcome": outcome if not random else "passed",
                        "measurements": [{"name": f"{name} value", "value": 1.0 - margin, "unit": "s", "low": None,
                                          "high": 1.0, "verdict": "pass" if margin >= 0 else "fail", "margin": margin,
                                          "requirement": "", "clause": "c", "source": "s", "t_s": None, "note": "",
                                          "marginal": False, "cites": [], "random": random}]})
    (folder / "tests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "summary.json").write_text(json.dumps({"status": "passed", "counts": {"passed": len(records)},
                                                     "provenance": {"profile": profile, "rig_name": "virtual-lab"}}))
    return folder


def test_a_trend_flags_margins_that_shrink_night_after_night_but_never_random_ones(tmp_path: Path) -> None:
    from reports.trend import history, run_folders

    for k, m in enumerate((0.5, 0.4, 0.3, 0.1)):
        _synthetic_run(tmp_path / "nights" / f"2026120{k + 1}", "bmw-wallbox-plus",
                       {"test_opening": m, "cold_load_delay": m, "test_steady": 0.5})
    runs = [load_run(f) for f in run_folders([tmp_path / "nights"])]
    hist = history(runs, margin_drop=0.2, nights=3)
    assert [line.test for line in hist.shrinking] == ["test_opening"]       # the random one is never flagged
    from cli.main import main
    assert main(["trend", str(tmp_path / "nights"), "--out", str(tmp_path / "trend")]) == 0
    page = (tmp_path / "trend" / "trend.html").read_text()
    assert "test_opening" in page and "data:image/png;base64," in page and "random by design" in page


def test_a_trend_refuses_runs_of_another_profile(tmp_path: Path) -> None:
    from reports.trend import history

    a = load_run(_synthetic_run(tmp_path / "a", "bmw-wallbox-plus", {"test_opening": 0.5}))
    b = load_run(_synthetic_run(tmp_path / "b", "generic-iec61851", {"test_opening": 0.4}))
    with pytest.raises(RigError, match="runs of another profile or rig are not compared"):
        history([a, b])


def test_a_run_says_when_with_what_and_by_which_files(tmp_path: Path) -> None:
    """Traceable reports (issue 27): start and end in UTC, every knob bent, seed, trials, the commit
    and whether it was dirty, and the sha256 of the rig file, the profile and every limits file, in
    summary.json, report.md, the matrix and the JUnit properties."""
    import json
    import re
    out = tmp_path / "run"
    _run(out, "--sim-set", "contactor_open_delay_ms=90", "--", "-q", "-k", "pwm_frequency")
    summary = json.loads((out / "summary.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", summary["started_utc"]) and summary["ended_utc"]
    assert summary["sim_overrides"] == {"contactor_open_delay_ms": "90"} and summary["cold_load_trials"] > 0
    assert set(summary["provenance"]["file_sha256"]) == {"rig file", "profile"}
    assert "iec61851.toml" in summary["limit_files_sha256"]
    report = (out / "report.md").read_text()
    assert "knobs bent: `contactor_open_delay_ms=90`" in report and summary["started_utc"] in report
    junit = (out / "junit.xml").read_text()
    assert 'name="wallbox_rig.knobs" value="contactor_open_delay_ms=90"' in junit
    assert 'name="wallbox_rig.sha256.iec61851.toml"' in junit
    assert summary["started_utc"] in (out / "matrix.html").read_text()
    assert "contactor_open_delay_ms=90" in (out / "matrix.md").read_text()


def test_a_requirement_tested_only_in_part_is_partial_with_what_no_test_covers(two_runs: tuple[Path, Path]) -> None:
    """WB-PR-01 lists short circuit and surge, which no test injects: its passing tests make it partial,
    never pass, and the matrix names what is missing (profile [partly_covered])."""
    before, _ = two_runs
    rows = {r.requirement: r for r in build_rows(load_run(before))}
    pr01 = rows["WB-PR-01"]
    assert pr01.tests and "short circuit and surge" in pr01.uncovered
    assert pr01.verdict in ("partial", "not run")   # partial whenever its tests ran and passed
    build_reports(before)
    page = (before / "matrix.html").read_text()
    assert "not covered: short circuit and surge" in page


def test_the_key_measurement_is_a_judged_quantity_never_an_awaited_event() -> None:
    """'DUT ready (A1) after power-up' (an arrange step's judgement, margin 0) stood as the key
    measurement of WB-LM-01, WB-MB-03 and WB-PS-01; the quantity the requirement is about does now."""
    from core.records import MeasurementRecord, Outcome, TestRecord, Verdict
    from reports.matrix import _key_measurement
    ready = MeasurementRecord("DUT ready (A1) after power-up", 1, "", 1, None, Verdict.PASS, 0.0, "WB-LM-01", "", "",
                              presence=True)
    grid = MeasurementRecord("grid current", 31.0, "A", None, 32.0, Verdict.PASS, 1.0, "WB-LM-01", "", "")
    key = _key_measurement([TestRecord("x::test_lm", "test_lm", "WB-LM-01", "", Outcome.PASSED, "", (ready, grid))])
    assert key is not None and key.name == "grid current" and key.test == "test_lm"


def test_a_record_reads_back_as_written_and_a_bad_line_names_its_file_and_line(tmp_path: Path) -> None:
    """tests.jsonl is the one place records live between the plugin and every report: what is written
    reads back equal, a cut-off last line (a kill mid-write) is skipped, an edited one is refused."""
    from core.errors import RigError
    from core.records import MeasurementRecord, Outcome, TestRecord, Verdict
    from reports.results import ResultsWriter, read_records
    m = MeasurementRecord("C2 to B", 0.15, "s", None, 0.1, Verdict.FAIL, -0.05, "WB-EL-03", "IEC 61851-1 Table A.6",
                          "EVI", t_s=12.5, cites=("iec61851-1",))
    record = TestRecord("conformance/x.py::test_x", "test_x", "WB-EL-03", "Table A.6", Outcome.FAILED, "too slow", (m,),
                        "evidence/test_x", parameters=(("timing record", "a single acquisition"),
                                                       ("sample interval (s)", 2e-06)))
    writer = ResultsWriter(tmp_path)
    writer.test_finished(record)
    with (tmp_path / "tests.jsonl").open("a") as fh:
        fh.write('{"nodeid": "conformance/x.py::test_y", "na')      # killed mid-line
    assert read_records(tmp_path / "tests.jsonl") == [record]
    assert record.deciding() == m and record.outcome.red and not Outcome.SKIPPED.red
    (tmp_path / "tests.jsonl").write_text('{"nodeid": "a", "name": "b", "outcome": "fine"}\n')
    with pytest.raises(RigError, match=r"tests.jsonl:1: not a test record"):
        read_records(tmp_path / "tests.jsonl")

"""The case map (issue 31): each OCPP test names the certification tool's cases it automates, the map
is data with its source, checked both ways, and every report names the cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cases as case_module
from conformance import catalogue
from conformance.catalogue import ocpp_map
from core.errors import ConfigError
from rig.config import REPO_ROOT


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_map_is_in_the_backend_guide_as_the_catalogue_prints_it(version: str) -> None:
    guide = (REPO_ROOT / "docs" / "backend.md").read_text()
    assert ocpp_map(version) in guide, f"docs/backend.md: paste `wallbox-rig catalogue --ocpp --ocpp-version " \
                                       f"{version}` over the case table"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_case_a_test_names_is_in_the_map_with_its_page_and_every_judged_case_has_a_test(version: str) -> None:
    known = case_module.cases(version)
    named = {c for t in catalogue.tests() for c in t.ocpp_cases if case_module.version_of(c) == version}
    assert named and named <= set(known)
    assert {c.id for c in known.values() if c.judged is not None} == named
    assert all((c.page is None) != (c.named_in is None) and c.url.endswith(c.id.lower().replace("_", "-"))
               for c in known.values())
    if version == "1.6":
        assert known["TC_012_CS"].cite().endswith("(Trial 2025-06, Draft), Open Charge Alliance, p. 22")
    else:
        assert known["TC_G_21_CS"].cite().endswith("(Core & Advanced Security, FINAL, 2023-06-30), Open Charge "
                                                   "Alliance, p. 218")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_at_least_25_tests_name_a_case_of_each_version(version: str) -> None:
    """Issue 31's bar: 25 tests per version carry one of its cases, and a case known only by name says
    where it is named, not a page nobody read."""
    naming = [t.name for t in catalogue.tests() if any(case_module.version_of(c) == version for c in t.ocpp_cases)]
    assert len(naming) >= 25, naming
    by_name = [c for c in case_module.cases(version).values() if c.page is None]
    assert all(c.named_in and "page not read" in c.cite() for c in by_name)


def test_a_case_id_says_its_version() -> None:
    assert case_module.version_of("TC_011_2_CS") == "1.6" and case_module.version_of("TC_E_35_CS") == "2.0.1"
    with pytest.raises(ValueError, match="no charge-point case id"):
        case_module.version_of("TC_E_35_CSMS")
    with pytest.raises(ConfigError, match=r"\[TC_E_99_CS\]: expected a case of this file"):
        case_module.check_map({"TC_E_99_CS": ["test_x"], "TC_003_CS": ["test_y"]}, "2.0.1")


@pytest.mark.parametrize("tested, complaint", [
    ({"TC_999_CS": ["test_x"]}, r"\[TC_999_CS\]: expected a case of this file"),
    ({"TC_004_1_CS": ["test_x"]}, r"\[TC_004_1_CS\]: expected judged = "),
    ({}, r"\[TC_003_CS\]: expected a test whose ocpp_case marker names it"),
])
def test_a_map_that_says_something_untrue_is_refused(tested: dict[str, list[str]], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        case_module.check_map(tested)


@pytest.mark.parametrize("case, complaint", [
    ('id = "TC-3"\nname = "x"\npage = 1\nchecks = "x"\njudged = "x"\n', r"\[case\[0\].id\]: expected a charge-point case id"),
    ('id = "TC_003_CS"\nname = "x"\npage = 1\nchecks = "x"\n', r"\[case\[0\]\]: expected exactly one of judged"),
    ('id = "TC_003_CS"\nname = "x"\npage = 0\nchecks = "x"\njudged = "x"\n', r"\[case\[0\].page\]"),
    ('id = "TC_003_CS"\nname = "x"\npage = 3\nnamed_in = "y"\nchecks = "x"\njudged = "x"\n',
     r"\[case\[0\]\]: expected exactly one of page"),
    ('id = "TC_003_CS"\nname = "x"\nchecks = "x"\njudged = "x"\n', r"\[case\[0\]\]: expected exactly one of page"),
])
def test_a_bad_case_file_names_the_file_and_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
                                                    complaint: str) -> None:
    path = tmp_path / "ocpp16.toml"
    path.write_text(f'[document]\ntitle = "t"\nurl = "u/"\n[[case]]\n{case}')
    monkeypatch.setitem(case_module.FILES, "test", path)
    with pytest.raises(ConfigError, match=rf"ocpp16.toml: {complaint}"):
        case_module.cases("test")


def test_a_run_names_the_cases_in_its_records_junit_matrix_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--workers", "1", "--no-plots", "--family",
                           "ocpp_remote", "--out", str(out), "--", "-q"], capture_output=True, text=True, timeout=300,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = {r["name"]: r for r in map(json.loads, (out / "tests.jsonl").read_text().splitlines())}
    assert records["test_remote_start_offers_then_closes_and_remote_stop_opens"]["ocpp_cases"] == ["TC_010_CS",
                                                                                                    "TC_012_CS"]
    assert 'name="ocpp_case" value="TC_023_CS"' in (out / "junit.xml").read_text()
    assert "test_remote_start_offers_then_closes_and_remote_stop_opens (TC_010_CS, TC_012_CS)" in \
        (out / "matrix.md").read_text()
    assert "| TC_010_CS, TC_012_CS | passed |" in (out / "report.md").read_text()
    labels = [label for path in (out / "allure-results").glob("*-result.json")
              for label in json.loads(path.read_text()).get("labels", [])]
    assert {"name": "ocpp_case", "value": "TC_023_CS"} in labels


def test_the_catalogue_prints_the_map() -> None:
    proc = subprocess.run([sys.executable, "-m", "cli.main", "catalogue", "--ocpp"], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0 and proc.stdout == ocpp_map()


def test_the_catalogue_prints_the_2_0_1_map() -> None:
    proc = subprocess.run([sys.executable, "-m", "cli.main", "catalogue", "--ocpp", "--ocpp-version", "2.0.1"],
                          capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0 and proc.stdout == ocpp_map("2.0.1") and "TC_G_21_CS" in proc.stdout


def test_a_2_0_1_run_names_the_2_0_1_cases(tmp_path: Path) -> None:
    """A run whose backend speaks 2.0.1 lists the 2.0.1 tool's cases, not 1.6's, for the same tests."""
    out = tmp_path / "run201"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--workers", "1", "--no-plots", "--rig",
                           str(REPO_ROOT / "rigs" / "sim-ocpp201.toml"), "--family", "ocpp_remote", "--out", str(out),
                           "--", "-q"], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    records = {r["name"]: r for r in map(json.loads, (out / "tests.jsonl").read_text().splitlines())}
    assert records["test_remote_start_offers_then_closes_and_remote_stop_opens"]["ocpp_cases"] == ["TC_E_35_CS",
                                                                                                    "TC_F_01_CS"]
    assert records["test_an_id_tag_the_backend_rejects_never_closes_the_contactor"].get("ocpp_cases", []) == []
    assert "| TC_E_35_CS, TC_F_01_CS | passed |" in (out / "report.md").read_text()

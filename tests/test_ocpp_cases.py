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


def test_the_map_is_in_the_backend_guide_as_the_catalogue_prints_it() -> None:
    guide = (REPO_ROOT / "docs" / "backend.md").read_text()
    assert ocpp_map() in guide, "docs/backend.md: paste `wallbox-rig catalogue --ocpp` over the case table"


def test_every_case_a_test_names_is_in_the_map_with_its_page_and_every_judged_case_has_a_test() -> None:
    known = case_module.cases("1.6")
    named = {c for t in catalogue.tests() for c in t.ocpp_cases}
    assert named and named <= set(known)
    assert {c.id for c in known.values() if c.judged is not None} == named
    assert all(c.page > 0 and c.url.endswith(c.id.lower().replace("_", "-")) for c in known.values())
    assert known["TC_012_CS"].cite().endswith("(Trial 2025-06, Draft), Open Charge Alliance, p. 22")


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

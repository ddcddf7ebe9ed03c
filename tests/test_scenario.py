"""`wallbox-rig scenario run`: a field fault replayed on the rig clock (issue 30, the first steps)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cli.main import main
from core.errors import ConfigError
from rig.config import REPO_ROOT
from scenario.runner import COLUMNS
from scenario.spec import load_scenario

EXAMPLE = REPO_ROOT / "docs" / "examples" / "scenarios" / "dc-leakage-while-charging.toml"


def played(tmp_path: Path, text: str) -> tuple[list[dict[str, str]], dict]:
    """Play a scenario given as text on the virtual lab (it must exit 0): its rows and its summary."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(text)
    out = tmp_path / "run"
    assert main(["scenario", "run", str(scenario), "--out", str(out)]) == 0
    return list(csv.DictReader((out / "timeline.csv").open())), json.loads((out / "scenario.json").read_text())


@pytest.mark.parametrize("text, key, expected", [
    ('duration_s = 10\n[[step]]\nat_s = 1\ncolour = "red"\n', r"\[step\[0\].colour\]", "unknown key"),
    ('duration_s = 10\n[[step]]\nat_s = 1\nvehicle = "X"\n', r"\[step\[0\].vehicle\]", '"A" or "B"'),
    ('duration_s = 10\n[[step]]\nat_s = 11\nvehicle = "B"\n', r"\[step\[0\].at_s\]", r"\[0, 10\]"),
    ('duration_s = 10\n[[step]]\nat_s = 5\nnote = "a"\n[[step]]\nat_s = 1\nnote = "b"\n', r"\[step\]", "order"),
    ('duration_s = 10\n[[step]]\nat_s = 1\nnote = "a"\n[[expect]]\nafter = "b"\nwithin_s = 1\ncontactor = "open"\n',
     r"\[expect\[0\].after\]", "the note of a step"),
    ('duration_s = 10\n[[step]]\nat_s = 1\nnote = "a"\n[[expect]]\nafter = "a"\nwithin_s = 1\n',
     r"\[expect\[0\]\]", "exactly one of"),
    ('duration_s = 10\n[[step]]\nat_s = 1\nresidual_dc_ma = nan\n', r"\[step\[0\].residual_dc_ma\]", "finite"),
])
def test_a_scenario_file_is_refused_whole_with_file_and_key(tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"bad.toml: {key}.*{expected}"):
        load_scenario(path)


def test_the_example_replays_on_the_virtual_lab_and_records_everything(tmp_path: Path) -> None:
    """Charging, then 8 mA DC: the contactor closes, the offer is the 32 A setting, the leakage opens it
    within the 10 s of IEC 62955; every change is a row on the CP emulator's timebase, the edges with them."""
    out = tmp_path / "run"
    assert main(["scenario", "run", str(EXAMPLE), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "timeline.csv").open()))
    assert tuple(rows[0]) == COLUMNS
    times = [float(r["t_s"]) for r in rows]
    assert times == sorted(times)
    assert any(r["event"] == "edge OVP 0" for r in rows) and any(r["cp_state"] == "F" for r in rows)
    summary = json.loads((out / "scenario.json").read_text())
    assert [e["met"] for e in summary["expectations"]] == [True, True, True]
    leak = summary["expectations"][2]
    assert leak["delay_s"] == pytest.approx(0.4, abs=1e-3)                 # the simulated DC trip time
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "timeline.html").read_text()
    assert "data:image/png;base64," in page and "src=\"http" not in page and page.count("<tr") == len(rows) + 1
    assert (out / EXAMPLE.name).read_text() == EXAMPLE.read_text() and (out / "lab-journal.jsonl").exists()


def test_an_expectation_the_dut_misses_is_exit_1_and_says_which(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["scenario", "run", str(EXAMPLE), "--out", str(out), "--sim-set", "rcd_dc_trip_time_ms=15000"]) == 1
    assert "NOT MET: contactor open within 10 s after 'DC leakage'" in capsys.readouterr().out
    summary = json.loads((out / "scenario.json").read_text())
    assert summary["status"] == "failed" and summary["sim_overrides"] == {"rcd_dc_trip_time_ms": "15000"}


def test_the_scenario_guide_lists_every_action() -> None:
    from scenario.spec import actions_table
    guide = (REPO_ROOT / "docs" / "scenarios.md").read_text()
    assert actions_table() in guide, "docs/scenarios.md: paste scenario.spec.actions_table() over the actions table"


def test_a_backend_call_goes_to_the_dut_and_its_answer_into_the_record(tmp_path: Path) -> None:
    rows, summary = played(tmp_path, '''name = "remote stop"
duration_s = 80
[[step]]
at_s = 0
vehicle = "C"
draw_a = 10
note = "charging"
[[step]]
at_s = 60
backend = { action = "TriggerMessage", payload = { requestedMessage = "StatusNotification", connectorId = 1 } }
note = "asked"
[[expect]]
after = "charging"
within_s = 60
ocpp_status = "Charging"
''')
    asked = next(r for r in rows if r["event"].startswith("asked"))
    assert "TriggerMessage" in asked["event"] and 'answer {"status":"Accepted"}' in asked["event"]
    assert summary["expectations"][0]["met"]


def test_a_card_tap_a_button_press_and_a_supply_dip_are_steps(tmp_path: Path) -> None:
    """A dip longer than the DUT rides through (hold_up_ms) ends the charging: the contactor opens."""
    rows, summary = played(tmp_path, '''name = "dip while charging"
duration_s = 40
[[step]]
at_s = 0
card = "setup"
button_s = 0.5
note = "setup"
[[step]]
at_s = 5
vehicle = "C"
draw_a = 10
note = "charging"
[[step]]
at_s = 20
dip_ms = 300
note = "dip"
[[expect]]
after = "charging"
within_s = 3
contactor = "closed"
[[expect]]
after = "dip"
within_s = 1
contactor = "open"
''')
    assert [e["met"] for e in summary["expectations"]] == [True, True]
    setup = next(r for r in rows if r["event"].startswith("setup"))
    assert "card = setup -> setup card 5E7C0A01" in setup["event"] and "button_s = 0.5" in setup["event"]

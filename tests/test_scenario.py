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

SCENARIOS = REPO_ROOT / "docs" / "scenarios"
EXAMPLE = SCENARIOS / "dc-leakage-while-charging.toml"


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
    # field logs for `scenario from-ocpp`: the line and the key
    ('{"time": "2026-11-30T14:00:00Z"}\n', r"\[line 1\]", "a timestamp"),
    ('{"timestamp": "yesterday", "message": [2, "a", "Heartbeat", {}]}\n', r"\[line 1.timestamp\]", "ISO 8601"),
    ('2026-11-30T14:00:00Z hello\n', r"\[line 1\]", "a JSON object"),
    ('{"timestamp": 1, "message": [9, "a"]}\n', r"\[line 1.message\]", "an OCPP-J frame"),
])
def test_a_scenario_file_or_a_log_is_refused_whole_with_file_and_key(tmp_path: Path, text: str, key: str,
                                                                     expected: str) -> None:
    from scenario.from_ocpp import skeleton
    log = text.startswith(("{", "2026"))
    path = tmp_path / ("log.jsonl" if log else "bad.toml")
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"{path.name}: {key}.*{expected}"):
        skeleton(path) if log else load_scenario(path)


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


@pytest.mark.parametrize("example", sorted(p.name for p in SCENARIOS.glob("*.toml")))
def test_each_example_in_the_guide_plays_green_on_the_virtual_lab(tmp_path: Path, example: str) -> None:
    out = tmp_path / "run"
    assert main(["scenario", "run", str(SCENARIOS / example), "--out", str(out)]) == 0
    summary = json.loads((out / "scenario.json").read_text())
    assert summary["expectations"] and all(e["met"] for e in summary["expectations"])
    assert "**PASSED**" in (out / "report.md").read_text()


def test_the_field_fault_shows_the_building_the_bar_and_the_backend_and_a_bent_dut_misses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 30's field fault: PV falls from 11 kW to 3 kW at 30 s, 8 mA DC at 60 s.  The record has
    the grid import rise and the offer follow, the contactor open, the bar red and the status Faulted;
    a DUT whose RDC-DD trips only at 10 mA misses those three (exit 1)."""
    field_fault = SCENARIOS / "pv-falls-then-dc-leakage.toml"
    out = tmp_path / "green"
    assert main(["scenario", "run", str(field_fault), "--out", str(out), "--at", "2026-11-30T14:02:00Z"]) == 0
    rows = list(csv.DictReader((out / "timeline.csv").open()))
    assert tuple(rows[0]) == COLUMNS + ("utc",)
    fall = next(r for r in rows if r["event"].startswith("PV falls"))
    assert float(fall["t_s"]) == pytest.approx(30.0) and fall["utc"] == "2026-11-30T14:02:30.000Z"
    exported = [float(r["grid_w"]) for r in rows if r["grid_w"] and float(r["t_s"]) < 30]
    imported = [float(r["grid_w"]) for r in rows if r["grid_w"] and 33 < float(r["t_s"]) < 60]
    assert min(exported) < -5000 and min(imported) > 0          # the surplus went, the grid supplies the 6 A
    assert any(r["led"] == "all red solid" for r in rows) and any(r["ocpp_status"] == "Faulted" for r in rows)
    assert "| 60.000 s (2026-11-30T14:03:00.000Z) | DC leakage | residual_dc_ma = 8.0 |" in (out / "report.md").read_text()
    # the recordings beside the record: the bar's samples, and the OCPP frames in the form from-ocpp reads back
    assert (out / "led.csv").read_text().startswith("t_s,S1_r,S1_g,S1_b,")
    from scenario.from_ocpp import skeleton
    assert '"Faulted' in skeleton(out / "ocpp-frames.jsonl")
    capsys.readouterr()
    bent = tmp_path / "bent"
    assert main(["scenario", "run", str(field_fault), "--out", str(bent), "--sim-set", "rcd_dc_trip_ma=10"]) == 1
    said = capsys.readouterr().out
    for missed in ("contactor open", "led red", "ocpp_status Faulted"):
        assert f"NOT MET: {missed} within" in said


def test_a_beep_and_an_led_expectation_go_red_on_a_dut_that_does_otherwise(tmp_path: Path) -> None:
    text = '''name = "card, then a fault"
duration_s = 40
[[step]]
at_s = 0
note = "setup card"
card = "setup"
[[step]]
at_s = 4
note = "asks for power"
vehicle = "C"
draw_a = "offer"
[[step]]
at_s = 10
residual_ac_ma = 40
note = "leak"
[[expect]]
after = "setup card"
within_s = 3
beep = "short"
[[expect]]
after = "leak"
within_s = 20
led = "red"
'''
    scenario = tmp_path / "s.toml"
    scenario.write_text(text)
    assert main(["scenario", "run", str(scenario), "--out", str(tmp_path / "green")]) == 0
    assert main(["scenario", "run", str(scenario), "--out", str(tmp_path / "red"), "--sim-set",
                 "registration_beeps=long,two short,long", "--sim-set", "led_fault_colour=yellow"]) == 1
    summary = json.loads((tmp_path / "red" / "scenario.json").read_text())
    assert [e["met"] for e in summary["expectations"]] == [False, False]
    assert (tmp_path / "red" / "microphone-1.wav").stat().st_size > 44      # the recording a person can listen to


def test_a_field_log_becomes_a_scenario_that_plays(tmp_path: Path) -> None:
    """`scenario from-ocpp`: the sample log's plug-in, idTag, charging, profile and fault become steps at
    their times; the skeleton plays as it is (it only records until the developer completes it)."""
    skeleton = tmp_path / "from-log.toml"
    assert main(["scenario", "from-ocpp", str(SCENARIOS / "field-log.jsonl"), "--out", str(skeleton)]) == 0
    scenario = load_scenario(skeleton)
    notes = [s.note for s in scenario.steps]
    assert notes == ["boot at 13:58:02", "Preparing at 13:59:40", "Authorize 04A1B2C3 at 13:59:41",
                     "StartTransaction 04A1B2C3 at 13:59:42", "Charging at 13:59:43",
                     "SetChargingProfile at 14:01:10", "Faulted (GroundFailure) at 14:03:04"]
    assert [s.at_s for s in scenario.steps][1] == pytest.approx(97.89)
    profile = next(a for s in scenario.steps for a in s.actions if a.name == "backend")
    assert profile.value[0] == "SetChargingProfile" and profile.value[1]["csChargingProfiles"]["chargingProfileId"] == 12
    out = tmp_path / "run"
    assert main(["scenario", "run", str(skeleton), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "timeline.csv").open()))
    assert any('answer {"status":"Accepted"}' in r["event"] for r in rows)


def test_a_log_the_cli_cannot_read_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"time": "2026-11-30T14:00:00Z"}\n')
    assert main(["scenario", "from-ocpp", str(path)]) == 2


def test_card_taps_on_a_served_lab_keep_the_dut_state_between_calls(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 30: "setup card, then card 1" by hand.  Each `card tap --attach` is its own process's rig on
    one served lab; the registration mode the first opens is still on for the second."""
    import signal
    import subprocess
    import sys
    import time
    endpoints = tmp_path / "lab.json"
    lab = subprocess.Popen([sys.executable, "-m", "cli.main", "sim", "serve", "--endpoints-json", str(endpoints)],
                           stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 60
        while not endpoints.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        heard = []
        for which in ("setup", "card1", "setup"):
            assert main(["card", "tap", which, "--attach", str(endpoints)]) == 0
            heard.append(capsys.readouterr().out.splitlines()[-1].split(":")[1].strip())
        assert heard == ["short", "two short", "long"]
    finally:
        lab.send_signal(signal.SIGINT)
        assert lab.wait(timeout=30) == 0

"""`backend serve --script / --console`: an operator drives a charge point without Python (issue 31, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.backend_console import parse, run
from core.errors import ConfigError
from instruments.backend import OcppCentralSystem

SCRIPT = """# bring-up of a wallbox on the bench
wait-boot 5
call GetConfiguration {"key": ["HeartbeatInterval"]}
call ChangeConfiguration {"key": "HeartbeatInterval", "value": "abc"}
call ChangeConfiguration {"key": "HeartbeatInterval", "value": "60"}
call TriggerMessage {"requestedMessage": "StatusNotification"}
"""


@pytest.mark.parametrize("line, expected", [
    ('call ChangeConfiguration {"key": "HeartbeatInterval"', "call ACTION {json payload}"),
    ('call ChangeConfiguration {"key": "HeartbeatInterval"}', "OccurenceConstraintViolation"),
    ('call TriggerMessage {"requestedMessage": "Coffee"}', "PropertyConstraintViolation"),
    ("sleep forever", r"sleep SECONDS \(0…86400\)"),
    ("reboot now", "one of call, wait-boot, sleep, to"),
])
def test_a_script_line_it_cannot_take_is_refused_with_its_number_before_anything_is_sent(
        tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "session.txt"
    with pytest.raises(ConfigError, match=rf"session.txt: \[line 3\]: .*{expected}"):
        parse(["# a comment", "wait-boot 5", line], path)


def test_a_script_drives_the_simulated_wallbox_and_prints_each_answer() -> None:
    from sim.lab import VirtualLab

    lab = VirtualLab(seed=4, knobs={}, ocpp={"charge_point_id": "SIM-OP", "password": None})
    backend = OcppCentralSystem(lab.endpoints["ocpp"], {"charge_point_id": "*"})
    backend.attach_clock(lambda: lab.world.now, virtual=True)
    said: list[str] = []
    try:
        with lab.world.lock:
            lab.frontends["source"].handle("OUTP ON")
        lab.world.advance(lab.knobs.ocpp.connect_after_s + 5)
        assert run(parse(SCRIPT.splitlines(), None), backend, said.append) == 0
    finally:
        backend.close()
        lab.stop()
    assert said[0] == "line 2: SIM-OP booted"
    assert said[1].startswith('line 3: GetConfiguration -> {"configurationKey":[{"key":"HeartbeatInterval"')
    assert said[2] == 'line 4: ChangeConfiguration -> {"status":"Rejected"}'      # "abc" is no integer
    assert said[3] == 'line 5: ChangeConfiguration -> {"status":"Accepted"}'
    assert said[4] == 'line 6: TriggerMessage -> {"status":"Accepted"}'


def test_a_call_before_any_charge_point_booted_is_counted_and_said() -> None:
    backend = OcppCentralSystem("ws://127.0.0.1:1", {"charge_point_id": "*"})
    said: list[str] = []
    try:
        assert run(parse(['call Heartbeat {}', "wait-boot 0"], None), backend, said.append) == 2
    finally:
        backend.close()
    assert "no charge point yet" in said[0] and "no charge point booted within 0 s" in said[1]


def test_backend_serve_runs_a_script_and_stops_with_its_exit_code(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import main
    from tests.test_ocpp_interop import free_port

    script = tmp_path / "session.txt"
    script.write_text("wait-boot 0.2\n")
    listen = f"ws://127.0.0.1:{free_port()}"
    assert main(["backend", "serve", "--listen", listen, "--script", str(script)]) == 2    # nobody booted
    assert "line 1: no charge point booted within 0.2 s" in capsys.readouterr().out
    schedule = Path(__file__).resolve().parents[1] / "docs" / "backend" / "night-plan.toml"
    assert main(["backend", "serve", "--listen", listen, "--script", str(script), "--schedule", str(schedule)]) == 2
    assert "--schedule alone, or --script / --console" in capsys.readouterr().err

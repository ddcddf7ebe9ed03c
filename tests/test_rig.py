"""The rig over real loopback wire protocols: opening, the clock, failing safe, refusing to energise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from instruments.ac_load import Chroma63800
from instruments.transport.scripted import ScriptedTransport
from rig.config import REPO_ROOT
from core.errors import ConfigError, RigError, SafetyRefusal
from rig.rig import Rig

SIM = REPO_ROOT / "rigs" / "sim.toml"


@pytest.fixture
def sim_rig() -> Iterator[Rig]:
    with Rig.from_file(SIM) as rig:
        rig.energise()
        rig.clock.sleep(10)
        yield rig


def test_rig_opens_every_role_and_records_identities(sim_rig: Rig) -> None:
    assert set(sim_rig.identities) == {"cp", "installer", "fault_box", "analyser", "source", "load", "led", "meter",
                                       "backend", "card", "buzzer", "switch", "button", "ev_comms"}
    assert sim_rig.identities["card"] == "RfidResearchGroup ChameleonUltra, application v2.0"
    assert sim_rig.identities["backend"].startswith("WALLBOX-RIG,OCPP 1.6J central system,ws://127.0.0.1:")
    assert sim_rig.identities["meter"] == "WALLBOX-RIG,METER-EMULATOR,inepro-pro380,1@9600E1"
    assert sim_rig.identities["analyser"].startswith("YOKOGAWA")
    assert sim_rig.identities["led"].startswith("WALLBOX-RIG,LEDSENSE-4")
    assert sim_rig.identities["fault_box"].startswith("WALLBOX-RIG,FAULTBOX")
    prov = sim_rig.provenance()
    assert prov["seed"] == 1 and prov["drivers"]["cp"] == "wbr-cpemu" and prov["profile"] == "bmw-wallbox-plus"


def test_the_backend_stamps_frames_at_the_instant_the_world_made_them(sim_rig: Rig) -> None:
    """A frame sent from inside a world event (the wallbox's boot) carries that event's virtual
    instant: the backend reads the clock on its own connection while the ADV that runs the event
    waits for the backend's answer."""
    assert sim_rig.clock.wait_until(sim_rig.backend.booted, 120.0, poll_s=1.0)
    boots = [f for f in sim_rig.backend.frames() if f.action == "BootNotification" and f.direction == "in"]
    assert boots and boots[0].t_s == pytest.approx(sim_rig.lab.knobs.ocpp.connect_after_s, abs=1e-6)
    assert boots[0].utc.startswith("2026-06-01T12:00:45")


def test_virtual_clock_moves_instrument_time_exactly(sim_rig: Rig) -> None:
    t0 = sim_rig.cp.time()
    sim_rig.clock.sleep(120.0)
    assert sim_rig.cp.time() - t0 == pytest.approx(120.0, abs=1e-6)


def test_wait_until_returns_as_soon_as_the_condition_holds(sim_rig: Rig) -> None:
    t_c = (sim_rig.cp.set_state("B"), sim_rig.clock.sleep(1.0), sim_rig.cp.set_state("C"))[2]
    assert sim_rig.clock.wait_until(lambda: sim_rig.cp.output_present().value == 1, 5.0, poll_s=0.01)
    assert sim_rig.cp.time() - t_c == pytest.approx(0.5, abs=0.011)  # default close delay, 10 ms polls
    assert not sim_rig.clock.wait_until(lambda: False, 0.2)


def test_safe_state_tries_every_step_when_one_instrument_fails(sim_rig: Rig) -> None:
    sim_rig.cp.set_state("C")
    load = cast(Chroma63800, sim_rig.load)
    good = load.transport
    load.phase_units = (ScriptedTransport([], role="load"),)  # a dead load: every command fails
    try:
        with pytest.raises(RigError, match="load off"):
            sim_rig.safe_state()
        report = sim_rig.last_safe_state
        assert "CP emulator to state A" in report.steps and "source to idle" in report.steps
        assert sim_rig.cp.measure_cp().high_v > 11.0
    finally:
        load.phase_units = (good,)


def test_safe_state_is_journalled_by_the_virtual_lab(sim_rig: Rig) -> None:
    sim_rig.safe_state()
    events = [e for e in sim_rig.lab.world.journal if e["event"] == "safe_state"]
    assert events and events[-1]["ok"] is True


def test_lab_rig_refuses_to_energise_without_live() -> None:
    rig = Rig.from_file(REPO_ROOT / "rigs" / "lab-example.toml")
    with pytest.raises(SafetyRefusal, match="--live"):
        rig.energise()


def test_unknown_knob_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"\[sim.dut.warp_drive\].*known knob.*--sim-set"):
        Rig.from_file(SIM, sim_overrides={"warp_drive": "1"}).open()


def test_unreachable_instrument_is_a_rig_error(tmp_path) -> None:
    path = tmp_path / "rig.toml"
    path.write_text(SIM.read_text().replace('address = "sim:analyser"', 'address = "TCPIP0::127.0.0.1::1::SOCKET"'))
    with pytest.raises(RigError, match="analyser"):
        Rig.from_file(path).open()


def test_waits_end_even_when_a_float_remainder_is_left(sim_rig: Rig) -> None:
    """0.1 s steps never sum to exactly 1 s; a wait must not spin on the remainder."""
    clock = sim_rig.clock
    for _ in range(7):
        clock.sleep(0.1)
    assert clock.wait_until(lambda: False, 0.3, poll_s=0.1) is False
    start = clock.now()
    clock.sleep(1e-12)
    assert clock.now() > start


def test_rig_with_an_interlock_refuses_to_energise_while_it_is_open(tmp_path: Path) -> None:
    rig_file = tmp_path / "interlocked.toml"
    rig_file.write_text((REPO_ROOT / "rigs" / "sim.toml").read_text().replace(
        "[safety]\n", "[safety]\ninterlock = true\n"))
    rig = Rig.from_file(rig_file).open()
    try:
        rig.energise()                                   # closed: energised as usual
        rig.lab.frontends["cp"].interlock_closed = False  # someone opens the bench door
        rig.source.set_output(False)
        with pytest.raises(SafetyRefusal, match="interlock is open.*not energised"):
            rig.energise()
        assert not rig.source.output_is_on()
    finally:
        rig.close()


def test_interlock_setting_must_be_a_boolean(tmp_path: Path) -> None:
    rig_file = tmp_path / "bad.toml"
    rig_file.write_text((REPO_ROOT / "rigs" / "sim.toml").read_text().replace(
        "[safety]\n", '[safety]\ninterlock = "yes"\n'))
    with pytest.raises(ConfigError, match=r"safety.interlock"):
        Rig.from_file(rig_file)


def test_a_bench_whose_source_rests_off_keeps_the_dut_powered_between_tests(tmp_path: Path) -> None:
    """`[safety] source_idle_on = false` (rigs/lab-example.toml): the safe state between two tests keeps
    the energised DUT at the idle supply, so the next test finds it in A1; the run's end switches it off."""
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    assert "source_idle_on = true" in text
    rig_file = tmp_path / "rests-off.toml"
    rig_file.write_text(text.replace("source_idle_on = true", "source_idle_on = false"))
    rig = Rig.from_file(rig_file).open()
    try:
        rig.energise()
        rig.safe_state(between_tests=True)
        assert "source to idle" in rig.last_safe_state.steps and rig.source.output_is_on()
        assert rig.clock.wait_until(lambda: rig.cp.measure_cp().high_v > 11.0, 60.0, poll_s=0.5)  # A1: +12 V
        rig.safe_state()
        assert "source off" in rig.last_safe_state.steps and not rig.source.output_is_on()
    finally:
        rig.close()


def test_the_ports_the_lab_dials_are_bound_by_the_rig_before_the_lab_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27: the lab probed a free port for the meter emulator and the backend, released it, and the
    rig bound it later: another process took one in between ("address already in use", a run with no
    test).  Now the rig listens first, on ports the kernel picks, and the lab is told them."""
    import sim.lab

    def never(*_: object) -> int:
        raise AssertionError("a port was probed and released")

    monkeypatch.setattr(sim.lab, "_free_port", never)
    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        assert rig.lab.endpoints["rs485"].endswith(f":{rig.meter.listening_port()}")
        assert rig.lab.endpoints["ocpp"].endswith(f":{rig.backend.listening_port()}")
        rig.meter.serve(baud=9600)                       # a restart with other line settings keeps its port
        assert rig.lab.endpoints["rs485"].endswith(f":{rig.meter.listening_port()}")

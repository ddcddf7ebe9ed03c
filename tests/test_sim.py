"""The virtual lab's physics and firmware, checked directly against the circuit and the product."""

from __future__ import annotations

import pytest

from sim.cp_circuit import Generator, Vehicle, VEHICLE_STATE_OHM, cp_levels
from sim.lab import VirtualLab
from sim.params import KnobError, resolve_knobs
from sim.wallbox import CpClassifier, cable_rating_a, duty_for_current
from tests.ports import said


@pytest.mark.parametrize("state, nominal", [("A", 12.0), ("B", 9.0), ("C", 6.0), ("D", 3.0)])
def test_cp_high_level_sits_at_the_nominal_state_voltage(state: str, nominal: float) -> None:
    vehicle = Vehicle(state=state, r_ohm=VEHICLE_STATE_OHM[state])
    high, low = cp_levels(Generator(mode="pwm", duty_pct=50), vehicle)
    assert high == pytest.approx(nominal, abs=0.1)
    assert low == pytest.approx(-12.0)


def test_shorted_diode_lifts_the_low_level() -> None:
    vehicle = Vehicle(state="C", r_ohm=VEHICLE_STATE_OHM["C"], diode_ok=False)
    _, low = cp_levels(Generator(mode="pwm", duty_pct=50), vehicle)
    assert -10.0 < low < -5.0


def test_cp_short_and_unpowered_generator_read_zero() -> None:
    assert cp_levels(Generator(mode="pwm"), Vehicle(shorted=True, r_ohm=None)) == (0.0, 0.0)
    assert cp_levels(Generator(mode="off"), Vehicle()) == (0.0, 0.0)


def test_firmware_duty_mapping_and_cable_coding() -> None:
    assert duty_for_current(32) == pytest.approx(53.333, abs=1e-3)
    assert duty_for_current(6) == pytest.approx(10.0)
    assert duty_for_current(63) == pytest.approx(89.2)
    assert (cable_rating_a(220), cable_rating_a(1500), cable_rating_a(5000)) == (32.0, 13.0, 0.0)
    classify = CpClassifier(b_up_to_ohm=6500, c_up_to_ohm=1500, c_down_to_ohm=500)
    assert [classify(v) for v in (12, 9, 6, 3, 0, -12)] == ["A", "B", "C", "D", "E", "F"]


def test_knobs_validate_names_and_values() -> None:
    assert resolve_knobs({"contactor_open_delay_ms": "150"})["contactor_open_delay_ms"] == 150.0
    assert resolve_knobs({"diode_check": "off"})["diode_check"] is False
    with pytest.raises(KnobError, match="known knob"):
        resolve_knobs({"nope": 1})
    with pytest.raises(KnobError, match=r"in \[0"):
        resolve_knobs({"rated_current_a": -1})
    with pytest.raises(KnobError, match="one of 1, 3"):
        resolve_knobs({"phases": "2"})


def test_every_knob_has_one_typed_field_in_one_group() -> None:
    """The firmware's parts read `knobs.<group>.<field>`; the table users see (`sim params`) and the
    typed records can never drift apart: each knob is one field, of its default's type."""
    from dataclasses import fields

    from sim.params import KNOB_GROUPS, KNOBS, Knobs
    held = [(f.metadata["knob"], f.type) for group in KNOB_GROUPS.values() for f in fields(group)]
    assert sorted(name for name, _ in held) == sorted(k.name for k in KNOBS)
    types = dict(held)
    assert all(types[k.name] == type(k.default).__name__ for k in KNOBS)
    knobs = Knobs.resolve({"contactor_open_delay_ms": "150", "rcd_dc_trip_ma": 6.5})
    assert knobs.contactor.open_delay_ms == 150.0 and knobs.rcd.dc_trip_ma == 6.5 and knobs.cp.diode_check is True
    assert Knobs.of(knobs.values()) == knobs and list(knobs.values()) == [k.name for k in KNOBS]
    with pytest.raises(KnobError, match="a finite number"):
        knobs.replace(contactor_open_delay_ms="nan")


def _session(lab: VirtualLab) -> list[tuple[str, bool]]:
    """Power on, plug in, charge, unplug; return (EVSE state, contactor) after each step."""
    cp, world = lab.frontends["cp"], lab.world
    out = []
    for command, wait in (("", 0.0), ("STATE B", 1.0), ("STATE C", 1.0), ("STATE B", 1.0), ("STATE A", 1.0)):
        with world.lock:
            if command:
                cp.handle(command)
            else:
                lab.frontends["source"].handle("OUTP ON")
        world.advance(wait or lab.knobs.dut.boot_time_s + 0.1)
        out.append((lab.wallbox.state, lab.plant.contactor_closed))
    return out


def test_wallbox_walks_a_charging_session() -> None:
    lab = VirtualLab(seed=3, knobs={})
    try:
        assert _session(lab) == [("A1", False), ("B2", False), ("C2", True), ("B2", False), ("A1", False)]
    finally:
        lab.stop()


def test_diode_check_refuses_to_close_with_a_shorted_diode() -> None:
    lab = VirtualLab(seed=3, knobs={})
    try:
        lab.frontends["cp"].handle("DIODE 0")
        steps = _session(lab)
        assert not any(closed for _, closed in steps)
        faults = [e for e in lab.world.journal if e["event"] == "evse_fault"]
        assert faults and "diode" in faults[0]["reason"]
        assert not any(e["event"] == "contactor" for e in lab.world.journal)
    finally:
        lab.stop()


def test_same_seed_same_measurements() -> None:
    def run(seed: int) -> list[str | None]:
        lab = VirtualLab(seed=seed, knobs={})
        try:
            _session(lab)
            return [said(lab.frontends["cp"], "MEAS:CP?") for _ in range(3)]
        finally:
            lab.stop()

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_virtual_time_only_moves_when_advanced() -> None:
    lab = VirtualLab(seed=1, knobs={})
    try:
        assert lab.frontends["clock"].handle("TIME?") == f"{0.0:.9f}"
        assert lab.frontends["clock"].handle("ADV 120") == f"OK {120.0:.9f}"
        assert said(lab.frontends["clock"], "ADV -1").startswith("ERR")
    finally:
        lab.stop()


def test_seed_restarts_both_streams_of_randomness() -> None:
    """`SEED n` makes the instruments' noise and the firmware's own draws start over as seeded with n."""
    lab = VirtualLab(seed=1, knobs={})
    try:
        clock = lab.frontends["clock"]
        assert clock.handle("SEED 42") == f"OK {0.0:.9f}"
        noise, dut = lab.world.rng.random(), lab.world.dut_rng.random()
        lab.world.rng.random()
        assert said(clock, "SEED 42").startswith("OK ")
        assert (lab.world.rng.random(), lab.world.dut_rng.random()) == (noise, dut) and noise != dut
        assert said(clock, "SEED -1").startswith("ERR 3") and said(clock, "SEED x").startswith("ERR 3")
    finally:
        lab.stop()


def test_scpi_front_end_queues_an_error_for_an_unknown_header() -> None:
    lab = VirtualLab(seed=1, knobs={})
    try:
        source = lab.frontends["source"]
        assert source.handle("VOLTAGE 230") is None
        assert source.handle("volt?") == "230.00"
        source.handle("BOGUS 1")
        assert source.handle("SYST:ERR?") == '-113,"Undefined header"'
        assert source.handle("SYSTEM:ERROR?") == '0,"No error"'
    finally:
        lab.stop()


def test_fault_is_held_then_the_vehicle_is_read_again() -> None:
    lab = VirtualLab(seed=3, knobs={"fault_hold_s": 2.0})
    try:
        cp = lab.frontends["cp"]
        lab.frontends["source"].handle("OUTP ON")
        lab.world.advance(lab.knobs.dut.boot_time_s + 0.1)
        cp.handle("DIODE 0")
        cp.handle("STATE B")
        lab.world.advance(1.0)
        cp.handle("STATE C")
        lab.world.advance(1.0)
        assert lab.wallbox.state == "F" and lab.plant.generator.mode == "neg"
        cp.handle("SAFE")
        lab.world.advance(1.1)
        assert lab.wallbox.state == "A1" and lab.plant.cp()[0] > 11
    finally:
        lab.stop()


def test_overcurrent_trips_after_the_knob_time_and_not_before() -> None:
    lab = VirtualLab(seed=3, knobs={"overcurrent_trip_s": 5.0})
    try:
        _session(lab)  # ends unplugged; plug in and charge again
        cp, world = lab.frontends["cp"], lab.world
        cp.handle("STATE B")
        world.advance(1.0)
        cp.handle("STATE C")
        world.advance(1.0)
        for k in range(3):
            lab.frontends[f"load{k + 1}"].handle("CURR 40")
            lab.frontends[f"load{k + 1}"].handle("LOAD ON")
        world.advance(4.9)
        assert lab.plant.contactor_closed
        world.advance(0.2)
        assert not lab.plant.contactor_closed and lab.wallbox.state == "F"
    finally:
        lab.stop()


def _step(lab: VirtualLab, frontend: str, command: str, then_s: float) -> str | None:
    with lab.world.lock:
        answer = lab.frontends[frontend].handle(command)
    assert answer is None or isinstance(answer, str)
    lab.world.advance(then_s)
    return answer


def _charging_lab(**knobs: object) -> VirtualLab:
    lab = VirtualLab(seed=3, knobs=knobs)
    _step(lab, "source", "OUTP ON", lab.knobs.dut.boot_time_s + 0.1)
    return lab


def test_duty_follows_the_installer_no_faster_than_the_update_interval() -> None:
    lab = _charging_lab()
    try:
        _step(lab, "cp", "STATE B", 1.0)
        start = lab.plant.generator.duty_pct
        _step(lab, "installer", "CURR 16", 1.0)       # 1.9 s after PWM came on: must wait
        assert lab.plant.generator.duty_pct == start
        _step(lab, "installer", "CURR 20", 4.0)
        assert lab.plant.generator.duty_pct == pytest.approx(20 / 0.6)  # the latest setting, once
        assert str(_step(lab, "installer", "CURR 999", 0.0)).startswith("ERR 3")
        _step(lab, "installer", "SAFE", 6.0)
        assert lab.plant.generator.duty_pct == pytest.approx(32 / 0.6)
    finally:
        lab.stop()


def test_pause_in_c2_opens_after_the_c1_cutoff_unless_the_vehicle_leaves() -> None:
    lab = _charging_lab(c1_cutoff_s=6.5)
    try:
        _step(lab, "cp", "STATE B", 1.0)
        _step(lab, "cp", "STATE C", 1.0)
        assert lab.plant.contactor_closed
        _step(lab, "installer", "PAUSE 1", 6.4)
        assert lab.wallbox.state == "C1" and lab.plant.contactor_closed
        lab.world.advance(0.2)
        assert not lab.plant.contactor_closed
        _step(lab, "installer", "PAUSE 0", 0.1)
        assert lab.wallbox.state == "C2"
    finally:
        lab.stop()


def test_socket_outlet_caps_by_the_cable_and_refuses_an_invalid_coding() -> None:
    lab = _charging_lab(connector="socket")
    try:
        _step(lab, "cp", "PP 680", 0.0)
        _step(lab, "cp", "STATE B", 1.0)
        assert lab.plant.generator.duty_pct == pytest.approx(20 / 0.6)
        _step(lab, "cp", "STATE A", 1.0)
        _step(lab, "cp", "PP OPEN", 0.0)
        _step(lab, "cp", "STATE B", 1.0)
        _step(lab, "cp", "STATE C", 2.0)
        assert lab.plant.generator.mode == "dc" and not lab.plant.contactor_closed
        assert said(lab.frontends["cp"], "PP?").startswith("OPEN,")
    finally:
        lab.stop()


def test_pe_loss_reads_as_unplugged_and_wake_up_steps_once() -> None:
    lab = _charging_lab(wake_up_enabled=True, wake_up_after_s=30, wake_up_step_s=3.5)
    try:
        _step(lab, "cp", "STATE B", 30.2)
        assert lab.plant.generator.mode == "dc"          # in the step
        lab.world.advance(3.5)
        assert lab.plant.generator.mode == "pwm"
        lab.world.advance(60)
        assert [e["event"] for e in lab.world.journal].count("wake_up") == 1
        _step(lab, "cp", "STATE C", 1.0)
        _step(lab, "cp", "PE 0", 0.1)
        assert lab.wallbox.state == "A1" and not lab.plant.contactor_closed
    finally:
        lab.stop()

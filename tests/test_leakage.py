"""The measured leakage path of the bench of parts (issue 28), and the instrument facts it rests on.

Sources of the scripts: DAQ970A Programming Reference, MEASure subsystem (`MEASure:VOLTage:AC?`,
`MEASure:VOLTage[:DC]? [<range>[,<resolution>]],(@<ch_list>)`; an overload answers +9.9E+37);
the accuracy figures: DAQ970A Data Sheet p. 10 (instruments/facts/keysight-daq970.toml).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from importlib import resources
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import InstrumentOperationError, InvalidValue
from instruments.cp_emulator import CpEmulator
from instruments.facts import accuracy_bound, fact, facts, parse_facts
from instruments.parts.faults import PartsFaultBox
from instruments.parts.wiring import Wiring, parse_wiring
from instruments.switch import KeysightDaq970
from instruments.transport.scripted import expected_protocol
from rig.config import load_rig_file
from rig.clock import Clock
from rig.rig import Rig

DMM = "keysight-daq970"


def cots_wiring() -> Wiring:
    wiring = load_rig_file(Path("rigs/sim-cots.toml")).wiring
    assert wiring is not None
    return wiring


def test_every_facts_file_loads_and_every_figure_names_its_source() -> None:
    files = [p.name.removesuffix(".toml") for p in resources.files("instruments.facts").iterdir()
             if p.name.endswith(".toml")]
    assert {"keysight-daq970", "keysight-infiniivision", "chroma-63800"} <= set(files)
    for family in files:
        for key, entry in facts(family).items():
            assert entry.source.strip() and entry.unit.strip(), (family, key)


def test_a_bad_fact_is_named_with_its_file_and_entry() -> None:
    with pytest.raises(InvalidValue, match=r"x\.toml \[a\]: value must be a finite number"):
        parse_facts("x.toml", '[a]\nvalue = "0.05"\nunit = "%"\nsource = "p. 1"\n')
    with pytest.raises(InvalidValue, match=r"x\.toml \[a\]: source must be a non-empty string"):
        parse_facts("x.toml", '[a]\nvalue = 0.05\nunit = "%"\n')
    with pytest.raises(InvalidValue, match=r"no \[nope\]"):
        fact(DMM, "nope")


def test_daq970_reads_the_leakage_shunt_on_a_fixed_range() -> None:
    steps = [("MEAS:VOLT:AC? 1,(@202)", "+2.99812000E-01"), ("MEAS:VOLT:DC? 0.1,(@202)", "+6.00150000E-02"),
             ("MEAS:VOLT:AC? 1,(@202)", "+9.90000000E+37")]
    with expected_protocol(steps) as t:
        daq = KeysightDaq970(t)
        assert daq.measure_voltage(202, True, 1.0) == pytest.approx(0.299812)
        assert daq.measure_voltage(202, False, 0.1) == pytest.approx(0.0600150)
        assert daq.measure_voltage(202, True, 1.0) == float("inf")


def test_the_ladder_makes_every_half_milliamp_within_its_allowance_over_the_supply_range() -> None:
    wiring = cots_wiring()
    for volts in (196.0, 207.0, 230.0, 253.0):
        for k in range(1, 241):
            ma = 0.5 * k
            combo = wiring.leakage_combination(ma, volts)
            made = 1000.0 * volts * sum(1.0 / r.ohm for r in combo)
            assert abs(made - ma) <= wiring.leakage_allowance_ma(ma, volts), (volts, ma, made)
    with pytest.raises(InvalidValue, match=r"leakage ladder makes .* extend \[wiring.leakage_resistors\]"):
        wiring.leakage_combination(400.0, 230.0)


def test_a_ladder_nothing_measures_is_refused_when_the_rig_file_loads() -> None:
    with pytest.raises(InvalidValue, match="leakage_shunt_ohm and a leakage_sense channel"):
        parse_wiring({"leakage_resistors": {"I_1": [132, 232e3]}})
    with pytest.raises(InvalidValue, match="wiring.leakage_shunt_ohm"):
        parse_wiring({"leakage_shunt_ohm": -1.0})
    too_many = {f"R{k}": [101 + k, 1e3 * (k + 1)] for k in range(13)}
    with pytest.raises(InvalidValue, match="at most 12"):
        parse_wiring({"leakage_resistors": too_many, "leakage_shunt_ohm": 10.0, "channels": {"leakage_sense": 202}})


def test_the_virtual_dmm_reads_the_shunt_within_the_datasheet_accuracy_and_no_better() -> None:
    """The virtual lab's error spans the stated bound (a DMM is not exact), never exceeds it, and the
    DMM refuses what it cannot read: a range the facts do not cover, a signal beyond the range."""
    from sim.cots import LEAKAGE_SENSE
    from sim.lab import start_virtual_lab

    lab = start_virtual_lab(seed=3, knobs={})
    try:
        plant, bench, frontend = lab.plant, lab.bench, lab.frontends["switch"]

        def daq(line: str) -> str:
            answer = frontend.handle(line)
            assert isinstance(answer, str), (line, answer)
            return answer
        plant.mains.on, plant.contactor_closed = True, True
        bench.set([136, 137], True)                                  # ≈ 8 + 16 mA at 230 V
        true_v = plant.residual_flowing_ma("ac") / 1000.0 * bench.shunt_ohm
        assert 0.2 < true_v < 0.3
        bound = accuracy_bound(DMM, "acv_1v", true_v, 1.0)
        errors = [float(daq(f"MEAS:VOLT:AC? 1,(@{LEAKAGE_SENSE})")) - true_v for _ in range(400)]
        assert max(abs(e) for e in errors) <= bound
        assert max(errors) - min(errors) > bound                      # spread over the bound, not exact
        assert float(daq(f"MEAS:VOLT:AC? 10,(@{LEAKAGE_SENSE})")) >= 9e37
        assert daq("SYST:ERR?").startswith("-222")
        bench.set([140], True)                                       # + 128 mA: 1.5 V across 10 ohm
        assert float(daq(f"MEAS:VOLT:AC? 1,(@{LEAKAGE_SENSE})")) >= 9e37
        plant.contactor_closed = False
        plant.changed()
        assert abs(float(daq(f"MEAS:VOLT:AC? 1,(@{LEAKAGE_SENSE})"))) <= accuracy_bound(DMM, "acv_1v", 0, 1.0)
    finally:
        lab.stop()


def test_a_shunt_beyond_its_range_is_the_rigs_fault() -> None:
    from instruments.parts.faults import PartsFaultBox

    box = PartsFaultBox.__new__(PartsFaultBox)
    box.role, box.wiring = "fault_box", cots_wiring()

    class Overloaded:
        def measure_voltage(self, channel: int, ac: bool, range_v: float) -> float:
            return float("inf")
    box.switch = Overloaded()  # type: ignore[assignment]
    with pytest.raises(InstrumentOperationError, match="beyond the DMM's 1 V range"):
        box.flowing_ma("ac")


def _run(tmp_path: Path, rig_text: str, *args: str) -> tuple[int, list[dict]]:
    rig_file = tmp_path / "rig.toml"
    rig_file.write_text(rig_text)
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--rig", str(rig_file), "--out", str(out),
                           "--no-plots", "--workers", "1", *args], capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in (out / "tests.jsonl").read_text().splitlines()] \
        if (out / "tests.jsonl").exists() else []
    return proc.returncode, records


def test_a_ladder_resistor_off_its_value_is_a_broken_rig_never_a_failed_dut(tmp_path: Path) -> None:
    """The rig file swaps the channels of the 8 and 16 mA resistors (a wiring slip on the bench).  The
    current measured flowing disagrees with the one set, so the threshold test is broken (exit 2), not failed."""
    text = Path("rigs/sim-cots.toml").read_text()
    wrong = text.replace("I_8 = [136,", "I_8 = [137,").replace("I_16 = [137,", "I_16 = [136,")
    assert wrong != text
    code, records = _run(tmp_path, wrong, "--", "-k", "threshold_lies_in_the_band and ac")
    outcomes = {r["name"]: r["outcome"] for r in records}
    assert outcomes == {"test_residual_current_trip_threshold_lies_in_the_band[ac]": "broken"}, outcomes
    assert code == 2
    message = records[0]["message"]
    assert "injection path is at fault" in message and "not the DUT" in message


class Kept:
    """The recorder's samples kept of the shunt's channel (`ScopeRecorder.keep`), from a made-up record."""

    def __init__(self, record: Any) -> None:
        self.record = record

    def update(self) -> float:
        return 1.0

    def kept(self, channel: int, start_s: float, end_s: float) -> Any:
        n = int(round((end_s - start_s) / 2e-6))
        return self.record.window(channel, start_s, end_s - start_s, n)


def test_a_trip_time_starts_where_the_shunt_shows_the_current_and_a_step_not_seen_is_the_rigs_fault() -> None:
    """The step is stamped where the shunt first shows 5 % of the peak, half the longest lag early:
    within ± 0.16 ms of the true start whatever the phase the relay closed at."""
    import math

    import numpy as np

    from instruments.parts.faults import STEP_HIDDEN_S, PartsFaultBox
    from instruments.scope import Waveform

    class Record:
        def __init__(self, start_s: float, phase: float, milliamps: float) -> None:
            self.start_s, self.phase, self.milliamps = start_s, phase, milliamps

        def window(self, channel: int, start_s: float, span_s: float, points: int) -> Waveform:
            t = start_s + span_s / points * np.arange(points)
            amps = math.sqrt(2) * self.milliamps / 1000.0 * np.sin(2 * math.pi * 50 * (t - self.start_s) + self.phase)
            return Waveform(channel, start_s, span_s / points, np.where(t >= self.start_s, 10.0 * amps, 0.0))

    box = PartsFaultBox.__new__(PartsFaultBox)
    box.role, box.wiring, box.leakage_channel = "fault_box", cots_wiring(), 4
    for phase in (0.0, 0.02, 0.3, math.pi / 2, math.pi - 0.01, math.pi - 0.04):
        box.recorder = Kept(Record(0.0102, phase, 30.0))  # type: ignore[assignment]
        assert abs(box.flowing_from("ac", 0.0100, 30.0) - 0.0102) <= STEP_HIDDEN_S / 2 + 4e-6, phase
    box.recorder = Kept(Record(0.5, 0.0, 0.0))  # type: ignore[assignment]
    with pytest.raises(InstrumentOperationError, match="does not show on scope channel 4 within 40 ms"):
        box.flowing_from("ac", 0.0100, 30.0)


def test_a_dc_step_is_stamped_where_it_reaches_half_its_level() -> None:
    """A DC step shows at once: stamped where the shunt reaches half the level, not 5 % (the noise)."""
    import numpy as np

    from instruments.parts.faults import PartsFaultBox
    from instruments.scope import Waveform

    class Record:
        def window(self, channel: int, start_s: float, span_s: float, points: int) -> Waveform:
            t = start_s + span_s / points * np.arange(points)
            noise = np.random.default_rng(2).normal(0.0, 0.004, points)   # 4 mV: more than 5 % of 60 mV
            return Waveform(channel, start_s, span_s / points, np.where(t >= 0.0105, 0.060, 0.0) + noise)

    box = PartsFaultBox.__new__(PartsFaultBox)
    box.role, box.wiring, box.leakage_channel = "fault_box", cots_wiring(), 4
    box.recorder = Kept(Record())  # type: ignore[assignment]
    assert abs(box.flowing_from("dc", 0.0100, 6.0) - 0.0105) <= 4e-6


@contextlib.contextmanager
def charging_on_parts(overrides: dict[str, str]) -> Iterator[tuple[CpEmulator, Clock, PartsFaultBox]]:
    """The virtual bench of parts (rigs/sim-cots.toml) with `overrides`, energised, a vehicle charging."""
    with Rig.from_file("rigs/sim-cots.toml", sim_overrides=overrides) as rig:
        cp, clock = rig.cp, rig.clock
        box = rig.instruments["fault_box"]
        assert isinstance(box, PartsFaultBox)
        rig.energise()
        clock.sleep(10)
        cp.set_state("B")
        clock.sleep(3)
        cp.set_state("C")
        clock.sleep(3)
        yield cp, clock, box


@pytest.mark.parametrize("trip_ms", [25.0, 200.0])
def test_an_ac_trip_is_timed_in_one_triggered_record(trip_ms: float) -> None:
    """The 5 x 30 mA step and the output leaving the sine in one single acquisition triggered on the
    shunt (its sample interval stated); the simulated trip within the stated U; the roll record runs on
    after a capture."""
    with charging_on_parts({"rcd_ac_trip_time_ms": str(trip_ms)}) as (cp, clock, box):
        before = cp.time()
        captured = box.capture_trip("ac", 150.0, 1.0, clock.sleep)
        assert captured is not None and captured.sample_interval_s == pytest.approx(2e-6)
        assert abs(captured.trip_s - trip_ms / 1000.0) <= box.trip_time_u_s, captured
        assert captured.t_on > before and cp.time() > captured.t_on               # times only grow
        assert 4 not in box.scope.displayed                                     # nothing flows: the shunt off


def test_a_dc_trip_window_the_memory_cannot_hold_at_2_us_is_sampled_coarser_as_the_scope_chooses() -> None:
    """A 15 s DC window (1.5 x its 10 s limit) with the output and the shunt sharing a channel pair (2 Mpts
    each): the virtual scope samples it at 10 us, the 1-2-5 step that fills its memory, as a real one
    lowers its rate; the trip, the interval and a U that holds it come out of the one record."""
    with charging_on_parts({"rcd_dc_trip_time_ms": "400"}) as (_, clock, box):
        captured = box.capture_trip("dc", 6.0, 15.0, clock.sleep)
        assert captured is not None and captured.sample_interval_s == pytest.approx(1e-5)
        assert captured.u_s == pytest.approx(box.trip_u_s(1e-5)) and captured.u_s > box.trip_time_u_s
        assert abs(captured.trip_s - 0.400) <= captured.u_s, captured
        assert 4 not in box.scope.displayed

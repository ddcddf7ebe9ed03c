"""Bench bring-up (issue 28, item 6): `rig verify` measures the vehicle network through the switch unit's
DMM and sees CP in A and B; a bench wired otherwise than its rig file says is refused (exit 2), naming
the resistor.

Sources: DAQ970A Programming Reference, `MEASure:RESistance? [<range>,](@<ch>)`; DAQ970A Data Sheet
p. 10 (resistance accuracy); DAQ970A/DAQ973A Service Guide p. 82 (a channel's 2-wire offset < 2 Ω).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from cli.main import main
from core.errors import InvalidValue
from instruments.parts.bringup import Reading2W, ResistorCheck, resistor_from
from instruments.parts.wiring import parse_wiring
from instruments.switch import KeysightDaq970
from instruments.transport.scripted import expected_protocol
from rig.config import REPO_ROOT


def test_daq970_measures_resistance_on_a_fixed_range() -> None:
    steps = [("MEAS:RES? 1000,(@203)", "+7.33120000E+02"), ("MEAS:RES? 100,(@203)", "+9.90000000E+37")]
    with expected_protocol(steps) as t:
        daq = KeysightDaq970(t)
        assert daq.measure_resistance(203, 1000.0) == pytest.approx(733.12)
        assert daq.measure_resistance(203, 100.0) == math.inf
    with expected_protocol([]) as t, pytest.raises(InvalidValue, match="range must be > 0"):
        KeysightDaq970(t).measure_resistance(203, 0.0)


def test_a_resistor_is_recovered_from_readings_with_the_wallbox_side_in_parallel() -> None:
    offset, r, side = 1.5, 2740.0, 1000.0
    parallel = 1.0 / (1.0 / r + 1.0 / side)
    exact = resistor_from(Reading2W(parallel + offset, 1000.0, 0.0), Reading2W(side + offset, 10000.0, 0.0),
                          Reading2W(offset, 100.0, 0.0))
    assert exact == (pytest.approx(r), 0.0)
    # each reading off by its whole bound: the result stays within the U stated for it
    bounds = (0.1, 0.7, 0.012)
    value, u = resistor_from(Reading2W(parallel + offset, 1000.0, bounds[0]), Reading2W(side + offset, 10000.0, bounds[1]),
                             Reading2W(offset, 100.0, bounds[2]))
    assert value == pytest.approx(r) and u > 0
    worst = resistor_from(Reading2W(parallel + offset + bounds[0], 1000.0, 0.0),
                          Reading2W(side + offset - bounds[1], 10000.0, 0.0), Reading2W(offset, 100.0, 0.0))[0]
    assert abs(worst - r) > u / 4      # the wallbox's side magnifies the DMM's error: it is in U
    unplugged = resistor_from(Reading2W(r + offset, 10000.0, 0.3), Reading2W(math.inf, 1e6, 0.0),
                              Reading2W(offset, 100.0, 0.012))
    assert unplugged[0] == pytest.approx(r) and unplugged[1] < u


@pytest.mark.parametrize("measured, u, verdict", [(2741.0, 1.0, "within"), (2744.0, 1.0, "outside"),
                                                  (2742.5, 1.0, "conditional"), (math.inf, math.inf, "outside")])
def test_a_resistor_check_decides_with_its_uncertainty(measured: float, u: float, verdict: str) -> None:
    assert ResistorCheck("R3", 101, 2740.0, measured, u, 2.74).verdict == verdict


def test_rig_verify_measures_the_network_and_sees_cp_in_a_and_b(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "verify", "rigs/sim-cots.toml"]) == 0
    out = capsys.readouterr().out
    assert "vehicle network through the DMM (cp_sense = 203, DUT not energised)" in out
    nominal = {"R3": 2740.0, "R2": 1300.0, "R2D": 270.0, "B_low": 1870.0, "B_high": 4610.0, "C_low": 909.0,
               "C_high": 1723.0}
    for name, ohm in nominal.items():
        line = next(x for x in out.splitlines() if x.strip().startswith(f"{name} "))
        value, u = (float(v) for v in line.split(": ")[1].split(" ohm")[0].split(" ± "))
        # the virtual bench's parts lie within 0.1 % of nominal; the reading within U of the part
        assert abs(value - ohm) <= ohm * 0.001 + u, line
        assert line.endswith(("within", "conditional")), line
    assert "CP in A: 12.0" in out and "CP in B: 8.9" in out or "CP in B: 9.0" in out
    assert "edges are stamped on a 2 us grid" in out
    assert "scope record: holds 8 s on its shallowest channel" in out and "read every 6 s while a test waits" in out
    assert "the shunt's scope channel 4 is shown and the record is read every 3 s" in out
    assert "the bench is as its rig file describes it" in out


def test_rig_verify_names_resistors_on_swapped_channels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO_ROOT / "rigs" / "sim-cots.toml").read_text()
    assert "R3 = [101, 2740.0]" in text and "R2 = [102, 1300.0]" in text
    swapped = text.replace("R3 = [101, 2740.0]", "R3 = [102, 2740.0]").replace("R2 = [102, 1300.0]", "R2 = [101, 1300.0]")
    rig = tmp_path / "swapped.toml"
    rig.write_text(swapped.replace('"../', f'"{REPO_ROOT}/'))
    assert main(["rig", "verify", str(rig)]) == 2
    captured = capsys.readouterr()
    assert "R3 on channel 102 measures 1300" in captured.err and "R2 on channel 101 measures 27" in captured.err
    assert "the bench is as its rig file describes it" not in captured.out


def test_rig_verify_refuses_a_short_that_is_not_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO_ROOT / "rigs" / "sim-cots.toml").read_text()
    assert "cp_short = 108" in text and "pp_short = 117" in text
    rig = tmp_path / "short.toml"
    rig.write_text(text.replace("cp_short = 108", "cp_short = 117").replace("pp_short = 117", "pp_short = 108"))
    assert main(["rig", "verify", str(rig)]) == 2
    # the wallbox's side alone (about 1 kΩ) where a short was expected
    assert re.search(r"cp_short = 117 closed reads 100\d\.\d+ ohm on cp_sense = 203, not a short",
                     capsys.readouterr().err)


def test_rig_verify_on_the_board_bench_checks_levels_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rig", "verify", "rigs/sim.toml"]) == 0
    out = capsys.readouterr().out
    assert "vehicle network: not measured: the wbr-cpemu CP emulator builds its own" in out
    assert "CP in A: " in out and "CP in B: " in out


def test_the_cp_tolerance_is_validated_where_it_is_read() -> None:
    assert parse_wiring({"cp_tolerance_pct": 0.5}).cp_tolerance_pct == 0.5
    with pytest.raises(InvalidValue, match=r"\[wiring.cp_tolerance_pct\]: expected a number > 0"):
        parse_wiring({"cp_tolerance_pct": "0.1"})


def test_the_virtual_dmm_refuses_a_resistance_range_its_facts_do_not_cover() -> None:
    """Stricter than the real DAQ970A (which has 10 and 100 Mohm ranges): the virtual one answers only on the
    ranges whose accuracy instruments/facts holds, with the instrument's own error number."""
    from sim.cots import SimDaq970, VirtualBench
    from sim.plant import Plant
    from sim.world import World

    world = World(seed=1)
    daq = SimDaq970(world, VirtualBench(world, Plant(world, 3, None)))
    assert daq._resistance("", ["1e7", "(@203)"]) == "+9.90000000E+37"
    assert daq.errors[-1].startswith("-222")
    assert daq._resistance("", ["1000", "(@203)"]) == "+9.90000000E+37"   # above the range: overload
    reading = float(daq._resistance("", ["10000", "(@203)"]))     # the wallbox's 1 kΩ side + the channel's offset
    assert 1000.2 - 0.7 < reading < 1002.0 + 0.7     # the 10 kΩ range: ± 0.66 Ω at 1 kΩ


@pytest.mark.parametrize("key, value, expected", [("current_range_a", 20.0, "at least the DUT's rated 32 A"),
                                                  ("voltage_range_v", 150.0, "at least 300 V")])
def test_an_analyser_range_too_small_for_the_suite_is_refused_when_the_rig_file_loads(
        tmp_path: Path, key: str, value: float, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A reading above a fixed range is over-range, which would break the run halfway: `rig check` says so first."""
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    assert "[instruments.analyser]\n" in text
    rig = tmp_path / "range.toml"
    rig.write_text(text.replace("[instruments.analyser]\n", f"[instruments.analyser]\n{key} = {value}\n"))
    assert main(["rig", "check", str(rig)]) == 2
    assert f"[instruments.analyser.{key}]: expected a range of {expected}" in capsys.readouterr().err


def test_the_virtual_analyser_takes_only_the_wt1800s_ranges_and_reads_over_range_above_them() -> None:
    """WT1800 ranges (bulletin, inputs: 15 … 1000 V, 1 … 50 A at crest factor 3); a reading above its range is
    over-range (9.9E+37), which the driver refuses as the rig's fault, never a value to judge."""
    from core.errors import InstrumentOperationError
    from instruments.power_analyser import YokogawaWT
    from rig.rig import Rig

    with Rig.from_file("rigs/sim.toml") as rig:
        analyser = rig.instruments["analyser"]
        assert isinstance(analyser, YokogawaWT)
        analyser.transport.write(":INPUT:CURRENT:RANGE:ALL 40A")          # not a WT1800 range
        with pytest.raises(InstrumentOperationError, match="-224"):
            analyser.check_errors("a range it does not have")
        from conformance.session import start_charging

        rig.energise()
        rig.clock.sleep(10)
        rig.cp.start_capture()
        start_charging(rig.cp, rig.clock)
        rig.load.set_current(16.0)
        rig.load.set_on(True)
        rig.clock.sleep(2)
        assert analyser.read().phases[0].i_a == pytest.approx(16.0, rel=0.01)
        analyser.transport.write(":INPUT:CURRENT:RANGE:ALL 10A")          # 16 A flowing: over-range
        with pytest.raises(InstrumentOperationError, match="over-range"):
            analyser.read()
        analyser.transport.write(":INPUT:CURRENT:RANGE:ALL 50A")

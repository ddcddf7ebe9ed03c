"""CP's DC levels on the bench of parts, read by the switch unit's DMM with a stated uncertainty (issue 28).

The scope's DC vertical accuracy is not in instruments/facts, so A1's +12 V and state F's −12 V are
read again on `cp_sense` by the DAQ970A's DMM: `MEASure:VOLTage:DC? 100,(@203)` (DAQ970A Programming
Reference, MEASure subsystem), on the 100 V range whose accuracy is the Data Sheet's p. 10 row and
whose 10 MΩ input (User's Guide p. 230) loads the generator's 1 kΩ.
"""

from __future__ import annotations

import math

import pytest

from core.errors import InstrumentOperationError
from core.uncertainty import combined, expanded_u, lag_u
from instruments.cp_emulator import CpMeasurement
from instruments.facts import accuracy_bound, fact
from instruments.parts.cp import CP_SOURCE_OHM, PartsCpEmulator
from instruments.parts.wiring import parse_wiring
from instruments.switch import KeysightDaq970
from instruments.transport.scripted import expected_protocol

DMM = "keysight-daq970"


def test_daq970_reads_cp_on_the_100_v_range() -> None:
    with expected_protocol([("MEAS:VOLT:DC? 100,(@203)", "+1.19940300E+01")]) as t:
        assert KeysightDaq970(t).measure_voltage(203, False, 100.0) == pytest.approx(11.99403)


class _Dmm:
    def __init__(self, volts: float) -> None:
        self.volts, self.asked = volts, []  # type: tuple[float, list[tuple[int, bool, float]]]

    def measure_voltage(self, channel: int, ac: bool, range_v: float) -> float:
        self.asked.append((channel, ac, range_v))
        return self.volts


class _Cp(PartsCpEmulator):
    """The CP emulator's level logic with a scope reading given (no recorder behind it)."""

    def __init__(self, scope_high: float, frequency: float, dmm: _Dmm, cp_sense: bool = True) -> None:
        self.role, self.switch = "cp", dmm  # type: ignore[assignment]
        self.wiring = parse_wiring({"channels": {"cp_sense": 203} if cp_sense else {}})
        self.scope_high, self.frequency = scope_high, frequency
        self.recorder = type("Recorder", (), {"cp_channel": 1})()

    def measure_cp(self) -> CpMeasurement:
        return CpMeasurement(self.scope_high, self.scope_high, self.frequency, 100.0 if self.frequency == 0 else 50.0, 1.0)

    def time(self) -> float:
        return 2.0


def test_a_dc_level_is_the_dmms_with_its_accuracy_and_loading() -> None:
    dmm = _Dmm(11.998)
    level = _Cp(12.02, 0.0, dmm).measure_cp_level()
    assert dmm.asked == [(203, False, 100.0)]
    accuracy = accuracy_bound(DMM, "dcv_100v", 11.998, 100.0)
    loading = 11.998 * CP_SOURCE_OHM / fact(DMM, "dcv_100v_input_ohm")
    assert level.volts == 11.998 and level.t_s == 2.0
    assert level.u_v == pytest.approx(combined(expanded_u(2 * accuracy), lag_u(loading)))
    assert level.u_v is not None and 1e-3 < level.u_v < 3e-3     # a few mV: the DMM's 1.1 mV and 1.2 mV of loading


def test_a_pwm_or_a_bench_without_cp_sense_states_no_u() -> None:
    dmm = _Dmm(0.0)
    assert _Cp(9.0, 1000.0, dmm).measure_cp_level().u_v is None
    assert _Cp(12.0, 0.0, dmm, cp_sense=False).measure_cp_level().u_v is None
    assert dmm.asked == []


def test_a_dmm_that_disagrees_with_the_scope_is_the_rigs_fault() -> None:
    with pytest.raises(InstrumentOperationError, match="cp_sense = 203 reads 0.0000 V where the scope"):
        _Cp(12.0, 0.0, _Dmm(0.0)).measure_cp_level()
    with pytest.raises(InstrumentOperationError, match="overload"):
        _Cp(12.0, 0.0, _Dmm(math.inf)).measure_cp_level()


def test_the_virtual_dmm_reads_cp_loaded_within_its_accuracy_and_refuses_other_ranges() -> None:
    """The virtual DMM is no kinder than the real one: its error spans the data sheet's bound, its
    input loads the generator, it averages a PWM (an integrating converter), and it refuses a range
    the facts do not cover and an AC reading of CP."""
    from sim.cots import CP_SENSE
    from sim.lab import start_virtual_lab

    lab = start_virtual_lab(seed=5, knobs={})
    try:
        plant, frontend = lab.plant, lab.frontends["switch"]

        def daq(line: str) -> str:
            answer = frontend.handle(line)
            assert isinstance(answer, str), (line, answer)
            return answer
        plant.generator.mode, plant.generator.amplitude_v = "dc", 12.0
        open_v = plant.cp()[0]
        loaded_v = open_v * (1 - 1000.0 / (1000.0 + fact(DMM, "dcv_100v_input_ohm")))
        bound = accuracy_bound(DMM, "dcv_100v", open_v, 100.0)
        readings = [float(daq(f"MEAS:VOLT:DC? 100,(@{CP_SENSE})")) for _ in range(300)]
        assert max(abs(r - loaded_v) for r in readings) <= bound
        assert max(readings) - min(readings) > bound                 # spread over the bound, not exact
        assert open_v - sum(readings) / len(readings) > 0.5e-3        # loaded: low by ≈ 1.2 mV
        plant.generator.mode, plant.generator.duty_pct = "pwm", 25.0
        high, low = plant.cp()
        mean = float(daq(f"MEAS:VOLT:DC? 100,(@{CP_SENSE})"))
        assert mean == pytest.approx(low + (high - low) * 0.25, abs=0.01)
        assert float(daq(f"MEAS:VOLT:DC? 10,(@{CP_SENSE})")) >= 9e37
        assert daq("SYST:ERR?").startswith("-222")
        assert float(daq(f"MEAS:VOLT:AC? 100,(@{CP_SENSE})")) >= 9e37
        assert daq("SYST:ERR?").startswith("-221")
    finally:
        lab.stop()

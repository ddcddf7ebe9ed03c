"""The virtual lab honours the facts of the bench's supply, chamber and AC source (issue 28): what
the real instrument refuses it refuses, with the real error, and what it does to a driver that
forgets a setting (a controller as shipped reads Fahrenheit) it does too.

Sources: instruments/facts/keysight-e36100.toml (E36100B Series Operating and Service Manual p. 26,
the E36103B's rating; SCPI's -222), watlow-f4t.toml (TestEquity F4T Controller manual pp. 14-15,
Watlow F4T Setup and Operations User's Guide p. 225), ametek-lx.toml (Lx/Ls Series II
Programming Manual p. 88).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.errors import InstrumentOperationError, InvalidValue
from instruments.chamber import AIR_TEMPERATURE_REGISTER, SETPOINT_REGISTER, WatlowF4T, float_words, words_float
from instruments.dc_source import COMPLIANCE_V, KeysightE36100
from instruments.facts import fact
from instruments.transport.modbus import ModbusMaster
from instruments.transport.scripted import expected_protocol
from sim.cots import DC_DECOUPLING_OHM
from sim.lab import VirtualLab, start_virtual_lab


@pytest.fixture
def lab() -> Iterator[VirtualLab]:
    lab = start_virtual_lab(seed=5, knobs={})
    try:
        yield lab
    finally:
        lab.stop()


def scpi(lab: VirtualLab, name: str) -> Callable[[str], str | None]:
    frontend = lab.frontends[name]

    def send(line: str) -> str | None:
        answer = frontend.handle(line)
        assert answer is None or isinstance(answer, str), (line, answer)
        return answer
    return send


def test_the_virtual_e36103b_takes_only_its_rating_and_drives_what_its_compliance_allows(lab: VirtualLab) -> None:
    """A voltage or current beyond the model's rating is refused with -222 and changes nothing; what
    flows through the 1 kΩ decoupling is what the voltage setting can drive, so a compliance set too
    low shows on the shunt (and the ramp's check of every step calls the rig broken)."""
    dc = scpi(lab, "dc_source")
    lab.plant.mains.on, lab.plant.contactor_closed = True, True
    assert fact("keysight-e36100", "e36103b_voltage_max_v") == 20.0
    for line in ("VOLT 30", "CURR 2.5", "VOLT -1"):
        dc(line)
        assert (dc("SYST:ERR?") or "").startswith("-222"), line
    assert dc("SYST:ERR?") == '0,"No error"'
    dc("VOLT 1")
    dc("CURR 0.006")
    dc("OUTP ON")
    assert float(dc("MEAS:CURR?") or "nan") == pytest.approx(1.0 / DC_DECOUPLING_OHM)     # 1 mA, not 6
    dc(f"VOLT {COMPLIANCE_V:g}")
    assert float(dc("MEAS:CURR?") or "nan") == pytest.approx(0.006)
    lab.plant.contactor_closed = False
    lab.plant.changed()
    assert float(dc("MEAS:CURR?") or "nan") == 0.0                                          # N dead: nothing flows


def test_the_e36100_driver_refuses_a_current_beyond_the_supplys_rating_before_any_io() -> None:
    with expected_protocol([]) as t:
        dc = KeysightE36100(t)
        with pytest.raises(InvalidValue, match=r"\[0, 2000\] mA"):
            dc.set_current_ma(2500.0)


def test_the_chamber_driver_takes_its_registers_from_the_facts() -> None:
    assert SETPOINT_REGISTER == fact("watlow-f4t", "setpoint_register") == 4042
    assert AIR_TEMPERATURE_REGISTER == fact("watlow-f4t", "air_temperature_register") == 4182


def test_the_virtual_f4t_reads_fahrenheit_until_the_driver_chooses_celsius(lab: VirtualLab) -> None:
    """As shipped, the F4T's Display Units are F: a driver that never chose C would set and read
    Fahrenheit.  The air register is read-only."""
    bus = ModbusMaster("chamber", lab.endpoints["chamber"], {"id": 1})
    try:
        room_c = lab.plant.room_c
        assert words_float(bus.read_registers(AIR_TEMPERATURE_REGISTER, 2)) == pytest.approx(room_c * 9 / 5 + 32, abs=1e-4)
        bus.write_registers(SETPOINT_REGISTER, float_words(86.0))             # 86 °F
        assert lab.chamber.setpoint_c == pytest.approx(30.0, abs=1e-4)
        with pytest.raises(InstrumentOperationError):
            bus.write_registers(AIR_TEMPERATURE_REGISTER, float_words(20.0))
        chamber = WatlowF4T(bus)                                              # chooses C
        assert words_float(bus.read_registers(SETPOINT_REGISTER, 2)) == pytest.approx(30.0, abs=1e-4)
        chamber.set_temperature_c(40.0)
        assert lab.chamber.setpoint_c == pytest.approx(40.0)
        assert chamber.temperature_c().value < 40.0                           # it ramps, not jumps
    finally:
        bus.close()


def test_the_virtual_lx_refuses_a_pulse_count_outside_the_programming_manuals_range(lab: VirtualLab) -> None:
    source = scpi(lab, "source")
    assert fact("ametek-lx", "pulse_count_max") == 2e8
    for line in ("PULS:COUN 0", "PULS:COUN 3E8", "VOLT 1000"):
        source(line)
        assert (source("SYST:ERR?") or "").startswith("-222"), line
    source("PULS:COUN 1")
    assert source("SYST:ERR?") == '0,"No error"'

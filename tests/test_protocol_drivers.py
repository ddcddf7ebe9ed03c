"""Byte-exact, ordered, fully consumed exchanges for every lab driver.

Scripts follow the instruments' own documents: the CP board's docs/protocols/cp-emulator.md;
Yokogawa WT1800 IM WT1801-17EN numeric commands; Keysight AC6800 SCPI reference; Chroma 63800
remote commands.  A driver that sends one byte more, less or in another order fails here.
"""

from __future__ import annotations

import pytest

from instruments.ac_load import Chroma63800
from instruments.ac_source import AmetekLx, KeysightAC6800
from instruments.cp_emulator import WbrCpEmulator
from instruments.fault_box import WbrFaultBox
from instruments.installer import WbrInstaller
from instruments.power_analyser import YokogawaWT
from instruments.transport.base import Frame
from instruments.transport.scripted import ScriptedFrameTransport, ScriptedTransport, ScriptMismatch, expected_protocol
from core.types import Channel, Edge
from core.errors import InstrumentOperationError, InstrumentTimeout, InvalidValue


def test_cp_emulator_state_change_returns_board_time() -> None:
    with expected_protocol([("STATE C", "OK 12.345678")]) as t:
        assert WbrCpEmulator(t).set_state("C") == pytest.approx(12.345678)


def test_cp_emulator_measure_parses_five_fields() -> None:
    with expected_protocol([("MEAS:CP?", "8.970,-11.980,1000.00,53.330,4.000000")]) as t:
        m = WbrCpEmulator(t).measure_cp()
    assert (m.high_v, m.low_v, m.frequency_hz, m.duty_pct, m.t_s) == (8.97, -11.98, 1000.0, 53.33, 4.0)


def test_cp_emulator_resistance_diode_pp_commands() -> None:
    steps = [("RES 1870.0", "OK 1.0"), ("DIODE 0", "OK 2.0"), ("PP 220.0", "OK 3.0"), ("PP OPEN", "OK 4.0"),
             ("PP?", "219.8,5.0"), ("OVP?", "1,6.0"), ("TIME?", "7.5"), ("SAFE", "OK 8.0")]
    with expected_protocol(steps) as t:
        emu = WbrCpEmulator(t)
        assert emu.set_resistance(1870) == 1.0
        assert emu.set_diode(False) == 2.0
        assert emu.set_pp(220) == 3.0
        assert emu.set_pp(None) == 4.0
        assert emu.measure_pp().value == pytest.approx(219.8)
        assert emu.output_present().value == 1.0
        assert emu.time() == 7.5
        emu.safe()


def test_cp_emulator_edge_capture() -> None:
    with expected_protocol([("CAP:START", "OK 1.0"), ("CAP:READ?", "2;1.5,VEH,C;2.0,OVP,1"),
                            ("CAP:READ?", "0")]) as t:
        emu = WbrCpEmulator(t)
        emu.start_capture()
        assert emu.read_edges() == [Edge(1.5, Channel.VEH, "C"), Edge(2.0, Channel.OVP, "1")]
        assert emu.read_edges() == []


def test_cp_emulator_rejects_bad_values_before_any_io() -> None:
    with expected_protocol([]) as t:
        emu = WbrCpEmulator(t)
        with pytest.raises(InvalidValue):
            emu.set_state("X")
        with pytest.raises(InvalidValue):
            emu.set_resistance(-5)


@pytest.mark.parametrize("answer", ["ERR 1 unknown command", "garbage", "OK notanumber"])
def test_cp_emulator_refusal_or_garbage_is_an_operation_error(answer: str) -> None:
    with expected_protocol([("STATE B", answer)]) as t:
        with pytest.raises(InstrumentOperationError):
            WbrCpEmulator(t).set_state("B")


def test_cp_emulator_edge_count_mismatch_is_an_operation_error() -> None:
    with expected_protocol([("CAP:READ?", "3;1.0,OVP,1")]) as t:
        with pytest.raises(InstrumentOperationError, match="said 3 edges"):
            WbrCpEmulator(t).read_edges()


def yokogawa_configure_steps(volts: str, amps: str) -> list[tuple[str, str | None]]:
    """`configure`'s script: fixed ranges (IM WT1801-17EN, INPut group: [:INPut]:VOLTage:RANGe[:ALL],
    [:INPut]:CURRent:RANGe[:ALL]; the accuracy a verdict states is a % of the range its reading was made
    on), then the eleven numeric items and a look at the error queue."""
    items = ["U,1", "I,1", "P,1", "U,2", "I,2", "P,2", "U,3", "I,3", "P,3", "WP,SIGMA", "TIME,1"]
    steps: list[tuple[str, str | None]] = [(":COMMUNICATE:HEADER OFF", None), (f":INPUT:VOLTAGE:RANGE:ALL {volts}", None),
                                           (f":INPUT:CURRENT:RANGE:ALL {amps}", None), (":NUMERIC:FORMAT ASCII", None),
                                           (":NUMERIC:NORMAL:NUMBER 11", None)]
    steps += [(f":NUMERIC:NORMAL:ITEM{n} {item}", None) for n, item in enumerate(items, start=1)]
    return steps + [("*OPC?", "1"), (":STATUS:ERROR?", '0,"No error"')]


def test_yokogawa_configure_selects_eleven_items() -> None:
    steps = yokogawa_configure_steps("300V", "50A")
    steps += [(":INTEGRATE:RESET", None), (":INTEGRATE:START", None), ("*OPC?", "1")]
    with expected_protocol(steps) as t:
        wt = YokogawaWT(t)
        wt.configure()
        wt.start_integration()


def test_yokogawa_ranges_come_from_the_rig_file_and_set_the_u_of_each_reading() -> None:
    with expected_protocol(yokogawa_configure_steps("600V", "20A")) as t:
        wt = YokogawaWT(t, {"voltage_range_v": 600.0, "current_range_a": 20.0})
        wt.configure()
    # WT1800 bulletin p. 17: ±(0.1 % of reading + 0.05 % of range), uniform over ± that bound, k = 2
    assert wt.u_v(230.0) == pytest.approx(2 * 2 * (0.23 + 0.3) / 12 ** 0.5)
    assert wt.u_a(16.0) == pytest.approx(2 * 2 * (0.016 + 0.01) / 12 ** 0.5)
    three = wt.u_w([3680.0, 3680.0, 3680.0])
    assert three == pytest.approx(3 ** 0.5 * 2 * 2 * (3.68 + 6.0) / 12 ** 0.5)


def test_yokogawa_read_maps_values_to_phases() -> None:
    answer = "230.1E+00,16.0E+00,3681.6E+00,229.9E+00,15.9E+00,3655.4E+00,230.0E+00,16.1E+00,3703.0E+00,2.5E+00,4.0E+00"
    with expected_protocol([(":NUMERIC:NORMAL:VALUE?", answer)]) as t:
        rec = YokogawaWT(t).read()
    assert rec.phases[1].i_a == pytest.approx(15.9)
    assert rec.energy_wh == pytest.approx(2.5) and rec.t_s == pytest.approx(4.0)
    assert rec.p_total_w == pytest.approx(3681.6 + 3655.4 + 3703.0)


def test_yokogawa_short_answer_is_an_operation_error() -> None:
    with expected_protocol([(":NUMERIC:NORMAL:VALUE?", "230.0,16.0")]) as t:
        with pytest.raises(InstrumentOperationError, match="expected 11 values"):
            YokogawaWT(t).read()


def test_keysight_source_checks_the_error_queue_after_each_setting() -> None:
    steps = [("VOLT 230.00", None), ("SYST:ERR?", '+0,"No error"'), ("FREQ 50.000", None),
             ("SYST:ERR?", '+0,"No error"'), ("OUTP ON", None), ("SYST:ERR?", '+0,"No error"'), ("OUTP?", "1")]
    with expected_protocol(steps) as t:
        src = KeysightAC6800(t)
        src.set_voltage(230)
        src.set_frequency(50)
        src.set_output(True)
        assert src.output_is_on()


def test_keysight_source_reports_an_instrument_error() -> None:
    with expected_protocol([("VOLT 300.00", None), ("SYST:ERR?", '-222,"Data out of range"')]) as t:
        with pytest.raises(InstrumentOperationError, match="-222"):
            KeysightAC6800(t).set_voltage(300)


def test_keysight_source_rejects_out_of_range_before_io() -> None:
    with expected_protocol([]) as t, pytest.raises(InvalidValue):
        KeysightAC6800(t).set_voltage(400)


def test_chroma_load_sets_every_phase_unit() -> None:
    units = [ScriptedTransport([("MODE CURR", None), ("CURR 16.000", None), ("*OPC?", "1"), ("LOAD ON", None),
                                ("*OPC?", "1"), ("MEAS:CURR?", f"{15.9 + k / 10:.1f}")], role="load")
             for k in range(3)]
    load = Chroma63800(*units)
    load.set_current(16)
    load.set_on(True)
    assert [r.value for r in load.measure_current()] == pytest.approx([15.9, 16.0, 16.1])
    for unit in units:
        unit.assert_consumed()


def test_scripted_transport_catches_a_wrong_command() -> None:
    with pytest.raises(ScriptMismatch, match="expected 'OUTP OFF'"):
        with expected_protocol([("OUTP OFF", None)]) as t:
            t.write("OUTP ON")


def test_scripted_transport_catches_an_unused_step() -> None:
    with pytest.raises(ScriptMismatch, match="not consumed"):
        with expected_protocol([("OUTP OFF", None)]):
            pass


def test_a_sync_that_does_not_answer_1_is_an_operation_error() -> None:
    with expected_protocol([("LOAD OFF", None), ("*OPC?", "0")]) as t:
        with pytest.raises(InstrumentOperationError, match=r"\*OPC\?"):
            Chroma63800(t).set_on(False)


def test_installer_driver_speaks_its_line_protocol() -> None:
    steps = [("CURR 16.0", "OK 1.0"), ("CURR?", "16.0,1.5"), ("PAUSE 1", "OK 2.0"), ("PAUSE 0", "OK 3.0"),
             ("SAFE", "OK 4.0")]
    with expected_protocol(steps) as t:
        inst = WbrInstaller(t)
        assert inst.set_current_a(16) == 1.0
        assert inst.current_a() == 16.0
        assert inst.set_paused(True) == 2.0 and inst.set_paused(False) == 3.0
        inst.safe()
    with expected_protocol([]) as t:
        for bad in (-1.0, 81.0, float("nan")):
            with pytest.raises(InvalidValue):
                WbrInstaller(t).set_current_a(bad)
    with expected_protocol([("CURR 6.0", "ERR 3 bad number")]) as t:
        with pytest.raises(InstrumentOperationError, match="refused"):
            WbrInstaller(t).set_current_a(6)


def test_cp_emulator_pe_and_open_pp() -> None:
    with expected_protocol([("PE 0", "OK 1.0"), ("PE 1", "OK 2.0"), ("PP?", "OPEN,3.0")]) as t:
        emu = WbrCpEmulator(t)
        assert emu.set_pe(False) == 1.0 and emu.set_pe(True) == 2.0
        assert emu.measure_pp().value == float("inf")


# --- fault box: CAN frames of instruments/dbc/wbr_fault_box.dbc (docs/protocols/fault-box.md) ----
def _f(arbitration_id: int, hex_bytes: str) -> Frame:
    return Frame(arbitration_id, bytes.fromhex(hex_bytes))


ACK_1 = _f(0x320, "01 00 4e 61 bc 00 00 00")        # Seq 1, ok, 12.345678 s


def _box(steps: list) -> tuple[WbrFaultBox, ScriptedFrameTransport]:
    transport = ScriptedFrameTransport(steps)
    return WbrFaultBox(transport), transport


def test_fault_box_residual_current_frame_and_box_time() -> None:
    box, t = _box([(_f(0x311, "01 b8 0b"), [ACK_1])])   # FB_ResidualAc Seq 1, 30.00 mA
    assert box.set_residual_ma("ac", 30.0) == pytest.approx(12.345678)
    t.assert_consumed()


def test_fault_box_keeps_events_that_arrive_before_the_answer() -> None:
    interrupted = _f(0x322, "02 b8 0b f6 c2 bc 00 00")   # Kind 2 (interrupted), AC, 30 mA, 12.370678 s
    readback = _f(0x321, "04 00 00 26 02 c6 02 91")      # Seq 4: DC 5.5 mA flowing, 71.0 degC, chamber, L1, PS1
    box, t = _box([(_f(0x311, "01 b8 0b"), [ACK_1]), (_f(0x313, "02 05"), [interrupted, _f(0x320, "02 00 00 00 00 00 00 00")]),
                   (_f(0x315, "03 01 70 fe"), [_f(0x320, "03 00 00 00 00 00 00 00")]), (_f(0x31E, "04"), [readback])])
    box.set_residual_ma("ac", 30.0)
    box.set_weld([1, 3])
    box.set_temperature("sensor", -40.0)
    events = box.events()
    t.assert_consumed()
    assert len(events) == 1 and (events[0].kind, events[0].channel, events[0].current_ma) == ("interrupted", "ac", 30.0)
    assert events[0].t_s == pytest.approx(12.370678)


def test_fault_box_readback_and_identity() -> None:
    box, t = _box([(_f(0x31F, "01"), [_f(0x323, "01 01 00 01 00 00 00 00")]),
                   (_f(0x31E, "02"), [_f(0x321, "02 00 00 26 02 c6 02 91")])])
    assert box.identify() == "WALLBOX-RIG,FAULTBOX,00000001,1.0"
    state = box.readback()
    t.assert_consumed()
    assert (state.dc_flowing_ma, state.temperature_c, state.temperature_mode) == (5.5, 71.0, "chamber")
    assert state.weld == (True, False, False) and state.ps1_closed and not state.ps2_closed


def test_fault_box_refusal_timeout_and_bad_values() -> None:
    box, _ = _box([(_f(0x311, "01 b8 0b"), [_f(0x320, "01 01 20 bc be 00 00 00")]), (_f(0x310, "02"), [])])
    with pytest.raises(InstrumentOperationError, match="out_of_range"):
        box.set_residual_ma("ac", 30.0)
    with pytest.raises(InstrumentTimeout, match="no FB_Ack"):
        box.safe()
    for bad in (lambda: box.set_residual_ma("ac", 700), lambda: box.set_residual_ma("ac", float("nan")),
                lambda: box.set_residual_ma("x", 1), lambda: box.set_weld([4]),
                lambda: box.set_temperature("oven", 20), lambda: box.set_temperature("sensor", 500)):
        with pytest.raises(InvalidValue):
            bad()


def test_fault_box_refuses_a_line_transport() -> None:
    with pytest.raises(InvalidValue, match="talks CAN"):
        WbrFaultBox(ScriptedTransport([]))  # type: ignore[arg-type]


def test_three_phase_source_sets_one_phase_uncoupled_and_recouples() -> None:
    ok = '+0,"No error"'
    steps = [("INST:COUP NONE", None), ("SYST:ERR?", ok), ("INST:NSEL 2", None), ("SYST:ERR?", ok),
             ("VOLT 0.00", None), ("SYST:ERR?", ok), ("INST:COUP ALL", None), ("SYST:ERR?", ok),
             ("INST:COUP ALL", None), ("SYST:ERR?", ok), ("VOLT 230.00", None), ("SYST:ERR?", ok)]
    with expected_protocol(steps) as t:
        src = AmetekLx(t)
        src.set_phase_voltage(2, 0.0)
        src.set_voltage(230.0)


def test_three_phase_source_recouples_even_when_the_phase_setting_fails() -> None:
    ok = '+0,"No error"'
    steps = [("INST:COUP NONE", None), ("SYST:ERR?", ok), ("INST:NSEL 3", None), ("SYST:ERR?", ok),
             ("VOLT 0.00", None), ("SYST:ERR?", '-222,"Data out of range"'), ("INST:COUP ALL", None), ("SYST:ERR?", ok)]
    with expected_protocol(steps) as t, pytest.raises(InstrumentOperationError, match="-222"):
        AmetekLx(t).set_phase_voltage(3, 0.0)


def test_single_phase_source_refuses_a_phase_voltage_before_io() -> None:
    with expected_protocol([]) as t, pytest.raises(InvalidValue, match="ametek-lx"):
        KeysightAC6800(t).set_phase_voltage(2, 0.0)
    with expected_protocol([]) as t, pytest.raises(InvalidValue, match="phase must be"):
        AmetekLx(t).set_phase_voltage(4, 0.0)


def test_installer_firmware_update_and_its_progress() -> None:
    steps = [("FWUPDATE", "OK 5.000000"), ("FWUPDATE?", "1,5.5"), ("FWUPDATE?", "0,40.0")]
    with expected_protocol(steps) as t:
        installer = WbrInstaller(t)
        assert installer.start_firmware_update() == 5.0
        assert installer.firmware_updating() and not installer.firmware_updating()


def test_installer_refused_firmware_update_is_an_operation_error() -> None:
    with expected_protocol([("FWUPDATE", "ERR 4 busy: no update in state C2")]) as t:
        with pytest.raises(InstrumentOperationError, match="busy"):
            WbrInstaller(t).start_firmware_update()


def test_cp_board_reads_the_interlock_input() -> None:
    with expected_protocol([("ILK?", "0,7.250000")]) as t:
        reading = WbrCpEmulator(t).interlock_closed()
    assert reading.value == 0 and reading.t_s == 7.25


def test_installer_enters_the_meter_and_the_energy_mode() -> None:
    steps = [("METER janitza-b23,1,19200,N,1", "OK 3.000000"),
             ("METER?", "janitza-b23,1,19200,N,1,ok,4.500000"),
             ("EMS solar,25.0,8.0,4200", "OK 5.000000")]
    with expected_protocol(steps) as t:
        installer = WbrInstaller(t)
        assert installer.configure_meter("janitza-b23", 1, 19200, "N", 1) == 3.0
        status = installer.meter_status()
        assert (status.model, status.baud, status.parity, status.status, status.t_s) == ("janitza-b23", 19200, "N", "ok", 4.5)
        assert installer.configure_energy("solar", 25, 8, 4200) == 5.0
    with expected_protocol([]) as t:
        with pytest.raises(InvalidValue, match="parity"):
            WbrInstaller(t).configure_meter("inepro-pro380", 1, 9600, "X")
        with pytest.raises(InvalidValue, match="energy mode"):
            WbrInstaller(t).configure_energy("turbo", 25, 8, 4200)
    with expected_protocol([("METER?", "inepro-pro380,1,9600,E")]) as t, pytest.raises(InvalidValue, match="7 fields"):
        WbrInstaller(t).meter_status()


def test_a_scpi_instrument_starts_clean_and_reports_what_its_error_queue_held() -> None:
    """IEEE 488.2 *CLS when the rig opens it (synced), and the error queue read until '0,' after a
    configuration: a stray error of an earlier session never stops a run, a new one names itself."""
    from instruments.ac_source import KeysightAC6800
    with expected_protocol([("*CLS", None), ("*OPC?", "1")]) as t:
        KeysightAC6800(t).start_clean()
    with expected_protocol([("SYST:ERR?", '-113,"Undefined header"'), ("SYST:ERR?", '-222,"Data out of range"'),
                            ("SYST:ERR?", '+0,"No error"')]) as t:
        with pytest.raises(InstrumentOperationError, match='after setup: -113,"Undefined header"; -222'):
            KeysightAC6800(t).check_errors("setup")


def test_the_rig_clears_a_stale_error_queue_when_it_opens_an_instrument() -> None:
    from rig.config import REPO_ROOT
    from rig.rig import Rig
    with Rig.from_file(REPO_ROOT / "rigs" / "sim.toml") as rig:
        rig.lab.frontends["source"].errors.append('-113,"Undefined header"')   # a stray command's leftover
        with pytest.raises(InstrumentOperationError, match="-113"):
            rig.source.set_voltage(230.0)                 # read back after the next setting: blamed on it
        rig.lab.frontends["source"].errors.append('-113,"Undefined header"')
        rig.instruments["source"].start_clean()           # what opening does
        rig.source.set_voltage(230.0)

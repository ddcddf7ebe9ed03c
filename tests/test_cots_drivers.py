"""Byte-exact exchanges of the drivers of bought parts, and the bench of parts on the virtual lab.

Sources of the scripts: DAQ970A Programming Reference, ROUTe subsystem (`ROUTe:CLOSe`,
`ROUTe:OPEN`, `ROUTe:CLOSe?`) and `MEASure:RESistance?`; Modbus Application Protocol
Specification V1.1b3 §6.1 (FC01, p. 11), §6.2 (FC02, p. 12), §6.5 (FC05, p. 17), §6.11 (FC15,
p. 29) with the RTU framing and CRC of Modbus over Serial Line V1.02 §2.5.1 and §6.2.2;
InfiniiVision 4000 X-Series Programmer's Guide: :MEASure:VTOP p. 636, :WAVeform:PREamble p. 1250,
:WAVeform:DATA p. 1243 (WORD codes: 0 hole, 1 clipped low, 0xFFFF clipped high); E36100B Series
Programming Guide (VOLTage, CURRent, OUTPut, MEASure:CURRent?).
"""

from __future__ import annotations

import contextlib
import math
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from core.errors import ConfigError, InvalidValue
from core.types import Channel
from instruments.dc_source import KeysightE36100
from instruments.parts.wiring import parse_wiring
from instruments.scope import KeysightInfiniiVision
from instruments.switch import KeysightDaq970, ModbusRelayBoard, Switch
from core.errors import InstrumentOperationError
from instruments.transport.modbus import ModbusMaster
from instruments.transport.modbus import rtu_crc as crc16
from instruments.transport.scripted import expected_protocol
from rig.config import load_rig_file
from rig.rig import Rig


def test_daq970_closes_and_opens_channel_lists_with_a_sync() -> None:
    steps = [("ROUT:CLOS (@101,102)", None), ("*OPC?", "1"), ("ROUT:OPEN (@102)", None), ("*OPC?", "1"),
             ("ROUT:CLOS? (@101,102)", "1,0"), ("MEAS:RES? (@201)", "+2.20100000E+02"),
             ("MEAS:RES? (@201)", "+9.90000000E+37"), ("ROUT:OPEN (@101,102)", None), ("*OPC?", "1")]
    with expected_protocol(steps) as t:
        daq = KeysightDaq970(t)
        daq.close_channels([102, 101])
        daq.open_channels([102])
        assert daq.closed_channels([101, 102]) == [True, False]
        assert daq.measure_resistance(201) == pytest.approx(220.1)
        assert daq.measure_resistance(201) == float("inf")
        daq.safe()


def test_daq970_refuses_a_channel_that_no_slot_has_before_any_io() -> None:
    with expected_protocol([]) as t:
        with pytest.raises(InvalidValue, match="slot"):
            KeysightDaq970(t).close_channels([450])


def test_infiniivision_configure_measure_and_a_window_with_holes() -> None:
    codes = np.array([32768 + 2048, 32768 - 4096, 1, 0], dtype=">u2").tobytes()   # +1 V, -2 V, clipped, hole
    block = b"#18" + codes + b"\n"
    steps = [(":STOP", None), (":CHANnel1:PROBe 1", None), (":CHANnel1:SCALe 4", None), (":CHANnel1:OFFSet 0", None),
             (":CHANnel1:DISPlay 1", None), (":ACQuire:TYPE HRESolution", None), (":TIMebase:MODE ROLL", None),
             (":TIMebase:REFerence LEFT", None), (":WAVeform:FORMat WORD", None), (":WAVeform:BYTeorder MSBFirst", None),
             (":WAVeform:UNSigned 1", None), (":RUN", None), ("*OPC?", "1"),
             (":MEASure:VTOP? CHANnel1", "+8.97E+00"), (":MEASure:FREQuency? CHANnel1", "+9.9E+37"),
             (":TIMebase:POSition 1.0000000000000E+00;:TIMebase:RANGe 4.000000000E-03;:WAVeform:SOURce CHANnel1;"
              ":WAVeform:POINts 4", None),
             (":WAVeform:PREamble?", "+1,+3,+4,+1,+1.0E-03,+1.0E+00,+0,+4.8828125E-04,+0.0E+00,+32768"),
             (":WAVeform:DATA?", block)]
    with expected_protocol(steps) as t:
        scope = KeysightInfiniiVision(t)
        scope.configure({1: (4.0, 1.0)})
        assert scope.measure("vtop", 1) == pytest.approx(8.97)
        assert np.isnan(scope.measure("frequency", 1))
        wave = scope.window(1, 1.0, 4e-3, 4)
    assert wave.values[0] == pytest.approx(1.0) and wave.values[1] == pytest.approx(-2.0)
    assert wave.acquired == 3 and wave.end_s == pytest.approx(1.003)


def test_infiniivision_block_of_the_wrong_length_is_an_operation_error() -> None:
    from core.errors import InstrumentOperationError
    steps = [(":TIMebase:POSition 0.0000000000000E+00;:TIMebase:RANGe 1.000000000E+00;:WAVeform:SOURce CHANnel2;"
              ":WAVeform:POINts 2", None),
             (":WAVeform:PREamble?", "+1,+3,+2,+1,+0.5E+00,+0.0E+00,+0,+1.0E-02,+0.0E+00,+32768"),
             (":WAVeform:DATA?", b"#12\x80\x00\n")]
    with expected_protocol(steps) as t:
        with pytest.raises(InstrumentOperationError, match="2 bytes for 2 WORD points"):
            KeysightInfiniiVision(t).window(2, 0.0, 1.0, 2)


def test_e36100_drives_a_current_with_compliance_and_switches_off() -> None:
    steps = [("VOLT 10", None), ("CURR 0.006000", None), ("OUTP ON", None), ("*OPC?", "1"),
             ("MEAS:CURR?", "+5.99E-03"), ("OUTP OFF", None), ("*OPC?", "1")]
    with expected_protocol(steps) as t:
        dc = KeysightE36100(t)
        dc.set_current_ma(6.0)
        assert dc.measure_current_ma().value == pytest.approx(5.99)
        dc.set_current_ma(0.0)


class _RtuPeer:
    """A TCP peer that checks each RTU request byte for byte and sends the scripted answer."""

    def __init__(self, script: list[tuple[bytes, bytes]]) -> None:
        self.script, self.errors = list(script), []  # type: list[tuple[bytes, bytes]], list[str]
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.port = self._srv.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self._srv.accept()
        with conn:
            for request, answer in self.script:
                got = b""
                while len(got) < len(request):
                    chunk = conn.recv(len(request) - len(got))
                    if not chunk:
                        return
                    got += chunk
                if not self._same(got, request):
                    self.errors.append(f"expected {request.hex()}, got {got.hex()}")
                    return
                conn.sendall(self._reply(got, answer))

    @staticmethod
    def _same(got: bytes, request: bytes) -> bool:
        return got == request

    @staticmethod
    def _reply(got: bytes, answer: bytes) -> bytes:
        return answer


def _rtu(hex_body: str) -> bytes:
    body = bytes.fromhex(hex_body)
    return body + crc16(body)


def test_modbus_relay_board_frames_are_the_specification_s() -> None:
    script = [(_rtu("01 05 0002 FF00"), _rtu("01 05 0002 FF00")),            # relay 3 on (FC05)
              (_rtu("01 01 0000 0003"), _rtu("01 01 01 04")),                # coils 0-2 first: only coil 2 on
              (_rtu("01 0F 0000 0003 01 05"), _rtu("01 0F 0000 0003")),      # relays 1 and 3 on, 2 as it was (FC15)
              (_rtu("01 01 0000 0003"), _rtu("01 01 01 05")),                # read back 1..3
              (_rtu("01 02 0000 0001"), _rtu("01 02 01 01"))]                # interlock input closed (FC02)
    peer = _RtuPeer(script)
    board = ModbusRelayBoard(ModbusMaster("switch", f"socket://127.0.0.1:{peer.port}", {"id": 1}))
    try:
        board.close_channels([3])
        board.close_channels([1, 3])   # FC15 over relays 1..3, relay 2 kept as the board reports it
        assert board.closed_channels([1, 2, 3]) == [True, False, True]
        assert board.read_inputs([1]) == [True]
    finally:
        board.close()
    assert not peer.errors, peer.errors
    assert crc16(bytes.fromhex("010300000001")) == bytes.fromhex("840A")   # the specification's CRC worked out


def test_wiring_refuses_a_channel_used_twice_and_unknown_functions() -> None:
    with pytest.raises(InvalidValue, match="channel 101 is wired twice"):
        parse_wiring({"channels": {"cp_short": 101}, "cp_resistors": {"R3": [101, 2740.0]}})
    with pytest.raises(InvalidValue, match="not a function"):
        parse_wiring({"channels": {"cp_shrt": 101}})
    wiring = parse_wiring({"cp_resistors": {"R3": [101, 2740.0], "C_low": [106, 909.0]}})
    assert {r.name for r in wiring.cp_combination(1.0 / (1 / 2740 + 1 / 909))} == {"R3", "C_low"}
    with pytest.raises(InvalidValue, match="cannot make 5000.0 ohm"):
        wiring.cp_combination(5000.0)


def test_a_rig_file_whose_wiring_lacks_what_the_cp_needs_names_the_key(tmp_path: Path) -> None:
    text = open("rigs/sim-cots.toml", encoding="utf-8").read().replace("cp_short = 108\n", "")
    bad = tmp_path / "rig.toml"
    bad.write_text(text.replace('R3 = [101, 2740.0]', 'R3 = [101, 2740.0]'))
    with pytest.raises(ConfigError, match=r"\[wiring\].*cp_short"):
        load_rig_file(bad)


def test_the_bench_of_parts_times_the_contactor_on_the_scope_within_a_millisecond() -> None:
    """The simulated opening delay, measured through the scope's record (switching stamped where CP
    steps, the contactor where the sine leaves): the bench of parts reads what the board reads."""
    from fixtures.timing import delay_s
    delays = {}
    for rig_file in ("rigs/sim.toml", "rigs/sim-cots.toml"):
        with Rig.from_file(rig_file, sim_overrides={"contactor_open_delay_ms": "98"}) as rig:
            cp, clock = rig.cp, rig.clock
            rig.energise()
            clock.sleep(10)
            found = []
            for k in range(6):
                cp.set_state("B")
                clock.sleep(3)
                cp.start_capture()
                cp.set_state("C")
                clock.sleep(2.0 + k * 0.0037)
                t_b = cp.set_state("B")
                clock.sleep(1)
                found.append(delay_s(cp.read_edges(), t_b, Channel.OVP, "0"))
            delays[rig_file] = found
    assert all(abs(d - 0.098) <= 1e-3 for d in delays["rigs/sim-cots.toml"]), delays
    assert all(abs(d - 0.098) <= 1e-6 for d in delays["rigs/sim.toml"]), delays


class _TcpPeer(_RtuPeer):
    """Modbus TCP: the transaction id is the client's to choose, so it is echoed; every other byte
    (protocol id, length, unit, PDU) is checked as scripted."""

    @staticmethod
    def _same(got: bytes, request: bytes) -> bool:
        return got[2:] == request[2:]

    @staticmethod
    def _reply(got: bytes, answer: bytes) -> bytes:
        return got[:2] + answer[2:]


def _mbap(hex_pdu: str, unit: int = 1) -> bytes:
    pdu = bytes.fromhex(hex_pdu)
    return b"\x00\x00" + struct.pack(">HHB", 0, len(pdu) + 1, unit) + pdu


def test_watlow_f4t_sets_celsius_then_a_setpoint_and_reads_the_air() -> None:
    from instruments.chamber import WatlowF4T
    script = [(_mbap("10 0530 0001 02 000F"), _mbap("10 0530 0001")),            # display units: C (1328 = 15)
              (_mbap("10 0FCA 0002 04 0000 4248"), _mbap("10 0FCA 0002")),      # setpoint 50.0 (0x42480000, low word first)
              (_mbap("03 1056 0002"), _mbap("03 04 3333 4247"))]                # air 49.8 (0x42473333)
    peer = _TcpPeer(script)
    chamber = WatlowF4T(ModbusMaster("chamber", f"tcp://127.0.0.1:{peer.port}", {"id": 1}))
    try:
        chamber.set_temperature_c(50.0)
        assert chamber.temperature_c().value == pytest.approx(49.8, abs=1e-4)
    finally:
        chamber.close()
    assert not peer.errors, peer.errors


def test_every_endpoint_of_the_virtual_lab_can_be_exported_to_labgrid() -> None:
    """`sim serve --labgrid-exporter` exports every endpoint, the bench of parts' too (a Modbus TCP
    chamber is a NetworkService), and a place resolves each back to the address it was."""
    from rig.places import address_of, exporter_config
    from sim.lab import start_virtual_lab
    lab = start_virtual_lab(seed=1, knobs={})
    try:
        exported: dict[str, dict[str, str]] = {}
        for line in exporter_config("bench", lab.endpoints).splitlines()[1:]:   # two levels: name, then fields
            if not line.startswith("    "):
                current = exported.setdefault(line.strip().rstrip(":"), {})
            else:
                key, _, value = line.strip().partition(": ")
                current[key] = value
        assert set(exported) == set(lab.endpoints)
        for name, address in lab.endpoints.items():
            fields = dict(exported[name])
            cls = fields.pop("cls")
            if not address.startswith("can:"):
                assert address_of(cls, fields, name) == address, name
    finally:
        lab.stop()


def test_the_relay_module_drives_the_same_virtual_bench(tmp_path: Path) -> None:
    """rigs/sim-cots.toml with the Modbus relay module instead of the DAQ970A (relay n = DAQ
    channel 100 + n on this bench, and no DMM): a vehicle plugs in and charges, timed on the scope."""
    import re
    from fixtures.timing import delay_s
    text = open("rigs/sim-cots.toml", encoding="utf-8").read()
    text = text.replace('driver = "keysight-daq970"\naddress = "sim:switch"', 'driver = "modbus-relays"\naddress = "sim:relays"')
    text = text.replace("pp_sense = 201\n", "")
    # no DMM on a relay module: no measured leakage path either
    text = re.sub(r"\nleakage_sense = 202[^\n]*", "", text)
    text = re.sub(r"\nleakage_shunt_ohm = [^\n]*", "", text)
    text = re.sub(r"\n\[wiring\.leakage_resistors\][^\n]*(\n(?!\[)[^\n]*)*", "\n", text)
    head, _, wiring = text.partition("[wiring]")
    wiring, _, tail = wiring.partition("[instruments.installer]")
    wiring = re.sub(r"\b1(\d\d)\b(?=[,\]\n ])", lambda m: str(int(m.group(1))), wiring)
    text = f"{head}[wiring]{wiring}[instruments.installer]{tail}"
    rig_file = tmp_path / "relays.toml"
    rig_file.write_text(text)
    with Rig.from_file(rig_file) as rig:
        assert rig.identities["switch"].startswith("MODBUS-RELAY")
        cp, clock = rig.cp, rig.clock
        rig.energise()
        clock.sleep(10)
        cp.start_capture()
        t_b = cp.set_state("B")
        clock.sleep(5)
        t_c = cp.set_state("C")
        clock.sleep(5)
        edges = cp.read_edges()
        assert cast(Switch, rig.instruments["switch"]).closed_channels([1, 2, 3]) == [True, True, False]   # R3, R2 in
    assert delay_s(edges, t_b, Channel.PWM, "1") < 5 and delay_s(edges, t_c, Channel.OVP, "1") < 3


def test_the_virtual_relay_module_and_chamber_answer_as_modbus_devices_do() -> None:
    """Served by pymodbus like the meter emulator (no second Modbus framing in the project): what
    exists answers, what does not is an exception response the driver reports, a setpoint outside
    the controller's range is refused (exception 3, illegal data value) and nothing changes."""
    from instruments.chamber import WatlowF4T
    from sim.lab import start_virtual_lab
    lab = start_virtual_lab(seed=1, knobs={})
    try:
        relays = ModbusRelayBoard(ModbusMaster("switch", lab.endpoints["relays"], {"id": 1}))
        relays.close_channels([3, 32])
        assert relays.closed_channels([1, 3, 32]) == [False, True, True]
        assert relays.read_inputs([1]) == [True]                      # the interlock loop
        with pytest.raises(InstrumentOperationError):
            relays.bus.read_coils(30, 4)                              # coils 33, 34 do not exist
        relays.safe()
        assert relays.closed_channels([3, 32]) == [False, False]
        relays.close()
        silent = ModbusMaster("switch", lab.endpoints["relays"], {"id": 2, "timeout_s": 0.3})
        with pytest.raises(InstrumentOperationError):
            silent.read_coils(0, 1)                                   # another unit id: no answer on a bus
        silent.close()
        chamber = WatlowF4T(ModbusMaster("chamber", lab.endpoints["chamber"], {"id": 1}))
        assert chamber.identify().startswith("WATLOW,F4T")
        with pytest.raises(InstrumentOperationError):
            chamber.bus.write_registers(4042, [0, 0x4348])            # 200.0 °C: beyond -70…180
        with pytest.raises(InstrumentOperationError):
            chamber.bus.read_registers(4100, 1)                       # no such register
        chamber.set_temperature_c(40.0)
        assert chamber.bus.read_registers(4042, 2) == [0, 0x4220]     # 40.0 as a float, low word first
        chamber.close()
    finally:
        lab.stop()


def test_a_cp_step_whose_neighbour_sample_is_still_settling_is_an_edge() -> None:
    """Seen after ~25,000 virtual seconds on the bench of parts: the generator's 0 → 6 V step fell
    inside a 2 µs sample (5.83 V), and the next one was still 0.16 V short of the level; the level
    check took only the three samples right after the jump, found them unsettled, and the DUT's
    generator coming up was never reported (a cold-load delay of 0, 'generator up = inf')."""
    from instruments.parts.recorder import ZOOM_S, ScopeRecorder, _State

    rng = np.random.default_rng(1)
    values = np.concatenate((rng.normal(0.0, 0.005, 2500), [5.8335, 5.9976], 5.998 + rng.normal(0.0, 0.002, 4000)))
    recorder = ScopeRecorder.__new__(ScopeRecorder)
    recorder.edges, recorder.state = [], _State(cph=0.0, pwm=False)
    recorder._cp_edges(values, 100.0)
    assert [(e.channel, e.value) for e in recorder.edges] == [(Channel.CPH, "6.00")]
    assert recorder.edges[0].t_s == pytest.approx(100.0 + 2500 * ZOOM_S)


def test_the_virtual_scope_holds_no_more_than_its_memory_and_the_rig_reads_it_before_it_rolls() -> None:
    """A read reaches back no further than the acquisition memory holds (4 Mpts, M924x guide p. 1171, at
    the record's 2 µs: 8 s; 4 s on channels 3 and 4, which share one memory: 3000 X User's Guide p. 270);
    a test that waits minutes still gets every edge, because the rig's clock reads the record while it
    waits (`Clock.watch`, `ScopeRecorder.keep_up_s`)."""
    from fixtures.timing import delay_s
    from instruments.facts import fact
    from sim.cots import SCOPE_SAMPLE_S

    memory_s = fact("keysight-infiniivision", "memory_points") * SCOPE_SAMPLE_S
    from instruments.parts.cp import PartsCpEmulator

    with Rig.from_file("rigs/sim-cots.toml", sim_overrides={"contactor_open_delay_ms": "98"}) as rig:
        cp, clock = cast(PartsCpEmulator, rig.cp), rig.clock
        scope = cast(KeysightInfiniiVision, rig.instruments["scope"])
        assert scope.displayed == {1, 3}     # CP and the output; the leakage shunt (4) only while a current flows
        assert cp.recorder.memory_s == pytest.approx(memory_s) and cp.recorder.keep_up_s < memory_s
        assert cp.recorder.keep_up_with(4) < memory_s / 2       # 3 and 4 share the second memory
        rig.energise()
        clock.sleep(10)
        cp.set_state("B")
        clock.sleep(3)
        cp.start_capture()
        cp.set_state("C")
        clock.sleep(5)
        t_b = cp.set_state("B")
        updates = cp.recorder.zooms
        clock.sleep(120)          # minutes with no read asked for by the test: the clock's watch reads
        assert cp.recorder.zooms > updates
        assert abs(delay_s(cp.read_edges(), t_b, Channel.OVP, "0") - 0.098) <= 1e-3
        clock._watches, watches = [], clock._watches    # no reads for longer than the memory holds
        scope.show(4, True)
        clock.sleep(12.0)
        scope.stop()
        now = scope.now(cp.recorder.read_until_s)
        old = scope.window(1, now - memory_s - 1.0, 0.5, 1000)      # rolled out of the memory
        assert old.acquired == 0 and np.isnan(old.values).all()
        kept = scope.window(1, now - memory_s + 0.5, 0.5, 1000)     # still held
        assert kept.acquired == 1000
        assert scope.window(3, now - memory_s / 2 - 0.6, 0.5, 1000).acquired == 0   # half as deep
        assert scope.window(3, now - memory_s / 2 + 0.5, 0.5, 1000).acquired == 1000
        scope.run()
        clock._watches = watches


def test_the_virtual_scope_gives_its_measurement_record_while_running_and_decimates_when_stopped() -> None:
    """A running InfiniiVision gives only its measurement record, the screen's buckets (at most 1000 points,
    3000 X User's Guide p. 270); stopped, a decimated read is the last sample of each bucket and
    `:WAVeform:POINts` an even divisor of 1000 or MAXimum (M924x guide p. 1171); `:RUN` starts a new
    record, so what the one before held is gone."""
    from sim.cots import SCOPE_SAMPLE_S

    with Rig.from_file("rigs/sim-cots.toml") as rig:
        clock = rig.clock
        scope = cast(KeysightInfiniiVision, rig.instruments["scope"])
        rig.energise()
        clock.sleep(10.0)
        rig.cp.set_state("B")
        clock.sleep(3.0)
        clock._watches = []
        assert rig.cp.measure_cp().duty_pct > 10                  # the DUT offers PWM: CP is +9 V / -12 V
        clock.sleep(2.0)
        running = scope.window(1, 0.0, 1.0, None)                 # MAXimum while running: the screen only
        assert len(running.values) == 1000 and running.dt_s == pytest.approx(1e-3)
        scope.stop()
        end = scope.now(0.0)
        assert running.t0_s == pytest.approx(end - 1.0, abs=1e-3)  # the screen ends at the newest sample
        every = scope.window(1, end - 0.01, 0.01, None)
        assert every.dt_s == pytest.approx(SCOPE_SAMPLE_S) and every.acquired == len(every.values) == 5000
        buckets = scope.window(1, end - 1.0, 0.999, 1000).values
        between = (buckets < 8.0) & (buckets > -11.0)      # one 2 us sample each: a mean of a bucket's halves would be
        assert np.count_nonzero(between) <= 10             # ~-0.8 V; only a sample on an edge lies between
        scope.transport.write(":WAVeform:POINts 300")
        assert scope.transport.query(":SYSTem:ERRor?").startswith("-224")
        with pytest.raises(InvalidValue, match="even divisor"):
            scope.window(1, end - 1.0, 1.0, 300)
        with pytest.raises(InstrumentOperationError, match="0 bytes"):   # channel 4 is off: no record
            scope.window(4, end - 1.0, 1.0, 1000)
        assert scope.transport.query(":SYSTem:ERRor?").startswith("-221")
        scope.run()
        clock.sleep(1.0)
        scope.stop()
        assert scope.window(1, end - 0.6, 0.5, 1000).acquired == 0    # the record before :RUN is gone
        assert scope.window(1, end + 0.1, 0.5, 1000).acquired == 1000
        scope.run()


def test_a_clock_calls_its_watches_while_a_wait_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a lab's clock too (host time faked here: tests never time the host)."""
    import rig.clock as clock_module
    from rig.clock import RealClock

    host = [100.0]
    monkeypatch.setattr(clock_module.time, "monotonic", lambda: host[0])
    monkeypatch.setattr(clock_module.time, "sleep", lambda s: host.__setitem__(0, host[0] + s))
    clock = RealClock()
    calls: list[float] = []
    clock.watch(6.0, lambda: calls.append(clock.now()))
    clock.sleep(30.0)
    assert len(calls) == 5 and all(b - a == pytest.approx(6.0) for a, b in zip(calls, calls[1:]))
    with pytest.raises(InvalidValue, match="every_s > 0"):
        clock.watch(0.0, lambda: None)
    # one recorder watched by two roles (the CP emulator and fault injection on one scope) is read once
    shared: list[float] = []

    class Recorder:
        def update(self) -> None:
            shared.append(clock.now())

    recorder = Recorder()
    clock.watch(3.0, recorder.update)
    clock.watch(3.0, recorder.update)
    clock.sleep(9.0)
    assert len(shared) == 3


def test_the_overviews_points_see_each_half_of_a_pwm_within_their_bound() -> None:
    """The overview's single samples turn through the PWM's phase by the golden section, so a half that
    takes a fraction f of the period goes unseen for at most `longest_run(1 - f)` points, whatever the
    phase of the first: 2 at 50 % duty (PWM stopping shows within 16 ms), 33 at 4 or 96 %; and two
    neighbouring points never both fall within 0.2 ms of a zero crossing of a 45 … 65 Hz sine."""
    from instruments.parts.recorder import OVERVIEW_PERIODS, RUN_MAX, longest_run

    assert longest_run(0.5) == 2 and RUN_MAX == longest_run(0.96) <= 33
    k = np.arange(400)
    for duty in (0.04, 0.1, 0.266, 0.5, 0.533, 0.9, 0.96):
        unseen_low, unseen_high = longest_run(duty), longest_run(1.0 - duty)
        for phase in np.linspace(0.0, 1.0, 97, endpoint=False):
            high = (phase + k * OVERVIEW_PERIODS) % 1.0 < duty
            for half, bound in ((~high, unseen_low), (high, unseen_high)):
                seen = np.flatnonzero(half)
                assert np.diff(np.concatenate(([-1], seen))).max() - 1 <= bound, (duty, phase)
    delta_s = OVERVIEW_PERIODS * 1e-3
    for hz in np.linspace(45.0, 65.0, 81):
        half_period = 0.5 / hz
        apart = delta_s % half_period
        assert min(apart, half_period - apart) > 2 * 0.2e-3, hz


def test_a_pwm_paused_for_a_tenth_of_a_second_shows_as_stop_and_start() -> None:
    """Seen on the bench of parts: the safe state between two tests unplugged the vehicle and plugged it
    back in at the same instant; the DUT dropped its PWM for the 100 ms it takes to offer again, and an
    overview that walked the phase slowly never saw the pause, so the new offer had no start."""
    from fixtures.timing import delay_s

    with Rig.from_file("rigs/sim-cots.toml") as rig:
        cp, clock = rig.cp, rig.clock
        rig.energise()
        clock.sleep(10.0)
        cp.set_state("B")
        clock.sleep(3.0)
        cp.start_capture()
        t_a = cp.set_state("A")
        cp.set_state("B")
        clock.sleep(2.0)
        edges = cp.read_edges()
        stopped = delay_s(edges, t_a - 1e-3, Channel.PWM, "0")
        assert stopped <= 2e-3
        assert 0.05 <= delay_s(edges, t_a + stopped, Channel.PWM, "1") <= 0.2


def test_a_wait_shorter_than_a_sample_still_moves_the_scopes_time_after_hours() -> None:
    """Found on the bench of parts after ~21,000 virtual seconds: the window's position went out with
    ten significant digits, so a read began up to 10 µs early, the newest samples were cut off, and a
    loop waiting out a few microseconds by the scope's time never saw it move."""
    with Rig.from_file("rigs/sim-cots.toml") as rig:
        cp, clock = rig.cp, rig.clock
        rig.energise()
        clock.sleep(12_000.0)
        t = cp.time()
        for _ in range(3):
            clock.sleep(5e-6)
            later = cp.time()
            assert 2e-6 <= later - t <= 8e-6
            t = later


def test_infiniivision_single_acquisition_arms_waits_and_reads_the_stopped_record() -> None:
    """Main time base with the reference `pre` before the trigger, an edge trigger (3000T X guide,
    :TRIGger[:EDGE] p. 1036), the trigger event register cleared by reading it (4000 X guide :TER p. 296),
    :SINGle; the Operation Status Condition Register tells armed (Run, bit 3), waiting for the trigger
    (Wait Trig, bit 5) and done (Run clear) (p. 1571, polled as p. 1603 shows); the record read with
    its x origin relative to the trigger; then back to the roll record."""
    codes = np.array([32768, 32768 + 4096], dtype=">u2").tobytes()
    steps = [(":STOP", None),
             (":TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 5.100000000E-01;"
              ":TIMebase:POSition -1.000000000E-02;:TRIGger:MODE EDGE;:TRIGger:EDGE:SOURce CHANnel1;"
              ":TRIGger:EDGE:LEVel 7.500000E+00;:TRIGger:EDGE:SLOPe POSitive", None),
             (":TER?", "+0"), (":SINGle", None), (":OPERegister:CONDition?", "+8"),
             (":OPERegister:CONDition?", "+40"), (":OPERegister:CONDition?", "+8"), (":OPERegister:CONDition?", "+0"),
             (":WAVeform:SOURce CHANnel3;:WAVeform:POINts MAXimum", None),
             (":WAVeform:PREamble?", "+1,+3,+2,+1,+2.0E-06,-1.0E-02,+0,+1.220703125E-02,+0.0E+00,+32768"),
             (":WAVeform:DATA?", b"#14" + codes + b"\n"),
             (":TIMebase:MODE ROLL", None), (":TIMebase:REFerence LEFT", None), (":RUN", None), ("*OPC?", "1")]
    with expected_protocol(steps) as t:
        scope = KeysightInfiniiVision(t)
        scope.arm_single(1, 7.5, True, 0.01, 0.5)
        assert scope.single_waits() and not scope.single_waits()
        assert scope.single_done()
        wave = scope.single_window(3)
        scope.resume_roll()
    assert wave.t0_s == pytest.approx(-0.01) and wave.dt_s == pytest.approx(2e-6)
    assert wave.values[1] == pytest.approx(50.0)


def test_infiniivision_refuses_a_single_acquisition_it_cannot_arm_before_any_io() -> None:
    with expected_protocol([]) as t:
        with pytest.raises(InvalidValue, match="single acquisition"):
            KeysightInfiniiVision(t).arm_single(5, 7.5, True, 0.01, 0.5)
    with expected_protocol([(":STOP", None), (":TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe "
                             "1.000000000E+00;:TIMebase:POSition -0.000000000E+00;:TRIGger:MODE EDGE;:TRIGger:EDGE:"
                             "SOURce CHANnel1;:TRIGger:EDGE:LEVel 1.000000E+00;:TRIGger:EDGE:SLOPe NEGative", None),
                            (":TER?", "+0"), (":SINGle", None), (":OPERegister:CONDition?", "+0")]) as t:
        with pytest.raises(InstrumentOperationError, match="did not arm"):
            KeysightInfiniiVision(t).arm_single(1, 1.0, False, 0.0, 1.0)


@contextlib.contextmanager
def virtual_scope(seed: int) -> Iterator[tuple[Callable[[str], str | bytes | None], Any, Any]]:
    """The virtual lab's scope front end, spoken to line by line, CP (1) and the output (3) shown; with
    the lab's world and plant to move."""
    from sim.lab import start_virtual_lab
    lab = start_virtual_lab(seed=seed, knobs={})
    try:
        frontend = lab.frontends["scope"]
        for ch in (1, 3):
            frontend.handle(f":CHANnel{ch}:DISPlay 1")
        yield frontend.handle, lab.world, lab.plant
    finally:
        lab.stop()


def stopped_cp_record(scope: Callable[[str], str | bytes | None]) -> tuple[np.ndarray, int, float]:
    """CP's (channel 1, 4 V/div) whole stopped single acquisition at 2 µs: its volts, the trigger's
    index, the first point's time relative to the trigger."""
    scope(":WAVeform:SOURce CHANnel1;:WAVeform:POINts MAXimum")
    x0 = float(str(scope(":WAVeform:PREamble?")).split(",")[5])
    block = scope(":WAVeform:DATA?")
    assert isinstance(block, bytes)
    codes = np.frombuffer(block[2 + int(block[1:2]):], dtype=">u2")
    return (codes.astype(float) - 32768) * 8 * 4.0 / 65536, round(-x0 / 2e-6), x0


def test_infiniivision_runt_trigger_is_set_per_source_before_the_single_acquisition() -> None:
    """The runt trigger as the 3000T X guide gives it (:TRIGger:RUNT commands p. 1056; the thresholds per
    source, :TRIGger:LEVel:LOW p. 1015 and :HIGH p. 1014), armed as an edge-triggered one is; thresholds
    that are not a low under a high are refused before any I/O."""
    steps = [(":STOP", None),
             (":TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 4.510000000E+00;"
              ":TIMebase:POSition -1.000000000E-02;:TRIGger:MODE RUNT;:TRIGger:RUNT:SOURce CHANnel1;"
              ":TRIGger:RUNT:POLarity POSitive;:TRIGger:RUNT:QUALifier NONE;"
              ":TRIGger:LEVel:LOW 1.000000E+00,CHANnel1;:TRIGger:LEVel:HIGH 7.500000E+00,CHANnel1", None),
             (":TER?", "+0"), (":SINGle", None), (":OPERegister:CONDition?", "+8")]
    with expected_protocol(steps) as t:
        KeysightInfiniiVision(t).arm_single_runt(1, 1.0, 7.5, 0.01, 4.5)
    with expected_protocol([]) as t:
        with pytest.raises(InvalidValue, match="runt trigger"):
            KeysightInfiniiVision(t).arm_single_runt(1, 7.5, 1.0, 0.01, 4.5)


def test_the_virtual_scope_triggers_on_the_first_runt_after_cp_steps_down() -> None:
    """A PWM whose high level drops from B's 9 V to C's 6 V: the pulse in which the step fell reached 9 V
    and is no runt; the next one is, and the trigger is where it falls back through the low threshold.
    Thresholds and edge levels beyond 0.75 of full scale are refused (-222, 3000T guide pp. 1014-1015),
    thresholds out of order and settings the model does not hold as a settings conflict (-221)."""
    with virtual_scope(seed=3) as (scope, world, plant):
        scope(":CHANnel1:SCALe 4")
        scope(":TRIGger:LEVel:HIGH 30.0,CHANnel1")
        assert scope(":SYSTem:ERRor?") == '-222,"Data out of range"'          # 24 V is 0.75 of 8 x 4 V
        scope(":TRIGger:RUNT:POLarity NEGative")
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'
        scope(":TRIGger:EDGE:SOURce CHANnel1;:TRIGger:EDGE:LEVel -25.0")           # an edge level: the same range
        assert scope(":SYSTem:ERRor?") == '-222,"Data out of range"'
        scope(":TRIGger:EDGE:LEVel 24.0")
        assert scope(":SYSTem:ERRor?") == '0,"No error"'
        plant.generator.mode, plant.generator.duty_pct = "pwm", 20.0
        plant.vehicle.r_ohm = 2740.0                                          # B: 9 V
        plant.changed()
        world.advance_to(math.floor(world.now * 1000) / 1000 + 0.0005)       # the middle of a PWM period
        scope(":STOP;:TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 2.0E-02;:TIMebase:POSition "
              "-5.0E-03;:TRIGger:MODE RUNT;:TRIGger:RUNT:SOURce CHANnel1;:TRIGger:RUNT:POLarity POSitive;"
              ":TRIGger:RUNT:QUALifier NONE;:TRIGger:LEVel:LOW 8.0,CHANnel1;:TRIGger:LEVel:HIGH 7.5,CHANnel1")
        scope(":SINGle")
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'          # the low threshold above the high
        scope(":TRIGger:LEVel:LOW 1.0,CHANnel1")
        scope(":SINGle")
        world.advance_to(world.now + 0.0101)                                  # pre-trigger held: 9 V pulses only
        assert scope(":OPERegister:CONDition?") == "+40"
        step = math.floor(world.now * 1000) / 1000 + 0.001 + 0.0001          # inside a pulse (0.2 ms high)

        def to_c() -> None:
            plant.vehicle.r_ohm = 1.0 / (1.0 / 2740.0 + 1.0 / 1300.0)
            plant.changed()
        world.schedule(step - world.now, to_c)
        world.advance_to(step + 0.030)
        assert scope(":OPERegister:CONDition?") == "+0"
        volts, trigger, x0 = stopped_cp_record(scope)
        assert volts[trigger - 1] > 1.0 > volts[trigger]                      # the runt's fall
        assert 5.5 < volts[trigger - 20] < 6.5                                # 6 V: C's level, a runt
        assert volts[trigger - 500 - 60] > 8.5                                # the pulse a period before: 9 V
        assert x0 == pytest.approx(-5e-3)                                     # times relative to the trigger


def test_the_virtual_scope_triggers_a_single_acquisition_only_once_its_pre_trigger_part_is_held() -> None:
    """The virtual X-Series as the programmer's guide describes it: :SINGle only in the main time base;
    no trigger before the pre-trigger part is held (Wait Trig: a CP already high when armed is no edge);
    the record is read only once done, its times relative to the trigger; back in roll mode it runs."""
    with virtual_scope(seed=2) as (scope, world, plant):
        scope(":TIMebase:MODE ROLL")
        scope(":RUN")
        scope(":SINGle")
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'      # roll mode is untriggered
        scope(":STOP")
        scope(":TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 2.0E-02;:TIMebase:POSition -5.0E-03;"
              ":TRIGger:MODE EDGE;:TRIGger:EDGE:SOURce CHANnel1;:TRIGger:EDGE:LEVel 6.0;:TRIGger:EDGE:SLOPe POSitive")
        plant.generator.mode, plant.generator.amplitude_v = "dc", 12.0     # CP already high: no edge to see
        plant.changed()
        scope(":SINGle")
        assert scope(":OPERegister:CONDition?") == "+8"                 # armed, the pre-trigger part not yet held
        world.advance_to(world.now + 0.006)
        assert scope(":OPERegister:CONDition?") == "+40"                # waiting for the trigger
        scope(":WAVeform:SOURce CHANnel1;:WAVeform:POINts MAXimum")
        assert scope(":WAVeform:DATA?") == b"#10" and str(scope(":SYSTem:ERRor?")).startswith("-221")   # not done
        assert scope(":TER?") == "+0"
        step_at = world.now + 0.003

        def generator_at(volts: float) -> Callable[[], None]:
            def set_it() -> None:
                plant.generator.amplitude_v = volts
                plant.changed()
            return set_it
        world.schedule(0.003, generator_at(0.0))                       # CP drops for 1 ms, then rises: the edge
        world.schedule(0.004, generator_at(12.0))
        world.advance_to(world.now + 0.010)
        assert scope(":TER?") == "+1" and scope(":TER?") == "+0"          # read, then cleared
        assert scope(":OPERegister:CONDition?") == "+8"                 # triggered, the record not yet full
        world.advance_to(world.now + 0.020)
        assert scope(":OPERegister:CONDition?") == "+0"
        pre = str(scope(":WAVeform:PREamble?")).split(",")
        n, dt, x0 = int(pre[2]), float(pre[4]), float(pre[5])
        assert n == 10_000 and dt == pytest.approx(2e-6) and x0 == pytest.approx(-5e-3)
        block = scope(":WAVeform:DATA?")
        assert isinstance(block, bytes)
        codes = np.frombuffer(block[2 + int(block[1:2]):], dtype=">u2")
        volts = (codes.astype(float) - 32768) * 8 * 4.0 / 65536
        assert volts[2499] < 6.0 < volts[2500]                          # the trigger is sample 2500 (t = 0)
        assert np.all(volts[2000:2499] < 1.0) and np.all(volts[:2000] > 6.0)   # 1 ms low before it, high before that
        assert step_at == pytest.approx(world.now - 0.030 + 0.003, abs=1e-9)   # the record ends 26 ms after it
        scope(":TIMebase:MODE ROLL")
        scope(":RUN")
        assert scope(":OPERegister:CONDition?") == "+8"


def test_the_closing_from_a_single_acquisition_reads_the_simulated_delay() -> None:
    """B -> C timed in one record triggered on the first runt: the simulated 500 ms less at most the runt
    trigger's lag (`RUNT_HIDDEN_S`), at three phases of the PWM; the record's sample interval and its U
    are stated.  Without a PWM no pulse can be a runt: the roll record times it, and the act is left to
    the caller."""
    from fixtures.timing import delay_s
    from instruments.parts.cp import PartsCpEmulator
    with Rig.from_file("rigs/sim-cots.toml") as rig:
        cp, clock = cast(PartsCpEmulator, rig.cp), rig.clock
        rig.energise()
        clock.sleep(10)
        assert cp.capture_after(lambda: cp.set_state("C"), 4.5, clock.sleep, "down") is None   # A: no PWM
        assert cp.measure_cp().high_v > 11.0                                                     # not acted
        found = []
        for k in range(3):
            cp.set_state("B")
            clock.sleep(3.0 + k * 0.00037)
            capture = cp.capture_after(lambda: cp.set_state("C"), 4.5, clock.sleep, "down")
            assert capture is not None and capture.sample_interval_s == pytest.approx(2e-6)
            assert "runt" in capture.how and 1e-3 < capture.u_s < 3e-3
            found.append(delay_s(capture.edges, capture.t_act, Channel.OVP, "1"))
            clock.sleep(1.0)
            assert cp.output_present().value == 1                              # the roll record runs on, closed
            cp.set_state("B")
            clock.sleep(1.0)
        with pytest.raises(InvalidValue, match="cp_step"):
            cp.capture_after(lambda: cp.set_state("C"), 4.5, clock.sleep, "sideways")
    assert all(0.5 - PartsCpEmulator.RUNT_HIDDEN_S - 1e-3 <= d <= 0.5 + 1e-3 for d in found), found


def test_the_opening_from_a_single_acquisition_reads_the_simulated_delay_and_the_roll_record_runs_on() -> None:
    """The C -> B opening measured in one triggered record, at six phases of the PWM and the mains:
    98 ms within the 1 ms a vehicle step can hide; the record's sample interval is stated; after each
    capture the roll record is followed again on a later timebase and still sees the contactor."""
    from fixtures.timing import delay_s
    from instruments.parts.cp import PartsCpEmulator
    with Rig.from_file("rigs/sim-cots.toml", sim_overrides={"contactor_open_delay_ms": "98"}) as rig:
        cp, clock = cast(PartsCpEmulator, rig.cp), rig.clock
        rig.energise()
        clock.sleep(10)
        found, before = [], -1.0
        for k in range(6):
            cp.set_state("B")
            clock.sleep(3)
            t0 = cp.start_capture()
            assert t0 > before                                   # times only grow across captures
            cp.set_state("C")
            clock.sleep(2.0 + k * 0.0037)
            assert any(e.channel == Channel.OVP and e.value == "1" for e in cp.read_edges())   # roll record: closed
            capture = cp.capture_after(lambda: cp.set_state("B"), 0.5, clock.sleep, cp_step="up")
            assert capture is not None and capture.sample_interval_s == pytest.approx(2e-6)
            found.append(delay_s(capture.edges, capture.t_act, Channel.OVP, "0"))
            before = cp.time()
        assert len(cp.recorder.gaps) >= 6
        cp.scope.makes_single = False                            # a scope driver without single acquisitions:
        assert cp.capture_after(lambda: cp.set_state("B"), 0.5, clock.sleep, cp_step="up") is None   # the roll record
    assert all(abs(d - 0.098) <= 1e-3 for d in found), found


def test_infiniivision_pattern_trigger_holds_one_channel_over_its_level_for_a_time() -> None:
    """The pattern trigger with its TIMeout qualifier as the 3000 X guide gives it (:TRIGger:PATTern
    p. 919, ASCII, channel 1 first; :TRIGger:PATTern:QUALifier TIMeout p. 924): the channel's level set
    through the edge trigger first, then the pattern; a time outside 10 ns … 9.99 s (p. 926) or a level
    that is not a number is refused before any I/O."""
    steps = [(":STOP", None),
             (":TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 1.100000000E-01;"
              ":TIMebase:POSition -1.000000000E-02;:TRIGger:MODE EDGE;:TRIGger:EDGE:SOURce CHANnel3;"
              ":TRIGger:EDGE:LEVel -2.000000E+00;:TRIGger:MODE PATTern;:TRIGger:PATTern:FORMat ASCii;"
              ':TRIGger:PATTern "XX1X";:TRIGger:PATTern:QUALifier TIMeout;'
              ":TRIGger:PATTern:GREaterthan 1.500000E-03", None),
             (":TER?", "+0"), (":SINGle", None), (":OPERegister:CONDition?", "+8")]
    with expected_protocol(steps) as t:
        KeysightInfiniiVision(t).arm_single_held(3, -2.0, True, 1.5e-3, 0.01, 0.1)
    with expected_protocol([]) as t:
        scope = KeysightInfiniiVision(t)
        for level, held in ((-2.0, 10.0), (-2.0, 1e-9), (math.nan, 1.5e-3)):
            with pytest.raises(InvalidValue, match="pattern trigger"):
                scope.arm_single_held(1, level, True, held, 0.01, 0.1)


def test_the_virtual_scope_triggers_once_cp_has_held_above_a_level_for_the_pattern_time() -> None:
    """A 1 kHz PWM between +6 V and −12 V never holds above −2 V for 1.5 ms; CP shorted to PE (0 V) does,
    and the trigger is 1.5 ms after the short (the timer starts on the edge that made the pattern true).
    What the model does not hold (two channels, an edge in the pattern, another qualifier, HEX) is a
    settings conflict (-221), a time beyond 9.99 s out of range (-222), a string that is none -224."""
    with virtual_scope(seed=4) as (scope, world, plant):
        for command, error in ((':TRIGger:PATTern "1X1X"', "-221"), (':TRIGger:PATTern "RXXX"', "-221"),
                               (':TRIGger:PATTern "1Y"', "-224"), (":TRIGger:PATTern:QUALifier GREaterthan", "-221"),
                               (":TRIGger:PATTern:FORMat HEX", "-221"), (":TRIGger:PATTern:GREaterthan 10.0", "-222")):
            scope(command)
            assert str(scope(":SYSTem:ERRor?")).startswith(error), command
        plant.generator.mode, plant.generator.duty_pct = "pwm", 53.3
        plant.vehicle.r_ohm = 1.0 / (1.0 / 2740.0 + 1.0 / 1300.0)            # C: +6 V / -12 V
        plant.changed()
        scope(":STOP;:TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 3.0E-02;:TIMebase:POSition "
              '-1.0E-02;:TRIGger:MODE EDGE;:TRIGger:EDGE:SOURce CHANnel1;:TRIGger:EDGE:LEVel -2.0;'
              ':TRIGger:MODE PATTern;:TRIGger:PATTern:FORMat ASCii;:TRIGger:PATTern "1XXX";'
              ":TRIGger:PATTern:QUALifier TIMeout;:TRIGger:PATTern:GREaterthan 1.5E-03")
        assert scope(":SYSTem:ERRor?") == '0,"No error"'
        scope(":SINGle")
        world.advance_to(world.now + 0.030)
        assert scope(":OPERegister:CONDition?") == "+40"                      # 30 ms of PWM: no trigger
        short = math.floor(world.now * 1000) / 1000 + 0.001 + 0.0002            # inside a +6 V half

        def to_e() -> None:
            plant.vehicle.shorted = True
            plant.changed()
        world.schedule(short - world.now, to_e)
        world.advance_to(short + 0.025)
        assert scope(":OPERegister:CONDition?") == "+0"
        volts, trigger, x0 = stopped_cp_record(scope)
        last_low = int(np.flatnonzero(volts[:trigger] < -2.0)[-1])
        assert trigger - last_low == pytest.approx(750, abs=2)                # 1.5 ms after the last rise
        assert abs(volts[trigger + 10]) < 0.5 and np.any(volts[last_low:trigger] > 5.0)   # 0 V; +6 V before it


def test_the_virtual_scope_refuses_the_trigger_settings_a_single_acquisition_cannot_hold() -> None:
    """What the drivers never ask for is refused, not obeyed as something else: a trigger mode the model
    does not hold (3000 X guide p. 886: -224), a runt with a width qualifier (3000T guide p. 1056: -221),
    `:SINGle` on a pattern that names no channel (-221), `:SINGle` on a screen the memory holds at no
    sample interval the model has (-222: 4 Mpts, instruments/facts/keysight-infiniivision.toml, at most
    5 s a sample), `:RUN` on the main time base (a running triggered sweep is not modelled: -221) and an
    edge slope that is no slope (-224)."""
    with virtual_scope(seed=5) as (scope, world, plant):
        scope(":TRIGger:MODE GLITch")
        assert scope(":SYSTem:ERRor?") == '-224,"Illegal parameter value"'
        scope(":TRIGger:RUNT:QUALifier GREaterthan")
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'
        scope(":STOP;:TIMebase:MODE MAIN;:TIMebase:REFerence LEFT;:TIMebase:RANGe 2.0E-02;"
              ":TIMebase:POSition -5.0E-03;:TRIGger:MODE PATTern")
        scope(":SINGle")
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'           # no channel in the pattern
        scope(':TRIGger:PATTern "1XXX";:TIMebase:RANGe 1.0E+08')
        scope(":SINGle")
        assert scope(":SYSTem:ERRor?") == '-222,"Data out of range"'           # 1e8 s in 4 Mpts: 25 s a sample
        assert scope(":OPERegister:CONDition?") == "+0"                        # nothing armed
        scope(":RUN")                                                          # a running triggered sweep
        assert scope(":SYSTem:ERRor?") == '-221,"Settings conflict"'
        scope(":TRIGger:EDGE:SLOPe SIDEways")
        assert scope(":SYSTem:ERRor?") == '-224,"Illegal parameter value"'


def test_the_opening_after_a_cp_short_from_a_single_acquisition_reads_the_simulated_delay() -> None:
    """C → E timed in one record triggered on a pattern (CP held above −2 V for 1.5 ms): the short found in
    the record, in the PWM's high or low half, the simulated 20 ms within the zero crossing's 0.2 ms and
    the grid; without a PWM nothing stops coming, so the roll record times it."""
    from fixtures.timing import delay_s
    from instruments.parts.cp import PartsCpEmulator
    with Rig.from_file("rigs/sim-cots.toml") as rig:
        cp, clock = cast(PartsCpEmulator, rig.cp), rig.clock
        rig.energise()
        clock.sleep(10)
        assert cp.capture_after(lambda: cp.set_state("E"), 0.5, clock.sleep, "flat") is None   # A: no PWM
        found = []
        for k in range(4):
            cp.set_state("B")
            clock.sleep(3.0)
            cp.set_state("C")
            clock.sleep(2.0 + k * 0.00029)
            capture = cp.capture_after(lambda: cp.set_state("E"), 0.5, clock.sleep, "flat")
            assert capture is not None and "pattern" in capture.how and capture.sample_interval_s == pytest.approx(2e-6)
            assert capture.u_s == pytest.approx(cp.capture_u_s("flat")) and 0.2e-3 < capture.u_s < 0.3e-3
            found.append(delay_s(capture.edges, capture.t_act, Channel.OVP, "0"))
            cp.set_state("A")
            clock.sleep(3.0)
    assert all(0.020 - PartsCpEmulator.ZERO_CROSSING_HIDDEN_S - 4e-6 <= d <= 0.020 + 4e-6 for d in found), found


@contextlib.contextmanager
def vehicle_on_parts(*states: str) -> Iterator[tuple[Rig, Any, Any]]:
    """The virtual bench of parts (rigs/sim-cots.toml) energised, the vehicle switched through `states`,
    3 s each: (the rig, its parts CP emulator, its clock)."""
    from instruments.parts.cp import PartsCpEmulator
    with Rig.from_file("rigs/sim-cots.toml") as rig:
        cp, clock = cast(PartsCpEmulator, rig.cp), rig.clock
        rig.energise()
        clock.sleep(10)
        for state in states:
            cp.set_state(state)
            clock.sleep(3.0)
        yield rig, cp, clock


def test_no_runt_after_a_step_down_is_the_dut_s_only_where_cp_stepped_and_its_pwm_is_gone() -> None:
    """A runt trigger that never fires: the rig's fault where CP never stepped (the switch did not
    switch: broken, with what to check); the DUT's where CP stepped down and shows no PWM (it withdrew its
    offer, here paused through its installer interface before the vehicle asked: nothing can close)."""
    from fixtures.timing import delay_s
    with vehicle_on_parts("B") as (rig, cp, clock):
        assert cp.measure_cp().frequency_hz > 0                                        # B2: offered
        with pytest.raises(InstrumentOperationError, match="stayed at .* after the vehicle's switching"):
            cp.capture_after(cp.time, 1.0, clock.sleep, "down")                        # the act switched nothing

        def paused_then_c() -> float:
            rig.installer.set_paused(True)
            clock.sleep(2.0)
            return cp.set_state("C")
        capture = cp.capture_after(paused_then_c, 1.0, clock.sleep, "down")
        assert capture is not None and "no runt" in capture.how and "withdrew its PWM" in capture.how
        assert delay_s(capture.edges, capture.t_act, Channel.OVP, "1") == math.inf
        assert cp.output_present().value == 0


def test_a_withdrawn_pwm_and_the_opening_after_it_come_from_one_record_and_one_never_withdrawn_is_the_dut_s() -> None:
    """C2 → C1 through the installer's pause, the vehicle staying in C: the PWM's end and the contactor's
    opening 6.5 s later (the simulated cut-off) from one record at 5 µs (15 s of window in 4 Mpts), within
    its U (the stop up to a period early, the zero crossing); an act after which the PWM stays is the
    EVSE's: no trigger, said so, and no withdrawal among the edges."""
    from fixtures.timing import delay_s, first_edge
    with vehicle_on_parts("B", "C") as (rig, cp, clock):
        kept = cp.capture_after(cp.time, 0.5, clock.sleep, "withdrawn")
        assert kept is not None and "did not withdraw" in kept.how
        assert first_edge(kept.edges, Channel.PWM, "0", kept.t_act) is None
        capture = cp.capture_after(lambda: (cp.time(), rig.installer.set_paused(True))[0], 15.0, clock.sleep,
                                   "withdrawn")
        assert capture is not None and capture.sample_interval_s == pytest.approx(5e-6)
        removed = first_edge(capture.edges, Channel.PWM, "0", capture.t_act)
        assert removed is not None and capture.u_s == pytest.approx(cp.capture_u_s("withdrawn", 5e-6))
        assert delay_s(capture.edges, removed.t_s, Channel.OVP, "0") == pytest.approx(6.5, abs=capture.u_s)


def test_a_closing_is_where_the_sine_joins_after_a_dead_stretch_never_a_record_live_from_its_start() -> None:
    """`closing_in` on made-up records at 2 µs: a join after more than DEAD_S dead counts; a zero crossing
    inside a live sine does not; a record live from its first sample was closed before it began (inf), as
    the roll record's `OVP 1` never comes for an output already live."""
    from instruments.parts.recorder import closing_in
    from instruments.scope import Waveform
    t = np.arange(0.0, 0.1, 2e-6)
    sine = 325.0 * np.sin(2 * np.pi * 50.0 * t)
    joined = np.where(t >= 0.0403, sine, 0.0)
    assert closing_in(Waveform(3, -0.01, 2e-6, joined), 0.0) == pytest.approx(-0.01 + 0.0403, abs=0.3e-3)
    assert closing_in(Waveform(3, -0.01, 2e-6, sine), -0.01) == math.inf              # live from the start
    assert closing_in(Waveform(3, 0.0, 2e-6, np.zeros_like(t)), 0.0) == math.inf      # never live
    assert closing_in(Waveform(3, 0.0, 2e-6, joined), 0.05) == math.inf               # joined before `after`


def test_a_single_acquisitions_sample_interval_is_the_finest_1_2_5_step_its_memory_holds_the_screen_at() -> None:
    """2 µs wherever the memory holds the screen at it (8 s in 4 Mpts), coarser beyond (10 µs for a 15 s
    screen in 2 Mpts, 5 µs for 15 s in 4 Mpts), never finer than the roll record's 2 µs."""
    from sim.cots import single_interval_s
    assert single_interval_s(1e-3, 4_000_000) == pytest.approx(2e-6)
    assert single_interval_s(8.0, 4_000_000) == pytest.approx(2e-6)
    assert single_interval_s(15.025, 4_000_000) == pytest.approx(5e-6)
    assert single_interval_s(15.025, 2_000_000) == pytest.approx(1e-5)
    assert single_interval_s(1e9, 1000) is None


def test_state_f_in_one_record_is_the_first_negative_stretch_longer_than_a_pwm_period() -> None:
    """`low_level_in` on a made-up CP at 2 µs: a 1 kHz PWM's negative halves (0.5 ms) are not state F;
    −12 V held from 40.3 ms on is, stamped at the start of its stretch, with its level."""
    from instruments.parts.recorder import low_level_in
    from instruments.scope import Waveform
    t = np.arange(0.0, 0.06, 2e-6)
    cp = np.where((t * 1000.0) % 1.0 < 0.5, 9.0, -12.0)
    assert low_level_in(Waveform(1, 0.0, 2e-6, cp), 0.0) is None
    faulted = np.where(t >= 0.0403, -12.0, cp)
    onset, level = low_level_in(Waveform(1, 0.0, 2e-6, faulted), 0.0) or (math.inf, 0.0)
    assert onset == pytest.approx(0.0403, abs=4e-6) and level == pytest.approx(-12.0)

"""The meter emulator as any Modbus master sees it.

The addresses, types and scales below are typed in from the meters' manuals
(Inepro, Janitza, Schneider, Siemens register tables), not read from the emulator's map files: a master that is not ours must read correct
values from what the manuals document.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymodbus import FramerType
from pymodbus.client import ModbusTcpClient

from instruments.meter import GridState
from instruments.meter.emulator import WbrMeterEmulator
from instruments.meter.registers import model_names
from instruments.meter.scenario import household, load_scenario
from instruments.transport.modbus import ModbusEndpoint, rtu_crc
from rig.config import REPO_ROOT, load_rig_file
from core.errors import ConfigError, InvalidValue

# A grid connection importing on L1 and L2 and exporting on L3 (PV), with running energy registers.
STATE = GridState(u_v=(231.0, 229.0, 230.0), i_a=(10.0, 4.0, 6.0), p_w=(2310.0, 916.0, -1380.0), f_hz=50.02)
P_TOTAL_W = 2310.0 + 916.0 - 1380.0
HOUR_S = 3600.0
IMPORT_WH = P_TOTAL_W     # one hour at the state's net import
NOISE = 1e-3              # relative: the emulator's measurement noise is 2e-4

# (wire address, registers, decode, factor to SI, quantity): from the manuals via meters.md
F32, U16, I16, U32, I32, U64, I64 = ">f", ">H", ">h", ">I", ">i", ">Q", ">q"
DOCUMENTED: dict[str, list[tuple[int, int, str, float, str]]] = {
    "inepro-pro380": [(0x5002, 2, F32, 1, "u_l1"), (0x5008, 2, F32, 1, "f"), (0x500C, 2, F32, 1, "i_l1"),
                      (0x5010, 2, F32, 1, "i_l3"), (0x5012, 2, F32, 1000, "p_total"), (0x5018, 2, F32, 1000, "p_l3"),
                      (0x600C, 2, F32, 1000, "e_import")],
    "inepro-pro2": [(0x500C, 2, F32, 1, "i_l1"), (0x5002, 2, F32, 1, "u_l1")],
    "janitza-b23": [(19000, 2, F32, 1, "u_l1"), (19012, 2, F32, 1, "i_l1"), (19024, 2, F32, 1, "p_l3"),
                    (19026, 2, F32, 1, "p_total"), (19050, 2, F32, 1, "f"), (19068, 2, F32, 1, "e_import"),
                    (0x5B00, 2, U32, 0.1, "u_l1"), (0x5B0C, 2, U32, 0.01, "i_l1"), (0x5B14, 2, I32, 0.01, "p_total"),
                    (0x5B1A, 2, I32, 0.01, "p_l3"), (0x5B2C, 1, U16, 0.01, "f"), (0x5000, 4, U64, 10, "e_import")],
    "janitza-b21": [(19012, 2, F32, 1, "i_l1"), (0x5B0C, 2, U32, 0.01, "i_l1")],
    "schneider-a9mem3150": [(2999, 2, F32, 1, "i_l1"), (3027, 2, F32, 1, "u_l1"), (3057, 2, F32, 1000, "p_l3"),
                            (3059, 2, F32, 1000, "p_total"), (3109, 2, F32, 1, "f"), (3203, 4, I64, 1, "e_import"),
                            (45099, 2, F32, 1000, "e_import")],
    "siemens-7kt1665": [(1, 2, U32, 0.01, "u_l1"), (7, 2, U32, 0.0001, "i_l1"), (23, 2, I32, 0.01, "p_l3"),
                        (49, 2, U32, 0.01, "f"), (57, 2, I32, 0.01, "p_total"), (6687, 2, U32, 1, "e_import")],
}
EXPECTED = {"u_l1": 231.0, "i_l1": 10.0, "i_l3": 6.0, "f": 50.02, "p_total": P_TOTAL_W, "p_l3": -1380.0,
            "e_import": IMPORT_WH}


def _port(meter: WbrMeterEmulator) -> int:
    """The port the emulator listens on (it is listening once built)."""
    assert meter.endpoint.port is not None
    return meter.endpoint.port


def _serve(model: str, **settings: object) -> WbrMeterEmulator:
    meter = WbrMeterEmulator(ModbusEndpoint("meter", "tcp://127.0.0.1:0", {"model": model, **settings}))
    meter.update(STATE, 0.0)
    meter.update(STATE, HOUR_S)   # one hour at this state: the import register has run
    return meter


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[WbrMeterEmulator, ModbusTcpClient]]:
    meter = _serve(request.param)
    client = ModbusTcpClient("127.0.0.1", port=_port(meter), timeout=1.0, retries=0)
    assert client.connect()
    yield meter, client
    client.close()
    meter.close()


def _decode(words: Sequence[int], fmt: str) -> float:
    return struct.unpack(fmt, b"".join(w.to_bytes(2, "big") for w in words))[0]


def test_every_model_is_documented_here() -> None:
    assert sorted(DOCUMENTED) == model_names()


@pytest.mark.parametrize("served", sorted(DOCUMENTED), indirect=True)
def test_a_generic_master_reads_the_documented_addresses(served: tuple[WbrMeterEmulator, ModbusTcpClient]) -> None:
    meter, client = served
    for wire, count, fmt, factor, quantity in DOCUMENTED[str(meter.line["model"])]:
        answer = client.read_holding_registers(wire, count=count, device_id=1)
        assert not answer.isError(), f"{quantity} at {wire:#x}: {answer}"
        assert len(answer.registers) == count   # exactly the quantity asked for
        value = _decode(answer.registers, fmt) * factor
        expected = EXPECTED[quantity]
        if meter.phases == 1 and quantity.endswith(("l3", "total")):
            expected = 0.0 if quantity.endswith("l3") else {"p_total": 2310.0}[quantity]
        if quantity == "e_import" and meter.phases == 1:
            continue
        resolution = factor if fmt != F32 else 1e-6   # an integer register carries its scale's resolution
        assert value == pytest.approx(expected, rel=NOISE, abs=resolution), quantity


@pytest.mark.parametrize("served", ["schneider-a9mem3150", "janitza-b23", "inepro-pro380"], indirect=True)
def test_block_reads_across_gaps_are_answered_and_outside_is_illegal(served: tuple[WbrMeterEmulator, ModbusTcpClient]) -> None:
    meter, client = served
    block = {"schneider-a9mem3150": (2999, 112), "janitza-b23": (19000, 78), "inepro-pro380": (0x5000, 50)}
    if meter.line["model"] == "schneider-a9mem3150":   # what SmartEVSE asks for: 60 registers from wire 2999
        assert len(client.read_holding_registers(2999, count=60, device_id=1).registers) == 60
    start, count = block[str(meter.line["model"])]
    answer = client.read_holding_registers(start, count=count, device_id=1)
    assert not answer.isError() and len(answer.registers) == count
    outside = client.read_holding_registers(start + count + 200, count=2, device_id=1)
    assert outside.isError() and outside.exception_code == 2   # illegal data address
    straddling = client.read_holding_registers(start + count - 1, count=4, device_id=1)
    assert straddling.isError() and straddling.exception_code == 2


def test_input_registers_only_where_the_meter_serves_them() -> None:
    for model, refused in (("schneider-a9mem3150", True), ("siemens-7kt1665", False)):
        meter = _serve(model)
        client = ModbusTcpClient("127.0.0.1", port=_port(meter), timeout=1.0, retries=0)
        client.connect()
        wire = 2999 if refused else 7
        answer = client.read_input_registers(wire, count=2, device_id=1)
        assert answer.isError() == refused, model
        if refused:
            assert answer.exception_code == 1   # illegal function (FC04 is not supported)
        client.close()
        meter.close()


def test_another_id_gets_no_answer_at_all() -> None:
    meter = _serve("inepro-pro380", id=7)
    client = ModbusTcpClient("127.0.0.1", port=_port(meter), timeout=0.2, retries=0)
    client.connect()
    assert not client.read_holding_registers(0x500C, count=2, device_id=7).isError()
    with pytest.raises(Exception, match="No response"):
        client.read_holding_registers(0x500C, count=2, device_id=1)
    client.close()
    meter.close()


def _rtu_client(meter: WbrMeterEmulator, timeout: float = 0.2) -> ModbusTcpClient:
    client = ModbusTcpClient("127.0.0.1", port=_port(meter), framer=FramerType.RTU, timeout=timeout, retries=0)
    assert client.connect()
    return client


def test_fault_modes_as_a_master_sees_them() -> None:
    meter = _serve("inepro-pro380", framer="rtu")
    client = _rtu_client(meter)
    good = client.read_holding_registers(0x500C, count=2, device_id=1)
    assert _decode(good.registers, F32) == pytest.approx(10.0, rel=NOISE)
    meter.set_fault("word_order")
    swapped = client.read_holding_registers(0x500C, count=2, device_id=1).registers
    assert _decode(swapped[::-1], F32) == pytest.approx(10.0, rel=NOISE)
    assert _decode(swapped, F32) != pytest.approx(10.0, rel=0.1)
    meter.set_fault("stale")
    frozen = client.read_holding_registers(0x5002, count=18, device_id=1).registers
    meter.update(GridState(i_a=(30.0, 30.0, 30.0), p_w=(6900.0, 6900.0, 6900.0)), 2 * HOUR_S)
    assert client.read_holding_registers(0x5002, count=18, device_id=1).registers == frozen
    for fault in ("no_answer", "crc", "wrong_id"):
        meter.set_fault(fault)
        with pytest.raises(Exception, match="[Nn]o [Rr]esponse|device id"):
            client.read_holding_registers(0x500C, count=2, device_id=1)
        client.close()
        client = _rtu_client(meter)
    meter.safe()   # the rig's safe state: truthful answers again
    fresh = client.read_holding_registers(0x500C, count=2, device_id=1)
    assert _decode(fresh.registers, F32) == pytest.approx(30.0, rel=NOISE)
    assert meter.polls() >= 7
    client.close()
    meter.close()


def test_line_settings_are_checked_before_anything_is_served() -> None:
    for bad, match in (({"id": 0}, "id must be"), ({"baud": 12345}, "baud rate"), ({"parity": "X"}, "parity")):
        with pytest.raises(InvalidValue, match=match):
            WbrMeterEmulator(ModbusEndpoint("meter", "tcp://127.0.0.1:0", {"model": "inepro-pro380", **bad}))
    with pytest.raises(ConfigError, match="one of inepro-pro2"):
        WbrMeterEmulator(ModbusEndpoint("meter", "tcp://127.0.0.1:0", {"model": "abb-b23"}))
    with pytest.raises(InvalidValue, match="cannot serve Modbus"):
        ModbusEndpoint("meter", "http://x", {})


def test_rig_file_meter_settings_are_checked_with_file_and_key(tmp_path) -> None:
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    for line, key in (('parity = "Q"', "instruments.meter.parity"), ("baud = 9601", "instruments.meter.baud"),
                      ('model = "acme-1"', "instruments.meter.model")):
        bad = tmp_path / "bad.toml"
        bad.write_text(text.replace('model = "inepro-pro380"', line if "model" in line else f'model = "inepro-pro380"\n{line}'))
        with pytest.raises(ConfigError, match=rf"bad.toml: \[{key}\]"):
            load_rig_file(bad)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.one_of(st.binary(min_size=1, max_size=300),
                       st.builds(lambda head, body: head + body, st.sampled_from([b"\x01\x03", b"\x01\x04", b"\x01\x10",
                                                                                  b"\x00\x03", b"\xff\x2b"]),
                                 st.binary(max_size=40))))
def test_fuzzed_frames_never_stop_the_meter(fuzz_meter: WbrMeterEmulator, frame: bytes) -> None:
    """Whatever arrives on the line, the emulator keeps answering well-formed polls."""
    with socket.create_connection(("127.0.0.1", fuzz_meter.endpoint.port), timeout=1.0) as raw:
        raw.sendall(frame)
        raw.settimeout(0.02)
        try:
            raw.recv(512)
        except (TimeoutError, ConnectionError):
            pass
    client = _rtu_client(fuzz_meter, timeout=1.0)
    answer = client.read_holding_registers(0x500C, count=2, device_id=1)
    client.close()
    assert _decode(answer.registers, F32) == pytest.approx(10.0, rel=NOISE)


def test_a_truncated_frame_costs_at_most_one_poll_on_that_connection(fuzz_meter: WbrMeterEmulator) -> None:
    """Issue 27: after a truncated RTU frame the emulator answered nothing on that connection again.  A
    serial line resyncs on the 3.5-character silence; over the converter's TCP stream the frame after the
    fragment may be taken with it (its CRC fails), but the one after that is answered: a DUT's next poll."""
    body = bytes.fromhex("0103500C0002")   # read holding registers 0x500C, 2 words, device 1
    request = body + rtu_crc(body)
    with socket.create_connection(("127.0.0.1", fuzz_meter.endpoint.port), timeout=0.3) as raw:
        raw.sendall(request[:5])             # a frame cut off mid-address
        answers = []
        for _ in range(2):
            raw.sendall(request)
            try:
                answers.append(raw.recv(64))
            except TimeoutError:
                answers.append(b"")
        assert answers[-1][:3] == bytes([1, 3, 4]), answers


@pytest.fixture(scope="module")
def fuzz_meter() -> Iterator[WbrMeterEmulator]:
    meter = _serve("inepro-pro380", framer="rtu")
    yield meter
    meter.close()


def test_scenarios_hold_steps_and_name_file_and_key(tmp_path) -> None:
    series = tmp_path / "evening.toml"
    series.write_text("e_import_wh = 5000\nrepeat = true\n[[steps]]\nat_s = 0\ni_a = [2, 2, 2]\n"
                      "[[steps]]\nat_s = 60\np_w = [-1000, -1000, -1000]\n[[steps]]\nat_s = 120\ni_a = [2, 2, 2]\n")
    scenario = load_scenario(series)
    assert scenario.at(30).i_a == (2.0, 2.0, 2.0) and scenario.at(30).p_w[0] == pytest.approx(230 * 2 * 0.95)
    assert scenario.at(90).p_w == (-1000.0, -1000.0, -1000.0) and scenario.at(90).e_import_wh == 5000
    assert scenario.at(150).i_a == (2.0, 2.0, 2.0)   # repeats every 120 s
    assert all(i > 0 for i in household().at(0).i_a)
    bad = tmp_path / "bad.toml"
    for text, key in (("[grid]\ni_a = [1, 2]\n", "grid.i_a"), ("[grid]\nvolts = 3\n", "grid.volts"),
                      ("[[steps]]\nat_s = 5\ni_a = [1, 1, 1]\n", "steps[0].at_s"), ("nonsense =", "")):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=rf"bad.toml{': .' + key.replace('[', '.').replace(']', '.') if key else ''}"):
            load_scenario(bad)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("model", sorted(DOCUMENTED))
def test_meter_serve_answers_a_master_that_is_not_ours(tmp_path, model: str) -> None:
    """`wallbox-rig meter serve` with a scenario of the test's own: a plain pymodbus client reads
    every documented address of every model and gets the scenario's values."""
    scenario = tmp_path / "state.toml"
    scenario.write_text(f"e_import_wh = {IMPORT_WH}\n[grid]\nu_v = {list(STATE.u_v)}\ni_a = {list(STATE.i_a)}\n"
                        f"p_w = {list(STATE.p_w)}\nf_hz = {STATE.f_hz}\n")
    port = _free_port()
    cmd = [sys.executable, "-m", "cli.main", "meter", "serve", "--model", model, "--tcp", f"127.0.0.1:{port}",
           "--id", "3", "--scenario", str(scenario)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "serving" in (proc.stdout.readline() if proc.stdout else "")
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0)
        assert client.connect()
        for wire, count, fmt, factor, quantity in DOCUMENTED[model]:
            value = _decode(client.read_holding_registers(wire, count=count, device_id=3).registers, fmt) * factor
            expected = EXPECTED[quantity]
            if model.endswith(("pro2", "b21")) and quantity in ("p_total", "p_l3", "i_l3", "e_import"):
                continue   # a single-phase meter sees L1 only
            resolution = factor if fmt != F32 else 1e-6
            tolerance = 5.0 if quantity == "e_import" else 0.0   # the register runs while we read
            assert value == pytest.approx(expected, rel=NOISE, abs=resolution + tolerance), (model, quantity)
        if model == "janitza-b23":
            first = _decode(client.read_holding_registers(19068, count=2, device_id=3).registers, F32)
            time.sleep(1.2)
            assert _decode(client.read_holding_registers(19068, count=2, device_id=3).registers, F32) > first
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_meter_models_lists_every_map() -> None:
    listing = subprocess.run([sys.executable, "-m", "cli.main", "meter", "models"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert [line.split()[0] for line in listing.splitlines()] == model_names()


def test_meter_serve_names_the_option_of_an_unknown_model() -> None:
    run = subprocess.run([sys.executable, "-m", "cli.main", "meter", "serve", "--model", "acme-1"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    error = run.stderr.strip().splitlines()[-1]
    assert "--model" in error and "acme-1" in error and "inepro-pro380" in error

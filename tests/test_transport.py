"""Transports stay in step with their instrument even when an exchange is cut short."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from instruments.transport.factory import open_line_transport
from core.errors import InstrumentInitError, InvalidValue
from sim.lab import VirtualLab


@pytest.fixture
def lab() -> Iterator[VirtualLab]:
    virtual = VirtualLab(seed=1, knobs={})
    yield virtual
    virtual.stop()


@pytest.mark.parametrize("endpoint, query, answer_starts", [("cp", "TIME?", "0.000000"),
                                                             ("analyser", "*IDN?", "YOKOGAWA")])
def test_an_interrupted_query_does_not_shift_later_answers(lab: VirtualLab, endpoint: str, query: str,
                                                           answer_starts: str) -> None:
    """Ctrl-C between a query and its answer: the next query (say, the safe state's) must get its own
    answer, not the stale one still in the socket."""
    transport = open_line_transport(endpoint, lab.endpoints[endpoint], {})
    try:
        real_read = transport._read
        transport._read = lambda: (_ for _ in ()).throw(KeyboardInterrupt())  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            transport.query("*IDN?" if endpoint == "cp" else "*OPC?")
        transport._read = real_read  # type: ignore[method-assign]
        assert transport.query(query).startswith(answer_starts)
    finally:
        transport.close()


def test_can_addresses_parse_to_python_can_arguments() -> None:
    from instruments.transport.can_bus import parse_can_address
    assert parse_can_address("can:socketcan:can0") == {"interface": "socketcan", "channel": "can0"}
    assert parse_can_address("can:socketcand:vcan0@127.0.0.1:29536") == {
        "interface": "socketcand", "channel": "vcan0", "host": "127.0.0.1", "port": 29536, "tcp_tune": True}
    for bad in ("can:socketcan", "cab:pcan:PCAN_USBBUS1", "can::can0", "can:socketcand:vcan0", "can:socketcand:v@h:x"):
        with pytest.raises(InvalidValue, match="can:INTERFACE:CHANNEL"):
            parse_can_address(bad)


def test_can_transport_round_trip_on_a_python_can_bus() -> None:
    """Our transport on a real python-can interface (the in-process virtual bus): frames both ways."""
    import can

    from instruments.transport.can_bus import CanTransport
    transport = CanTransport("fault_box", "can:virtual:wbr-test", {"timeout_s": 0.5})
    peer = can.Bus(interface="virtual", channel="wbr-test")
    try:
        transport.send(0x311, b"\x01\xb8\x0b")
        msg = peer.recv(timeout=1.0)
        assert msg is not None and (msg.arbitration_id, bytes(msg.data)) == (0x311, b"\x01\xb8\x0b")
        peer.send(can.Message(arbitration_id=0x320, data=b"\x01\x00", is_extended_id=False))
        frame = transport.receive(1.0)
        assert frame is not None and (frame.arbitration_id, frame.data) == (0x320, b"\x01\x00")
        assert transport.receive(0.01) is None
    finally:
        peer.shutdown()
        transport.close()


def test_an_unknown_can_interface_is_an_init_error_naming_the_address() -> None:
    from instruments.transport.can_bus import CanTransport
    with pytest.raises(InstrumentInitError, match="can:nosuchiface:0"):
        CanTransport("fault_box", "can:nosuchiface:0", {})


def test_socket_urls_read_whole_lines_and_time_out_on_a_partial_one() -> None:
    """`socket://` is raw TCP read a line at a time (pyserial's handler reads a byte per system call);
    an answer without its terminator is a timeout that names the address."""
    import socket
    import threading

    from core.errors import InstrumentTimeout
    from instruments.transport.socket_line import SocketLineTransport

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            stream = conn.makefile("rb")
            assert stream.readline() == b"*IDN?\n"
            conn.sendall(b"ACME,RIG,1,2\r\n")
            assert stream.readline() == b"HALF?\n"
            conn.sendall(b"no terminator")
            stream.readline()

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    transport = open_line_transport("cp", f"socket://127.0.0.1:{port}", {"timeout_s": 0.5})
    try:
        assert isinstance(transport, SocketLineTransport)
        assert transport.query("*IDN?") == "ACME,RIG,1,2"
        with pytest.raises(InstrumentTimeout, match="socket://127.0.0.1"):
            transport.query("HALF?")
    finally:
        transport.close()
        server.close()


def test_a_late_answer_breaks_one_query_and_the_next_one_works() -> None:
    """An instrument that answers after the timeout: that query is a timeout; its late answer is
    discarded before the next command (it would be read as the next answer), and the next query on
    the same connection gets its own answer (a timed-out stream refuses any further read: the
    transport starts a fresh one)."""
    import socket
    import threading
    import time

    from core.errors import InstrumentTimeout

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            stream = conn.makefile("rb")
            assert stream.readline() == b"SLOW?\n"
            time.sleep(0.6)                      # past the 0.5 s timeout, inside the resync's quiet window
            conn.sendall(b"late\n")
            assert stream.readline() == b"FAST?\n"
            conn.sendall(b"fast\n")
            assert stream.readline() == b"AGAIN?\n"
            conn.sendall(b"again\n")

    threading.Thread(target=serve, daemon=True).start()
    transport = open_line_transport("cp", f"socket://127.0.0.1:{port}", {"timeout_s": 0.5})
    try:
        with pytest.raises(InstrumentTimeout):
            transport.query("SLOW?")
        assert transport.query("FAST?") == "fast"
        assert transport.query("AGAIN?") == "again"
    finally:
        transport.close()
        server.close()


def test_pyserial_urls_still_go_through_pyserial() -> None:
    """Real ports, rfc2217:// and loop:// stay with pyserial (with labgrid installed: its fork,
    pyserial-labgrid, which CI runs this against too)."""
    from instruments.transport.serial_line import SerialLineTransport

    transport = open_line_transport("cp", "loop://", {"timeout_s": 0.5})
    try:
        assert isinstance(transport, SerialLineTransport)
        assert transport.query("PING") == "PING"   # loop:// hands back what was written
    finally:
        transport.close()


def test_an_answer_line_beyond_the_cap_is_refused_and_the_line_stays_usable() -> None:
    """A 2 MB answer line is the instrument's fault: refused (its head in the message, not all of it),
    its rest dropped before the next command, which gets its own answer."""
    import socket
    import threading

    from core.errors import InstrumentOperationError

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            stream = conn.makefile("rb")
            stream.readline()
            conn.sendall(b"9" * 2_000_000 + b"\n")
            assert stream.readline() == b"NEXT?\n"
            conn.sendall(b"ok\n")

    threading.Thread(target=serve, daemon=True).start()
    transport = open_line_transport("cp", f"socket://127.0.0.1:{server.getsockname()[1]}", {"timeout_s": 2.0})
    try:
        with pytest.raises(InstrumentOperationError, match="longer than 65536 bytes") as caught:
            transport.query("HUGE?")
        assert len(str(caught.value)) < 300
        assert transport.query("NEXT?") == "ok"
    finally:
        transport.close()
        server.close()

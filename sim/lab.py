"""Assemble the virtual lab: world, plant, simulated wallbox, instrument front ends, endpoints."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

from sim.bench import SimAnalyser, SimLoad, SimSource
from sim.cots import SimChamber, SimDaq970, SimDcSource, SimRelayBoard, SimScope, VirtualBench
from sim.charge_point import SimChargePoint
from sim.ocpp201_station import SimStation201
from sim.cp_board import CpBoard
from sim.fault_box import SimFaultBox
from sim.installer import InstallerPort
from sim.led_sensor import LedSensorBoard
from sim.meter_link import MeterLink, UartSettings
from sim.params import Knobs
from sim.microphone import SimMicrophone
from sim.plant import Plant
from sim.ports import PORT_ORDER
from sim.rfid import SimChameleon, physical_card
from sim.secc import Secc
from sim.server import LOOPBACK, FrontEnd, LineServer, StreamServer
from sim.socketcand import SocketcandServer
from sim.wallbox import SimulatedWallbox
from sim.world import World


MAX_STEP_S = 7 * 24 * 3600.0
DEFAULT_CHARGE_POINT = "SIM-0001"
DEFAULT_PASSWORD = "sim-basic-auth-key-0001"
"""The backend account of a served lab's wallbox (`sim serve`): a rig file for it names the same."""


class ClockControl(FrontEnd):
    """`TIME?` and `ADV seconds`: how a client steps virtual time (refused in real-time mode);
    `SEED n`: every later random draw of the lab (noise, random delays) from a generator seeded
    with n, so a test that starts with its own seed draws the same whatever ran before it.

    A stepped lab has one stepper: the first connection that sends `ADV` or `SEED` holds the clock
    until it closes, and `ADV`/`SEED` from any other connection is refused (`ERR 5`).  Only `ADV`
    moves world time, so the stepper knows "now" from its own answers without asking `TIME?` (half
    the clock's traffic); a second stepper would make that knowledge wrong, so it is refused."""

    name = "clock"

    def __init__(self, world: World, realtime: bool) -> None:
        super().__init__(world)
        self.realtime = realtime
        self._stepper: object | None = None

    def handle_from(self, connection: object, line: str) -> str | None:
        if line.split(" ", 1)[0].upper() in ("ADV", "SEED"):
            if self._stepper is None:
                self._stepper = connection
            elif self._stepper is not connection:
                return "ERR 5 another connection steps this clock"
        return self.handle(line)

    def disconnected(self, connection: object) -> None:
        if self._stepper is connection:
            self._stepper = None

    def lock_free(self, line: str) -> bool:
        """`TIME?` reads one float: the backend asks it while the world waits for the backend."""
        return line.strip().upper() == "TIME?"

    def handle(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        if cmd.upper() == "TIME?":
            return f"{self.world.now:.9f}"
        if cmd.upper() == "ADV":
            if self.realtime:
                return "ERR 4 the lab runs in real time"
            try:
                seconds = float(arg)
            except ValueError:
                return "ERR 3 bad number"
            if not 0 <= seconds <= MAX_STEP_S:  # also rejects nan and inf
                return "ERR 3 bad number"
            return f"OK {self.world.advance(seconds):.9f}"
        if cmd.upper() == "SEED":
            if not arg.strip().isdigit():
                return "ERR 3 bad number"
            self.world.reseed(int(arg))
            return f"OK {self.world.now:.9f}"
        return "ERR 1 unknown command"


class VirtualLab:
    def __init__(self, seed: int, knobs: Mapping[str, object], realtime: bool = False,
                 source_file: str = "", journal_path: str | None = None,
                 rs485: Mapping[str, Any] | None = None, port_base: int | None = None,
                 ocpp: Mapping[str, Any] | None = None, cards: Mapping[str, Any] | None = None,
                 bound_ports: Mapping[str, int] | None = None) -> None:
        """`cards`: the lab's physical cards (`setup_card`: the UID delivered with the wallbox, in
        hex; `carousel`: (UID, kind) in the virtual bench's carousel positions).
        `ocpp`: the backend account the installer entered (charge_point_id, password, and url: where
        to dial; without one, the lab's `ocpp` endpoint, where the rig's backend listens).
        `port_base`: serve on fixed loopback ports from there up (the order of `PORT_ORDER`),
        for tools that are configured once; ephemeral ports otherwise.  `bound_ports`: the `rs485` and
        `ocpp` ports where the rig already listens (an in-process lab), used as they are."""
        overrides = dict(knobs)
        overrides.setdefault("seed", seed)
        self.knobs = Knobs.resolve(overrides)
        self.world = World(self.knobs.dut.seed, journal_path)
        self.servers: dict[str, LineServer] = {}
        self.can_servers: dict[str, SocketcandServer] = {}
        self._stop = threading.Event()
        self._realtime_thread: threading.Thread | None = None
        try:  # interrupted half-way (Ctrl-C while a rig opens), it still closes what it started
            tethered = self.knobs.dut.connector == "tethered"
            self.plant = Plant(self.world, self.knobs.dut.phases,
                               self.knobs.dut.pp_resistance_ohm if tethered else None)
            # The RS485 line to the Smart-Energy meter: the rig's meter emulator listens on this
            # port (RTU framing over TCP, like a serial-to-Ethernet converter), the wallbox is the
            # master.  The converter's UART settings are the bench's (`rs485`).
            ports = {name: port_base + k for k, name in enumerate(PORT_ORDER)} if port_base is not None else {}
            ports.update(bound_ports or {})
            self.rs485_port = ports.get("rs485") or _free_port()
            line = UartSettings(int(rs485["baud"]), str(rs485["parity"]), int(rs485["stopbits"])) if rs485 else None
            cards = cards or {}
            setup = cards.get("setup_card")
            self.wallbox = SimulatedWallbox(self.world, self.plant, self.knobs,
                                            MeterLink(f"socket://{LOOPBACK}:{self.rs485_port}", line),
                                            bytes.fromhex(setup) if setup else None)
            self.ocpp_port = ports.get("ocpp") or _free_port()
            if ocpp is not None:   # a wallbox whose installer entered no backend never dials one
                station = SimStation201 if ocpp.get("version") == "2.0.1" else SimChargePoint
                tls = {k.removeprefix("client_"): str(ocpp[k]) for k in ("cafile", "client_certfile", "client_keyfile")
                       if ocpp.get(k)}   # wss://: the CA it trusts, and its own certificate (security profile 3)
                self.wallbox.ocpp = station(self.world, self.wallbox, self.knobs,
                                            str(ocpp.get("url") or f"ws://{LOOPBACK}:{self.ocpp_port}"),
                                            str(ocpp.get("charge_point_id") or DEFAULT_CHARGE_POINT),
                                            ocpp.get("password"), tls)
            self.frontends: dict[str, FrontEnd] = {
                "clock": ClockControl(self.world, realtime),
                "cp": CpBoard(self.world, self.plant),
                "installer": InstallerPort(self.world, self.wallbox),
                "led": LedSensorBoard(self.world, self.wallbox.led_show),
                "audio": SimMicrophone(self.world, self.wallbox.beeper),
                "analyser": SimAnalyser(self.world, self.plant),
                "source": SimSource(self.world, self.plant),
                **{f"load{k + 1}": SimLoad(self.world, self.plant, k) for k in range(3)},
            }
            # the bench of bought parts: served alongside, on the same plant (sim-cots.toml uses it)
            carousel = tuple(physical_card(uid, kind) for uid, kind in cards.get("carousel", ()))
            self.bench = VirtualBench(self.world, self.plant, self.wallbox, carousel)
            self.frontends.update({"switch": SimDaq970(self.world, self.bench), "scope": SimScope(self.world, self.plant, self.bench.shunt_ohm),
                                   "dc_source": SimDcSource(self.world, self.plant)})
            for name, frontend in self.frontends.items():
                self.servers[name] = LineServer(frontend, ports.get(name, 0))
            self.relays = SimRelayBoard(self.world, self.bench, port=ports.get("relays", 0))
            self.chamber = SimChamber(self.world, self.plant, port=ports.get("chamber", 0))
            self.fault_box = SimFaultBox(self.world, self.plant)
            self.can_servers["fault_box"] = SocketcandServer(self.fault_box, ports.get("fault_box", 0))
            self.card_server = StreamServer(SimChameleon(self.world, self.wallbox.rfid), ports.get("card", 0))
            self.secc = Secc(self.world, self.wallbox, ports.get("secc", 0), ports.get("secc_tcp", 0))
            self.world.record("lab_started", source_file=source_file, knobs=self.knobs.values())
            if realtime:
                self._realtime_thread = threading.Thread(target=self._run_realtime, daemon=True,
                                                         name="sim-realtime")
                self._realtime_thread.start()
        except BaseException:
            self.stop()
            raise

    @property
    def endpoints(self) -> dict[str, str]:
        """Addresses as a lab user would type them: pyserial URL for the board, VISA for SCPI, a
        python-can socketcand port for the fault box."""
        ports = {name: server.port for name, server in self.servers.items()}
        out = {name: f"socket://{LOOPBACK}:{ports[name]}" for name in ("clock", "cp", "installer", "led", "audio")}
        out["card"] = f"socket://{LOOPBACK}:{self.card_server.port}"
        for name in ("analyser", "source", "load1", "load2", "load3", "switch", "scope", "dc_source"):
            out[name] = f"TCPIP0::{LOOPBACK}::{ports[name]}::SOCKET"
        out["relays"] = self.relays.address
        out["chamber"] = self.chamber.address
        out.update({name: server.address for name, server in self.can_servers.items()})
        out["rs485"] = f"socket://{LOOPBACK}:{self.rs485_port}"
        out["ocpp"] = f"ws://{LOOPBACK}:{self.ocpp_port}"
        out["secc"] = self.secc.address
        return out

    def knob_values(self) -> dict[str, Any]:
        return self.knobs.values()

    def journal(self, event: str, **data: Any) -> None:
        with self.world.lock:
            self.world.record(event, **data)

    def _run_realtime(self) -> None:
        start = time.monotonic() - self.world.now
        while not self._stop.wait(0.001):
            self.world.advance_to(time.monotonic() - start)

    def stop(self) -> None:
        self._stop.set()
        wallbox = getattr(self, "wallbox", None)
        if wallbox is not None:
            with self.world.lock:
                wallbox.energy.stop()
        for server in [*self.servers.values(), *self.can_servers.values(), getattr(self, "card_server", None),
                       getattr(self, "secc", None)]:
            if server is not None:
                server.stop()
        if wallbox is not None and wallbox.ocpp is not None:
            wallbox.ocpp.link.close()
        for device in (getattr(self, "relays", None), getattr(self, "chamber", None)):
            if device is not None:
                device.stop()
        with self.world.lock:
            self.world.record("lab_stopped")
            self.world.close()


UNLISTED_PORTS = (20_000, 32_000)
"""Where the RS485 port is picked: below the usual ephemeral range (32768 on), so no outgoing
connection of this or another process takes it between the pick and the meter emulator's listen
(an ephemeral pick did, once in a self-test: the rig broke with "could not start listen")."""


def _free_port() -> int:
    """A loopback port nobody holds now, outside the ephemeral range (the meter emulator binds it
    when the rig opens)."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randrange(*UNLISTED_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    with socket.socket() as probe:   # a crowded range: fall back to an ephemeral pick
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def start_virtual_lab(seed: int, knobs: Mapping[str, object], realtime: bool = False,
                      source_file: str = "", journal_path: str | None = None,
                      rs485: Mapping[str, Any] | None = None, port_base: int | None = None,
                      ocpp: Mapping[str, Any] | None = None, cards: Mapping[str, Any] | None = None,
                      bound_ports: Mapping[str, int] | None = None) -> VirtualLab:
    return VirtualLab(seed, knobs, realtime, source_file, journal_path, rs485, port_base, ocpp, cards, bound_ports)

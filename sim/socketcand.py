"""A CAN bus on loopback, served with the socketcand protocol (raw mode), so the lab's own
python-can `socketcand` interface reaches the virtual lab's CAN nodes unchanged.

Protocol as socketcand documents it: the server greets `< hi >`, the client sends
`< open CHANNEL >` and `< rawmode >` (each answered `< ok >`), then `< send ID DLC B0 B1 … >`
one way and `< frame ID SECONDS DATA >` the other.  Frame time stamps are world time.
"""

from __future__ import annotations

import logging
import re
import socket
import socketserver
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from sim.server import LOOPBACK, ThreadedServer
from sim.world import World

log = logging.getLogger("wallbox_rig.sim")

_TOKEN = re.compile(r"<([^<>]*)>")
CHANNEL = "vcan0"

Send = Callable[[int, bytes], None]


class CanNode(ABC):
    """A simulated device on the bus: gets every frame a client sends, may send frames back."""

    name = "can-node"

    def __init__(self, world: World) -> None:
        self.world = world
        self.send: Send = lambda arbitration_id, data: None

    @abstractmethod
    def receive(self, arbitration_id: int, data: bytes) -> None: ...


class SocketcandServer:
    def __init__(self, node: CanNode, port: int = 0) -> None:
        self.node = node
        world = node.world
        clients: list[_Client] = []
        self._clients = clients
        lock = threading.Lock()

        def broadcast(arbitration_id: int, data: bytes) -> None:
            ident = f"{arbitration_id:03X}" if arbitration_id < 0x800 else f"{arbitration_id:08X}"
            line = f"< frame {ident} {world.now:.6f} {data.hex().upper()} >".encode("ascii")
            with lock:
                targets = [c for c in clients if c.raw]
            for client in targets:
                client.write(line)

        node.send = broadcast

        class _Client(socketserver.StreamRequestHandler):
            raw = False

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._write_lock = threading.Lock()

            def write(self, payload: bytes) -> None:
                with self._write_lock:
                    try:
                        self.wfile.write(payload)
                        self.wfile.flush()
                    except OSError:
                        pass  # the client went away; its handler thread ends on its own

            def handle(self) -> None:
                with lock:
                    clients.append(self)
                try:
                    self.write(b"< hi >")
                    buffer = ""
                    while chunk := self.request.recv(4096):
                        buffer += chunk.decode("ascii", "replace")
                        end = buffer.rfind(">")
                        if end < 0:
                            continue
                        for token in _TOKEN.findall(buffer[: end + 1]):
                            self._command(token.split())
                        buffer = buffer[end + 1:]
                finally:
                    with lock:
                        clients.remove(self)

            def _command(self, words: list[str]) -> None:
                if words[:1] == ["open"]:
                    ok = len(words) == 2 and words[1] == CHANNEL
                    self.write(b"< ok >" if ok else f"< error could not open bus {words[1:]} >".encode())
                elif words == ["rawmode"]:
                    self.write(b"< ok >")
                    self.raw = True  # only after the ok: the client reads its handshake answers exactly
                elif words[:1] == ["send"] and len(words) >= 3:
                    try:
                        arbitration_id, dlc = int(words[1], 16), int(words[2], 16)
                        data = bytes(int(b, 16) for b in words[3:3 + dlc])
                    except ValueError:
                        self.write(b"< error bad frame >")
                        return
                    with world.lock:
                        try:
                            node.receive(arbitration_id, data)
                        except Exception:  # noqa: BLE001 - a bad frame must not kill the lab
                            log.exception("%s: frame %03X %s failed", node.name, arbitration_id, data.hex())
                else:
                    self.write(f"< error unknown command {' '.join(words)} >".encode())

        self._server = ThreadedServer((LOOPBACK, port), _Client)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"sim-{node.name}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"can:socketcand:{CHANNEL}@{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

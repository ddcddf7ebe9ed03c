"""The simulated wallbox's modem: one OCPP-J WebSocket to its backend (1.6, or 2.0.1: the same
framing, another subprotocol and the error codes' 2.0.1 spelling).

Written for the firmware from the OCPP-J 1.6 specification (framing §4: `[2, id, action,
payload]`, `[3, id, payload]`, `[4, id, code, description, details]`), without the `ocpp`
package the rig's backend uses: two implementations that must agree on the wire.

The firmware runs on virtual time: a CALL it makes inside a world event waits here, in wall
time, for its answer (the backend answers in about a millisecond), so the exchange happens at
one virtual instant.  CALLs from the backend arrive on the reader thread and are handed to a
worker, which runs them under the world's lock: the reader must stay free to route the answer
to a CALL the world is waiting for.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("wallbox_rig.sim")

Incoming = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""(action, payload) → the CALLRESULT payload, or None for a CALLERROR NotImplemented; a handler that
refuses the payload raises `CallError`."""


class CallError(Exception):
    """A CALL the firmware refuses, answered `[4, id, code, description, {}]` with one of OCPP-J 1.6
    §4.2.3's codes (FormationViolation, PropertyConstraintViolation, OccurenceConstraintViolation,
    TypeConstraintViolation, NotSupported, …)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


class OcppLink:
    ANSWER_TIMEOUT_S = 5.0
    """Wall time the firmware waits for an answer before it counts the backend as gone."""

    def __init__(self, url: str, identity: str, password: str | None, incoming: Incoming,
                 subprotocol: str = "ocpp1.6", error_codes: dict[str, str] | None = None,
                 tls: dict[str, str] | None = None) -> None:
        self.url, self.identity, self.password = url.rstrip("/"), identity, password
        self.subprotocol = subprotocol
        self._codes = dict(error_codes or {})
        """The firmware's error codes (1.6's spelling) as this version spells them."""
        self.tls = dict(tls or {})
        """On wss://: `cafile` (the CA the backend's certificate must chain to; the system's otherwise),
        and for security profile 3 the modem's own `certfile` and `keyfile` (its client certificate)."""
        self._incoming = incoming
        self._socket: Any = None
        self._ids = itertools.count(1)
        self._answers: dict[str, Any] = {}
        self._answered = threading.Condition()
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="sim-ocpp-worker", daemon=True)
        self._worker.start()

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def connect(self) -> bool:
        """One attempt; False when the backend refuses or is not there."""
        if self._socket is not None:
            return True
        from websockets.sync.client import connect
        from websockets.typing import Subprotocol

        headers = {}
        if self.password is not None:
            token = base64.b64encode(f"{self.identity}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        context = None
        if self.url.startswith("wss://"):
            import ssl
            context = ssl.create_default_context(cafile=self.tls.get("cafile"))
            if self.tls.get("certfile"):
                context.load_cert_chain(self.tls["certfile"], self.tls.get("keyfile"))
        try:
            sock = connect(f"{self.url}/{self.identity}", subprotocols=[Subprotocol(self.subprotocol)],
                           additional_headers=headers, ssl=context,
                           open_timeout=2.0, close_timeout=0.5, ping_interval=None)
        except Exception as exc:  # noqa: BLE001 - refused, 401, 503, no listener: offline to the firmware
            log.debug("ocpp connect %s: %s", self.url, exc)
            return False
        self._socket = sock
        threading.Thread(target=self._read, args=(sock,), name="sim-ocpp-reader", daemon=True).start()
        return True

    def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Send a CALL and wait for its CALLRESULT payload; None when offline, refused or unanswered."""
        sock = self._socket
        if sock is None:
            return None
        unique = f"wb-{next(self._ids)}"
        try:
            sock.send(json.dumps([2, unique, action, payload], separators=(",", ":")))
        except Exception:  # noqa: BLE001 - the connection went away under us
            self._lost(sock)
            return None
        with self._answered:
            if not self._answered.wait_for(lambda: unique in self._answers or self._socket is not sock,
                                           self.ANSWER_TIMEOUT_S):
                log.warning("ocpp %s: no answer in %s s", action, self.ANSWER_TIMEOUT_S)
                return None
            message = self._answers.pop(unique, None)
        if message is None or message[0] != 3:
            return None
        return message[2] if isinstance(message[2], dict) else {}

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.close()
            except Exception:  # noqa: BLE001
                pass
        with self._answered:
            self._answered.notify_all()

    def _lost(self, sock: Any) -> None:
        if self._socket is sock:
            self.close()

    def _read(self, sock: Any) -> None:
        try:
            for text in sock:
                try:
                    message = json.loads(text)
                except ValueError:
                    continue
                if not isinstance(message, list) or len(message) < 3:
                    continue
                if message[0] == 2:
                    self._inbox.put((sock, message))
                elif message[0] in (3, 4):
                    with self._answered:
                        self._answers[str(message[1])] = message
                        self._answered.notify_all()
        except Exception as exc:  # noqa: BLE001 - closed by either side
            log.debug("ocpp reader ended: %s", exc)
        self._lost(sock)

    def _work(self) -> None:
        while True:
            sock, message = self._inbox.get()
            unique, action = message[1], message[2]
            payload = message[3] if len(message) > 3 else None
            try:
                if not isinstance(unique, str) or not isinstance(action, str) or not isinstance(payload, dict) \
                        or len(message) != 4:   # OCPP-J 1.6 §4.2.1: [2, "<UniqueId>", "<Action>", {<Payload>}]
                    raise CallError("FormationViolation", "a CALL is [2, \"uniqueId\", \"action\", {payload}]")
                result = self._incoming(action, payload)
                reply = [3, unique, result] if result is not None else \
                    [4, unique, "NotImplemented", f"{action} is not supported", {}]
            except CallError as refused:
                reply = [4, unique, self._codes.get(refused.code, refused.code), refused.description, {}]
            except Exception as exc:  # noqa: BLE001 - a firmware bug answers an error, never kills the modem
                log.exception("ocpp %s failed", action)
                reply = [4, unique, "InternalError", str(exc), {}]
            try:
                sock.send(json.dumps(reply, separators=(",", ":")))
            except Exception:  # noqa: BLE001
                self._lost(sock)

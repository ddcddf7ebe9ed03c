"""The OCPP central system's wire, 1.6J and 2.0.1: `websockets` serves, the `ocpp` package
(mobilityhouse, 2.1) frames, validates against the version's JSON schemas and routes.  The only
module of the rig that imports either.  Each connection speaks the version its WebSocket
subprotocol negotiated (OCPP-J 1.6 §3.1.2; OCPP 2.0.1 Part 4 §3.1.2), among those the rig offers.

Why a thread with its own event loop: the rig is synchronous (a test steps the clock and reads
instruments), the `ocpp` package is asyncio.  The server runs in one daemon thread; the role
calls into it with `call(...)`, which waits for the charge point's answer there.

Every frame in either direction passes `Journal.on_frame` with its raw text, before it is routed
or sent, so the journal holds what was on the wire even when a payload fails validation.
"""

from __future__ import annotations

import asyncio
import base64
import decimal
import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from core.errors import InstrumentInitError, InstrumentOperationError, InstrumentTimeout, InvalidValue

log = logging.getLogger("wallbox_rig.backend")
logging.getLogger("ocpp").setLevel(logging.CRITICAL)   # its traceback per bad frame; ours is one line
logging.getLogger("websockets").setLevel(logging.WARNING)


@dataclass(frozen=True)
class OcppVersion:
    """What differs on the wire between the versions the rig speaks."""

    name: str
    """As the schemas and the rig files name it: "1.6", "2.0.1"."""
    subprotocol: str
    package: str
    """The `ocpp` package's module of this version."""
    incoming: tuple[str, ...]
    """The CALLs a charge point (station) sends that the central system answers."""
    errors: dict[str, str]
    """The version's CALLERROR code for what its schema found wrong (by the JSON-schema validator's name)."""
    other_error: str
    """The code for any other schema violation (an enum value, a pattern, a bound)."""
    malformed: str
    """The code for a frame that is no valid CALL."""


OCPP16 = OcppVersion(
    "1.6", "ocpp1.6", "ocpp.v16",
    ("BootNotification", "Heartbeat", "StatusNotification", "Authorize", "StartTransaction", "StopTransaction",
     "MeterValues", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification"),
    {"additionalProperties": "FormationViolation", "type": "TypeConstraintViolation",
     "maxLength": "TypeConstraintViolation", "required": "OccurenceConstraintViolation",
     "minItems": "OccurenceConstraintViolation", "maxItems": "OccurenceConstraintViolation"},
    "PropertyConstraintViolation", "FormationViolation")
"""OCPP-J 1.6 §4.2.3's error codes (its spelling: FormationViolation, OccurenceConstraintViolation): a
property the PDU does not have (syntactically not the PDU), a value of the wrong JSON type or too long,
a field missing or repeated beyond its bounds; anything else is PropertyConstraintViolation."""

OCPP201 = OcppVersion(
    "2.0.1", "ocpp2.0.1", "ocpp.v201",
    ("BootNotification", "Heartbeat", "StatusNotification", "Authorize", "TransactionEvent", "MeterValues",
     "NotifyEvent", "NotifyReport", "NotifyChargingLimit", "ReportChargingProfiles", "SecurityEventNotification",
     "FirmwareStatusNotification", "LogStatusNotification", "DataTransfer"),
    {"additionalProperties": "FormatViolation", "type": "TypeConstraintViolation",
     "maxLength": "TypeConstraintViolation", "required": "OccurrenceConstraintViolation",
     "minItems": "OccurrenceConstraintViolation", "maxItems": "OccurrenceConstraintViolation"},
    "PropertyConstraintViolation", "FormatViolation")
"""OCPP 2.0.1 Part 4 (OCPP-J) §4.3's RPC framework error codes, the same rules in its spelling
(FormatViolation, OccurrenceConstraintViolation)."""

VERSIONS = {v.name: v for v in (OCPP16, OCPP201)}


def ocpp_version(name: str) -> OcppVersion:
    if name not in VERSIONS:
        raise InvalidValue(f"OCPP version {name!r}: the rig speaks {', '.join(VERSIONS)}")
    return VERSIONS[name]

FrameSink = Callable[[str, str, str], None]
"""(charge point id, "in" | "out", raw frame text)."""
Handler = Callable[[str, str, dict[str, Any]], dict[str, Any]]
"""(charge point id, action, payload in camelCase) → the CALLRESULT payload in camelCase."""
ConnectionSink = Callable[[str, bool, str], None]
"""(charge point id, connected, the OCPP version it negotiated)."""


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, address: str) -> ListenAddress:
        """`ws://HOST:PORT` (security profile 1: basic auth over plain WebSocket) or `wss://HOST:PORT`
        (profile 2: TLS, the charge point checks our certificate)."""
        parts = urlsplit(address)
        if parts.scheme not in ("ws", "wss") or not parts.hostname or parts.port is None:
            raise InvalidValue(f"{address!r}: the backend listens on ws://HOST:PORT or wss://HOST:PORT")
        return cls(parts.hostname, parts.port, parts.scheme == "wss")

    @property
    def loopback(self) -> bool:
        """Only this host can connect (127.0.0.0/8, ::1, localhost)."""
        import ipaddress
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False   # a host name: whatever it resolves to, treat it as reachable


def basic_auth(user: str, password: str) -> str:
    """The Authorization header a charge point sends under security profile 1 (OCPP 1.6 Security
    Whitepaper, edition 3, §2.1: user = charge point identity)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class CentralSystemServer:
    """Accepts charge points at `ws[s]://HOST:PORT/<identity>`, one `ocpp` ChargePoint each."""

    def __init__(self, address: str, *, password: str | None, handler: Handler, on_frame: FrameSink,
                 on_connection: ConnectionSink, certfile: str | None = None,
                 keyfile: str | None = None, response_timeout_s: float = 10.0,
                 identities: frozenset[str] | None = None, versions: tuple[str, ...] = ("1.6",),
                 client_cafile: str | None = None) -> None:
        self.listen = ListenAddress.parse(address)
        if client_cafile and not self.listen.tls:
            raise InvalidValue(f"{address}: client certificates (security profile 3) need wss:// and a certfile")
        self.client_cafile = client_cafile
        """Security profile 3: the CA a charge point's client certificate must chain to; its commonName
        must be the identity it connects as."""
        if not versions:
            raise InvalidValue("a central system offers at least one OCPP version")
        self.versions = tuple(ocpp_version(v) for v in versions)
        """Offered in this order of preference (the WebSocket handshake picks the first the client has)."""
        if self.listen.tls and not certfile:
            raise InvalidValue(f"{address}: wss:// (security profile 2) needs a certfile (and keyfile)")
        if not self.listen.loopback and password is None:
            raise InvalidValue(f"{address}: a backend that listens beyond this host takes charge points only with a "
                               "password (security profile 1 or 2); give one, or listen on 127.0.0.1")
        self.password = password
        self.identities = identities
        """The charge point identities accepted (None: any); another is refused with HTTP 404, as
        OCPP-J 1.6 §3.1.1 has a central system answer an identity it does not know."""
        self._handler, self._on_frame, self._on_connection = handler, on_frame, on_connection
        self._certfile, self._keyfile = certfile, keyfile
        self._timeout_s = response_timeout_s
        self._points: dict[str, Any] = {}
        self._accepting = True
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self.port = self.listen.port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ocpp-central-system", daemon=True)
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None or self._server is None:
            raise InstrumentInitError("backend", f"cannot listen on {address}: {self._error}")

    # --- the server thread -------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # noqa: BLE001 - reported to the opener
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        import ocpp.messages
        from websockets.asyncio.server import serve
        from websockets.typing import Subprotocol

        # Validate each payload in the loop, not in a worker thread: a 1.6 payload validates in well
        # under a millisecond, and the two thread hops per message cost more than that.
        ocpp.messages.ASYNC_VALIDATION = False

        context = None
        if self.listen.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self._certfile or "", self._keyfile)
            if self.client_cafile:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(self.client_cafile)
        self._server = await serve(self._accept, self.listen.host, self.listen.port,
                                   subprotocols=[Subprotocol(v.subprotocol) for v in self.versions],
                                   process_request=self._authorise, ssl=context, ping_interval=None)
        self.port = int(self._server.sockets[0].getsockname()[1]) if self._server.sockets else self.listen.port
        """The port listened on (the kernel's pick when the address said :0)."""

    def _authorise(self, connection: Any, request: Any) -> Any:
        """Refuse what is not a known charge point's basic auth, and everything while offline."""
        from http import HTTPStatus

        if not self._accepting:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "backend offline (rig)\n")
        identity = request.path.rstrip("/").rsplit("/", 1)[-1]
        if self.client_cafile:
            from instruments.transport.test_ca import peer_common_name
            common_name = peer_common_name(connection.transport.get_extra_info("peercert"))
            if common_name != identity:
                log.warning("refused charge point %r: its certificate is for %r", identity, common_name)
                return connection.respond(HTTPStatus.FORBIDDEN, "the client certificate is not this charge point's\n")
        if self.identities is not None and identity not in self.identities:
            log.warning("refused charge point %r: not one of %s", identity, ", ".join(sorted(self.identities)))
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point identity\n")
        if self.password is not None:
            if request.headers.get("Authorization") != basic_auth(identity, self.password):
                return connection.respond(HTTPStatus.UNAUTHORIZED, "basic auth required (security profile 1)\n")
        return None

    async def _accept(self, connection: Any) -> None:
        identity = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        version = next((v for v in self.versions if v.subprotocol == connection.subprotocol), None)
        if version is None:
            offered = " or ".join(v.subprotocol for v in self.versions)
            await connection.close(1002, f"subprotocol {offered} required")
            return
        point = _point_class(version)(identity, _JournaledConnection(connection, identity, self._on_frame),
                                      self._timeout_s, self._handler)
        self._points[identity] = point
        self._on_connection(identity, True, version.name)
        try:
            await point.start()
        except Exception as exc:  # noqa: BLE001 - the connection closed (or broke): the journal says so
            log.debug("%s: connection ended: %s", identity, exc)
        finally:
            if self._points.get(identity) is point:
                del self._points[identity]
            self._on_connection(identity, False, version.name)

    # --- the rig's side ----------------------------------------------------------------------
    def connected(self, identity: str) -> bool:
        return identity in self._points

    def call(self, identity: str, action: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send a CALL (camelCase payload, validated against the connection's version's schema) and wait
        for the result."""
        point = self._points.get(identity)
        if point is None:
            raise InstrumentOperationError("backend", f"{action}: charge point {identity!r} is not connected")
        future = asyncio.run_coroutine_threadsafe(point.call_raw(action, payload), self._loop)
        try:
            return future.result(timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise InstrumentTimeout("backend", f"{action}: no answer from {identity!r} in {timeout_s:g} s") from exc
        except asyncio.TimeoutError as exc:
            raise InstrumentTimeout("backend", f"{action}: no answer from {identity!r}") from exc
        except InstrumentOperationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a refused or invalid call is the backend role's error
            raise InstrumentOperationError("backend", f"{action} to {identity!r}: {type(exc).__name__}: {exc}") from exc

    def set_accepting(self, accepting: bool) -> None:
        """Offline (False): drop every charge point and refuse new connections with HTTP 503."""
        self._accepting = accepting
        if not accepting:
            for point in list(self._points.values()):
                asyncio.run_coroutine_threadsafe(point.drop(), self._loop).result(5.0)

    def close(self) -> None:
        if self._server is not None:
            async def stop() -> None:
                self._server.close()
                await self._server.wait_closed()
            try:
                asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5.0)
            except Exception as exc:  # noqa: BLE001 - closing must not raise
                log.debug("closing the central system: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)


class _JournaledConnection:
    """The `websockets` connection as the `ocpp` package sees it, with every frame journaled."""

    def __init__(self, connection: Any, identity: str, on_frame: FrameSink) -> None:
        self._connection, self._identity, self._on_frame = connection, identity, on_frame

    async def recv(self) -> str:
        frame = await self._connection.recv()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        self._on_frame(self._identity, "in", text)
        return text

    async def send(self, text: str) -> None:
        self._on_frame(self._identity, "out", text)
        await self._connection.send(text)

    async def close(self) -> None:
        await self._connection.close()


_POINT_CLASSES: dict[str, Any] = {}


def _point_class(version: OcppVersion = OCPP16) -> Any:
    """The `ocpp` ChargePoint subclass of `version`, built on first use (the package is imported only here)."""
    if version.name in _POINT_CLASSES:
        return _POINT_CLASSES[version.name]
    import importlib

    from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
    from ocpp.routing import on

    module = importlib.import_module(version.package)
    call, call_result = importlib.import_module(f"{version.package}.call"), \
        importlib.import_module(f"{version.package}.call_result")

    class Point(module.ChargePoint):  # type: ignore[name-defined]
        """Routes each charge-point CALL to the role's handler; payloads stay camelCase for it."""

        def __init__(self, identity: str, connection: Any, timeout_s: float, handler: Handler) -> None:
            super().__init__(identity, connection, response_timeout=timeout_s)
            self._role_handler = handler

        async def call_raw(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            request = getattr(call, action)(**camel_to_snake_case(payload))
            result = await self.call(request, suppress=False)
            return snake_to_camel_case(_as_dict(result))

        async def drop(self) -> None:
            await self._connection.close()

        async def route_message(self, raw_msg: str) -> None:
            """A malformed frame gets one line in the log and, where it carries a CALL's unique id, the
            version's CALLERROR for a malformed frame (OCPP-J 1.6 §4.2.3, 2.0.1 Part 4 §4.3); it never
            ends the connection (the package raised KeyError on `{"a":1}` and dropped the charge point).
            A CALL whose payload breaks its schema is answered with the version's own error code
            (`call_problem`: the package answers 1.6 with FormatViolation, a 2.0.1 name)."""
            problem, unique_id = frame_problem(raw_msg)
            if problem is None:
                frame = json.loads(raw_msg, parse_float=decimal.Decimal)
                refused = call_problem(frame[2], frame[3], version.name) if frame[0] == 2 else None
                if refused is not None:
                    code, text = refused
                    log.warning("%s: %s %s refused: %s", self.id, frame[2], code, text)
                    await self._send(json.dumps([4, frame[1], code, text[:200], {}]))
                    return
                try:
                    await super().route_message(raw_msg)
                    return
                except Exception as exc:  # noqa: BLE001 - a frame the package cannot take is the frame's fault
                    problem = f"{type(exc).__name__}: {exc}"
            log.warning("%s: malformed frame (%s): %.120s", self.id, problem, raw_msg)
            if unique_id is not None:
                await self._send(json.dumps([4, unique_id, version.malformed, problem[:200], {}]))

    def make(action: str) -> Any:
        result_cls = getattr(call_result, action)

        async def handle(self: Any, **kwargs: Any) -> Any:
            answer = self._role_handler(self.id, action, snake_to_camel_case(kwargs))
            return result_cls(**camel_to_snake_case(answer))

        handle.__name__ = f"on_{action}"
        return on(action)(handle)

    for name in version.incoming:
        setattr(Point, f"on_{name}", make(name))
    _POINT_CLASSES[version.name] = Point
    return Point


def call_problem(action: str, payload: Any, version: str = "1.6") -> tuple[str, str] | None:
    """(CALLERROR code, what is wrong) for a CALL's payload against `version`'s JSON schema of
    `action`'s request, in that version's codes; None when it conforms, or when the version has no such
    action (the package then answers NotImplemented).  Decimals are parsed as such: 1.6 schemas bound
    some numbers to one decimal."""
    from ocpp.messages import get_validator

    spoken = ocpp_version(version)
    try:
        validator = get_validator(2, action, spoken.name, parse_float=decimal.Decimal)
    except (OSError, ValueError):
        return None
    errors = list(validator.iter_errors(payload))
    if not errors:
        return None
    error = min(errors, key=lambda e: (len(e.absolute_path), str(e.validator) != "additionalProperties"))
    where = "/".join(str(p) for p in error.absolute_path) or action
    return spoken.errors.get(str(error.validator), spoken.other_error), f"{where}: {error.message}"


MAX_DEPTH = 32
"""Deeper nesting than any OCPP 1.6 payload has (a charging profile is 5 levels): refused before
parsing, so a frame of 3000 brackets cannot exhaust the parser."""


def frame_problem(raw: str) -> tuple[str | None, str | None]:
    """What is wrong with an OCPP-J frame (None when nothing), and its unique id if it is a CALL
    with one (OCPP-J 1.6 §4.1: [MessageTypeId, UniqueId, Action, Payload] for a CALL)."""
    depth = deepest = 0
    for ch in raw:
        depth += (ch in "[{") - (ch in "]}")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        return f"nested {deepest} levels deep", None
    try:
        frame = json.loads(raw)
    except ValueError:
        return "not JSON", None
    if not isinstance(frame, list) or not frame:
        return "not a JSON array", None
    kind = frame[0]
    unique_id = frame[1] if len(frame) > 1 and isinstance(frame[1], str) else None
    if kind not in (2, 3, 4) or isinstance(kind, bool):
        return f"unknown message type {kind!r}", None
    if kind == 2 and (len(frame) != 4 or unique_id is None or not isinstance(frame[2], str)
                      or not isinstance(frame[3], dict)):
        return "a CALL is [2, uniqueId, action, {payload}]", unique_id
    if unique_id is None:
        return "no unique id", None
    return None, unique_id


def _as_dict(result: Any) -> dict[str, Any]:
    from ocpp.charge_point import remove_nones, serialize_as_dict
    return remove_nones(serialize_as_dict(result)) if result is not None else {}

"""Role `backend`: the OCPP central system (1.6J or 2.0.1) the DUT (the charge point) talks to.

What a test needs from it is the truth of the conversation: every frame either way, stamped on
the rig clock when it passed (and with the UTC the backend's calendar gives that instant), so
the suite can hold what the charge point *says* (a status, a meter value, a composite schedule)
against what the instruments *measured* at the same instant.  The backend also acts as the
service does: it accepts or rejects idTags, starts and stops remotely, sends charging profiles,
changes configuration, and can go away (offline) and come back.

The wire (websockets, the `ocpp` package) is `instruments/transport/ocpp_ws.py`; what each version
says and reports, in one vocabulary for the tests, is `instruments/ocpp_dialect.py`; this module holds
the role, the journal and the calendar.
"""

from __future__ import annotations

import json
import queue
import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import InstrumentOperationError, InvalidValue
from core.settings import Setting, iso_utc
from instruments.base import Instrument
from instruments.ocpp_dialect import (CALL, CALLERROR, CALLRESULT, Answering, Dialect, MeterSample, StatusReport,
                                      Transaction, dialect)
from instruments.transport.ocpp_ws import frame_problem
from instruments.transport.openers import LISTEN

__all__ = ["Backend", "Frame", "MeterSample", "OcppCentralSystem", "StatusReport", "Transaction"]
DEFAULT_EPOCH = "2026-06-01T12:00:00Z"
"""The calendar of a virtual lab: rig time 0 is this UTC instant (a reproducible Monday noon)."""


@dataclass(frozen=True)
class Frame:
    """One OCPP-J frame as it passed the backend."""

    t_s: float
    """Rig clock when it passed (the instruments' timebase in the virtual lab; host monotonic in a lab)."""
    utc: str
    direction: str
    """"in" (charge point → backend) or "out"."""
    kind: int
    unique_id: str
    action: str
    """The action of a CALL, or of the CALL a result answers."""
    payload: dict[str, Any]
    charge_point: str

    def line(self) -> str:
        arrow = "CP→CS" if self.direction == "in" else "CS→CP"
        what = {CALL: "CALL", CALLRESULT: "RESULT", CALLERROR: "ERROR"}.get(self.kind, "LINK")
        return f"{self.t_s:.3f}\t{self.utc}\t{arrow}\t{what}\t{self.action}\t{json.dumps(self.payload, sort_keys=True)}"


@dataclass
class BackendState:
    """What the backend decides for the charge point: its id list and whether it is reachable."""

    accepted_id_tags: set[str] = field(default_factory=set)
    heartbeat_interval_s: int = 300
    clock_offset_s: float = 0.0
    """Added to the currentTime the backend sends (a jump of the backend's clock)."""


class Backend(Instrument):
    """The central system, seen from a test."""

    role = "backend"
    charge_point_id: str
    configured = True
    """Whether the rig file's configuration keys are set on the DUT (see `configure`)."""

    def configure(self) -> None:
        """Set the rig file's configuration keys once the DUT has booted."""

    def booted(self) -> bool:
        return True

    @abstractmethod
    def frames(self, since_t_s: float = float("-inf")) -> list[Frame]: ...

    @abstractmethod
    def call(self, action: str, payload: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]: ...

    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    def set_online(self, online: bool) -> None: ...

    @abstractmethod
    def utc(self, t_s: float) -> datetime: ...

    @abstractmethod
    def rig_time(self, when: datetime) -> float: ...

    @abstractmethod
    def safe(self) -> None: ...

    reconnect_wait_s = 0.0
    """How long a safe state waits for an offline DUT to come back when it owes a restore."""

    def owes_restore(self) -> bool:
        """Whether a test changed the DUT (configuration, charging profiles) and the DUT went offline
        before the safe state could undo it: the rig waits for it to reconnect (`reconnect_wait_s`)."""
        return False

    clock_offset_s = 0.0
    """How far the backend's clock (the currentTime it gives the DUT) runs from its calendar."""

    def dut_utc(self, t_s: float) -> datetime:
        """The DUT's calendar at rig time `t_s`: the backend's time master, offset included (once the
        DUT has taken it: a boot or a Heartbeat)."""
        return self.utc(t_s) + timedelta(seconds=self.clock_offset_s)

    def rig_time_of(self, when: datetime) -> float:
        """Rig time at which the DUT's calendar shows `when`."""
        return self.rig_time(when - timedelta(seconds=self.clock_offset_s))

    def set_clock_offset(self, seconds: float) -> None:
        """Run the backend's clock `seconds` off its calendar from now on (see the driver)."""
        raise NotImplementedError

    def accepts(self, id_tag: str) -> bool:
        """Whether the backend answers `id_tag` Accepted."""
        raise NotImplementedError

    def accept_id_tags(self, tags: set[str]) -> set[str]:
        """Which idTags the backend accepts from now on; returns the earlier set."""
        raise NotImplementedError

    def attach_clock(self, now: Callable[[], float], virtual: bool) -> None:
        """Stamp frames with the rig clock from here on (`Rig.open` calls it once the clock is open)."""

    def close(self) -> None:
        """Release what the backend holds."""

    @property
    def dialect(self) -> Dialect:
        """The version the DUT speaks (the one its connection negotiated)."""
        raise NotImplementedError

    # --- readings from the journal, in the dialect's terms ----------------------------------------
    def statuses(self, since_t_s: float = float("-inf"), connector: int = 1) -> list[StatusReport]:
        """The connector's statuses, in 1.6's names whatever the version (`Dialect.statuses`); derived
        from the whole journal (a 2.0.1 status depends on what came before `since_t_s`), then cut."""
        return [r for r in self.dialect.statuses(self.frames(), connector) if r.t_s >= since_t_s]

    def transactions(self, since_t_s: float = float("-inf")) -> list[Transaction]:
        """Transactions started since `since_t_s`, with their stop where it came (matched by id)."""
        return self.dialect.transactions(self.frames(since_t_s))

    def meter_samples(self, since_t_s: float = float("-inf"), measurand: str | None = None) -> list[MeterSample]:
        return self.dialect.meter_samples(self.frames(since_t_s), measurand)

    def transaction_events(self, since_t_s: float = float("-inf")) -> list[tuple[float, str]]:
        """(arrival, "start" | "stop") of each transaction start and end the DUT sent, as they came."""
        return self.dialect.transaction_events(self.frames(since_t_s))

    def messages(self, since_t_s: float = float("-inf")) -> list[str]:
        """The conversation as lines (rig time, UTC, direction, type, action, payload) for the report."""
        return [f.line() for f in self.frames(since_t_s)]

    # --- the service's requests, in 1.6's vocabulary, sent in the DUT's version ---------------------
    def remote_start(self, id_tag: str, connector: int = 1, profile: Mapping[str, Any] | None = None) -> str:
        return str(self.call(*self.dialect.remote_start(id_tag, connector, profile))["status"])

    def remote_stop(self, transaction_id: int | str) -> str:
        return str(self.call(*self.dialect.remote_stop(transaction_id))["status"])

    def set_charging_profile(self, profile: Mapping[str, Any], connector: int = 1) -> str:
        """`profile` in 1.6's csChargingProfiles shape (2.0.1: converted, `Ocpp201.profile`)."""
        return str(self.call(*self.dialect.set_charging_profile(profile, connector))["status"])

    def clear_charging_profiles(self) -> str:
        return str(self.call(*self.dialect.clear_charging_profile(None))["status"])

    def clear_charging_profile(self, profile_id: int) -> str:
        """ClearChargingProfile of one profile, by its id (OCPP 1.6 §5.5; 2.0.1 K10)."""
        return str(self.call(*self.dialect.clear_charging_profile(profile_id))["status"])

    def composite_schedule(self, duration_s: int, connector: int = 1, unit: str = "A") -> dict[str, Any]:
        """The answer in 1.6's shape (status, connectorId, scheduleStart, chargingSchedule)."""
        return self.dialect.composite_answer(self.call(*self.dialect.composite_schedule(duration_s, connector, unit)),
                                             connector)

    def change_configuration(self, key: str, value: str) -> str:
        """`key`: a 1.6 configuration key (2.0.1: its component and variable, or "Component.Variable")."""
        return self.dialect.configuration_status(self.call(*self.dialect.change_configuration(key, value)))

    def configuration(self, keys: list[str] | None = None) -> dict[str, str]:
        return self.dialect.configuration_answer(self.call(*self.dialect.get_configuration(keys)))

    def change_availability(self, connector: int, operative: bool) -> str:
        """Connector 0: the whole charge point."""
        return str(self.call(*self.dialect.change_availability(connector, operative))["status"])

    def reset(self, hard: bool = True) -> str:
        return str(self.call(*self.dialect.reset(hard))["status"])

    def trigger_status(self, connector: int = 1) -> str:
        return str(self.call(*self.dialect.trigger_status(connector))["status"])

    def trigger_values(self, connector: int = 1) -> str:
        return str(self.call(*self.dialect.trigger_values(connector))["status"])

    def reported_statuses(self, since_t_s: float = float("-inf"), connector: int = 1) -> list[StatusReport]:
        """The StatusNotifications the connector sent since `since_t_s`, as sent (`Dialect.reported_statuses`)."""
        return self.dialect.reported_statuses(self.frames(since_t_s), connector)


RECONNECT_WAIT = Setting("reconnect_wait_s", float, "how long a safe state waits for a DUT that went offline after "
                         "a test changed its configuration or profiles, to restore them", unit="s", low=0, high=3600,
                         default=300)
OCPP_SETTINGS = (
    Setting("charge_point_id", str, "the charge point identity the DUT connects as", required=True,
            check=lambda v: 0 < len(v) <= 48 and "/" not in v,
            expected="the charge point identity the DUT connects as (1…48 characters, no '/')"),
    Setting("password", str, "basic-auth password of security profile 1 (omit for profile 0)",
            check=lambda v: 16 <= len(v) <= 40,
            expected="the basic-auth password of security profile 1 (16…40 characters, OCPP 1.6 security "
                     "whitepaper AuthorizationKey)"),
    Setting("certfile", str, "PEM certificate the backend serves wss:// with (security profile 2)", check=bool,
            expected="a PEM certificate file (wss://, security profile 2)"),
    Setting("keyfile", str, "the certificate's PEM key file", check=bool, expected="the certificate's PEM key file"),
    Setting("client_cafile", str, "security profile 3: the CA (PEM) a charge point's client certificate must chain "
            "to; its commonName must be the charge point's identity (`wallbox-rig backend ca` makes a test CA)",
            check=bool, expected="a PEM CA certificate file (wss://, security profile 3)"),
    Setting("configuration", dict, "OCPP configuration keys and values set once the DUT has booted",
            check=lambda v: all(isinstance(x, (str, int, float, bool)) for x in v.values()),
            expected="a table of OCPP configuration keys and values set once the DUT has booted"),
    Setting("accepted_id_tags", list, "idTags the backend answers Accepted",
            check=lambda v: all(isinstance(x, str) and 0 < len(x) <= 20 for x in v),
            expected="a list of idTags (≤ 20 characters)"),
    Setting("heartbeat_interval_s", int, "the heartbeat interval given at boot", unit="s", low=1, high=86400,
            default=300),
    Setting("epoch_utc", str, "the virtual lab's calendar at rig time 0", check=iso_utc, default=DEFAULT_EPOCH,
            expected='the virtual lab\'s calendar at rig time 0, e.g. "2026-06-01T12:00:00Z"'),
    Setting("versions", list, "the OCPP versions offered, in order of preference (the driver's own by default)",
            check=lambda v: bool(v) and len(set(v)) == len(v) and all(x in ("1.6", "2.0.1") for x in v),
            expected='a list of OCPP versions to offer, each "1.6" or "2.0.1" once, preferred first'),
    RECONNECT_WAIT,
)


ANY_CHARGE_POINT = "*"
"""`backend serve` without --charge-point-id: any identity may connect (a rig file names its DUT's)."""


class OcppCentralSystem(Backend):
    """OCPP 1.6J central system on the `ocpp` package (driver `ocpp16`; `ocpp201` offers 2.0.1).

    Settings: `charge_point_id` (the identity the DUT connects as), `password` (security profile 1:
    basic auth; omit for profile 0), `certfile`/`keyfile` (profile 2 on a wss:// address),
    `configuration` (keys set once the DUT has booted), `accepted_id_tags`, `heartbeat_interval_s`,
    `epoch_utc` (the calendar of a virtual lab), `versions` (offer more than the driver's version: the
    DUT's WebSocket handshake picks one)."""

    driver = "ocpp16"
    opens = LISTEN
    SETTINGS = OCPP_SETTINGS
    VERSIONS: tuple[str, ...] = ("1.6",)

    def __init__(self, address: str, settings: Mapping[str, Any]) -> None:
        from instruments.transport.ocpp_ws import CentralSystemServer

        self.versions = tuple(str(v) for v in settings.get("versions") or self.VERSIONS)
        self._dialects = {v: dialect(v) for v in self.versions}
        self._spoken: dict[str, str] = {}
        """The version each connected charge point negotiated."""
        self.address = address
        self.charge_point_id = str(settings.get("charge_point_id", ""))
        if not self.charge_point_id:
            raise InvalidValue("backend: charge_point_id is required (the identity the DUT connects as)")
        self.start_configuration = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                                    for k, v in dict(settings.get("configuration", {})).items()}
        self.state = BackendState(set(settings.get("accepted_id_tags", [])),
                                  int(settings.get("heartbeat_interval_s", 300)))
        self._epoch_text = str(settings.get("epoch_utc", DEFAULT_EPOCH))
        self._now: Callable[[], float] = lambda: float("nan")
        self._epoch = datetime.now(UTC)
        self._frames: list[Frame] = []
        self._pending: dict[str, str] = {}   # unique id → action of a CALL awaiting its result
        self._asked_at: dict[str, float] = {}
        self._virtual = False
        self._lock = threading.Lock()
        self._booted = threading.Event()
        self.booted_points: queue.Queue[str] = queue.Queue()
        """Identities as they boot (`backend serve --schedule` sends its plan to the first)."""
        self.listeners: list[Callable[[Frame], None]] = []
        """Called with every frame as it passes (`backend serve` prints them), on the server's thread."""
        self.configured = False
        self._changed: dict[str, str] = {}
        self._inoperative: set[int] = set()
        """Connectors a test made Inoperative (ChangeAvailability): the safe state makes them Operative again."""
        self._dirty = False
        """A test changed the DUT (configuration, charging profiles) since the last restore."""
        self.reconnect_wait_s = float(RECONNECT_WAIT.of(settings))
        self.transaction_ids = iter(range(1, 1_000_000))
        self._server = CentralSystemServer(address, password=settings.get("password"), handler=self._handle,
                                           on_frame=self._on_frame, on_connection=self._on_connection,
                                           certfile=settings.get("certfile"), keyfile=settings.get("keyfile"),
                                           identities=None if self.charge_point_id == ANY_CHARGE_POINT
                                           else frozenset({self.charge_point_id}), versions=self.versions,
                                           client_cafile=settings.get("client_cafile"))
        if address.rstrip("/").endswith(":0"):   # the kernel picked the port: say which
            self.address = f"{address.rstrip('/')[:-2]}:{self._server.port}"

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> OcppCentralSystem:
        """The backend is a server, not a client of an instrument: it listens on its address itself."""
        return cls(addresses[0], settings)

    def identify(self) -> str:
        spoken = "/".join("1.6J" if v == "1.6" else v for v in self.versions)
        return f"WALLBOX-RIG,OCPP {spoken} central system,{self.address},cp={self.charge_point_id}"

    @property
    def dialect(self) -> Dialect:
        return self.dialect_of(self.charge_point_id)

    def dialect_of(self, identity: str) -> Dialect:
        """The version `identity` negotiated when it connected (the preferred one before it has)."""
        return self._dialects[self._spoken.get(identity, self.versions[0])]

    def listening_port(self) -> int | None:
        return self._server.port

    def attach_clock(self, now: Callable[[], float], virtual: bool) -> None:
        """Stamp frames with the rig clock from here on; a virtual lab's calendar starts at `epoch_utc`."""
        self._now = now
        self._virtual = virtual
        t0 = now()
        if virtual:
            self._epoch = datetime.fromisoformat(self._epoch_text.replace("Z", "+00:00")) - timedelta(seconds=t0)
        else:
            self._epoch = datetime.now(UTC) - timedelta(seconds=t0)

    # --- calendar ----------------------------------------------------------------------------
    def utc(self, t_s: float) -> datetime:
        return self._epoch + timedelta(seconds=t_s)

    def rig_time(self, when: datetime) -> float:
        return (when - self._epoch).total_seconds()

    def _utc_text(self, t_s: float) -> str:
        if t_s != t_s:  # nan: before the clock was attached
            return ""
        return self.utc(t_s).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    # --- journal -----------------------------------------------------------------------------
    def _on_frame(self, identity: str, direction: str, text: str) -> None:
        problem, _ = frame_problem(text)   # a malformed frame is journaled as it came, never parsed blind
        if problem is None:
            message = json.loads(text)
            kind, unique_id = int(message[0]), str(message[1])
        else:
            message, kind, unique_id = [0, "", text], 0, ""
        # In a virtual lab no time passes between a CALL and its answer (the world waits for it), so
        # the answer takes the CALL's stamp instead of asking the clock again.
        asked = self._asked_at.pop(unique_id, None) if kind in (CALLRESULT, CALLERROR) and self._virtual else None
        t_s = asked if asked is not None else self._now()
        if kind == CALL:
            self._asked_at[unique_id] = t_s
        with self._lock:
            if kind == CALL:
                action, payload = str(message[2]), message[3] if len(message) > 3 else {}
                self._pending[unique_id] = action
            else:
                action = self._pending.pop(unique_id, "?") if kind else f"malformed ({problem})"
                payload = message[2] if kind == CALLRESULT and len(message) > 2 else \
                    {"errorCode": message[2] if len(message) > 2 else "",
                     "errorDescription": message[3] if len(message) > 3 else ""} if kind == CALLERROR \
                    else {"raw": text[:2000]}
            frame = Frame(t_s, self._utc_text(t_s), direction, kind, unique_id, action,
                          payload if isinstance(payload, dict) else {"value": payload}, identity)
            self._frames.append(frame)
        for listener in self.listeners:
            listener(frame)

    def frames(self, since_t_s: float = float("-inf")) -> list[Frame]:
        with self._lock:
            return [f for f in self._frames if f.t_s >= since_t_s]

    def _on_connection(self, identity: str, up: bool, version: str) -> None:
        t_s = self._now()
        if up:
            self._spoken[identity] = version
        frame = Frame(t_s, self._utc_text(t_s), "in", 0, "", "Connected" if up else "Disconnected", {}, identity)
        with self._lock:
            self._frames.append(frame)
        for listener in self.listeners:
            listener(frame)

    # --- the charge point's requests -----------------------------------------------------------
    def _handle(self, identity: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "BootNotification":
            self._booted.set()
            self.booted_points.put(identity)
        ctx = Answering(self._utc_text(self._now() + self.state.clock_offset_s), self.state.heartbeat_interval_s,
                        self.accepts, lambda: next(self.transaction_ids))
        return self.dialect_of(identity).answer(action, payload, ctx)

    # --- the rig's requests --------------------------------------------------------------------
    def call(self, action: str, payload: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
        """A CALL in the DUT's version; what it changes that the safe state undoes is noted first."""
        restore = self.dialect.restores(action, payload)
        self._dirty = self._dirty or restore.dirty
        if restore.inoperative is not None:
            self._inoperative.add(restore.inoperative)
        key = restore.configuration_key
        if key is not None and key not in self._changed:
            before = self.configuration([key]) if self.configured else {}
            if key in before:
                self._changed[key] = before[key]
        return self._server.call(self.charge_point_id, action, payload, timeout_s)

    def call_point(self, identity: str, action: str, payload: dict[str, Any], timeout_s: float = 30.0
                   ) -> dict[str, Any]:
        """A CALL to any connected charge point (`backend serve` talks to whoever boots)."""
        return self._server.call(identity, action, payload, timeout_s)

    def connected(self) -> bool:
        return self._server.connected(self.charge_point_id)

    def booted(self) -> bool:
        return self._booted.is_set()

    def configure(self) -> None:
        """Set the rig file's configuration keys on the booted DUT (once); a rejected key is the rig's error."""
        for key, value in self.start_configuration.items():
            status = self.change_configuration(key, value)
            if status not in ("Accepted", "RebootRequired"):
                raise InstrumentOperationError("backend", f"ChangeConfiguration {key}={value}: the DUT answered "
                                               f"{status} (rig file [instruments.backend] configuration)")
        self._changed.clear()   # the rig file's values are the baseline a test restores to
        self.configured = True

    def set_online(self, online: bool) -> None:
        self._server.set_accepting(online)

    @property
    def clock_offset_s(self) -> float:  # type: ignore[override]
        return self.state.clock_offset_s

    def set_clock_offset(self, seconds: float) -> None:
        """The backend's clock runs `seconds` off from here on; the DUT is told at once (TriggerMessage
        Heartbeat), as a resync would."""
        self.state.clock_offset_s = seconds
        if self.connected():
            self.call(*self.dialect.trigger("Heartbeat"))

    def accepts(self, id_tag: str) -> bool:
        return id_tag in self.state.accepted_id_tags

    def accept_id_tags(self, tags: set[str]) -> set[str]:
        """Which idTags the backend accepts from now on; returns the earlier set."""
        before, self.state.accepted_id_tags = self.state.accepted_id_tags, set(tags)
        return before

    def owes_restore(self) -> bool:
        return self._dirty and not self.connected()

    def safe(self) -> None:
        """Back online; the DUT's profiles cleared and every configuration key a test changed restored.
        A DUT that is offline keeps what it owes (`owes_restore`): the rig waits for it to reconnect, and
        a safe state that cannot restore says so, so no later test or run inherits a test's changes."""
        self._server.set_accepting(True)
        if not self.connected():
            self.state.clock_offset_s = 0.0   # the DUT takes the backend's time at its next boot
            return
        if self.state.clock_offset_s:
            self.set_clock_offset(0.0)
        self.clear_charging_profiles()
        for connector in sorted(self._inoperative):   # a test made it Unavailable: Operative again
            self._server.call(self.charge_point_id, *self.dialect.change_availability(connector, True), 30.0)
        self._inoperative.clear()
        changed, self._changed = dict(self._changed), {}
        for key, value in changed.items():
            self._server.call(self.charge_point_id, *self.dialect.change_configuration(key, value), 30.0)
        self._dirty = False

    def close(self) -> None:
        self._server.close()


class Ocpp201CentralSystem(OcppCentralSystem):
    """OCPP 2.0.1 CSMS on the `ocpp` package (driver `ocpp201`): the same role, the same vocabulary for
    the tests (`instruments/ocpp_dialect.py`), its messages on the wire."""

    driver = "ocpp201"
    VERSIONS = ("2.0.1",)

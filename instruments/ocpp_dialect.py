"""What the backend role says and reads in each OCPP version: one vocabulary for the tests.

A test asks the backend for what a service does and what the charge point reported — start a
transaction remotely, send a charging profile, change a setting; the transactions, the connector's
statuses, the meter samples — in OCPP 1.6's terms (its status names, its charging-profile shape, its
configuration keys).  A `Dialect` turns those into the version the DUT negotiated and back, so the same
test judges the same physics on 1.6J and 2.0.1.  No wire here: payloads are camelCase dicts, framed by
`instruments/transport/ocpp_ws.py`.

OCPP 2.0.1 facts used below are from its Part 2 (Specification, edition 3): the messages' fields (§1
of each functional block), ConnectorStatusEnumType, ChargingStateEnumType, ReasonEnumType, and the
standardized components and variables of Part 2's Appendices (the 1.6 key each corresponds to is the
rig's reading of the two, listed in `CONFIGURATION_201`).
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import InvalidValue

CALL, CALLRESULT, CALLERROR = 2, 3, 4
"""OCPP-J message type ids (OCPP-J 1.6 §4.1.3; the same in 2.0.1 Part 4 §4.1.3)."""
ENERGY = "Energy.Active.Import.Register"


class JournalFrame(Protocol):
    """What a dialect reads from the backend's journal (`instruments.backend.Frame`)."""

    @property
    def t_s(self) -> float: ...
    @property
    def direction(self) -> str: ...
    @property
    def kind(self) -> int: ...
    @property
    def unique_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StatusReport:
    t_s: float
    connector: int
    status: str
    """In OCPP 1.6's names (ChargePointStatus): Available, Preparing, Charging, SuspendedEV,
    SuspendedEVSE, Finishing, Reserved, Unavailable, Faulted."""
    error_code: str


@dataclass(frozen=True)
class Transaction:
    """A transaction as the charge point reported it (1.6: StartTransaction, then StopTransaction; 2.0.1:
    TransactionEvent Started … Ended)."""

    transaction_id: int | str
    """1.6: the backend's integer; 2.0.1: the station's string."""
    id_tag: str
    t_start_s: float
    meter_start_wh: float
    """NaN where the station reported no energy register at the start (2.0.1: SampledDataCtrlr.TxStartedMeasurands)."""
    t_stop_s: float | None = None
    meter_stop_wh: float | None = None
    reason: str | None = None
    id_type: str = ""
    """2.0.1's idToken type (IdTokenEnumType: ISO14443, MacAddress, Central, …); 1.6 has none ("")."""


@dataclass(frozen=True)
class MeterSample:
    """One sampledValue of a MeterValues (or a transaction's data): value in the unit given."""

    t_s: float
    """When the frame carrying it passed the backend."""
    timestamp: str
    """The charge point's own stamp of the sample."""
    measurand: str
    phase: str
    value: float
    unit: str
    context: str


@dataclass(frozen=True)
class Answering:
    """What the backend has decided, for answering the charge point's CALLs."""

    now_utc: str
    heartbeat_interval_s: int
    accepts: Callable[[str], bool]
    next_transaction_id: Callable[[], int]


@dataclass(frozen=True)
class Restore:
    """What a CALL changes on the DUT that the backend's safe state undoes."""

    dirty: bool = False
    inoperative: int | None = None
    configuration_key: str | None = None


class Dialect(ABC):
    version: str

    # --- answering the charge point --------------------------------------------------------------
    @abstractmethod
    def answer(self, action: str, payload: Mapping[str, Any], ctx: Answering) -> dict[str, Any]: ...

    # --- reading the journal ----------------------------------------------------------------------
    @abstractmethod
    def statuses(self, frames: Sequence[JournalFrame], connector: int) -> list[StatusReport]: ...

    @abstractmethod
    def transactions(self, frames: Sequence[JournalFrame]) -> list[Transaction]: ...

    @abstractmethod
    def meter_samples(self, frames: Sequence[JournalFrame], measurand: str | None) -> list[MeterSample]: ...

    @abstractmethod
    def transaction_events(self, frames: Sequence[JournalFrame]) -> list[tuple[float, str]]:
        """(arrival, "start" | "stop") of every transaction start and end the charge point sent, in the
        order they came (1.6: StartTransaction, StopTransaction; 2.0.1: TransactionEvent Started, Ended)."""

    # --- the service's requests: (action, payload), and what the answer means --------------------
    @abstractmethod
    def remote_start(self, id_tag: str, connector: int, profile: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def remote_stop(self, transaction_id: int | str) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def set_charging_profile(self, profile: Mapping[str, Any], connector: int) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def clear_charging_profile(self, profile_id: int | None) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def composite_schedule(self, duration_s: int, connector: int, unit: str) -> tuple[str, dict[str, Any]]: ...

    def composite_answer(self, answer: dict[str, Any], connector: int) -> dict[str, Any]:
        """The answer in 1.6's shape: status, connectorId, scheduleStart, chargingSchedule."""
        return answer

    @abstractmethod
    def change_configuration(self, key: str, value: str) -> tuple[str, dict[str, Any]]: ...

    def configuration_status(self, answer: dict[str, Any]) -> str:
        return str(answer["status"])

    @abstractmethod
    def get_configuration(self, keys: Sequence[str] | None) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def configuration_answer(self, answer: dict[str, Any]) -> dict[str, str]: ...

    @abstractmethod
    def change_availability(self, connector: int, operative: bool) -> tuple[str, dict[str, Any]]: ...

    @abstractmethod
    def reset(self, hard: bool) -> tuple[str, dict[str, Any]]: ...

    def trigger(self, message: str) -> tuple[str, dict[str, Any]]:
        return "TriggerMessage", {"requestedMessage": message}

    @abstractmethod
    def trigger_status(self, connector: int) -> tuple[str, dict[str, Any]]:
        """TriggerMessage for the connector's StatusNotification (1.6 §5.17; 2.0.1 F06)."""

    @abstractmethod
    def trigger_values(self, connector: int) -> tuple[str, dict[str, Any]]:
        """TriggerMessage for the connector's present meter values: 1.6 MeterValues (§5.17); 2.0.1 the
        running transaction's TransactionEvent (triggerReason Trigger, F06.FR.07)."""

    hard_reset_reason: str
    """The reason a transaction ended by Reset Hard (2.0.1: Immediate) is stopped with (1.6 §7.35
    HardReset; 2.0.1 ReasonEnumType ImmediateReset)."""

    @abstractmethod
    def vehicle_id_tag(self, mac: bytes, template: str) -> tuple[str, str]:
        """(idTag, idToken type) a transaction of a vehicle authorised by its MAC carries: 1.6 the
        profile's `template` with {mac}; 2.0.1 the MAC with type MacAddress (IdTokenEnumType)."""

    def reported_statuses(self, frames: Sequence[JournalFrame], connector: int) -> list[StatusReport]:
        """Each StatusNotification the connector sent, as sent (its version's names; 2.0.1 carries no
        error code): what a triggered report said, where `statuses` folds reports into changes."""
        return self.statuses(frames, connector)

    @abstractmethod
    def restores(self, action: str, payload: Mapping[str, Any]) -> Restore: ...


def _incoming_calls(frames: Sequence[JournalFrame], *actions: str) -> list[JournalFrame]:
    return [f for f in frames if f.direction == "in" and f.kind == CALL and f.action in actions]


class Ocpp16(Dialect):
    """OCPP 1.6J: the vocabulary is its own."""

    version = "1.6"

    def answer(self, action: str, payload: Mapping[str, Any], ctx: Answering) -> dict[str, Any]:
        if action == "BootNotification":
            return {"currentTime": ctx.now_utc, "interval": ctx.heartbeat_interval_s, "status": "Accepted"}
        if action == "Heartbeat":
            return {"currentTime": ctx.now_utc}
        if action in ("Authorize", "StartTransaction"):
            status = "Accepted" if ctx.accepts(str(payload.get("idTag"))) else "Invalid"
            info: dict[str, Any] = {"idTagInfo": {"status": status}}
            if action == "StartTransaction":
                info["transactionId"] = ctx.next_transaction_id()
            return info
        if action == "StopTransaction":   # idTagInfo only for an idTag given, and as the backend rules on it
            if "idTag" not in payload:
                return {}
            return {"idTagInfo": {"status": "Accepted" if ctx.accepts(str(payload["idTag"])) else "Invalid"}}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        return {}

    def statuses(self, frames: Sequence[JournalFrame], connector: int) -> list[StatusReport]:
        return [StatusReport(f.t_s, int(f.payload.get("connectorId", 0)), str(f.payload.get("status")),
                             str(f.payload.get("errorCode")))
                for f in _incoming_calls(frames, "StatusNotification")
                if int(f.payload.get("connectorId", 0)) == connector]

    def transactions(self, frames: Sequence[JournalFrame]) -> list[Transaction]:
        out: dict[int, Transaction] = {}
        calls = {f.unique_id: f for f in frames if f.direction == "in" and f.kind == CALL}
        for f in frames:
            if f.direction == "out" and f.kind == CALLRESULT and f.action == "StartTransaction":
                start = calls.get(f.unique_id)
                if start is not None:
                    tx = int(f.payload["transactionId"])
                    out[tx] = Transaction(tx, str(start.payload["idTag"]), start.t_s, float(start.payload["meterStart"]))
            if f.direction == "in" and f.kind == CALL and f.action == "StopTransaction":
                tx = int(f.payload["transactionId"])
                if tx in out:
                    before = out[tx]
                    out[tx] = Transaction(tx, before.id_tag, before.t_start_s, before.meter_start_wh, f.t_s,
                                          float(f.payload["meterStop"]), f.payload.get("reason", "Local"))
        return list(out.values())

    def transaction_events(self, frames: Sequence[JournalFrame]) -> list[tuple[float, str]]:
        return [(f.t_s, "start" if f.action == "StartTransaction" else "stop")
                for f in _incoming_calls(frames, "StartTransaction", "StopTransaction")]

    def meter_samples(self, frames: Sequence[JournalFrame], measurand: str | None) -> list[MeterSample]:
        out = []
        for f in _incoming_calls(frames, "MeterValues", "StopTransaction"):
            for mv in f.payload.get("meterValue", f.payload.get("transactionData", [])):
                for sv in mv.get("sampledValue", []):
                    name = sv.get("measurand", ENERGY)
                    if measurand is None or name == measurand:
                        out.append(MeterSample(f.t_s, str(mv["timestamp"]), name, str(sv.get("phase", "")),
                                               float(sv["value"]), str(sv.get("unit", "Wh")),
                                               str(sv.get("context", "Sample.Periodic"))))
        return out

    def remote_start(self, id_tag: str, connector: int, profile: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"idTag": id_tag, "connectorId": connector}
        if profile is not None:
            payload["chargingProfile"] = dict(profile)
        return "RemoteStartTransaction", payload

    def remote_stop(self, transaction_id: int | str) -> tuple[str, dict[str, Any]]:
        return "RemoteStopTransaction", {"transactionId": int(transaction_id)}

    def set_charging_profile(self, profile: Mapping[str, Any], connector: int) -> tuple[str, dict[str, Any]]:
        return "SetChargingProfile", {"connectorId": connector, "csChargingProfiles": dict(profile)}

    def clear_charging_profile(self, profile_id: int | None) -> tuple[str, dict[str, Any]]:
        return "ClearChargingProfile", {} if profile_id is None else {"id": int(profile_id)}

    def composite_schedule(self, duration_s: int, connector: int, unit: str) -> tuple[str, dict[str, Any]]:
        return "GetCompositeSchedule", {"connectorId": connector, "duration": int(duration_s), "chargingRateUnit": unit}

    def change_configuration(self, key: str, value: str) -> tuple[str, dict[str, Any]]:
        return "ChangeConfiguration", {"key": key, "value": str(value)}

    def get_configuration(self, keys: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
        return "GetConfiguration", {"key": list(keys)} if keys else {}

    def configuration_answer(self, answer: dict[str, Any]) -> dict[str, str]:
        return {str(k["key"]): str(k.get("value", "")) for k in answer.get("configurationKey", [])}

    def change_availability(self, connector: int, operative: bool) -> tuple[str, dict[str, Any]]:
        return "ChangeAvailability", {"connectorId": connector, "type": "Operative" if operative else "Inoperative"}

    def reset(self, hard: bool) -> tuple[str, dict[str, Any]]:
        return "Reset", {"type": "Hard" if hard else "Soft"}

    hard_reset_reason = "HardReset"

    def vehicle_id_tag(self, mac: bytes, template: str) -> tuple[str, str]:
        return template.format(mac=mac.hex().upper()), ""

    def trigger_status(self, connector: int) -> tuple[str, dict[str, Any]]:
        return "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": connector}

    def trigger_values(self, connector: int) -> tuple[str, dict[str, Any]]:
        return "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": connector}

    def restores(self, action: str, payload: Mapping[str, Any]) -> Restore:
        if action == "ChangeAvailability":
            return Restore(True, int(payload.get("connectorId", 0)) if payload.get("type") == "Inoperative" else None)
        if action == "ChangeConfiguration":
            return Restore(True, configuration_key=str(payload.get("key")))
        return Restore(action == "SetChargingProfile")


CONFIGURATION_201: dict[str, tuple[str, str]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands"),
    "StopTxnAlignedData": ("AlignedDataCtrlr", "TxEndedMeasurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnEVSideDisconnect": ("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "StopTransactionOnInvalidId": ("TxCtrlr", "StopTxOnInvalidId"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
    "AllowOfflineTxForUnknownId": ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled"),
    "ResetRetries": ("OCPPCommCtrlr", "ResetRetries"),
    "TransactionMessageAttempts": ("OCPPCommCtrlr", "MessageAttempts"),
    "TransactionMessageRetryInterval": ("OCPPCommCtrlr", "MessageAttemptInterval"),
    "WebSocketPingInterval": ("OCPPCommCtrlr", "WebSocketPingInterval"),
    "ChargeProfileMaxStackLevel": ("SmartChargingCtrlr", "ProfileStackLevel"),
    "ChargingScheduleAllowedChargingRateUnit": ("SmartChargingCtrlr", "RateUnit"),
    "ChargingScheduleMaxPeriods": ("SmartChargingCtrlr", "PeriodsPerSchedule"),
}
"""A 1.6 configuration key (OCPP 1.6 §9) → the 2.0.1 component and variable that holds the same
setting (OCPP 2.0.1 Part 2 Appendices, standardized components and variables).  Any other key is
given as "Component.Variable" and passes as it is."""
CONFIGURATION_201["FreeVendEnabled"] = ("AuthCtrlr", "Enabled")
INVERTED_201 = frozenset({"FreeVendEnabled"})
"""Keys whose 2.0.1 variable holds the opposite boolean: a wallbox that starts without authorisation
(free vend, a vendor key of 1.6 wallboxes) is one whose AuthCtrlr.Enabled is false."""
CONFIGURATION_16 = {f"{c}.{v}": key for key, (c, v) in CONFIGURATION_201.items()}


def _flip(key: str, value: str) -> str:
    if key in INVERTED_201 and value.lower() in ("true", "false"):
        return "false" if value.lower() == "true" else "true"
    return value

PURPOSE_201 = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
"""1.6's profile purposes by their 2.0.1 names (ChargingProfilePurposeEnumType); the others keep theirs."""

CONNECTOR_STATUS_16 = {"Available": "Available", "Reserved": "Reserved", "Unavailable": "Unavailable",
                       "Faulted": "Faulted"}
"""2.0.1 ConnectorStatusEnumType → 1.6 status; Occupied is told apart by the transaction's charging state."""
CHARGING_STATE_16 = {"Charging": "Charging", "SuspendedEV": "SuspendedEV", "SuspendedEVSE": "SuspendedEVSE",
                     "EVConnected": "Preparing", "Idle": "Preparing"}
"""2.0.1 ChargingStateEnumType → the 1.6 status of an occupied connector in that state."""


def component_variable(key: str) -> tuple[str, str]:
    if key in CONFIGURATION_201:
        return CONFIGURATION_201[key]
    component, dot, variable = key.partition(".")
    if not dot or not component or not variable:
        raise InvalidValue(f"configuration key {key!r}: OCPP 2.0.1 has no such 1.6 key mapped; name it as "
                           f"Component.Variable (known 1.6 keys: {', '.join(sorted(CONFIGURATION_201))})")
    return component, variable


class Ocpp201(Dialect):
    """OCPP 2.0.1: the same vocabulary, carried over its messages."""

    version = "2.0.1"

    def __init__(self) -> None:
        self._remote_start_ids = itertools.count(1)

    def answer(self, action: str, payload: Mapping[str, Any], ctx: Answering) -> dict[str, Any]:
        if action == "BootNotification":
            return {"currentTime": ctx.now_utc, "interval": ctx.heartbeat_interval_s, "status": "Accepted"}
        if action == "Heartbeat":
            return {"currentTime": ctx.now_utc}
        if action == "Authorize" or (action == "TransactionEvent" and "idToken" in payload):
            token = str(dict(payload.get("idToken", {})).get("idToken", ""))
            return {"idTokenInfo": {"status": "Accepted" if ctx.accepts(token) else "Invalid"}}
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        return {}

    def statuses(self, frames: Sequence[JournalFrame], connector: int) -> list[StatusReport]:
        """1.6's statuses from 2.0.1's two sources: a StatusNotification's connector status, told apart
        while Occupied by the last charging state a TransactionEvent gave (Preparing until one came),
        and a transaction's end while still occupied (Finishing).  2.0.1 carries no error code with a
        status: a fault's code is the `techCode` of the NotifyEvent that reported a problem on the EVSE
        (Part 2 N07; the latest before the Faulted status, or the first after it), "" if none came.
        techCodes are the station's own: the simulated wallbox uses 1.6's ChargePointErrorCode names."""
        out: list[StatusReport] = []
        occupied, charging = False, ""
        problems = [(f.t_s, code) for f in _incoming_calls(frames, "NotifyEvent")
                    for code in self._problems(f.payload, connector)]

        def fault_code(t_s: float) -> str:
            before = [code for t, code in problems if t <= t_s]
            after = [code for t, code in problems if t > t_s]
            return before[-1] if before else after[0] if after else ""

        implied: set[int] = set()   # reports a TransactionEvent implied, not a StatusNotification sent

        def derived(t_s: float, status: str) -> None:   # a state the events imply, once per change
            if not out or out[-1].status != status:
                implied.add(len(out))
                out.append(StatusReport(t_s, connector, status, "NoError"))
        for f in frames:
            if f.direction != "in" or f.kind != CALL:
                continue
            p = f.payload
            if f.action == "StatusNotification" and int(p.get("evseId", 0)) == connector:
                status = str(p.get("connectorStatus"))
                occupied = status == "Occupied"
                if not occupied:
                    charging = ""
                report = StatusReport(f.t_s, connector, CHARGING_STATE_16.get(charging, "Preparing") if occupied
                                      else CONNECTOR_STATUS_16.get(status, status),
                                      fault_code(f.t_s) if status == "Faulted" else "NoError")
                if out and len(out) - 1 in implied and out[-1].status == report.status:
                    continue   # the station confirms what its transaction already told: not a repeat
                out.append(report)
            elif f.action == "TransactionEvent" and int(dict(p.get("evse", {})).get("id", connector)) == connector:
                state = str(dict(p.get("transactionInfo", {})).get("chargingState", charging))
                occupied = occupied or state in ("EVConnected", "Charging", "SuspendedEV", "SuspendedEVSE")
                if p.get("eventType") == "Ended":
                    if occupied:
                        derived(f.t_s, "Finishing")
                    charging = ""
                elif state != charging:
                    charging = state
                    if occupied:
                        derived(f.t_s, CHARGING_STATE_16.get(state, "Preparing"))
        return out

    @staticmethod
    def _problems(payload: Mapping[str, Any], connector: int) -> list[str]:
        """The techCodes of a NotifyEvent's problems raised on `connector`'s EVSE (or on no EVSE)."""
        return [str(e.get("techCode", "")) for e in payload.get("eventData", [])
                if e.get("variable", {}).get("name") == "Problem" and str(e.get("actualValue")).lower() == "true"
                and int(e.get("component", {}).get("evse", {}).get("id", connector)) == connector]

    @staticmethod
    def _energy(event: Mapping[str, Any]) -> float | None:
        for mv in event.get("meterValue", []):
            for sv in mv.get("sampledValue", []):
                if sv.get("measurand", ENERGY) == ENERGY and not sv.get("phase"):
                    return _scaled(sv)
        return None

    def transactions(self, frames: Sequence[JournalFrame]) -> list[Transaction]:
        out: dict[str, Transaction] = {}
        for f in _incoming_calls(frames, "TransactionEvent"):
            info = dict(f.payload.get("transactionInfo", {}))
            tx = str(info.get("transactionId", ""))
            token = str(dict(f.payload.get("idToken", {})).get("idToken", ""))
            kind = str(dict(f.payload.get("idToken", {})).get("type", ""))
            energy = self._energy(f.payload)
            before = out.get(tx)
            if f.payload.get("eventType") == "Started" or before is None:
                out[tx] = before = Transaction(tx, token, f.t_s, math.nan if energy is None else energy, id_type=kind)
            elif token and not before.id_tag:
                out[tx] = before = Transaction(tx, token, before.t_start_s, before.meter_start_wh, id_type=kind)
            if f.payload.get("eventType") == "Ended":
                out[tx] = Transaction(tx, before.id_tag or token, before.t_start_s, before.meter_start_wh, f.t_s,
                                      energy, str(info.get("stoppedReason", "Local")), before.id_type or kind)
        return list(out.values())

    def transaction_events(self, frames: Sequence[JournalFrame]) -> list[tuple[float, str]]:
        kinds = {"Started": "start", "Ended": "stop"}
        return [(f.t_s, kinds[str(f.payload.get("eventType"))]) for f in _incoming_calls(frames, "TransactionEvent")
                if f.payload.get("eventType") in kinds]

    def meter_samples(self, frames: Sequence[JournalFrame], measurand: str | None) -> list[MeterSample]:
        out = []
        for f in _incoming_calls(frames, "MeterValues", "TransactionEvent"):
            for mv in f.payload.get("meterValue", []):
                for sv in mv.get("sampledValue", []):
                    name = sv.get("measurand", ENERGY)
                    if measurand is None or name == measurand:
                        unit = str(dict(sv.get("unitOfMeasure", {})).get("unit", "Wh"))
                        out.append(MeterSample(f.t_s, str(mv["timestamp"]), name, str(sv.get("phase", "")),
                                               _scaled(sv), unit, str(sv.get("context", "Sample.Periodic"))))
        return out

    @staticmethod
    def profile(profile: Mapping[str, Any]) -> dict[str, Any]:
        """A 1.6 csChargingProfiles → 2.0.1 ChargingProfileType: the id, the purpose's new name, the
        schedule as a list of one carrying the profile's id, a transaction id as a string."""
        p = dict(profile)
        schedule = dict(p.pop("chargingSchedule"))
        out: dict[str, Any] = {"id": int(p.pop("chargingProfileId")), "stackLevel": int(p.pop("stackLevel")),
                               "chargingProfilePurpose": PURPOSE_201.get(str(p["chargingProfilePurpose"]),
                                                                         str(p["chargingProfilePurpose"])),
                               "chargingProfileKind": p.pop("chargingProfileKind")}
        p.pop("chargingProfilePurpose")
        if "transactionId" in p:
            out["transactionId"] = str(p.pop("transactionId"))
        out.update(p)   # recurrencyKind, validFrom, validTo
        schedule["id"] = out["id"]
        out["chargingSchedule"] = [schedule]
        return out

    def remote_start(self, id_tag: str, connector: int, profile: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"idToken": {"idToken": id_tag, "type": "Central"},
                                   "remoteStartId": next(self._remote_start_ids), "evseId": connector}
        if profile is not None:
            payload["chargingProfile"] = self.profile(profile)
        return "RequestStartTransaction", payload

    def remote_stop(self, transaction_id: int | str) -> tuple[str, dict[str, Any]]:
        return "RequestStopTransaction", {"transactionId": str(transaction_id)}

    def set_charging_profile(self, profile: Mapping[str, Any], connector: int) -> tuple[str, dict[str, Any]]:
        converted = self.profile(profile)
        station = converted["chargingProfilePurpose"] == "ChargingStationMaxProfile"
        return "SetChargingProfile", {"evseId": 0 if station else connector, "chargingProfile": converted}

    def clear_charging_profile(self, profile_id: int | None) -> tuple[str, dict[str, Any]]:
        return "ClearChargingProfile", {} if profile_id is None else {"chargingProfileId": int(profile_id)}

    def composite_schedule(self, duration_s: int, connector: int, unit: str) -> tuple[str, dict[str, Any]]:
        return "GetCompositeSchedule", {"duration": int(duration_s), "chargingRateUnit": unit, "evseId": connector}

    def composite_answer(self, answer: dict[str, Any], connector: int) -> dict[str, Any]:
        schedule = dict(answer.get("schedule", {}))
        out: dict[str, Any] = {"status": answer.get("status"), "connectorId": int(schedule.get("evseId", connector))}
        if schedule:
            out["scheduleStart"] = schedule.get("scheduleStart")
            out["chargingSchedule"] = {"duration": schedule.get("duration"),
                                       "chargingRateUnit": schedule.get("chargingRateUnit"),
                                       "chargingSchedulePeriod": schedule.get("chargingSchedulePeriod", []),
                                       "startSchedule": schedule.get("scheduleStart")}
        return out

    def change_configuration(self, key: str, value: str) -> tuple[str, dict[str, Any]]:
        component, variable = component_variable(key)
        return "SetVariables", {"setVariableData": [{"attributeValue": _flip(key, str(value)), "component": {"name": component},
                                                     "variable": {"name": variable}}]}

    def configuration_status(self, answer: dict[str, Any]) -> str:
        results = answer.get("setVariableResult", [])
        return str(results[0].get("attributeStatus")) if results else "Rejected"

    def get_configuration(self, keys: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
        """GetVariables of the keys (every mapped 1.6 key when none are named: 2.0.1 reports everything
        only through GetBaseReport, whose NotifyReport comes later)."""
        wanted = list(keys) if keys else list(CONFIGURATION_201)
        data = [{"component": {"name": c}, "variable": {"name": v}} for c, v in map(component_variable, wanted)]
        return "GetVariables", {"getVariableData": data}

    def configuration_answer(self, answer: dict[str, Any]) -> dict[str, str]:
        out = {}
        for r in answer.get("getVariableResult", []):
            if r.get("attributeStatus") == "Accepted":
                name = f"{r['component']['name']}.{r['variable']['name']}"
                key = CONFIGURATION_16.get(name, name)
                out[key] = _flip(key, str(r.get("attributeValue", "")))
        return out

    def change_availability(self, connector: int, operative: bool) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"operationalStatus": "Operative" if operative else "Inoperative"}
        if connector:
            payload["evse"] = {"id": connector}
        return "ChangeAvailability", payload

    def reset(self, hard: bool) -> tuple[str, dict[str, Any]]:
        return "Reset", {"type": "Immediate" if hard else "OnIdle"}

    hard_reset_reason = "ImmediateReset"

    def vehicle_id_tag(self, mac: bytes, template: str) -> tuple[str, str]:
        return mac.hex().upper(), "MacAddress"

    def trigger_status(self, connector: int) -> tuple[str, dict[str, Any]]:
        return "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": connector, "connectorId": 1}}

    def trigger_values(self, connector: int) -> tuple[str, dict[str, Any]]:
        return "TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": connector}}

    def reported_statuses(self, frames: Sequence[JournalFrame], connector: int) -> list[StatusReport]:
        return [StatusReport(f.t_s, connector, str(f.payload.get("connectorStatus")), "")
                for f in _incoming_calls(frames, "StatusNotification") if int(f.payload.get("evseId", 0)) == connector]

    def restores(self, action: str, payload: Mapping[str, Any]) -> Restore:
        if action == "ChangeAvailability":
            evse = int(dict(payload.get("evse", {})).get("id", 0))
            return Restore(True, evse if payload.get("operationalStatus") == "Inoperative" else None)
        if action == "SetVariables":
            data = payload.get("setVariableData", [])
            key = None
            if data:
                name = f"{data[0]['component']['name']}.{data[0]['variable']['name']}"
                key = CONFIGURATION_16.get(name, name)
            return Restore(True, configuration_key=key)
        return Restore(action == "SetChargingProfile")


def _scaled(sampled: Mapping[str, Any]) -> float:
    """A 2.0.1 sampledValue's value in its unit (unitOfMeasure.multiplier is a power of ten)."""
    multiplier = int(dict(sampled.get("unitOfMeasure", {})).get("multiplier", 0))
    return float(sampled["value"]) * 10.0 ** multiplier


DIALECTS: dict[str, Callable[[], Dialect]] = {"1.6": Ocpp16, "2.0.1": Ocpp201}


def dialect(version: str) -> Dialect:
    if version not in DIALECTS:
        raise InvalidValue(f"OCPP version {version!r}: the backend speaks {', '.join(DIALECTS)}")
    return DIALECTS[version]()

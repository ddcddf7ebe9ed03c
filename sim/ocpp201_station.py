"""The simulated wallbox as an OCPP 2.0.1 charging station: the same firmware, 2.0.1 on the wire.

The firmware's behaviour (when a session starts and ends, what it offers, how it follows charging
profiles, what it queues offline, every knob) is `sim/charge_point.py`'s; this module is what
a 2.0.1 station says instead of a 1.6 charge point, written from the OCPP 2.0.1 specification
(Part 2: TransactionEvent E01-E15, StatusNotification G01, RequestStart/StopTransaction F01-F03,
SetChargingProfile K01, GetCompositeSchedule K08, Set/GetVariables B05-B06, GetBaseReport B07,
ChangeAvailability G03, Reset B11-B12, TriggerMessage F06, NotifyEvent N07), not from the `ocpp`
package the rig's backend uses: two implementations that must agree on the wire.  One EVSE (id 1)
with one connector (id 1).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from sim.charge_point import SimChargePoint, _stamp
from sim.ocpp_link import CallError
from sim.params import Knobs
from sim.world import World

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

SUBPROTOCOL = "ocpp2.0.1"
CALLERROR_201 = {"OccurenceConstraintViolation": "OccurrenceConstraintViolation", "FormationViolation": "FormatViolation"}
"""The firmware's 1.6 error codes as 2.0.1 spells them (OCPP 2.0.1 Part 4 §4.3)."""

VARIABLES: dict[str, dict[str, str]] = {
    "OCPPCommCtrlr": {"HeartbeatInterval": "HeartbeatInterval", "ResetRetries": "ResetRetries",
                      "MessageAttempts": "TransactionMessageAttempts",
                      "MessageAttemptInterval": "TransactionMessageRetryInterval"},
    "SampledDataCtrlr": {"TxUpdatedInterval": "MeterValueSampleInterval", "TxUpdatedMeasurands": "MeterValuesSampledData",
                         "TxEndedMeasurands": "StopTxnSampledData"},
    "AlignedDataCtrlr": {"Interval": "ClockAlignedDataInterval", "Measurands": "MeterValuesAlignedData",
                         "TxEndedMeasurands": "StopTxnAlignedData"},
    "TxCtrlr": {"EVConnectionTimeOut": "ConnectionTimeOut", "StopTxOnEVSideDisconnect": "StopTransactionOnEVSideDisconnect",
                "StopTxOnInvalidId": "StopTransactionOnInvalidId"},
    "AuthCtrlr": {"AuthorizeRemoteStart": "AuthorizeRemoteTxRequests", "LocalAuthorizeOffline": "LocalAuthorizeOffline",
                  "LocalPreAuthorize": "LocalPreAuthorize", "Enabled": "FreeVendEnabled"},
    "SmartChargingCtrlr": {"ProfileStackLevel": "ChargeProfileMaxStackLevel",
                           "RateUnit": "ChargingScheduleAllowedChargingRateUnit",
                           "PeriodsPerSchedule": "ChargingScheduleMaxPeriods"},
}
"""This firmware's settings as 2.0.1 components and variables (Part 2 Appendices), by the name its
configuration store keeps them under."""
NEGATED = {"FreeVendEnabled"}
"""Stored as the opposite of the variable: AuthCtrlr.Enabled (authorisation needed) is not free vend."""


def _negate(key: str, value: str) -> str:
    if key in NEGATED and value.lower() in ("true", "false"):
        return "false" if value.lower() == "true" else "true"
    return value

CONNECTOR_STATUS = {"Available": "Available", "Unavailable": "Unavailable", "Faulted": "Faulted"}
"""The firmware's status → ConnectorStatusEnumType; every other (a vehicle is there) is Occupied."""
CHARGING_STATE = {"Preparing": "EVConnected", "Charging": "Charging", "SuspendedEV": "SuspendedEV",
                  "SuspendedEVSE": "SuspendedEVSE", "Finishing": "EVConnected"}
"""The firmware's status while a vehicle is there → ChargingStateEnumType."""
STOP_REASON = {"HardReset": "ImmediateReset", "SoftReset": "Reboot", "UnlockCommand": "Other"}
"""The firmware's stop reasons that ReasonEnumType names otherwise; the rest keep their names."""
TRIGGERS = {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification", "TransactionEvent",
            "FirmwareStatusNotification", "LogStatusNotification"}


class SimStation201(SimChargePoint):
    """`SimChargePoint` speaking OCPP 2.0.1."""

    subprotocol = SUBPROTOCOL
    error_codes = CALLERROR_201

    def __init__(self, world: World, box: SimulatedWallbox, knobs: Knobs, url: str, identity: str,
                 password: str | None, tls: dict[str, str] | None = None) -> None:
        super().__init__(world, box, knobs, url, identity, password, tls)
        self._tx_numbers = itertools.count(1)
        self._reports = itertools.count(1)
        self._state_sent: str | None = None   # the charging state last told in a TransactionEvent
        self._remote_token: str | None = None  # the idToken of the last RequestStartTransaction
        self._vehicles: set[str] = set()        # idTokens that are vehicles' MACs (type MacAddress)
        self._remote_start_id = 0

    # --- what the firmware says --------------------------------------------------------------------
    def _boot_message(self) -> tuple[str, dict[str, Any]]:
        return "BootNotification", {"reason": "PowerUp", "chargingStation": {
            "vendorName": self.VENDOR, "model": self.MODEL, "serialNumber": self.identity, "firmwareVersion": "sim-1"}}

    def _announce_station(self) -> None:
        """2.0.1 reports connectors, not the station as a whole: nothing to say at connection."""

    def _new_transaction_id(self) -> str:
        return f"SIM-{self.identity}-{next(self._tx_numbers)}"

    def _token(self, id_tag: str) -> dict[str, str]:
        """The backend's token of a remote start (Central), the firmware's free-vend id (Local), or a
        card's UID (ISO14443): IdTokenEnumType."""
        if id_tag in self._vehicles:
            return {"idToken": id_tag, "type": "MacAddress"}
        kind = "Central" if id_tag == self._remote_token else "Local" if id_tag == self.config["FreeVendIdTag"] \
            else "ISO14443"
        return {"idToken": id_tag, "type": kind}

    def vehicle_id_tag(self, evcc_id: bytes) -> str:
        """2.0.1 names a vehicle by its MAC as it is, with the idToken type MacAddress (IdTokenEnumType)."""
        tag = evcc_id.hex().upper()
        self._vehicles.add(tag)
        return tag

    def _event(self, event_type: str, trigger: str, tx: dict[str, Any], context: str | None = None,
               **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"transactionId": tx["id"], "chargingState": self._charging_state()}
        info.update(extra.pop("info", {}))
        payload: dict[str, Any] = {"eventType": event_type, "timestamp": _stamp(self.now_utc()),
                                   "triggerReason": trigger, "seqNo": tx["seq"], "transactionInfo": info, **extra}
        tx["seq"] += 1
        if context is not None:
            payload["meterValue"] = [self._values(context)]
        self._state_sent = info["chargingState"]
        return payload

    def _charging_state(self) -> str:
        status, _ = self.status()
        return CHARGING_STATE.get(status, "Idle")

    def _send_started(self, local: Any, id_tag: str) -> dict[str, Any] | None:
        tx = self.transaction
        assert tx is not None
        tx["seq"] = 0
        remote = id_tag == self._remote_token
        payload = self._event("Started", "RemoteStart" if remote else "Authorized", tx, "Transaction.Begin",
                              evse={"id": 1, "connectorId": 1}, idToken=self._token(id_tag),
                              **({"info": {"remoteStartId": self._remote_start_id}} if remote else {}))
        return self._transaction_message("TransactionEvent", payload)

    def _confirmed_id(self, answer: dict[str, Any], local: Any) -> Any:
        return local

    def _id_status(self, answer: dict[str, Any]) -> str:
        return str(answer.get("idTokenInfo", {}).get("status", "Accepted"))

    def _send_ended(self, tx: dict[str, Any], reason: str) -> None:
        stopped = STOP_REASON.get(reason, reason)
        trigger = {"EVDisconnected": "EVCommunicationLost", "Remote": "RemoteStop", "Local": "StopAuthorized",
                   "DeAuthorized": "Deauthorized", "PowerLoss": "AbnormalCondition"}.get(reason, "AbnormalCondition")
        payload = self._event("Ended", trigger, tx, "Transaction.End", info={"stoppedReason": stopped})
        payload["transactionInfo"]["chargingState"] = "EVConnected" if self.box.cp_letter in ("B", "C", "D") else "Idle"
        self._transaction_message("TransactionEvent", payload)

    def _send_power_loss(self, stop: dict[str, Any]) -> None:
        """The transaction the mains took, ended after the reboot (its data kept from the moment it died)."""
        self._transaction_message("TransactionEvent", stop)

    def _power_loss_record(self) -> dict[str, Any]:
        tx = self.transaction
        assert tx is not None
        payload = self._event("Ended", "AbnormalCondition", tx, "Transaction.End",
                              info={"stoppedReason": self.knobs.ocpp.power_loss_reason})
        payload["offline"] = True
        return payload

    def _send_periodic(self) -> None:
        tx = self.transaction
        assert tx is not None
        self._transaction_message("TransactionEvent", self._event("Updated", "MeterValuePeriodic", tx,
                                                                  "Sample.Periodic"))

    def _send_aligned(self) -> None:
        tx = self.transaction
        if tx is not None:
            self._transaction_message("TransactionEvent", self._event("Updated", "MeterValueClock", tx, "Sample.Clock"))
        else:
            self._transaction_message("MeterValues", {"evseId": 1, "meterValue": [self._values("Sample.Clock")]})

    def _authorize_message(self, id_tag: str) -> tuple[str, dict[str, Any]]:
        return "Authorize", {"idToken": self._token(id_tag)}

    def _authorize_status(self, answer: dict[str, Any]) -> str:
        return str(answer.get("idTokenInfo", {}).get("status"))

    def _sampled(self, measurand: str, value: float, unit: str, context: str, phase: str | None = None,
                 digits: int = 1) -> dict[str, Any]:
        out: dict[str, Any] = {"value": round(value, digits), "context": context, "measurand": measurand,
                               "unitOfMeasure": {"unit": unit}}
        if phase is not None:
            out["phase"] = phase
        return out

    def _send_status(self, told: tuple[str, str] | None = None) -> None:
        """A change of connector status is a StatusNotification (a fault also a NotifyEvent with its
        code, sent first); a change of what an occupied connector does is told in a TransactionEvent
        (ChargingStateChanged) while a transaction runs."""
        status, code = told or self.status()
        if f"{status}/{code}" == self._sent or not self.link.connected:
            return
        before = (self._sent or "/").split("/")[0]
        self._sent = f"{status}/{code}"
        connector = CONNECTOR_STATUS.get(status, "Occupied")
        if connector != CONNECTOR_STATUS.get(before, "Occupied" if before else ""):
            if code != "NoError":
                self._send("NotifyEvent", self._fault_event(code))
            payload = {"timestamp": _stamp(self.now_utc()), "connectorStatus": connector, "evseId": 1, "connectorId": 1}
            if self._send("StatusNotification", payload) is None:
                self._sent = None
                return
            for _ in range(self.knobs.ocpp.status_repeats - 1):   # the misbehaviour: one change, reported again
                self._send("StatusNotification", payload)
        tx = self.transaction
        if tx is not None and connector == "Occupied" and self._charging_state() != self._state_sent:
            self._transaction_message("TransactionEvent", self._event("Updated", "ChargingStateChanged", tx))

    def _fault_event(self, code: str) -> dict[str, Any]:
        fault = self.box.fault_reason
        text = fault.text[:50] if self.box.state == "F" and fault is not None else "over-temperature"
        return {"generatedAt": _stamp(self.now_utc()), "seqNo": 0, "tbc": False, "eventData": [{
            "eventId": next(self._reports), "timestamp": _stamp(self.now_utc()), "trigger": "Delta",
            "actualValue": "true", "techCode": code, "techInfo": text, "eventNotificationType": "HardWiredNotification",
            "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Problem"}}]}

    # --- what the backend asks -------------------------------------------------------------------
    def _on_RequestStartTransaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        token = dict(self._field(payload, "idToken", dict))
        self._remote_start_id = self._field(payload, "remoteStartId", int)
        id_tag = str(token.get("idToken", ""))
        legacy: dict[str, Any] = {"idTag": id_tag}
        evse = self._field(payload, "evseId", int, required=False)
        if evse is not None:
            legacy["connectorId"] = evse
        if "chargingProfile" in payload:
            legacy["chargingProfile"] = self._profile_16(dict(self._field(payload, "chargingProfile", dict)))
        self._remote_token = id_tag
        answer = self._on_RemoteStartTransaction(legacy)
        if self.transaction is not None and answer["status"] == "Rejected":
            return {"status": "Rejected", "transactionId": self.transaction["id"]}
        return answer

    def _on_RequestStopTransaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        tx = self.transaction
        if tx is None or self._field(payload, "transactionId", str) != tx["id"]:
            return {"status": "Rejected"}
        self._stop_soon("Remote")
        return {"status": "Accepted"}

    @staticmethod
    def _profile_16(profile: dict[str, Any]) -> dict[str, Any]:
        """A ChargingProfileType as the firmware's profile store keeps profiles (1.6's shape)."""
        schedules = profile.get("chargingSchedule") or [{}]
        if len(schedules) != 1:
            raise CallError("OccurenceConstraintViolation", "this station takes one chargingSchedule per profile")
        schedule = {k: v for k, v in dict(schedules[0]).items() if k != "id"}
        purpose = str(profile.get("chargingProfilePurpose"))
        out = {"chargingProfileId": profile.get("id"), "stackLevel": profile.get("stackLevel"),
               "chargingProfilePurpose": "ChargePointMaxProfile" if purpose == "ChargingStationMaxProfile" else purpose,
               "chargingProfileKind": profile.get("chargingProfileKind"), "chargingSchedule": schedule}
        for key in ("recurrencyKind", "validFrom", "validTo", "transactionId"):
            if key in profile:
                out[key] = profile[key]
        return out

    def _on_SetChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse = self._field(payload, "evseId", int)
        profile = self._profile_16(dict(self._field(payload, "chargingProfile", dict)))
        return super()._on_SetChargingProfile({"connectorId": evse, "csChargingProfiles": profile})

    def _on_ClearChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        legacy: dict[str, Any] = {}
        if "chargingProfileId" in payload:
            legacy["id"] = self._field(payload, "chargingProfileId", int)
        criteria = dict(payload.get("chargingProfileCriteria", {}))
        if "evseId" in criteria:
            legacy["connectorId"] = criteria["evseId"]
        if "chargingProfilePurpose" in criteria:
            purpose = str(criteria["chargingProfilePurpose"])
            legacy["chargingProfilePurpose"] = "ChargePointMaxProfile" if purpose == "ChargingStationMaxProfile" \
                else purpose
        if "stackLevel" in criteria:
            legacy["stackLevel"] = criteria["stackLevel"]
        return super()._on_ClearChargingProfile(legacy)

    def _on_GetCompositeSchedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        evse = self._field(payload, "evseId", int)
        legacy = {"connectorId": evse, "duration": self._field(payload, "duration", int)}
        if "chargingRateUnit" in payload:
            legacy["chargingRateUnit"] = self._field(payload, "chargingRateUnit", str)
        answer = super()._on_GetCompositeSchedule(legacy)
        schedule = answer["chargingSchedule"]
        return {"status": answer["status"], "schedule": {
            "evseId": evse, "duration": schedule["duration"], "scheduleStart": answer["scheduleStart"],
            "chargingRateUnit": schedule["chargingRateUnit"],
            "chargingSchedulePeriod": schedule["chargingSchedulePeriod"]}}

    def _setting(self, item: dict[str, Any]) -> tuple[str | None, str, dict[str, Any], dict[str, Any]]:
        """(the firmware's key, or None; the status if none) of a component/variable pair."""
        component, variable = dict(item.get("component", {})), dict(item.get("variable", {}))
        names = VARIABLES.get(str(component.get("name")))
        if names is None:
            return None, "UnknownComponent", component, variable
        key = names.get(str(variable.get("name")))
        return (key, "", component, variable) if key is not None else (None, "UnknownVariable", component, variable)

    def _on_SetVariables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in self._field(payload, "setVariableData", list):
            key, unknown, component, variable = self._setting(dict(item))
            if key is None:
                status = unknown
            else:
                value = _negate(key, str(item.get("attributeValue", "")))
                answer = self._on_ChangeConfiguration({"key": key, "value": value})["status"]
                status = {"NotSupported": "UnknownVariable"}.get(answer, answer)
            results.append({"attributeStatus": status, "component": component, "variable": variable})
        return {"setVariableResult": results}

    def _on_GetVariables(self, payload: dict[str, Any]) -> dict[str, Any]:
        results = []
        for item in self._field(payload, "getVariableData", list):
            key, unknown, component, variable = self._setting(dict(item))
            result: dict[str, Any] = {"attributeStatus": unknown or "Accepted", "component": component,
                                      "variable": variable}
            if key is not None:
                result["attributeValue"] = _negate(key, self.config[key])
            results.append(result)
        return {"getVariableResult": results}

    def _on_GetBaseReport(self, payload: dict[str, Any]) -> dict[str, Any]:
        request = self._field(payload, "requestId", int)
        self._field(payload, "reportBase", str)

        def report() -> None:
            data = [{"component": {"name": c}, "variable": {"name": v},
                     "variableAttribute": [{"type": "Actual", "value": _negate(key, self.config[key])}]}
                    for c, names in VARIABLES.items() for v, key in names.items() if key in self.config]
            self._send("NotifyReport", {"requestId": request, "generatedAt": _stamp(self.now_utc()), "seqNo": 0,
                                        "tbc": False, "reportData": data})
        self.world.schedule(0.0, report)
        return {"status": "Accepted"}

    def _on_ChangeAvailability(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = self._field(payload, "operationalStatus", str)
        evse = dict(payload.get("evse", {})).get("id", 0)
        return super()._on_ChangeAvailability({"connectorId": evse, "type": kind})

    def _on_Reset(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = self._field(payload, "type", str)
        if kind not in ("Immediate", "OnIdle"):
            raise CallError("PropertyConstraintViolation", f"type must be Immediate or OnIdle, not {kind!r}")
        return super()._on_Reset({"type": "Hard" if kind == "Immediate" else "Soft"})

    def _on_TriggerMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        what = self._field(payload, "requestedMessage", str)
        if what not in TRIGGERS:
            return {"status": "NotImplemented"}
        evse = dict(payload.get("evse", {})).get("id")
        if evse not in (None, 1):
            return {"status": "Rejected"}
        actions = {"Heartbeat": self._heartbeat, "MeterValues": self._trigger_values,
                   "StatusNotification": self._trigger_status, "BootNotification": self._dial,
                   "TransactionEvent": self._trigger_transaction}
        if what not in actions:
            return {"status": "NotImplemented"}
        self.world.schedule(0.0, actions[what])
        return {"status": "Accepted"}

    def _trigger_values(self) -> None:
        self._send("MeterValues", {"evseId": 1, "meterValue": [self._values("Trigger")]})

    def _trigger_status(self, connector: int | None = None) -> None:
        self._sent = None
        self._send_status(self._cached_status())

    def _trigger_transaction(self) -> None:
        tx = self.transaction
        if tx is not None:
            self._transaction_message("TransactionEvent", self._event("Updated", "Trigger", tx, "Trigger"))

    def _on_UnlockConnector(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._field(payload, "evseId", int) != 1 or self._field(payload, "connectorId", int) != 1:
            return {"status": "UnknownConnector"}
        answer = super()._on_UnlockConnector({"connectorId": 1})["status"]
        return {"status": "Unlocked" if answer == "Unlocked" else "UnlockFailed"}

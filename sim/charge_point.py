"""The simulated wallbox's OCPP 1.6J charge point: what its firmware tells the backend, and what
it does on the backend's word.  One connector (connector 1), on virtual time.

What it reports comes from the firmware's own view (its state machine, its contactor, its meter);
what it enforces (authorisation, charging profiles) reaches the offer through `cap_a`.  Every
judged behaviour has a knob, so the suite can be shown to catch it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sim.ocpp_link import CallError, OcppLink
from sim.smart_charging import ProfileStore, posix
from sim.world import Timers, World
from sim.params import Knobs

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

_READ_ONLY = {"NumberOfConnectors", "SupportedFeatureProfiles", "ChargeProfileMaxStackLevel",
              "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled",
              "GetConfigurationMaxKeys"}
_INTEGER_KEYS = {"HeartbeatInterval", "MeterValueSampleInterval", "ClockAlignedDataInterval", "ConnectionTimeOut",
                 "ResetRetries", "TransactionMessageAttempts", "TransactionMessageRetryInterval"}
_BOOLEAN_KEYS = {"AuthorizeRemoteTxRequests", "FreeVendEnabled", "StopTransactionOnEVSideDisconnect",
                 "LocalAuthorizeOffline", "LocalPreAuthorize", "StopTransactionOnInvalidId",
                 "UnlockConnectorOnEVSideDisconnect"}
"""OCPP 1.6 §9.1's types of the writable Core keys: a value of another type is Rejected, never stored."""
_TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
             "MeterValues", "StatusNotification")
"""TriggerMessage's requestedMessage values (OCPP 1.6 §7.48 MessageTrigger)."""


def _stamp(posix_s: float) -> str:
    return datetime.fromtimestamp(posix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SimChargePoint:
    """The firmware's OCPP side, speaking 1.6J; `sim/ocpp201_station.py` says the same in 2.0.1 by
    overriding what goes on the wire (the methods under "what the firmware says")."""

    subprotocol = "ocpp1.6"
    error_codes: dict[str, str] = {}
    VENDOR, MODEL = "WALLBOX-RIG", "SimWallbox"

    def __init__(self, world: World, box: SimulatedWallbox, knobs: Knobs, url: str, identity: str,
                 password: str | None, tls: dict[str, str] | None = None) -> None:
        self.world, self.box, self.knobs = world, box, knobs
        self.identity = identity
        self.link = OcppLink(url, identity, password, self._incoming, self.subprotocol, self.error_codes, tls)
        self.profiles = ProfileStore(knobs)
        self.config: dict[str, str] = {
            "HeartbeatInterval": "300", "MeterValueSampleInterval": "60", "ClockAlignedDataInterval": "0",
            "MeterValuesSampledData": "Energy.Active.Import.Register,Current.Import,Current.Offered,Power.Active.Import",
            "ConnectionTimeOut": "120", "AuthorizeRemoteTxRequests": "false", "FreeVendEnabled": "true",
            "FreeVendIdTag": "FREEVEND", "StopTransactionOnEVSideDisconnect": "true", "NumberOfConnectors": "1",
            "SupportedFeatureProfiles": "Core,SmartCharging,RemoteTrigger", "ChargeProfileMaxStackLevel": "8",
            "ChargingScheduleAllowedChargingRateUnit": "Current,Power", "ChargingScheduleMaxPeriods": "48",
            "MaxChargingProfilesInstalled": "10",
            # the rest of OCPP 1.6 §9.1's Core keys
            "ConnectorPhaseRotation": "0.RST,1.RST", "GetConfigurationMaxKeys": "64", "LocalAuthorizeOffline": "false",
            "LocalPreAuthorize": "false", "MeterValuesAlignedData": "Energy.Active.Import.Register", "ResetRetries": "3",
            "StopTransactionOnInvalidId": "true", "StopTxnAlignedData": "", "StopTxnSampledData": "",
            "TransactionMessageAttempts": "3", "TransactionMessageRetryInterval": "60",
            "UnlockConnectorOnEVSideDisconnect": "true"}
        self._clock_offset_s = 0.0        # the firmware's UTC = virtual time + this (set by the backend)
        self._timers = Timers(world)
        self.queue: list[tuple[str, dict[str, Any], int | None]] = []
        self.register_wh = 0.0
        self._power_w, self._last_t = 0.0, 0.0
        self.transaction: dict[str, Any] | None = None
        self._authorised: str | None = None       # idTag allowed to start on this plug-in
        self._finished = False                     # a transaction ended on this plug-in
        self._sent: str | None = None              # the status last sent (status, errorCode)
        self._cap_a = float("inf")
        self._local_ids = iter(range(-1, -1_000_000, -1))
        self._id_map: dict[int, int] = {}
        self._pending_power_loss: dict[str, Any] | None = None
        self._last_sample: dict[str, Any] | None = None   # the last periodic MeterValue taken
        self.operative = self._operative_next = True
        """The connector's availability (ChangeAvailability), kept across reboots (OCPP 1.6 §5.2)."""
        self._remote_tx_profile: dict[str, Any] | None = None
        """The TxProfile of a RemoteStartTransaction, until the transaction it starts begins."""
        self._left = False                         # the vehicle was unplugged since the last look
        self._pairing: str | None = None           # a pairing not yet told to the backend (the Wallbox ID)
        box.plant.listen(self._integrate)

    # --- timers ----------------------------------------------------------------------------------
    def _start(self, name: str, delay_s: float, action: Callable[[], None]) -> None:
        self._timers.start(name, delay_s, action)

    def _stop(self, *names: str) -> None:
        self._timers.stop(*names)

    def now_utc(self) -> float:
        return self.world.now + self._clock_offset_s

    # --- power -----------------------------------------------------------------------------------
    def powered_up(self) -> None:
        """The comms module boots with the controller; it dials the backend once it is up."""
        if not self.knobs.ocpp.availability_persists:
            self.operative = self._operative_next = True
        self._start("connect", self.knobs.ocpp.connect_after_s, self._dial)

    def powered_down(self) -> None:
        self._stop(*self._timers.names())
        self.link.close()
        self._sent = None
        if self.transaction is not None:   # the session died with the supply: reported after the reboot
            self._pending_power_loss = self._power_loss_record()
            self.transaction = None
            self.profiles.end_transaction()
        self._authorised = self._remote_tx_profile = None   # a remote start waiting for its vehicle dies too
        self._finished = False
        self._cap_a = float("inf")

    def _dial(self) -> None:
        if not self.link.connected and not self.link.connect():
            self._start("connect", self.knobs.ocpp.reconnect_s, self._dial)
            return
        answer = self.link.call(*self._boot_message())
        if answer is None or answer.get("status") != "Accepted":
            self.link.close()
            self._start("connect", self.knobs.ocpp.reconnect_s, self._dial)
            return
        self._take_time(answer.get("currentTime"))
        self.config["HeartbeatInterval"] = str(int(answer.get("interval") or self.config["HeartbeatInterval"]))
        self._online()

    def _online(self) -> None:
        """Connected (after a boot or a reconnection): report, deliver what waited, keep the link alive."""
        self._start("heartbeat", float(self.config["HeartbeatInterval"]), self._heartbeat)
        self._start("watchdog", self.knobs.ocpp.reconnect_s, self._watchdog)
        self._announce_station()
        self._sent = None
        if self._pending_power_loss is not None:
            stop, self._pending_power_loss = self._pending_power_loss, None
            self._send_power_loss(stop)
        self._flush()
        if self._pairing is not None:
            self.announce_pairing(self._pairing)
        self.changed()
        self._align()

    def _watchdog(self) -> None:
        if not self.link.connected:
            if self.link.connect():
                self._online()
                return
        self._start("watchdog", self.knobs.ocpp.reconnect_s, self._watchdog)

    def _heartbeat(self) -> None:
        answer = self._send("Heartbeat", {})
        if answer is not None:
            self._take_time(answer.get("currentTime"))
        self._start("heartbeat", float(self.config["HeartbeatInterval"]), self._heartbeat)

    def _take_time(self, text: Any) -> None:
        when = posix(text) if isinstance(text, str) else None
        if when is None:
            return
        jump = (when - self.world.now) - self._clock_offset_s
        self._clock_offset_s = when - self.world.now
        if self.transaction is not None and not self.knobs.ocpp.relative_on_wall_clock:
            self.transaction["start_utc"] += jump   # the session's own time runs on, whatever the calendar says
        if abs(jump) > 1e-6:
            self.world.record("ocpp_clock_set", jump_s=jump)
        self.reevaluate()

    # --- what the firmware says (OCPP 1.6J; a 2.0.1 station overrides these) -----------------------
    def _boot_message(self) -> tuple[str, dict[str, Any]]:
        return "BootNotification", {"chargePointVendor": self.VENDOR, "chargePointModel": self.MODEL,
                                    "chargePointSerialNumber": self.identity, "firmwareVersion": "sim-1"}

    def _announce_station(self) -> None:
        """Connected: the charge point as a whole is Available (connector 0, OCPP 1.6 §4.9)."""
        self._send("StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"})

    def _new_transaction_id(self) -> Any:
        """Provisional (negative) until the backend gives the transaction its id."""
        return next(self._local_ids)

    def _send_started(self, local: Any, id_tag: str) -> dict[str, Any] | None:
        payload = {"connectorId": 1, "idTag": id_tag, "meterStart": int(round(self.register_wh)),
                   "timestamp": _stamp(self.now_utc())}
        return self._transaction_message("StartTransaction", payload, local)

    def _confirmed_id(self, answer: dict[str, Any], local: Any) -> Any:
        return int(answer.get("transactionId", local))

    def _id_status(self, answer: dict[str, Any]) -> str:
        return str(answer.get("idTagInfo", {}).get("status"))

    def _send_ended(self, tx: dict[str, Any], reason: str) -> None:
        self._transaction_message("StopTransaction", {"transactionId": tx["id"], "reason": reason,
                                                      "meterStop": int(round(self.register_wh)),
                                                      "timestamp": _stamp(self.now_utc()), "idTag": tx["idTag"]})

    def _power_loss_record(self) -> dict[str, Any]:
        """What is told of a transaction the mains took, once the backend is back (kept from now)."""
        assert self.transaction is not None
        return {"transactionId": self.transaction["id"], "reason": self.knobs.ocpp.power_loss_reason,
                "meterStop": int(round(self.register_wh)), "timestamp": _stamp(self.now_utc())}

    def _send_power_loss(self, stop: dict[str, Any]) -> None:
        self._transaction_message("StopTransaction", stop)

    def _send_periodic(self) -> None:
        assert self.transaction is not None
        self._transaction_message("MeterValues", {"connectorId": 1, "transactionId": self.transaction["id"],
                                                  "meterValue": [self._values("Sample.Periodic")]})

    def _send_aligned(self) -> None:
        payload: dict[str, Any] = {"connectorId": 1, "meterValue": [self._values("Sample.Clock")]}
        if self.transaction is not None:
            payload["transactionId"] = self.transaction["id"]
        self._transaction_message("MeterValues", payload)

    def _authorize_message(self, id_tag: str) -> tuple[str, dict[str, Any]]:
        return "Authorize", {"idTag": id_tag}

    def _authorize_status(self, answer: dict[str, Any]) -> str:
        return str(answer.get("idTagInfo", {}).get("status"))

    def _sampled(self, measurand: str, value: float, unit: str, context: str, phase: str | None = None,
                 digits: int = 1) -> dict[str, Any]:
        """One sampledValue (OCPP 1.6 §7.43: the value as a string)."""
        out = {"value": f"{value:.{digits}f}", "context": context, "measurand": measurand, "unit": unit}
        if phase is not None:
            out["phase"] = phase
        return out

    # --- sending ---------------------------------------------------------------------------------
    def _send(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        answer = self.link.call(action, payload)
        if answer is None and not self.link.connected:
            self._start("watchdog", self.knobs.ocpp.reconnect_s, self._watchdog)
        return answer

    def _transaction_message(self, action: str, payload: dict[str, Any], local: int | None = None
                             ) -> dict[str, Any] | None:
        """Sent now if the backend is there and nothing waits before it; else queued (or lost,
        with `ocpp_offline_queue=false`).  `local`: the provisional id a StartTransaction stands for."""
        if not self.queue and self.link.connected:
            answer = self._send(action, self._mapped(payload))
            if answer is not None:
                return answer
        if self.knobs.ocpp.offline_queue:
            self.queue.append((action, payload, local))
            self.world.record("ocpp_queued", action=action, waiting=len(self.queue))
        return None

    def _mapped(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Transaction ids given while offline (negative, provisional) become the backend's."""
        tx = payload.get("transactionId")
        return {**payload, "transactionId": self._id_map.get(tx, tx)} if tx is not None else payload

    def _flush(self) -> None:
        while self.queue and self.link.connected:
            action, payload, local = self.queue[0]
            answer = self._send(action, self._mapped(payload))
            if answer is None:
                return
            self.queue.pop(0)
            if local is not None:
                self._id_map[local] = int(answer.get("transactionId", local))
                if self.transaction is not None and self.transaction["id"] == local:
                    self.transaction["id"] = self._id_map[local]

    # --- status ----------------------------------------------------------------------------------
    def status(self) -> tuple[str, str]:
        box = self.box
        thermal = box.protection.thermal_state == "stopped"
        if box.state == "F" or thermal:
            fault = box.fault_reason if box.state == "F" else None
            code = "HighTemperature" if fault is None else fault.ocpp_error
            return self.knobs.ocpp.status_on_fault, code
        if box.state in ("off", "boot", "update") or (not self.operative and self.transaction is None):
            return "Unavailable", "NoError"
        if box.cp_letter not in ("B", "C", "D"):
            return "Available", "NoError"
        if self.transaction is None:
            return ("Finishing" if self._finished else "Preparing"), "NoError"
        if box.plant.contactor_closed:
            return "Charging", "NoError"
        if box.plant.generator.mode == "pwm":
            return "SuspendedEV", "NoError"
        return "SuspendedEVSE", "NoError"

    def _authorise(self, id_tag: str) -> None:
        """An authorisation for the next plug-in, or this one.  With no vehicle connected now, an
        unplugging not yet handled is history: it must not take the new authorisation with it
        (a RemoteStartTransaction right after the last vehicle left was forgotten so)."""
        if self.box.cp_letter not in ("B", "C", "D"):
            self._left = False
        self._authorised = id_tag

    def vehicle_left(self) -> None:
        """The firmware read state A: whatever follows is a new plug-in (told at once, handled in `changed`)."""
        self._left = True

    def changed(self) -> None:
        """The wallbox changed: sessions start or end here, and the status follows after its delay."""
        if self.box.state in ("off", "boot", "update"):
            return
        plugged = self.box.cp_letter in ("B", "C", "D")
        if self._left or not plugged:   # an unplugging ends the session, even one undone within the instant
            unplugged, self._left = self._left, False
            if self.transaction is not None:
                self._stop_transaction("EVDisconnected")
                self._authorised = None
            elif unplugged or not self.knobs.ocpp.remote_start_waits:
                self._authorised = None
            # else no vehicle yet: an authorisation given before plug-in (a RemoteStartTransaction, OCPP 1.6
            # §5.11) waits for the cable until ConnectionTimeOut
            self._finished = False
        if plugged and self.transaction is None and not self._finished and self.box.state != "F" and self.operative:
            if self._free_vend() and self._authorised is None:
                self._authorised = self.config["FreeVendIdTag"]
            if self._authorised is not None:
                self._start_transaction(self._authorised)
        self._set_cap()
        current = "/".join(self.status())
        if current != self._sent and "status" not in self._timers:
            self._start("status", self.knobs.ocpp.status_delay_s, self._send_status)

    def _free_vend(self) -> bool:
        """A session starts without an idTag from anyone: free vend on, and no card needed locally."""
        return self.config["FreeVendEnabled"] == "true" and not self.box.access.required()

    # --- the card reader and the pairing button -----------------------------------------------------
    def card_authorised(self, id_tag: str) -> None:
        """A registered card authorised this plug-in: its transaction carries the card's idTag."""
        self._authorise(id_tag)
        self._finished = False
        self.world.schedule(0.0, self.changed)

    def vehicle_authorised(self, evcc_id: bytes) -> None:
        """An ISO 15118 vehicle authorised by its EVCC ID (its MAC): the transaction carries the idTag
        this firmware names a vehicle with (`hlc_id_tag_prefix` and the MAC in hex, 20 characters at
        most, OCPP 1.6 IdToken)."""
        self.card_authorised(self.vehicle_id_tag(evcc_id))

    def vehicle_id_tag(self, evcc_id: bytes) -> str:
        return (self.knobs.access.hlc_id_tag_prefix + evcc_id.hex().upper())[:20]

    def card_stopped(self) -> None:
        """The session's card again: the transaction ends (reason Local, OCPP 1.6 §7.46)."""
        if self.transaction is not None:
            self._stop_transaction("Local")
        self._authorised = None
        self._finished = True
        self._set_cap()

    def announce_pairing(self, wallbox_id: str) -> None:
        """The pairing button: the backend hears the Wallbox ID (now, or once the link is up)."""
        self._pairing = wallbox_id
        if self.link.connected and self._send("DataTransfer", {"vendorId": self.VENDOR, "messageId": "Pairing",
                                                               "data": wallbox_id}) is not None:
            self._pairing = None

    def _send_status(self, told: tuple[str, str] | None = None) -> None:
        """`told`: what to report instead of the present status (a misbehaving triggered report)."""
        status, code = told or self.status()
        if f"{status}/{code}" == self._sent or not self.link.connected:
            return
        self._sent = f"{status}/{code}"
        payload = {"connectorId": 1, "errorCode": code, "status": status, "timestamp": _stamp(self.now_utc())}
        if code != "NoError":
            fault = self.box.fault_reason
            payload["info"] = fault.text[:50] if self.box.state == "F" and fault is not None else "over-temperature"
        if self._send("StatusNotification", payload) is None:
            self._sent = None
            return
        for _ in range(self.knobs.ocpp.status_repeats - 1):   # the misbehaviour: one change, reported again
            self._send("StatusNotification", payload)

    # --- transactions ----------------------------------------------------------------------------
    def _start_transaction(self, id_tag: str) -> None:
        local = self._new_transaction_id()
        self.transaction = {"id": local, "idTag": id_tag, "start_utc": self.now_utc()}
        self.world.record("ocpp_transaction_start", id_tag=id_tag)
        answer = self._send_started(local, id_tag)
        if answer is not None and self.transaction is not None:
            self.transaction["id"] = self._confirmed_id(answer, local)
            self._id_map[local] = self.transaction["id"]
            accepted = self._id_status(answer) == "Accepted"
            if not accepted and not self.knobs.ocpp.unknown_idtag_charges:
                self._stop_transaction("DeAuthorized")
                return
        profile, self._remote_tx_profile = self._remote_tx_profile, None
        if profile is not None:
            self.profiles.install(1, {**profile, "transactionId": self.transaction["id"]}, self.transaction["id"])
        self._start("sample", float(self.config["MeterValueSampleInterval"]), self._sample)
        self.reevaluate()

    def _stop_transaction(self, reason: str) -> None:
        tx, self.transaction = self.transaction, None
        if tx is None:
            return
        self._finished = True
        self._authorised = None
        self._stop("sample")
        if self._operative_next != self.operative:
            self.world.schedule(0.0, self._apply_availability)
        self.profiles.end_transaction()
        self.world.record("ocpp_transaction_stop", reason=reason)
        self._send_ended(tx, reason)
        self.reevaluate()

    # --- metering --------------------------------------------------------------------------------
    def _integrate(self) -> None:
        now = self.world.now
        self.register_wh += self._power_w * (now - self._last_t) / 3600.0 * self.knobs.ocpp.meter_gain
        self._last_t = now
        plant = self.box.plant
        self._power_w = sum(plant.phase_power_w(k) for k in range(3))

    def _values(self, context: str) -> dict[str, Any]:
        """The configured measurands now; a triggered reading with `ocpp_trigger_values_stale` is the
        last periodic sample again, relabelled (a firmware answering from its cache)."""
        if context == "Trigger" and self.knobs.ocpp.trigger_values_stale and self._last_sample is not None:
            return {**self._last_sample, "sampledValue": [{**v, "context": context}
                                                          for v in self._last_sample["sampledValue"]]}
        self._integrate()
        plant = self.box.plant
        wanted = self.config["MeterValuesSampledData"].split(",")
        values: list[dict[str, Any]] = []
        if "Energy.Active.Import.Register" in wanted:
            values.append(self._sampled("Energy.Active.Import.Register", self.register_wh, "Wh", context))
        if "Current.Import" in wanted:
            values += [self._sampled("Current.Import", plant.phase_current_a(k), "A", context, f"L{k + 1}", 2)
                       for k in range(plant.phases)]
        if "Current.Offered" in wanted:
            offered = self.box.offered_current_a() if plant.generator.mode == "pwm" else 0.0
            values.append(self._sampled("Current.Offered", offered, "A", context))
        if "Power.Active.Import" in wanted:
            values.append(self._sampled("Power.Active.Import", self._power_w, "W", context, digits=0))
        out = {"timestamp": _stamp(self.now_utc()), "sampledValue": values}
        if context == "Sample.Periodic":
            self._last_sample = out
        return out

    def _sample(self) -> None:
        if self.transaction is None:
            return
        self._send_periodic()
        self._start("sample", float(self.config["MeterValueSampleInterval"]), self._sample)

    def _align(self) -> None:
        interval = float(self.config["ClockAlignedDataInterval"])
        if interval <= 0:
            return
        offset = self.knobs.ocpp.clock_aligned_offset_s
        wait = interval - ((self.now_utc() - offset) % interval)
        self._start("aligned", wait, self._aligned)

    def _aligned(self) -> None:
        self._send_aligned()
        self._align()

    # --- smart charging --------------------------------------------------------------------------
    def cap_a(self) -> float:
        """What the backend lets the offer be: 0 without an authorised session, else the profiles' limit."""
        return self._cap_a

    def _set_cap(self) -> None:
        if self.transaction is None and (self._finished or not self._free_vend() or not self.operative):
            cap = 0.0   # no session: nothing is offered until one is authorised (or the vehicle replugs)
        elif not self.knobs.ocpp.schedule_follow:
            cap = float("inf")
        else:
            tx = self.transaction
            volts, phases = self._supply()
            cap = self.profiles.limit_a(self.now_utc(), tx["start_utc"] if tx else None, tx["id"] if tx else None,
                                        volts, phases)
        if cap != self._cap_a:
            self._cap_a = cap
            self.world.record("ocpp_limit", amps=cap)
            self.box.apply_offer()

    def _supply(self) -> tuple[float, int]:
        """The firmware's measured phase voltage (mean of its installed phases; nominal while the
        supply is off) and its phase count: what a limit in W is turned into A with."""
        mains = self.box.plant.mains
        phases = self.box.protection.installed_phases
        return (sum(mains.phase_v[:phases]) / phases if mains.on else 230.0), phases

    def reevaluate(self) -> None:
        """Apply the limit that holds now (after the firmware's delay) and wake at the next boundary."""
        self._start("limit", self.knobs.ocpp.schedule_delay_s, self._set_cap_and_rearm)

    def _set_cap_and_rearm(self) -> None:
        self._set_cap()
        tx = self.transaction
        upcoming = self.profiles.boundaries(self.now_utc(), 8 * 86_400.0, tx["start_utc"] if tx else None)
        if upcoming:
            self._start("boundary", upcoming[0] - self.now_utc(), self.reevaluate)
        else:
            self._stop("boundary")

    # --- the backend's requests (worker thread: under the world's lock) ----------------------------
    def _incoming(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        with self.world.lock:
            self.world.record("ocpp_request", action=action)
            handler = getattr(self, f"_on_{action}", None)
            return handler(payload) if handler is not None else None

    @staticmethod
    def _field(payload: dict[str, Any], name: str, kind: type, required: bool = True) -> Any:
        """A payload field of OCPP 1.6's JSON type `kind` (int, str, dict, list); a missing required one is
        an OccurenceConstraintViolation, one of another type a TypeConstraintViolation (§4.2.3)."""
        if name not in payload:
            if required:
                raise CallError("OccurenceConstraintViolation", f"{name} is required")
            return None
        value = payload[name]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise CallError("TypeConstraintViolation", f"{name} must be {kind.__name__}, not {value!r}")
        return value

    def _on_RemoteStartTransaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        id_tag = self._field(payload, "idTag", str)
        if len(id_tag) > 20:
            raise CallError("TypeConstraintViolation", "idTag is an IdToken of at most 20 characters")
        connector = self._field(payload, "connectorId", int, required=False)
        if connector is not None and connector != 1:
            return {"status": "Rejected"}
        if self.transaction is not None or self.box.state in ("off", "boot", "F"):
            return {"status": "Rejected"}
        if self.config["AuthorizeRemoteTxRequests"] == "true":
            answer = self._send(*self._authorize_message(id_tag))
            accepted = answer is not None and self._authorize_status(answer) == "Accepted"
            if not accepted and not self.knobs.ocpp.unknown_idtag_charges:
                self.world.schedule(0.0, self.changed)
                return {"status": "Accepted"}   # accepted to try; the Authorize refused it
        self._authorise(id_tag)
        self._finished = False
        # the TxProfile it carries limits the transaction it starts (OCPP 1.6 §5.11), which starts on the
        # plug-in: kept until then
        self._remote_tx_profile = payload.get("chargingProfile") if self.knobs.ocpp.remote_profile_applies else None
        self._start("connection_timeout", float(self.config["ConnectionTimeOut"]), self._authorisation_expired)
        self.world.schedule(0.0, self.changed)
        return {"status": "Accepted"}

    def _authorisation_expired(self) -> None:
        if self.transaction is None and self.knobs.ocpp.connection_timeout_applies:
            self._authorised = self._remote_tx_profile = None

    def _on_RemoteStopTransaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        tx = self.transaction
        if tx is None or self._field(payload, "transactionId", int) != tx["id"]:
            return {"status": "Rejected"}
        self._stop_soon("Remote")
        return {"status": "Accepted"}

    def _stop_soon(self, reason: str) -> None:
        """End the transaction with `reason` right after the answer goes out (a world event of its own)."""
        def stop() -> None:
            self._stop_transaction(reason)
            self.changed()
        self.world.schedule(0.0, stop)

    def _on_SetChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        tx = self.transaction
        connector = self._field(payload, "connectorId", int)
        profile = dict(self._field(payload, "csChargingProfiles", dict))
        if (tx is None and profile.get("chargingProfilePurpose") == "TxProfile" and connector == 1
                and not self.knobs.ocpp.txprofile_needs_transaction):
            self._remote_tx_profile = profile   # the misbehaviour: held for the next transaction
            return {"status": "Accepted"}
        status = self.profiles.install(connector, profile, tx["id"] if tx else None)
        if status == "Accepted":
            self.reevaluate()
        return {"status": status}

    def _on_ClearChargingProfile(self, payload: dict[str, Any]) -> dict[str, Any]:
        if not self.knobs.ocpp.clear_applies and "id" in payload:
            return {"status": "Accepted"}   # the misbehaviour: a profile cleared by its id stays
        status = self.profiles.clear(payload)
        self.reevaluate()
        return {"status": status}

    def _on_GetCompositeSchedule(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._field(payload, "connectorId", int)
        duration = self._field(payload, "duration", int)
        unit = self._field(payload, "chargingRateUnit", str, required=False) or "A"
        if unit not in ("A", "W"):
            raise CallError("PropertyConstraintViolation", f"chargingRateUnit must be A or W, not {unit!r}")
        now = self.now_utc()
        tx = self.transaction
        tx_start, tx_id = (tx["start_utc"], tx["id"]) if tx else (None, None)
        volts, phases = self._supply()
        hardware = self.box.setting_a
        periods: list[dict[str, Any]] = []
        for t in [now, *self.profiles.boundaries(now, duration, tx_start)]:
            if t >= now + duration:
                break
            amps = min(hardware, self.profiles.limit_a(t, tx_start, tx_id, volts, phases))
            if unit == "A":
                limit = amps
            else:
                limit = amps / (volts * phases) if self.knobs.ocpp.composite_watts_inverted else amps * volts * phases
            if not periods or periods[-1]["limit"] != round(limit, 1) or not self.knobs.ocpp.composite_merges:
                periods.append({"startPeriod": int(round(t - now)), "limit": round(limit, 1)})
        return {"status": "Accepted", "connectorId": int(payload.get("connectorId", 1)), "scheduleStart": _stamp(now),
                "chargingSchedule": {"duration": duration, "startSchedule": _stamp(now), "chargingRateUnit": unit,
                                     "chargingSchedulePeriod": periods}}

    def _on_ChangeConfiguration(self, payload: dict[str, Any]) -> dict[str, Any]:
        key, value = self._field(payload, "key", str), self._field(payload, "value", str)
        if key not in self.config:
            return {"status": "NotSupported"}
        if key in _READ_ONLY:
            return {"status": "Rejected"}
        if key in _INTEGER_KEYS and not (value.isdigit() and len(value) <= 9) \
                or key in _BOOLEAN_KEYS and value.lower() not in ("true", "false"):
            return {"status": "Rejected"}   # a value of the wrong type is never stored (§9.1 gives each key's)
        self.config[key] = value.lower() if value.lower() in ("true", "false") else value
        self.world.schedule(0.0, self.changed)
        if key == "ClockAlignedDataInterval":
            self.world.schedule(0.0, self._align)
        return {"status": "Accepted"}

    def _on_GetConfiguration(self, payload: dict[str, Any]) -> dict[str, Any]:
        keys = payload.get("key") or list(self.config)
        known = [k for k in keys if k in self.config]
        return {"configurationKey": [{"key": k, "readonly": k in _READ_ONLY, "value": self.config[k]} for k in known],
                "unknownKey": [k for k in keys if k not in self.config]}

    def _on_Reset(self, payload: dict[str, Any]) -> dict[str, Any]:
        kind = payload.get("type", "Soft")

        def reset() -> None:
            if self.transaction is not None and self.knobs.ocpp.reset_ends_transaction:
                self._stop_transaction("HardReset" if kind == "Hard" else "SoftReset")
            self.link.close()
            self.box.restart()
        self.world.schedule(0.0, reset)
        return {"status": "Accepted"}

    def _on_TriggerMessage(self, payload: dict[str, Any]) -> dict[str, Any]:
        what = self._field(payload, "requestedMessage", str)
        if what not in _TRIGGERS:
            raise CallError("PropertyConstraintViolation", f"requestedMessage {what!r} is not a MessageTrigger")
        connector = self._field(payload, "connectorId", int, required=False)
        if connector is not None and connector not in (0, 1):
            return {"status": "Rejected"}
        actions = {"Heartbeat": self._heartbeat, "MeterValues": self._trigger_values,
                   "StatusNotification": lambda: self._trigger_status(connector), "BootNotification": self._dial}
        if what not in actions:
            return {"status": "NotImplemented"}
        self.world.schedule(0.0, actions[what])
        return {"status": "Accepted"}

    def _trigger_values(self) -> None:
        """The connector's values now; during a transaction they carry its id (OCPP 1.6 §6.32)."""
        payload: dict[str, Any] = {"connectorId": 1, "meterValue": [self._values("Trigger")]}
        if self.transaction is not None:
            payload["transactionId"] = self.transaction["id"]
        self._send("MeterValues", payload)

    def _trigger_status(self, connector: int | None = None) -> None:
        """Without a connectorId, the status of the charge point as a whole (connector 0) and of each
        connector (OCPP 1.6 §5.17)."""
        if connector in (None, 0):
            self._send("StatusNotification", {"connectorId": 0, "errorCode": "NoError",
                                              "status": "Unavailable" if self.box.state == "F" else "Available",
                                              "timestamp": _stamp(self.now_utc())})
        if connector in (None, 1):
            self._sent = None
            self._send_status(self._cached_status())

    def _cached_status(self) -> tuple[str, str] | None:
        """The status a triggered StatusNotification tells: None (the present one), or, with
        `ocpp_trigger_status_available`, the cached Available of a firmware that does not look."""
        return ("Available", "NoError") if self.knobs.ocpp.trigger_status_available else None

    def _on_ChangeAvailability(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Accepted, or Scheduled while a transaction runs, which then ends first (OCPP 1.6 §5.2): an
        Inoperative connector starts no session and offers nothing, reports Unavailable, and stays so
        across a reboot (§5.2: the availability persists)."""
        connector = self._field(payload, "connectorId", int)
        kind = self._field(payload, "type", str)
        if kind not in ("Inoperative", "Operative"):
            raise CallError("PropertyConstraintViolation", f"type must be Inoperative or Operative, not {kind!r}")
        if connector not in (0, 1):
            return {"status": "Rejected"}
        if self.knobs.ocpp.availability_applies:
            self._operative_next = kind == "Operative"
            if self.transaction is None:
                self.world.schedule(0.0, self._apply_availability)
        return {"status": "Scheduled" if self.transaction is not None else "Accepted"}

    def _apply_availability(self) -> None:
        if self.transaction is None and self.operative != self._operative_next:
            self.operative = self._operative_next
            self.world.record("ocpp_availability", operative=self.operative)
            self.changed()

    def _on_ClearCache(self, payload: dict[str, Any]) -> dict[str, Any]:
        """No authorisation cache is kept: there is nothing to clear (OCPP 1.6 §5.4)."""
        return {"status": "Accepted"}

    def _on_UnlockConnector(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A tethered cable has no lock to open; a socket outlet ends a running transaction (reason
        UnlockCommand) and unlocks (OCPP 1.6 §5.18)."""
        if self._field(payload, "connectorId", int) != 1:
            return {"status": "NotSupported"}
        if self.knobs.dut.connector == "tethered":
            return {"status": "NotSupported"}
        if self.transaction is not None:
            self._stop_soon("UnlockCommand")
        return {"status": "Unlocked"}

    def _on_DataTransfer(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Only this firmware's own vendor id is known, and it takes no message from the backend (§5.6)."""
        vendor = self._field(payload, "vendorId", str)
        return {"status": "UnknownMessageId" if vendor == self.VENDOR else "UnknownVendorId"}

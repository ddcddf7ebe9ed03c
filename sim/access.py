"""The simulated wallbox's access control and pairing button, written from the product's side.

Access control (the manuals' RFID chapter): off from the factory; switched on in the installer's
app; then a session needs a registered card, and the same card ends it.  Cards are registered with
the setup card, only while no vehicle is connected and the bar is solid: setup card → a short beep,
registration mode; each new card → two short beeps; setup card again → a long beep, mode off.  The
reader takes MIFARE Classic cards only.  The BMW i Wallbox Connect's pairing button: held 5 s
within 5 minutes of power-up, the wallbox announces its 8-digit ID to the backend.

The MINI's ISO 15118 vehicles (its manual, WB-AC-05): with registration mode on (the setup card,
no vehicle), a vehicle that plugs in and identifies itself (its EVCC ID, the MAC, in a
SessionSetupReq) is registered: two short beeps, and the mode ends, since a vehicle is now
connected.  A registered vehicle is authorised by its EVCC ID as a registered card is by its UID;
an unknown one waits for a card.  Registered vehicles are kept in flash, as the cards are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.beeper import Beeper
from sim.rfid import FieldCard
from sim.world import Timers, World
from sim.params import Knobs

if TYPE_CHECKING:
    from sim.wallbox import SimulatedWallbox

MIFARE_CLASSIC_SAKS = (0x08, 0x09, 0x18, 0x88)
"""SAK values of MIFARE Classic 1K, Mini, 4K and 1K by Infineon (NXP AN10833, table 6)."""
REFUSED_BEEP = "long"
"""What the firmware sounds for a card it does not know."""


class AccessControl:
    def __init__(self, world: World, box: SimulatedWallbox, knobs: Knobs, beeper: Beeper,
                 setup_uid: bytes | None) -> None:
        self.world, self.box, self.knobs, self.beeper = world, box, knobs, beeper
        self.setup_uid = setup_uid
        self.factory_setup_uid = setup_uid
        self.enabled = knobs.access.access_control == "factory_on"
        self.factory_enabled = self.enabled
        self.cards: set[bytes] = set()
        self.vehicles: set[bytes] = set()
        """EVCC IDs of the registered ISO 15118 vehicles (flash)."""
        self.identified: bytes | None = None
        """The EVCC ID the connected vehicle identified itself with on this plug-in."""
        self.registering = False
        self.authorised: bytes | None = None
        self._timers = Timers(world)
        mode_on, registered, mode_off = (p.strip() for p in knobs.access.registration_beeps.split(","))
        self._beeps = {"on": mode_on, "card": registered, "off": mode_off}

    # --- the installer's app ---------------------------------------------------------------------
    def set_enabled(self, on: bool) -> None:
        self.world.record("access_control", enabled=on)
        self.enabled = on
        self.authorised = None
        self.box.apply_offer()

    def set_setup_card(self, uid: bytes) -> None:
        """A new setup card entered in the installer app (WB-AC-04)."""
        self.world.record("setup_card", uid=uid.hex().upper())
        self.setup_uid = uid

    def factory_reset(self) -> None:
        """What the installer's SAFE restores: access control as delivered, no cards, no mode."""
        self._timers.stop("authorise")
        self.cards.clear()
        self.vehicles.clear()
        self.registering = False
        self.setup_uid = self.factory_setup_uid
        if self.enabled != self.factory_enabled:
            self.set_enabled(self.factory_enabled)

    # --- what the firmware decides ---------------------------------------------------------------
    def required(self) -> bool:
        """A session needs a card (the installer's setting, unless this firmware ignores it)."""
        return self.enabled and self.knobs.access.access_control != "ignored"

    def allows_offer(self) -> bool:
        return not self.required() or self.authorised is not None

    def vehicle_left(self) -> None:
        self._timers.stop("authorise")
        self.authorised = None
        self.identified = None

    def powered(self, on: bool) -> None:
        """A power cycle ends any session's authorisation and a registration mode (kept in RAM);
        the registered cards and the setting stay (kept in flash)."""
        self.vehicle_left()
        if not on and not self.knobs.access.hlc_registration_persists:
            self.vehicles.clear()
        if not on and self.registering:
            self.registering = False
            self.world.record("registration_mode", on=False, reason="power lost")

    def card_seen(self, card: FieldCard | None) -> None:
        """The reader found a card (None: the field is empty again)."""
        if card is None:
            return
        mifare = card.sak in MIFARE_CLASSIC_SAKS
        uid = card.uid
        if not mifare and self.knobs.access.rfid_mifare_only:
            self.world.record("rfid_ignored", uid=uid.hex().upper(), reason="not MIFARE Classic")
            return
        if uid == self.setup_uid:
            self._setup_card()
        elif self.registering:
            self.cards.add(uid)
            self.world.record("card_registered", uid=uid.hex().upper())
            self.beeper.beep(self._beeps["card"])
        else:
            self._authorisation(uid)

    def _setup_card(self) -> None:
        if self.registering:
            self.registering = False
            self.world.record("registration_mode", on=False)
            self.beeper.beep(self._beeps["off"])
            return
        idle = self.box.state == "A1" and not self.box.paused and not self.box.waiting   # the bar's standby
        if not idle and self.knobs.access.registration_requires_idle:
            self.world.record("registration_refused", state=self.box.state)
            return
        self.registering = True
        self.world.record("registration_mode", on=True)
        self.beeper.beep(self._beeps["on"])
        if self.identified is not None:   # only where the mode came up with a vehicle connected (a fault)
            self._timers.start("register", self.knobs.access.hlc_auth_delay_s,
                               lambda: self.vehicle_identified(self.identified or b""))

    # --- ISO 15118 vehicles ------------------------------------------------------------------------
    def vehicle_identified(self, evcc_id: bytes) -> None:
        """The connected vehicle's SessionSetupReq named `evcc_id` (the SECC tells us, under the lock)."""
        a = self.knobs.access
        if not a.hlc_vehicle_registration or self.box.cp_letter not in ("B", "C", "D") or not evcc_id:
            return
        self.identified = evcc_id
        mac = evcc_id.hex().upper()
        self.world.record("vehicle_identified", evcc_id=mac)
        if (self.registering or a.hlc_registers_without_setup_card) and evcc_id not in self.vehicles:
            self.vehicles.add(evcc_id)
            self.registering = False
            self.world.record("vehicle_registered", evcc_id=mac)
            self.beeper.beep(a.hlc_registered_beep)
        if not self.required() or self.authorised is not None:
            return
        if evcc_id in self.vehicles or a.hlc_authorises_any:
            self._timers.start("authorise", a.hlc_auth_delay_s, lambda: self._authorise(evcc_id, vehicle=True))
        else:
            self.world.record("vehicle_unknown", evcc_id=mac)

    def _authorisation(self, uid: bytes) -> None:
        if not self.required() or self.box.cp_letter not in ("B", "C", "D"):
            return   # no session to authorise: the card means nothing now
        if self.authorised is not None or "authorise" in self._timers:
            if uid == self.authorised and self.knobs.access.rfid_stop_with_card:
                self.world.record("card_stop", uid=uid.hex().upper())
                self.authorised = None
                if self.box.ocpp is not None:
                    self.box.ocpp.card_stopped()
                self.box.apply_offer()
            return
        if uid in self.cards or self.knobs.access.rfid_accepts_unregistered:
            self._timers.start("authorise", self.knobs.access.rfid_auth_delay_s, lambda: self._authorise(uid))
        else:
            self.world.record("card_refused", uid=uid.hex().upper())
            self.beeper.beep(REFUSED_BEEP)

    def _authorise(self, uid: bytes, vehicle: bool = False) -> None:
        """A card's UID or, `vehicle`, an EVCC ID: the session is authorised (the backend hears the
        card's UID, or the vehicle's MAC in the form this firmware reports it)."""
        if self.box.cp_letter not in ("B", "C", "D"):
            return
        self.world.record("vehicle_authorised" if vehicle else "card_authorised", uid=uid.hex().upper())
        self.authorised = uid
        if self.box.ocpp is not None:
            if vehicle:
                self.box.ocpp.vehicle_authorised(uid)
            else:
                self.box.ocpp.card_authorised(uid.hex().upper())
        self.box.apply_offer()


class PairingButton:
    """Held `pairing_hold_s` inside the window of `pairing_window_s` from power-up: paired."""

    def __init__(self, world: World, box: SimulatedWallbox, knobs: Knobs) -> None:
        self.world, self.box, self.knobs = world, box, knobs
        self._powered_at: float | None = None
        self._timers = Timers(world)
        self.down = False

    def powered(self, on: bool) -> None:
        self._powered_at = self.world.now if on else None
        self._timers.stop("hold")

    def set_pressed(self, down: bool) -> None:
        if down == self.down:
            return
        self.down = down
        self.world.record("pairing_button", down=down)
        self._timers.stop("hold")
        if down and self._window_open():
            self._timers.start("hold", self.knobs.access.pairing_hold_s, self._held)

    def _window_open(self) -> bool:
        return self._powered_at is not None and self.world.now - self._powered_at <= self.knobs.access.pairing_window_s

    def _held(self) -> None:
        if not self._window_open():
            return
        wallbox_id = str(self.knobs.dut.wallbox_id)
        self.world.record("paired", wallbox_id=wallbox_id)
        if self.box.ocpp is not None:
            self.box.ocpp.announce_pairing(wallbox_id)

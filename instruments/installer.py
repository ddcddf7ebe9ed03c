"""The DUT's installer interface: the current setting and pausing, as the installer's app offers them.

The reference DUTs take their rated current from the installer app (WB-EL-03), so the catalogue
needs a way to change it between tests and, for the duty-update and C1 tests, during a session.
A lab bridges this role to whatever the DUT speaks (vendor app API, OCPP, Modbus) behind the line
protocol in `docs/protocols/installer.md`; a rig without it skips the tests that need it.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

from instruments.base import Instrument, LineInstrument
from core.errors import InvalidValue

MAX_SETTING_A = 80.0
ENERGY_MODES = ("off", "load", "solar")


@dataclass(frozen=True)
class MeterStatus:
    """The DUT's meter configuration and what it reports about the meter: ok, none (no meter
    data), lost (stopped answering), stale (frozen values)."""

    model: str
    device_id: int
    baud: int
    parity: str
    stopbits: int
    status: str
    t_s: float


class Installer(Instrument):
    role = "installer"

    @abstractmethod
    def set_current_a(self, amps: float) -> float:
        """Set the installer's current (0 = no charging offered); returns the interface's time stamp."""

    @abstractmethod
    def current_a(self) -> float:
        """The current setting the DUT reports."""

    @abstractmethod
    def set_paused(self, paused: bool) -> float:
        """Pause: the EVSE withdraws its offer (x1) without the vehicle doing anything."""

    @abstractmethod
    def start_firmware_update(self) -> float:
        """Start a firmware update (the image the DUT already runs); the DUT reboots when done."""

    @abstractmethod
    def firmware_updating(self) -> bool: ...

    @abstractmethod
    def configure_meter(self, model: str, device_id: int, baud: int, parity: str, stopbits: int = 1) -> float:
        """Enter the Smart-Energy meter's model and communication parameters (WB-MB-04); "none" removes it."""

    @abstractmethod
    def meter_status(self) -> MeterStatus: ...

    @abstractmethod
    def configure_energy(self, mode: str, grid_limit_a: float, failsafe_a: float, dimming_w: float) -> float:
        """Energy management: mode off, load (WB-LM-01) or solar (WB-PV-01), the grid connection's
        limit per phase, the current without meter data, the power while dimmed (WB-PS-01)."""

    @abstractmethod
    def set_access_control(self, on: bool) -> float: ...

    @abstractmethod
    def access_control(self) -> tuple[bool, int]: ...

    @abstractmethod
    def set_setup_card(self, uid_hex: str) -> float: ...


class WbrInstaller(LineInstrument, Installer):
    """Driver of the wallbox-rig installer line protocol (v1)."""

    def set_current_a(self, amps: float) -> float:
        if not math.isfinite(amps) or not 0 <= amps <= MAX_SETTING_A:
            raise InvalidValue(f"installer current must be in [0, {MAX_SETTING_A:g}] A, not {amps}")
        return self._action(f"CURR {amps:.1f}")

    def current_a(self) -> float:
        return self._floats(self.transport.query("CURR?"), 2, "CURR?")[0]

    def set_paused(self, paused: bool) -> float:
        return self._action(f"PAUSE {1 if paused else 0}")

    def start_firmware_update(self) -> float:
        return self._action("FWUPDATE")

    def firmware_updating(self) -> bool:
        return self._floats(self.transport.query("FWUPDATE?"), 2, "FWUPDATE?")[0] == 1.0

    def configure_meter(self, model: str, device_id: int, baud: int, parity: str, stopbits: int = 1) -> float:
        if any(c in model for c in ", \n") or not model:
            raise InvalidValue(f"meter model must be one word, not {model!r}")
        if not 0 <= device_id <= 247 or parity not in ("N", "E", "O") or stopbits not in (1, 2) or baud <= 0:
            raise InvalidValue(f"meter parameters out of range: id {device_id}, {baud} baud, parity {parity!r}, "
                               f"{stopbits} stop bits")
        return self._action(f"METER {model},{device_id},{baud},{parity},{stopbits}")

    def meter_status(self) -> MeterStatus:
        answer = self.transport.query("METER?")
        parts = answer.split(",")
        if len(parts) != 7:
            raise InvalidValue(f"METER?: expected 7 fields, got {answer!r}")
        model, device_id, baud, parity, stopbits, status, t_s = parts
        numbers = self._floats(",".join([device_id, baud, stopbits, t_s]), 4, "METER?")
        return MeterStatus(model, int(numbers[0]), int(numbers[1]), parity, int(numbers[2]), status, numbers[3])

    def configure_energy(self, mode: str, grid_limit_a: float, failsafe_a: float, dimming_w: float) -> float:
        if mode not in ENERGY_MODES:
            raise InvalidValue(f"energy mode must be one of {', '.join(ENERGY_MODES)}, not {mode!r}")
        values = (grid_limit_a, failsafe_a, dimming_w)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise InvalidValue(f"energy limits must be finite and >= 0, not {values}")
        return self._action(f"EMS {mode},{grid_limit_a:.1f},{failsafe_a:.1f},{dimming_w:.0f}")

    def set_access_control(self, on: bool) -> float:
        """Access control on: a session needs a registered card (WB-AC-02)."""
        return self._action(f"ACCESS {1 if on else 0}")

    def access_control(self) -> tuple[bool, int]:
        """Whether access control is on, and how many charging cards the DUT has registered."""
        on, cards, _ = self._floats(self.transport.query("ACCESS?"), 3, "ACCESS?")
        return on == 1.0, int(cards)

    def set_setup_card(self, uid_hex: str) -> float:
        """Register a new setup card from the installer app (WB-AC-04)."""
        if len(uid_hex) not in (8, 14) or any(c not in "0123456789abcdefABCDEF" for c in uid_hex):
            raise InvalidValue(f"a setup card's UID is 4 or 7 bytes in hex, not {uid_hex!r}")
        return self._action(f"SETUPCARD {uid_hex.upper()}")

    def safe(self) -> None:
        """Back to the configuration the DUT was set up with, not paused."""
        self._action("SAFE")

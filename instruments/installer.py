"""The DUT's installer interface: the current setting and pausing, as the installer's app offers them.

The reference DUTs take their rated current from the installer app (WB-EL-03), so the catalogue
needs a way to change it between tests and, for the duty-update and C1 tests, during a session.
A lab bridges this role to whatever the DUT speaks (vendor app API, OCPP, Modbus) behind the line
protocol in `docs/protocols/installer.md`; a rig without it skips the tests that need it.
"""

from __future__ import annotations

import math
from abc import abstractmethod

from instruments.base import Instrument
from rig.errors import InvalidValue

MAX_SETTING_A = 80.0


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


class WbrInstaller(Installer):
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

    def safe(self) -> None:
        """Back to the configuration the DUT was set up with, not paused."""
        self._action("SAFE")

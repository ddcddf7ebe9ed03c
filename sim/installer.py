"""The simulated wallbox's installer interface: protocol v1 of docs/protocols/installer.md."""

from __future__ import annotations

import math

from sim.server import FrontEnd
from sim.wallbox import SimulatedWallbox
from sim.world import World


class InstallerPort(FrontEnd):
    name = "installer"
    idn = "WALLBOX-RIG,SIM-INSTALLER,SIM0001,1.0"

    def __init__(self, world: World, wallbox: SimulatedWallbox) -> None:
        super().__init__(world)
        self.wallbox = wallbox
        self.initial_a = wallbox.setting_a

    def handle(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        cmd = cmd.upper()
        if cmd == "*IDN?":
            return self.idn
        if cmd == "CURR?":
            return f"{self.wallbox.setting_a:.1f},{self.world.now:.6f}"
        if cmd == "CURR":
            try:
                amps = float(arg)
            except ValueError:
                return "ERR 3 bad number"
            if not math.isfinite(amps) or not 0 <= amps <= 80:
                return "ERR 3 bad number"
            self.wallbox.set_setting(amps)
            return self._ok()
        if cmd == "PAUSE":
            if arg.strip() not in ("0", "1"):
                return "ERR 3 bad number"
            self.wallbox.set_paused(arg.strip() == "1")
            return self._ok()
        if cmd == "FWUPDATE":
            if not self.wallbox.start_firmware_update():
                return f"ERR 4 busy: no update in state {self.wallbox.state}"
            return self._ok()
        if cmd == "FWUPDATE?":
            return f"{1 if self.wallbox.state == 'update' else 0},{self.world.now:.6f}"
        if cmd == "SAFE":
            if self.wallbox.paused:
                self.wallbox.set_paused(False)
            if self.wallbox.setting_a != self.initial_a:
                self.wallbox.set_setting(self.initial_a)
            return self._ok()
        return "ERR 1 unknown command"

"""The simulated wallbox's installer interface: protocol v1 of docs/protocols/installer.md."""

from __future__ import annotations

import math

from sim.energy import MODES, EmsConfig, MeterConfig
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
        self.initial_meter = wallbox.energy.meter
        self.initial_ems = wallbox.energy.ems

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
        if cmd == "METER":
            return self._meter(arg)
        if cmd == "METER?":
            m, energy = self.wallbox.energy.meter, self.wallbox.energy
            return f"{m.model},{m.device_id},{m.baud},{m.parity},{m.stopbits},{energy.status},{self.world.now:.6f}"
        if cmd == "EMS":
            return self._ems(arg)
        if cmd == "EMS?":
            e = self.wallbox.energy.ems
            return f"{e.mode},{e.grid_limit_a:.1f},{e.failsafe_a:.1f},{e.dimming_w:.0f},{self.world.now:.6f}"
        if cmd == "ACCESS":
            if arg.strip() not in ("0", "1"):
                return "ERR 3 bad number"
            self.wallbox.access.set_enabled(arg.strip() == "1")
            return self._ok()
        if cmd == "ACCESS?":
            return f"{1 if self.wallbox.access.enabled else 0},{len(self.wallbox.access.cards)},{self.world.now:.6f}"
        if cmd == "SETUPCARD":
            uid = arg.strip()
            if len(uid) not in (8, 14) or any(c not in "0123456789abcdefABCDEF" for c in uid):
                return "ERR 3 expected a UID of 4 or 7 bytes in hex"
            self.wallbox.access.set_setup_card(bytes.fromhex(uid))
            return self._ok()
        if cmd == "SAFE":
            self.wallbox.access.factory_reset()
            energy = self.wallbox.energy
            if energy.meter != self.initial_meter:
                energy.configure_meter(self.initial_meter)
            if energy.ems != self.initial_ems:
                energy.configure_ems(self.initial_ems)
            if self.wallbox.paused:
                self.wallbox.set_paused(False)
            if self.wallbox.setting_a != self.initial_a:
                self.wallbox.set_setting(self.initial_a)
            return self._ok()
        return "ERR 1 unknown command"

    def _meter(self, arg: str) -> str:
        parts = [p.strip() for p in arg.split(",")]
        if parts == ["none"]:
            self.wallbox.energy.configure_meter(MeterConfig())
            return self._ok()
        if len(parts) != 5:
            return "ERR 3 expected MODEL,ID,BAUD,PARITY,STOPBITS"
        model, device_id, baud, parity, stopbits = parts
        if not (device_id.isdigit() and baud.isdigit() and stopbits in ("1", "2") and parity in ("N", "E", "O")):
            return "ERR 3 bad number"
        if not 0 <= int(device_id) <= 247:
            return "ERR 3 bad number"
        self.wallbox.energy.configure_meter(MeterConfig(model, int(device_id), int(baud), parity, int(stopbits)))
        return self._ok()

    def _ems(self, arg: str) -> str:
        parts = [p.strip() for p in arg.split(",")]
        if len(parts) != 4 or parts[0] not in MODES:
            return f"ERR 3 expected MODE,GRID_LIMIT_A,FAILSAFE_A,DIMMING_W with MODE one of {'|'.join(MODES)}"
        try:
            limit, failsafe, dim = (float(p) for p in parts[1:])
        except ValueError:
            return "ERR 3 bad number"
        if not all(math.isfinite(v) and 0 <= v <= 100_000 for v in (limit, failsafe, dim)):
            return "ERR 3 bad number"
        self.wallbox.energy.configure_ems(EmsConfig(parts[0], limit, failsafe, dim))
        return self._ok()

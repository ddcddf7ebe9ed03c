"""The CP/PP emulator board, simulated: protocol v1 of docs/protocols/cp-emulator.md."""

from __future__ import annotations

from sim.cp_circuit import VEHICLE_STATE_OHM
from sim.plant import Plant
from sim.server import FrontEnd
from sim.world import World

CPH_EDGE_V = 0.3  # the board reports a CP high-level edge when the level moves more than this


class CpBoard(FrontEnd):
    name = "cp"
    idn = "WALLBOX-RIG,CPEMU-1,SIM0001,1.0"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.capturing = False
        self.interlock_closed = True  # the virtual bench's door is shut
        self.edges: list[tuple[float, str, str]] = []
        self._last: dict[str, str] = {}
        self._last_cph = 0.0
        plant.listen(self._watch)
        self._watch()

    # --- edge capture ------------------------------------------------------------------------
    def _edge(self, channel: str, value: str) -> None:
        if self.capturing:
            self.edges.append((self.world.now, channel, value))

    def _watch(self) -> None:
        high, _ = self.plant.cp()
        if abs(high - self._last_cph) > CPH_EDGE_V:
            self._last_cph = high
            self._edge("CPH", f"{high:.2f}")
        gen = self.plant.generator
        for channel, value in (("PWM", "1" if gen.mode == "pwm" else "0"),
                               ("DUTY", f"{gen.duty_pct:.2f}" if gen.mode == "pwm" else ""),
                               ("OVP", "1" if self.plant.output_present() else "0")):
            if self._last.get(channel) != value:
                self._last[channel] = value
                if value:
                    self._edge(channel, value)

    # --- commands ----------------------------------------------------------------------------
    def _apply(self, channel_value: str) -> str:
        self._edge("VEH", channel_value)
        self.plant.changed()
        return self._ok()

    def handle(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        cmd = cmd.upper()
        vehicle = self.plant.vehicle
        noise = self.world.rng.gauss
        if cmd == "*IDN?":
            return self.idn
        if cmd == "TIME?":
            return f"{self.world.now:.6f}"
        if cmd == "STATE":
            state = arg.strip().upper()
            if state not in ("A", "B", "C", "D", "E"):
                return "ERR 2 bad state"
            vehicle.state = state
            vehicle.shorted = state == "E"
            vehicle.r_ohm = None if state == "E" else VEHICLE_STATE_OHM[state]
            return self._apply(state)
        if cmd == "RES":
            try:
                ohm = float(arg)
            except ValueError:
                return "ERR 3 bad number"
            if not 0 < ohm < float("inf"):
                return "ERR 3 bad number"
            vehicle.state, vehicle.shorted, vehicle.r_ohm = "R", False, ohm
            return self._apply(f"R{ohm:.0f}")
        if cmd == "DIODE":
            if arg.strip() not in ("0", "1"):
                return "ERR 3 bad number"
            vehicle.diode_ok = arg.strip() == "1"
            return self._apply(f"DIODE{arg.strip()}")
        if cmd == "PP":
            if arg.strip().upper() == "OPEN":
                vehicle.pp_ohm = None
            else:
                try:
                    pp = float(arg)
                except ValueError:
                    return "ERR 3 bad number"
                if not 0 <= pp < float("inf"):
                    return "ERR 3 bad number"
                vehicle.pp_ohm = pp
            return self._apply(f"PP{arg.strip().upper()}")
        if cmd == "PE":
            if arg.strip() not in ("0", "1"):
                return "ERR 3 bad number"
            vehicle.pe_ok = arg.strip() == "1"
            return self._apply(f"PE{arg.strip()}")
        if cmd == "PP?":
            pp_ohm = self.plant.pp_ohm()
            reading = "OPEN" if pp_ohm is None else f"{pp_ohm * (1 + noise(0, 0.001)):.1f}"
            return f"{reading},{self.world.now:.6f}"
        if cmd == "MEAS:CP?":
            high, low = self.plant.cp()
            gen = self.plant.generator
            pwm = gen.mode == "pwm"
            freq = gen.frequency_hz * (1 + noise(0, 1e-5)) if pwm else 0.0
            duty = gen.duty_pct + noise(0, 0.01) if pwm else (100.0 if high > 0.5 else 0.0)
            return (f"{high + noise(0, 0.01):.3f},{low + noise(0, 0.01):.3f},{freq:.2f},{duty:.3f},"
                    f"{self.world.now:.6f}")
        if cmd == "ILK?":
            return f"{1 if self.interlock_closed else 0},{self.world.now:.6f}"
        if cmd == "OVP?":
            return f"{1 if self.plant.output_present() else 0},{self.world.now:.6f}"
        if cmd == "CAP:START":
            self.edges.clear()
            self.capturing = True
            return self._ok()
        if cmd == "CAP:READ?":
            body = ";".join(f"{t:.6f},{ch},{v}" for t, ch, v in self.edges)
            return f"{len(self.edges)};{body}" if body else "0"
        if cmd == "SAFE":
            vehicle.state, vehicle.shorted, vehicle.r_ohm, vehicle.diode_ok = "A", False, None, True
            vehicle.pe_ok, vehicle.pp_ohm = True, None
            return self._apply("A")
        return "ERR 1 unknown command"

"""Simulated bench instruments over SCPI: power analyser (WT), AC source (AC6800), AC loads (63800)."""

from __future__ import annotations

import math
from typing import Any

from instruments.facts import fact
from sim.plant import Plant
from sim.scpi import ScpiFrontEnd
from sim.world import World


class SimAnalyser(ScpiFrontEnd):
    """Three elements on the wallbox output; integrates energy on virtual time."""

    name = "analyser"
    idn = "YOKOGAWA,WT1803E,SIM00001,F1.00"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.items: dict[int, tuple[str, str]] = {}
        self.energy_wh = 0.0
        self.integrating = False
        self.integ_start_s = 0.0
        self._last_t = 0.0
        self._last_p = 0.0
        plant.listen(self._integrate)
        for pattern in (":COMMunicate:HEADer", ":COMMunicate:VERBose", ":NUMeric:FORMat",
                        ":NUMeric:NORMal:NUMBer"):
            self.command(pattern, lambda s, a: None)
        self.ranges = {"U": 1000.0, "I": 50.0}   # the largest until set: a WT1800 at power-on keeps its last ones
        self.command(":INPut:VOLTage:RANGe:ALL", lambda s, a: self._range("U", a, (15, 30, 60, 100, 150, 300, 600, 1000)))
        self.command(":INPut:CURRent:RANGe:ALL", lambda s, a: self._range("I", a, (1, 2, 5, 10, 20, 50)))
        self.command(":NUMeric:NORMal:ITEM<n>", self._item)
        self.command(":NUMeric:NORMal:VALue?", self._values)
        self.command(":STATus:ERRor?", lambda s, a: self.errors.pop(0) if self.errors else '0,"No error"')
        self.command(":INTEGrate:RESet", self._reset)
        self.command(":INTEGrate:STARt", self._start)
        self.command(":INTEGrate:STOP", self._stop)

    def _integrate(self) -> None:
        now = self.world.now
        if self.integrating:
            self.energy_wh += self._last_p * (now - self._last_t) / 3600.0
        self._last_t = now
        self._last_p = sum(self.plant.phase_power_w(k) for k in range(3))

    def _range(self, function: str, args: list[str], ranges: tuple[int, ...]) -> None:
        text = args[0].upper().rstrip("VA") if args else ""
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if value not in ranges:
            # SCPI-99's number for it: the WT1800's own error list is not in instruments/facts yet
            self.errors.append('-224,"Illegal parameter value"')
            return
        self.ranges[function] = value

    def _item(self, suffix: str, args: list[str]) -> None:
        if len(args) != 2 or not suffix:
            self.bad_value()
            return None
        self.items[int(suffix)] = (args[0].upper(), args[1].upper())
        return None

    def _reset(self, s: str, a: list[str]) -> None:
        self._integrate()
        self.energy_wh = 0.0
        self.integ_start_s = self.world.now

    def _start(self, s: str, a: list[str]) -> None:
        self._integrate()
        self.integrating = True
        self.integ_start_s = self.world.now

    def _stop(self, s: str, a: list[str]) -> None:
        self._integrate()
        self.integrating = False

    def _value(self, function: str, element: str) -> float:
        noise = 1 + self.world.rng.gauss(0, 2e-4)
        if function in ("U", "I", "P"):
            phase = int(element) - 1 if element.isdigit() else -1
            if not 0 <= phase < 3:
                return float("nan")
            value = {"U": self.plant.output_voltage_v, "I": self.plant.phase_current_a,
                     "P": self.plant.phase_power_w}[function](phase)
            limit = self.ranges["U"] * self.ranges["I"] if function == "P" else self.ranges[function]
            if abs(value) > limit * fact("yokogawa-wt", "overrange"):
                return 9.9e37     # over-range (stricter than the WT1800: instruments/facts/yokogawa-wt.toml)
            return value * noise
        if function == "WP":
            return self.energy_wh
        if function == "TIME":
            return self.world.now - self.integ_start_s if self.integrating else 0.0
        return float("nan")

    def _values(self, s: str, a: list[str]) -> str:
        self._integrate()
        return ",".join(f"{self._value(*self.items[n]):.6E}" for n in sorted(self.items))


SOURCE = "ametek-lx"


class SimSource(ScpiFrontEnd):
    """A three-phase source: settings go to every phase while coupled (`INST:COUP ALL`, the
    default, which is all a single-phase driver ever uses), else to the phase `INST:NSEL` chose."""

    name = "source"
    idn = "AMETEK,LX4500-3,SIM00001,1.00"

    def __init__(self, world: World, plant: Plant) -> None:
        super().__init__(world)
        self.plant = plant
        self.coupled, self.selected = True, 0
        self.command("INSTrument:COUPle", self._couple)
        self.command("INSTrument:COUPle?", lambda s, a: "ALL" if self.coupled else "NONE")
        self.command("INSTrument:NSELect", self._select)
        self.command("INSTrument:NSELect?", lambda s, a: str(self.selected + 1))
        self.command("VOLTage", self._volt)
        self.command("VOLTage?", lambda s, a: f"{plant.mains.phase_v[self.selected]:.2f}")
        self.command("FREQuency", self._freq)
        self.command("FREQuency?", lambda s, a: f"{plant.mains.frequency_hz:.3f}")
        self.command("OUTPut", self._output)
        self.command("OUTPut?", lambda s, a: "1" if plant.mains.on else "0")
        self.command("MEASure:VOLTage:AC?", lambda s, a: f"{plant.mains.phase_live_v(self.selected):.3f}")
        self.pulse: dict[str, Any] = {"mode": "FIX", "level_v": 0.0, "width_s": 0.0, "count": 1, "armed": False}
        self.command("VOLTage:MODE", lambda s, a: self._pulse_setting("mode", a, ("FIX", "FIXED", "PULS", "PULSE")))
        self.command("VOLTage:TRIGgered", lambda s, a: self._pulse_number("level_v", a, 0, 310))
        self.command("PULSe:WIDTh", lambda s, a: self._pulse_number("width_s", a, 1e-4, 10))
        # one pulse is modelled: more is refused, stricter than the source (instruments/facts/ametek-lx.toml)
        self.command("PULSe:COUNt", lambda s, a: self._pulse_number("count", a, fact(SOURCE, "pulse_count_min"), 1))
        self.command("INITiate", lambda s, a: self.pulse.update(armed=True))
        self.command("TRIGger", self._trigger)

    def _number(self, args: list[str], low: float, high: float) -> float | None:
        try:
            value = float(args[0])
        except (IndexError, ValueError):
            self.bad_value()
            return None
        if not low <= value <= high:
            self.out_of_range()
            return None
        return value

    def _pulse_setting(self, key: str, a: list[str], allowed: tuple[str, ...]) -> None:
        value = a[0].upper() if a else ""
        if value not in allowed:
            self.bad_value()
            return
        self.pulse[key] = value[:4]

    def _pulse_number(self, key: str, a: list[str], low: float, high: float) -> None:
        value = self._number(a, low, high)
        if value is not None:
            self.pulse[key] = value

    def _trigger(self, s: str, a: list[str]) -> None:
        """A pulse transient: every phase at the triggered level for the width, then back."""
        if not self.pulse["armed"] or self.pulse["mode"] != "PULS":
            self.errors.append('-211,"Trigger ignored"')
            return
        self.pulse["armed"] = False
        before = list(self.plant.mains.phase_v)
        self.plant.mains.phase_v[:] = [self.pulse["level_v"]] * 3
        self.world.record("supply_dip", level_v=self.pulse["level_v"], width_s=self.pulse["width_s"])
        self.plant.changed()

        def restore() -> None:
            self.plant.mains.phase_v[:] = before
            self.plant.changed()

        self.world.schedule(self.pulse["width_s"], restore)

    def _couple(self, s: str, a: list[str]) -> None:
        arg = a[0].upper() if a else ""
        if arg not in ("ALL", "NONE"):
            self.bad_value()
            return
        self.coupled = arg == "ALL"

    def _select(self, s: str, a: list[str]) -> None:
        value = self._number(a, 1, 3)
        if value is not None and value == int(value):
            self.selected = int(value) - 1
        elif value is not None:
            self.bad_value()

    def _volt(self, s: str, a: list[str]) -> None:
        value = self._number(a, 0, 310)
        if value is None:
            return
        for phase in (range(3) if self.coupled else [self.selected]):
            self.plant.mains.phase_v[phase] = value
        self.world.record("supply_voltage", phase_v=list(self.plant.mains.phase_v))
        self.plant.changed()

    def _freq(self, s: str, a: list[str]) -> None:
        value = self._number(a, 40, 500)
        if value is not None:
            self.plant.mains.frequency_hz = value
            self.plant.changed()

    def _output(self, s: str, a: list[str]) -> None:
        arg = a[0].upper() if a else ""
        if arg not in ("ON", "OFF", "1", "0"):
            self.bad_value()
            return
        self.plant.mains.on = arg in ("ON", "1")
        self.world.record("mains", on=self.plant.mains.on)
        self.plant.changed()


class SimLoad(ScpiFrontEnd):
    """One single-phase load unit on `phase` (0-based)."""

    idn = "CHROMA,63803,SIM0000{n},1.00"

    def __init__(self, world: World, plant: Plant, phase: int) -> None:
        super().__init__(world)
        self.plant, self.phase = plant, phase
        self.name = f"load{phase + 1}"
        self.idn = self.idn.format(n=phase + 1)
        self.command("MODE", lambda s, a: None if a and a[0].upper() in ("CURR", "CC") else self.bad_value())
        self.command("CURRent", self._current)
        self.command("LOAD", self._load)
        self.command("MEASure:CURRent?", lambda s, a: f"{plant.phase_current_a(phase):.4f}")

    def _current(self, s: str, a: list[str]) -> None:
        value = self.number(a)
        if value is None:
            return
        self.plant.load.current_a[self.phase] = value
        self.plant.changed()

    def _load(self, s: str, a: list[str]) -> None:
        arg = a[0].upper() if a else ""
        if arg not in ("ON", "OFF"):
            self.bad_value()
            return
        self.plant.load.on[self.phase] = arg == "ON"
        self.plant.changed()

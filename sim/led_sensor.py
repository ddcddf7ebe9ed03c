"""The virtual lab's LED bar as a four-channel colour sensor board sees it (docs/protocols/led-sensor.md).

One RGB sensor per segment behind a light pipe, 10-bit counts, sampled on the board's own clock
while a capture runs; a little sensor noise, no crosstalk (the camera driver has to cope with that).
"""

from __future__ import annotations

from collections.abc import Callable

from sim.led_bar import LedShow, rgb
from sim.server import FrontEnd
from sim.world import World

FULL_SCALE = 1023
NOISE_COUNTS = 3.0
BUFFER_SAMPLES = 100_000
RATE_HZ = (1.0, 200.0)


class LedSensorBoard(FrontEnd):
    name = "led"
    idn = "WALLBOX-RIG,LEDSENSE-4,SIM0001,1.0"

    def __init__(self, world: World, show: Callable[[], LedShow]) -> None:
        super().__init__(world)
        self.show = show
        self.samples: list[str] = []
        self.overflow = False
        self._period_s = 0.0
        self._generation = 0   # a new capture orphans the previous one's scheduled samples

    def _sample(self, generation: int) -> None:
        if generation != self._generation:
            return
        gauss = self.world.rng.gauss
        counts = [max(0, min(FULL_SCALE, round(v * FULL_SCALE + gauss(0, NOISE_COUNTS))))
                  for segment in rgb(self.show(), self.world.now) for v in segment]
        if len(self.samples) >= BUFFER_SAMPLES:
            self.overflow = True
        else:
            self.samples.append(f"{self.world.now:.6f}," + ",".join(map(str, counts)))
        self.world.schedule(self._period_s, lambda: self._sample(generation))

    def handle(self, line: str) -> str | None:
        cmd, _, arg = line.strip().partition(" ")
        cmd = cmd.upper()
        if cmd == "*IDN?":
            return self.idn
        if cmd == "CAP:START":
            try:
                hz = float(arg)
            except ValueError:
                hz = -1.0
            if not RATE_HZ[0] <= hz <= RATE_HZ[1]:
                return f"ERR 2 rate must be {RATE_HZ[0]:g}-{RATE_HZ[1]:g} Hz"
            self._generation += 1
            self.samples, self.overflow, self._period_s = [], False, 1.0 / hz
            generation = self._generation
            self.world.schedule(0.0, lambda: self._sample(generation))
            return self._ok()
        if cmd == "CAP:READ?":
            if self.overflow:
                self.overflow = False
                return f"ERR 3 buffer overflow: more than {BUFFER_SAMPLES} samples unread"
            out, self.samples = self.samples, []
            return f"{len(out)};" + ";".join(out) if out else "0"
        if cmd in ("CAP:STOP", "SAFE"):
            self._generation += 1
            return self._ok()
        return "ERR 1 unknown command"

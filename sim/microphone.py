"""The virtual lab's microphone at the wallbox's beeper: the audio board's line protocol
(docs/protocols/audio.md).  `REC` starts a recording at the current virtual instant, `STOP` ends
it, `CLIP?` hands it over: what the beeper sounded in between, rendered in a room with noise
(`sim.beeper`), 16-bit at 16 kHz, base64 on one line."""

from __future__ import annotations

import base64

import numpy as np

from sim.beeper import Beeper, Room, render_bursts
from sim.server import FrontEnd
from sim.world import World

RATE = 16_000
MAX_S = 120.0
ROOM = Room(tone_hz=3100.0, level=0.25, noise=0.02, interferer_hz=100.0, interferer_level=0.01)
"""A lab: the beeper a hand's width from the microphone, fans and a 100 Hz hum around it."""


class SimMicrophone(FrontEnd):
    name = "audio"
    idn = "WALLBOX-RIG,SIM-AUDIO,SIM0001,1.0"

    def __init__(self, world: World, beeper: Beeper) -> None:
        super().__init__(world)
        self.beeper = beeper
        self._start: float | None = None
        self._clip: tuple[float, bytes] | None = None

    def handle(self, line: str) -> str | None:
        cmd = line.strip().upper()
        if cmd == "*IDN?":
            return self.idn
        if cmd == "REC":
            self._start, self._clip = self.world.now, None
            return self._ok()
        if cmd == "STOP":
            if self._start is not None:
                t0, t1 = self._start, self.world.now
                if t1 - t0 > MAX_S:
                    self._start = None
                    return f"ERR 4 a recording is at most {MAX_S:g} s (this one {t1 - t0:.0f} s)"
                samples = render_bursts(self.beeper.bursts(t0, t1), ROOM, RATE, t1 - t0,
                                        seed=self.world.rng.randrange(2**32))
                pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2").tobytes()
                self._clip, self._start = (t0, pcm), None
            return self._ok()
        if cmd == "CLIP?":
            if self._clip is None:
                return "ERR 4 no recording"
            t0, pcm = self._clip
            return f"{RATE},{t0:.6f},{base64.b64encode(pcm).decode('ascii')}"
        return "ERR 1 unknown command"

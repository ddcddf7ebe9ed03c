"""The LED sensor role: per segment S1-S4 of the DUT's LED bar, colour and intensity samples over
time, stamped by the sensor (a colour-sensor board's clock, or a camera's frame times).

Drivers: `wbr-ledsense` (a four-channel colour sensor board; the virtual lab's LED bar speaks its
protocol) and `opencv-camera` (any OpenCV VideoCapture source, one region of interest per segment).
What the samples mean (off, solid, blinking, breathing, sweeping; which colour) is the classifier's
job (`instruments.led.classifier`), so every driver is judged the same way.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

from instruments.base import Instrument
from core.errors import InvalidValue

SEGMENTS = ("S1", "S2", "S3", "S4")


@dataclass(frozen=True)
class LedSample:
    """One instant: linear (r, g, b) per segment, each 0..1 of the sensor's full scale."""

    t_s: float
    rgb: tuple[tuple[float, float, float], ...]


class Wait(Protocol):
    """What a recording needs of the rig clock (the clock itself satisfies it)."""

    def sleep(self, seconds: float) -> None: ...


class LedSensor(Instrument):
    role = "led"

    @abstractmethod
    def record(self, seconds: float, rate_hz: float, wait: Wait) -> list[LedSample]:
        """Samples over `seconds` at about `rate_hz`; `wait(seconds)` lets rig time pass (the clock)."""

    def safe(self) -> None:
        """Looking at LEDs can do no harm; nothing to undo."""


def check_recording(seconds: float, rate_hz: float) -> None:
    if not 0 < seconds <= 3600:
        raise InvalidValue(f"an LED recording lasts (0, 3600] s, not {seconds}")
    if not 1 <= rate_hz <= 200:
        raise InvalidValue(f"an LED sample rate must be 1-200 Hz, not {rate_hz}")

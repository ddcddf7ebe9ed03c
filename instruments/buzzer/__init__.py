"""Role `buzzer`: what the wallbox's beeper says (WB-AC-03), heard through a microphone.

A test starts a recording, does what should make the DUT beep, and stops it; the clip is classified
(`instruments.buzzer.classifier`) into none / short / two short / long.  Two drivers:

- `Microphone` (`sounddevice`): any audio input a lab plugs in (a USB measurement microphone);
- `WbrAudioBoard`: a recorder that hands its clip over a line protocol (`docs/protocols/audio.md`),
  as the virtual lab's microphone at the simulated beeper does.
"""

from __future__ import annotations

import base64
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InstrumentOperationError
from core.settings import Setting
from instruments.base import Instrument, LineInstrument
from instruments.transport.base import LineTransport
from instruments.transport.openers import AUDIO
from instruments.buzzer.classifier import BeepReading, classify

MAX_RECORDING_S = 120.0
"""A longer recording is a test's mistake (a clip is for one pattern): the board refuses it."""


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray
    rate: float
    t0_s: float | None = None
    """The first sample's time on the recorder's clock (the virtual lab's: the rig clock), if it has one."""

    @property
    def seconds(self) -> float:
        return self.samples.size / self.rate


class Buzzer(Instrument):
    role = "buzzer"

    @abstractmethod
    def start(self) -> None:
        """Start recording (a recording already running is dropped)."""

    @abstractmethod
    def stop(self) -> Clip:
        """Stop recording; the clip since `start`."""

    def heard(self) -> tuple[BeepReading, Clip]:
        """Stop and classify: what a person standing at the wallbox heard."""
        clip = self.stop()
        return classify(clip.samples, clip.rate), clip

    def safe(self) -> None:
        """Nothing a microphone does can harm the DUT."""


MAX_SAMPLE_RATE_HZ = 192_000
SAMPLE_RATE = Setting("sample_rate", int, "the input's sample rate", unit="Hz", low=8000, high=MAX_SAMPLE_RATE_HZ,
                      default=48_000)


class Microphone(Buzzer):
    """A sound card input through sounddevice; the address names the device (`audio:default`, `audio:2`)."""

    opens = AUDIO
    SETTINGS = (SAMPLE_RATE,)

    def __init__(self, address: str, settings: Mapping[str, Any]) -> None:
        from instruments.transport.audio import Recorder
        device = None if address in ("default", "audio:default") else address.removeprefix("audio:")
        self.role = "buzzer"
        self.recorder = Recorder(device, int(SAMPLE_RATE.of(settings)))

    @classmethod
    def build(cls, role: str, addresses: Sequence[str], settings: Mapping[str, Any],
              parts: Mapping[str, Instrument], wiring: Any) -> Microphone:
        return cls(addresses[0], settings)

    def identify(self) -> str:
        return f"sounddevice input {self.recorder.describe()}"

    def start(self) -> None:
        self.recorder.start()

    def stop(self) -> Clip:
        samples = self.recorder.stop()
        return Clip(samples, float(self.recorder.rate))

    def close(self) -> None:
        self.recorder.close()


class WbrAudioBoard(LineInstrument, Buzzer):
    """The audio board's line protocol (v1, docs/protocols/audio.md): REC, STOP, CLIP?."""

    def __init__(self, transport: LineTransport) -> None:
        super().__init__(transport)
        # CLIP? carries a whole recording as base64 16-bit PCM: up to MAX_RECORDING_S at the highest rate
        transport.max_line = int(MAX_RECORDING_S * MAX_SAMPLE_RATE_HZ * 2 * 4 / 3) + 1024

    def start(self) -> None:
        self._action("REC")

    def stop(self) -> Clip:
        self._action("STOP")
        answer = self.transport.query("CLIP?")
        parts = answer.split(",", 2)
        if len(parts) != 3:
            raise InstrumentOperationError(self.role, f"CLIP?: expected RATE,T0,DATA, got {answer[:60]!r}")
        rate, t0 = self._floats(",".join(parts[:2]), 2, "CLIP?")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError as exc:
            raise InstrumentOperationError(self.role, f"CLIP?: the samples are not base64 ({exc})") from None
        if len(raw) % 2 or rate <= 0:
            raise InstrumentOperationError(self.role, f"CLIP?: {len(raw)} bytes at {rate} Hz is no 16-bit clip")
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return Clip(samples, rate, t0)

    def safe(self) -> None:
        """Nothing is left recording."""
        self._action("STOP")

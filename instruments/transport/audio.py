"""Sound in and out of the rig: `soundfile` reads and writes recorded clips, `sounddevice` records
from a microphone.  The only module that imports either (sounddevice only when a microphone is
opened: it needs the PortAudio library, which a machine without audio lacks)."""

from __future__ import annotations

from pathlib import Path

from typing import Any

import numpy as np

from core.errors import InstrumentInitError, InvalidValue


def read_clip(path: str | Path) -> tuple[np.ndarray, float]:
    """A recorded clip (WAV, FLAC, OGG…) as mono float samples and its sample rate."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, soundfile.LibsndfileError) as exc:
        raise InvalidValue(f"{path}: not a sound file soundfile can read ({exc})") from None
    return data.mean(axis=1), float(rate)


def write_clip(path: str | Path, samples: np.ndarray, rate: int) -> None:
    import soundfile

    soundfile.write(str(path), np.asarray(samples, dtype=np.float32), int(rate))


class Recorder:
    """A microphone recording from `start` to `stop` (sounddevice's InputStream, its callback
    appending blocks), so a test can act while it listens."""

    def __init__(self, device: str | int | None, rate: int) -> None:
        try:
            import sounddevice
        except OSError as exc:   # PortAudio missing
            raise InstrumentInitError("buzzer", f"no audio input on this machine: {exc}") from None
        self._sd = sounddevice
        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        self.rate = rate
        try:
            sounddevice.check_input_settings(device=self.device, channels=1, dtype="float32", samplerate=rate)
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise InstrumentInitError("buzzer", f"audio input {device!r} cannot record mono at {rate} Hz: {exc}") \
                from None
        self._blocks: list[np.ndarray] = []
        self._stream: Any = None   # a sounddevice.InputStream while recording

    def describe(self) -> str:
        info = self._sd.query_devices(self.device, "input")
        return f"{info['name']} at {self.rate} Hz"

    def start(self) -> None:
        self.stop()
        self._blocks = []

        def callback(indata, frames, time, status) -> None:  # noqa: ANN001 - sounddevice's signature
            self._blocks.append(indata[:, 0].copy())

        stream = self._sd.InputStream(device=self.device, channels=1, dtype="float32", samplerate=self.rate,
                                      callback=callback)
        stream.start()
        self._stream = stream

    def stop(self) -> np.ndarray:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.float32)

    def close(self) -> None:
        self.stop()

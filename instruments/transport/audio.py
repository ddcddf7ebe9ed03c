"""Sound in and out of the rig: `soundfile` reads and writes recorded clips, `sounddevice` records
from a microphone.  The only module that imports either (sounddevice only when a microphone is
opened: it needs the PortAudio library, which a machine without audio lacks)."""

from __future__ import annotations

from pathlib import Path

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


def record(seconds: float, rate: int, device: str | int | None = None) -> np.ndarray:
    """`seconds` of mono sound from the microphone (`device`: a sounddevice name or index)."""
    try:
        import sounddevice
    except OSError as exc:   # PortAudio missing
        raise InstrumentInitError("buzzer", f"no audio input on this machine: {exc}") from None
    data = sounddevice.rec(int(seconds * rate), samplerate=rate, channels=1, dtype="float32", device=device)
    sounddevice.wait()
    return np.asarray(data)[:, 0]

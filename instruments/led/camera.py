"""`opencv-camera`: the LED bar through a camera.  A region of interest per segment (rig file:
`roi_S1 = [x, y, w, h]` … `roi_S4` in `[instruments.led]`), its mean colour per frame, decoded
from the camera's gamma (`gamma`, default 2.2) back to linear light for the classifier.

Exposure, gain and white balance are fixed from the rig file where the camera allows
(`instruments/transport/video.py`); what drift remains is normalised by an optional reference
region (`roi_ref`: a matte patch of the housing, away from the bar), whose brightness in the
first frame is the measure for every later one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from instruments.led import SEGMENTS, LedSample, LedSensor, Wait, check_recording
from instruments.transport.openers import VIDEO
from core.errors import InstrumentOperationError, InvalidValue
from core.settings import Setting

if TYPE_CHECKING:
    from instruments.transport.video import VideoTransport


def parse_rois(settings: Mapping[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    rois = {}
    for name in SEGMENTS:
        value = settings.get(f"roi_{name}")
        if (not isinstance(value, list) or len(value) != 4
                or not all(isinstance(v, int) and v >= 0 for v in value) or value[2] == 0 or value[3] == 0):
            raise InvalidValue(f"led: roi_{name} must be [x, y, width, height] in pixels (width, height > 0), "
                               f"not {value!r}")
        rois[name] = (value[0], value[1], value[2], value[3])
    return rois


def segment_rgb(frame: np.ndarray, rois: Mapping[str, tuple[int, int, int, int]],
                gamma: float = 2.2) -> tuple[tuple[float, float, float], ...]:
    """Mean linear (r, g, b) 0..1 in each segment's region of a BGR frame."""
    height, width = frame.shape[:2]
    out: list[tuple[float, float, float]] = []
    for name in SEGMENTS:
        x, y, w, h = rois[name]
        if x + w > width or y + h > height:
            raise InvalidValue(f"led: roi_{name} {[x, y, w, h]} lies outside the {width}x{height} frame")
        b, g, r = frame[y:y + h, x:x + w].reshape(-1, 3).mean(axis=0) / 255.0
        out.append((float(r) ** gamma, float(g) ** gamma, float(b) ** gamma))
    return tuple(out)


def _roi(v: Any) -> bool:
    return len(v) == 4 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v) \
        and v[2] > 0 and v[3] > 0


ROI = "[x, y, width, height] in pixels (width, height > 0)"


class OpenCvCamera(LedSensor):
    opens = VIDEO
    SETTINGS = (*(Setting(f"roi_{name}", list, f"the region of segment {name} in the frame", required=True,
                          check=_roi, expected=ROI) for name in SEGMENTS),
                Setting("roi_ref", list, "a matte patch of the housing whose brightness normalises every frame",
                        check=_roi, expected=ROI),
                Setting("gamma", float, "the camera's encoding gamma, decoded back to linear light", low=1.0,
                        high=3.0, default=2.2))

    def __init__(self, transport: VideoTransport) -> None:
        self.transport = transport
        self.role = transport.role
        self.rois = parse_rois(transport.settings)
        self.gamma = float(transport.settings.get("gamma", 2.2))
        ref = transport.settings.get("roi_ref")
        self.reference = None if ref is None else parse_rois({"roi_S1": ref, "roi_S2": ref, "roi_S3": ref,
                                                               "roi_S4": ref})["S1"]

    def identify(self) -> str:
        return self.transport.describe()

    def record(self, seconds: float, rate_hz: float, wait: Wait) -> list[LedSample]:
        """Frames over `seconds` of the camera's own time (a file plays as fast as it decodes; a live
        camera delivers in real time, so `wait` is not needed), thinned to about `rate_hz`."""
        check_recording(seconds, rate_hz)
        out: list[LedSample] = []
        base: float | None = None          # the reference region's level in the first frame
        t0: float | None = None
        due = -np.inf                      # the next sample's scheduled time
        half_frame = 0.5 / self.transport.fps
        while True:
            frame = self.transport.read()
            if frame is None:
                break
            t, image = frame
            if t0 is None:
                t0 = due = t
            if t - t0 >= seconds:
                break
            if t + half_frame >= due:      # the frame nearest each scheduled time
                rgb = segment_rgb(image, self.rois, self.gamma)
                if self.reference is not None:
                    level = self._reference_level(image)
                    base = level if base is None else base
                    scale = base / level if level > 0 else 1.0
                    rgb = tuple((r * scale, g * scale, b * scale) for r, g, b in rgb)
                out.append(LedSample(t, rgb))
                while due <= t + half_frame:
                    due += 1.0 / rate_hz
        if not out:
            raise InstrumentOperationError(self.role, f"no frames from {self.transport.address}")
        return out

    def close(self) -> None:
        self.transport.close()

    def _reference_level(self, image: np.ndarray) -> float:
        """Mean linear light of the reference region (all three channels)."""
        assert self.reference is not None
        rgb = segment_rgb(image, {name: self.reference for name in SEGMENTS}, self.gamma)[0]
        return float(sum(rgb) / 3.0)

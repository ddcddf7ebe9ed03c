"""Frames from any OpenCV VideoCapture source: a camera index, a stream URL or a video file.
The only module that imports cv2 for capture.

Address: `video:0` (first camera), `video:rtsp://host/stream`, `video:/path/clip.avi`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import InstrumentInitError, InvalidValue

PREFIX = "video:"


def video_source(address: str) -> int | str:
    if not address.startswith(PREFIX) or not address[len(PREFIX):]:
        raise InvalidValue(f"{address!r} is not a video source (video:0, video:rtsp://…, video:/path/clip.avi)")
    source = address[len(PREFIX):]
    return int(source) if source.isdigit() else source


CAMERA_SETTINGS = ("auto_exposure", "exposure", "gain", "white_balance_k")
"""What the rig file may fix on a live camera, so that the LED bar's brightness means the LED's,
not the camera's auto exposure wandering (±20 % on a cheap webcam reads a steady segment as breathing)."""


class VideoTransport:
    """Frames with the source's own timestamps (a file's presentation time; a live camera's frame clock)."""

    def __init__(self, role: str, address: str, settings: Mapping[str, Any]) -> None:
        import cv2

        self.role, self.address, self.settings = role, address, dict(settings)
        self.source = video_source(address)
        self._cv2 = cv2
        self._capture = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            raise InstrumentInitError(role, f"cannot open video source {self.source!r} ({address})")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS)) or 30.0
        self._frames = 0
        self.applied: dict[str, str] = self._apply_settings()

    def _apply_settings(self) -> dict[str, str]:
        """Exposure, gain and white balance from the rig file, on a live camera; what each became.

        Auto exposure goes off whenever an exposure is given (unless `auto_exposure = true`).  Backends
        spell "manual" differently (V4L2: 1, DirectShow: 0.25), so both are tried and the result is
        read back; a camera that keeps its auto exposure is reported, not silently accepted."""
        cv2, cap = self._cv2, self._capture
        out: dict[str, str] = {}
        wanted = {k: self.settings[k] for k in CAMERA_SETTINGS if k in self.settings}
        if not wanted:
            return out
        if not isinstance(self.source, int):
            return {k: "not applied (a file or stream plays as recorded)" for k in wanted}
        manual = not wanted.get("auto_exposure", "exposure" not in wanted)
        if "auto_exposure" in wanted or "exposure" in wanted:
            before = cap.get(cv2.CAP_PROP_AUTO_EXPOSURE)
            for value in ((1.0, 0.25) if manual else (3.0, 0.75)):
                cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, value)
                if cap.get(cv2.CAP_PROP_AUTO_EXPOSURE) == value:
                    break
            now = cap.get(cv2.CAP_PROP_AUTO_EXPOSURE)
            out["auto_exposure"] = ("off" if now in (1.0, 0.25) else "on") + ("" if now != before or not manual
                                                                              else " (the camera kept it)")
        for key, prop in (("exposure", cv2.CAP_PROP_EXPOSURE), ("gain", cv2.CAP_PROP_GAIN),
                          ("white_balance_k", cv2.CAP_PROP_WB_TEMPERATURE)):
            if key in wanted:
                if key == "white_balance_k":
                    cap.set(cv2.CAP_PROP_AUTO_WB, 0.0)
                cap.set(prop, float(wanted[key]))
                got = cap.get(prop)
                out[key] = f"{got:g}" + ("" if abs(got - float(wanted[key])) < 1e-6 else f" (asked {wanted[key]:g})")
        return out

    def read(self) -> tuple[float, Any] | None:
        """The next frame and its time in s, or None at the end of a file."""
        ok, frame = self._capture.read()
        if not ok:
            return None
        msec = float(self._capture.get(self._cv2.CAP_PROP_POS_MSEC))
        t = msec / 1000.0 if msec > 0 or self._frames == 0 else self._frames / self.fps
        self._frames += 1
        return t, frame

    def describe(self) -> str:
        width = int(self._capture.get(self._cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(self._cv2.CAP_PROP_FRAME_HEIGHT))
        fixed = "; ".join(f"{k} {v}" for k, v in self.applied.items())
        return (f"OpenCV VideoCapture {self.source!r} ({self._capture.getBackendName()}, {width}x{height} @ "
                f"{self.fps:g} fps{'; ' + fixed if fixed else ''})")

    def close(self) -> None:
        self._capture.release()

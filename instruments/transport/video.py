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
        return f"OpenCV VideoCapture {self.source!r} ({self._capture.getBackendName()}, {width}x{height} @ {self.fps:g} fps)"

    def close(self) -> None:
        self._capture.release()

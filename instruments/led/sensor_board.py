"""`wbr-ledsense`: a four-channel RGB colour sensor board, one sensor per segment behind a light
pipe, sampling on its own clock (docs/protocols/led-sensor.md)."""

from __future__ import annotations

from instruments.base import LineInstrument
from instruments.led import SEGMENTS, LedSample, LedSensor, Wait, check_recording
from core.errors import InstrumentOperationError

FULL_SCALE = 1023.0


class WbrLedSense(LineInstrument, LedSensor):
    def record(self, seconds: float, rate_hz: float, wait: Wait) -> list[LedSample]:
        check_recording(seconds, rate_hz)
        t0 = self._action(f"CAP:START {rate_hz:g}")
        wait.sleep(seconds)
        samples = self._read()
        self._action("CAP:STOP")
        return [s for s in samples if s.t_s < t0 + seconds]

    def _read(self) -> list[LedSample]:
        answer = self.transport.query("CAP:READ?")
        if answer.startswith("ERR"):
            raise InstrumentOperationError(self.role, f"CAP:READ? refused: {answer}")
        count, _, body = answer.partition(";")
        if not count.isdigit():
            raise InstrumentOperationError(self.role, f"CAP:READ?: no sample count in {answer[:60]!r}")
        rows = body.split(";") if body else []
        if len(rows) != int(count):
            raise InstrumentOperationError(self.role, f"CAP:READ?: {count} samples announced, {len(rows)} sent")
        width = 1 + 3 * len(SEGMENTS)
        out = []
        for row in rows:
            values = self._floats(row, width, "CAP:READ? sample")
            rgb = tuple(tuple(v / FULL_SCALE for v in values[1 + 3 * k: 4 + 3 * k]) for k in range(len(SEGMENTS)))
            out.append(LedSample(values[0], rgb))  # type: ignore[arg-type]
        return out

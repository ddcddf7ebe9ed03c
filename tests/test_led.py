"""The LED sensor: the classifier on synthetic camera frames (noise, blur, exposure and white
balance drift, bleed), the sensor board's protocol, the camera driver on a recorded clip, and
`wallbox-rig led classify`."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cli.main import main
from instruments.led import LedSample
from instruments.led.camera import OpenCvCamera, parse_rois, segment_rgb
from instruments.led.classifier import classify, colour_name
from instruments.led.sensor_board import WbrLedSense
from instruments.transport.scripted import expected_protocol
from instruments.transport.video import VideoTransport
from rig.config import REPO_ROOT, load_rig_file
from core.errors import InstrumentOperationError, InvalidValue
from sim.led_bar import COLOURS_RGB, LedShow, rgb
from sim.led_camera import ROIS, CameraConditions, clip, write_clip

PATTERNS = ("off", "solid", "blinking", "breathing", "sweeping")
CLIPS = 40
"""Random scenes per CI run; `benchmarks/led_classifier.py` runs hundreds for the accuracy figure."""


def random_show(rng: random.Random) -> LedShow:
    pattern = rng.choice(PATTERNS)
    s4 = rng.choice((None, None, "red")) if pattern in ("solid", "breathing", "sweeping") else None
    colour = rng.choice(("blue", "yellow", "green", "white") if s4 else tuple(COLOURS_RGB))
    return LedShow(colour, pattern, rng.choice((1.0, 1.5, 2.0, 3.0, 4.0)), s4)


def correct(show: LedShow, seen: list) -> bool:
    for k, state in enumerate(seen):
        if k == 3 and show.segment4_colour:
            ok = state.pattern == "solid" and state.colour == show.segment4_colour
        else:
            ok = state.pattern == show.pattern and (show.pattern == "off" or state.colour == show.colour)
        if not ok:
            return False
    return True


def camera_samples(show: LedShow, cond: CameraConditions, seconds: float, seed: int) -> list[LedSample]:
    return [LedSample(t, segment_rgb(frame, ROIS)) for t, frame in clip(lambda t: rgb(show, t), seconds, cond, seed)]


def test_classifier_reads_random_scenes_through_a_bad_camera() -> None:
    rng = random.Random(2026)
    wrong = []
    for _ in range(CLIPS):
        show, cond = random_show(rng), CameraConditions.bad_day(rng)
        seen = classify(camera_samples(show, cond, 6.0, rng.randrange(1 << 30)))
        if not correct(show, seen):
            wrong.append((show, cond, [s.describe() for s in seen]))
    assert len(wrong) <= CLIPS // 20, wrong  # at least 95 % of whole bars right (every segment)


@pytest.mark.parametrize("name, expected", [("blue", "blue"), ("yellow", "yellow"), ("red", "red"),
                                            ("green", "green"), ("white", "white")])
def test_colour_names_survive_white_balance_drift(name: str, expected: str) -> None:
    r, g, b = COLOURS_RGB[name]
    for gains in ((1.2, 0.85, 0.8), (0.8, 1.15, 1.2), (1.0, 1.0, 1.0)):
        assert colour_name((r * gains[0], g * gains[1], b * gains[2])) == expected


def test_bleed_from_a_lit_neighbour_does_not_light_an_off_segment() -> None:
    """S4 off beside a bright S3: the glow in S4's region stays far below the bar's peak."""
    show = LedShow("blue", "solid", 2.0)
    light = lambda t: rgb(show, t)[:3] + [(0.0, 0.0, 0.0)]  # noqa: E731
    cond = CameraConditions(bleed=0.3, blur_px=4.0, exposure=1.4)
    samples = [LedSample(t, segment_rgb(f, ROIS)) for t, f in clip(light, 3.0, cond, 5)]
    assert [s.pattern for s in classify(samples)] == ["solid", "solid", "solid", "off"]


def test_blink_and_sweep_rates_are_measured() -> None:
    for show, hz in ((LedShow("yellow", "blinking", 2.0), 0.5), (LedShow("blue", "sweeping", 1.0), 1.0)):
        seen = classify(camera_samples(show, CameraConditions(), 8.0, 3))
        assert all(s.frequency_hz == pytest.approx(hz, rel=0.05) for s in seen), seen


def test_too_few_samples_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="too few"):
        classify([LedSample(0.0, ((0, 0, 0),) * 4)] * 3)


def test_sensor_board_protocol_and_time_window() -> None:
    row = lambda t, v: f"{t},{','.join([str(v)] * 12)}"  # noqa: E731
    steps = [("CAP:START 20", "OK 10.000000"), ("CAP:READ?", f"3;{row(10.0, 1023)};{row(10.05, 512)};{row(11.0, 0)}"),
             ("CAP:STOP", "OK 11.000000")]
    with expected_protocol(steps) as t:
        samples = WbrLedSense(t).record(1.0, 20, _Sleep())
    assert [s.t_s for s in samples] == [10.0, 10.05]           # the sample at t0 + 1 s is outside
    assert samples[0].rgb[0] == (1.0, 1.0, 1.0) and samples[1].rgb[3][0] == pytest.approx(0.5, abs=0.001)


@pytest.mark.parametrize("answer, message", [("2;10.0,1,2", "2 samples announced, 1 sent"),
                                             ("ERR 3 buffer overflow", "overflow"), ("x;", "no sample count")])
def test_sensor_board_garbled_answers_are_operation_errors(answer: str, message: str) -> None:
    with expected_protocol([("CAP:START 20", "OK 0.0"), ("CAP:READ?", answer)]) as t:
        with pytest.raises(InstrumentOperationError, match=message):
            WbrLedSense(t).record(1.0, 20, _Sleep())


def test_sensor_board_refuses_bad_recordings_before_io() -> None:
    with expected_protocol([]) as t, pytest.raises(InvalidValue):
        WbrLedSense(t).record(1.0, 500, _Sleep())


def test_camera_driver_reads_a_recorded_clip(tmp_path: Path) -> None:
    show = LedShow("yellow", "blinking", 2.0, None)
    path = tmp_path / "bar.avi"
    write_clip(str(path), clip(lambda t: rgb(show, t), 6.0, CameraConditions(fps=25.0), 1), 25.0)
    settings = {f"roi_{k}": list(v) for k, v in ROIS.items()}
    camera = OpenCvCamera(VideoTransport("led", f"video:{path}", settings))
    try:
        assert "25 fps" in camera.identify()
        samples = camera.record(5.0, 10.0, _Sleep())
    finally:
        camera.close()
    assert 45 <= len(samples) <= 51 and samples[-1].t_s < 5.0
    assert [s.describe() for s in classify(samples)] == ["yellow blinking 0.50 Hz"] * 4


def test_regions_are_checked_with_the_key_named() -> None:
    with pytest.raises(InvalidValue, match="roi_S2"):
        parse_rois({"roi_S1": [0, 0, 5, 5], "roi_S2": [0, 0, 0, 5]})
    settings = {f"roi_{k}": [300, 100, 50, 50] for k in ("S1", "S2", "S3", "S4")}
    frame = clip(lambda t: [(0, 0, 0)] * 4, 0.1, CameraConditions(), 1)[0][1]
    with pytest.raises(InvalidValue, match="outside the 320x120 frame"):
        segment_rgb(frame, parse_rois(settings))


def test_led_classify_command_on_a_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clip.avi"
    assert main(["sim", "led-clip", "--out", str(path), "--pattern", "sweeping", "--colour", "blue",
                 "--period", "2", "--seconds", "6"]) == 0
    assert main(["led", "classify", str(path), "--rig", str(REPO_ROOT / "rigs" / "lab-example.toml"),
                 "--seconds", "6"]) == 0
    out = capsys.readouterr().out
    assert out.count("blue    sweeping") == 4, out
    assert main(["led", "classify", str(path), "--rig", str(REPO_ROOT / "rigs" / "sim.toml")]) == 2
    assert "roi_S1" in capsys.readouterr().err


def test_lab_example_rig_declares_a_camera_with_regions() -> None:
    led = load_rig_file(REPO_ROOT / "rigs" / "lab-example.toml").instruments["led"]
    assert led.driver == "opencv-camera" and parse_rois(led.settings) == ROIS


class _Sleep:
    def sleep(self, seconds: float) -> None:
        return None


def test_a_reference_region_undoes_exposure_drift(tmp_path: Path) -> None:
    """A camera whose exposure swings ±20 % reads a steady segment as breathing; normalised by a
    patch of the housing it reads steady again."""
    from sim.led_camera import REFERENCE_ROI
    steady = LedShow("green", "solid", 2.0, None)
    cond = CameraConditions(fps=25.0, exposure_drift=0.2, drift_period_s=4.0, bleed=0.0, noise_dn=1.0)
    path = tmp_path / "drift.avi"
    write_clip(str(path), clip(lambda t: rgb(steady, t), 8.0, cond, 3), 25.0)
    settings = {f"roi_{k}": list(v) for k, v in ROIS.items()}
    spreads = {}
    for name, extra in (("raw", {}), ("normalised", {"roi_ref": list(REFERENCE_ROI)})):
        camera = OpenCvCamera(VideoTransport("led", f"video:{path}", {**settings, **extra}))
        try:
            samples = camera.record(7.5, 10.0, _Sleep())
        finally:
            camera.close()
        levels = [sum(s.rgb[0]) for s in samples]
        spreads[name] = (max(levels) - min(levels)) / (sum(levels) / len(levels))
    assert spreads["raw"] > 0.25 and spreads["normalised"] < 0.08, spreads


def test_camera_settings_are_not_applied_to_a_file_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "bar.avi"
    write_clip(str(path), clip(lambda t: [(0.0, 0.0, 0.0)] * 4, 1.0, CameraConditions(fps=25.0), 1), 25.0)
    settings = {**{f"roi_{k}": list(v) for k, v in ROIS.items()}, "exposure": 100, "auto_exposure": False}
    transport = VideoTransport("led", f"video:{path}", settings)
    try:
        assert "exposure not applied" in transport.describe()
    finally:
        transport.close()

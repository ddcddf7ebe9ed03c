"""Evidence into Allure: labels (epic = source document, feature = family, story = requirement),
the measurement table as CSV, waveform plots as PNG, raw edges as CSV."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import allure

from core.records import Outcome, TestRecord, Verdict
from reports.matrix import source_document
from reports.results import measurement_csv

if TYPE_CHECKING:   # the evidence a test collects (fixtures/, a layer above: it takes `step` from here)
    from fixtures.evidence import Evidence


def _epic(wb_id: str, clause: str) -> str:
    return source_document(wb_id, clause)


SEVERITY_BY_FAMILY = {
    # a non-conformance here can hurt a person or leave a conductor live
    "residual current": "blocker", "welding": "blocker",
    # protection against damage to the vehicle, the cable or the installation
    "supply": "critical", "temperature": "critical", "control pilot": "critical", "proximity": "critical",
    # the building's main fuse and the grid operator's dimming order
    "load management": "critical", "meter": "critical", "dimming": "critical",
    # the session works, but not as promised
    "charging session": "normal", "duty cycle": "normal", "cold load": "normal",
    # what the user is told
    "led": "minor",
}
"""Allure severity per family; a family not listed is "normal"."""


STEP_KINDS = ("arrange", "act", "measure", "act and measure", "judge")


def step(kind: str, title: str) -> Any:
    """An Allure step, so a reader follows a test as arrange → act → measure → judge; a step that
    raises is shown failed (or broken) where it happened.  A no-op without allure's plugin."""
    if kind not in STEP_KINDS:
        raise ValueError(f"step kind must be one of {', '.join(STEP_KINDS)}, not {kind!r}")
    return allure.step(f"{kind}: {title}")


NODEID_LABEL = "wallbox-rig nodeid"
"""The label that ties an Allure result to its test's record (`align_statuses`)."""
ALLURE_STATUS = {Outcome.PASSED: "passed", Outcome.FAILED: "failed", Outcome.BROKEN: "broken",
                 Outcome.SKIPPED: "skipped"}
"""The outcome rule's four outcomes are Allure's four statuses, word for word."""


def label_test(module: str, wb_id: str, clause: str, story: str, profile: str, nodeid: str,
               ocpp_cases: tuple[str, ...] = ()) -> None:
    family = module.rsplit(".", 1)[-1].removeprefix("test_").replace("_", " ")
    allure.dynamic.label(NODEID_LABEL, nodeid)
    allure.dynamic.epic(_epic(wb_id, clause))
    allure.dynamic.feature(family)
    allure.dynamic.severity(allure.severity_level(SEVERITY_BY_FAMILY.get(family, "normal")))
    allure.dynamic.story(story)
    for requirement in (wb_id, clause):
        if requirement:
            allure.dynamic.label("requirement", requirement)
    for case_id in ocpp_cases:   # the certification tool's case: searchable and filterable in the report
        allure.dynamic.label("ocpp_case", case_id)
        allure.dynamic.tag(case_id)
    if profile:
        allure.dynamic.parameter("profile", profile)


def align_statuses(alluredir: Path, records: list[TestRecord]) -> int:
    """Make each Allure result say what the outcome rule says (allure-pytest calls every exception
    that is not an AssertionError "broken", so a DUT's non-conformance, `ConformanceFailure`, would
    read as a rig fault; and a bare `assert`, the rig's fault, as "failed").  Returns how many
    results were rewritten; each file is replaced whole, never left half written."""
    outcomes = {r.nodeid: (r.outcome, r.message) for r in records}
    changed = 0
    for path in sorted(alluredir.glob("*-result.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        nodeid = next((lab.get("value") for lab in result.get("labels", []) if lab.get("name") == NODEID_LABEL), None)
        if nodeid not in outcomes:
            continue
        outcome, message = outcomes[nodeid]
        status = ALLURE_STATUS[outcome]
        if result.get("status") == status:
            continue
        result["status"] = status
        details = result.setdefault("statusDetails", {})
        if message and not details.get("message"):
            details["message"] = message
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        tmp.replace(path)
        changed += 1
    return changed


def verdict_caption(evidence: Evidence) -> tuple[str, bool] | None:
    """The measurement that decides the test (the first failing one, else the last judged), as the
    caption its plots carry: name, value, limit."""
    judged = [m for m in evidence.measurements if m.judged]
    if not judged:
        return None
    m = next((m for m in judged if m.verdict is Verdict.FAIL), judged[-1])
    return f"{m.name} = {m.value:.4g} {m.unit}, limit {m.limits_text()}".replace("  ", " "), m.verdict is Verdict.PASS


def attach_evidence(evidence: Evidence, folder: Path | None, plots: bool = True) -> None:
    """Attach to Allure and, when a run folder is given, keep the same files there.

    `plots=False` keeps the raw traces but skips rendering (a quarter second each), for runs
    that only want verdicts, such as the suite's self-test."""
    if plots:   # matplotlib costs half a second to import: a run without plots never pays it
        from reports.plots import distribution_plot, led_strip, series_plot, sound_plot, timing_plot

    test = evidence.test_id.split("::")[-1]
    for key, value in evidence.parameters.items():   # what the test chose or its instruments reached
        allure.dynamic.parameter(key, value)

    def keep(name: str, file: str, content: str | bytes) -> None:
        """Attach to Allure and write the same bytes into the run folder."""
        binary = isinstance(content, bytes)
        if file.endswith(".wav"):
            allure.attach(content, name=name, extension="wav")
        else:
            allure.attach(content, name=name,
                          attachment_type=allure.attachment_type.PNG if binary else allure.attachment_type.CSV)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / file
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    verdict = verdict_caption(evidence)
    rows = evidence.as_dicts()
    if rows:
        keep("measurements", "measurements.csv", measurement_csv(rows))
    for trace in evidence.traces:
        keep(f"{trace.name} edges", f"{trace.name}-edges.csv",
             "t_s,channel,value\n" + "".join(f"{e.t_s:.6f},{e.channel},{e.value}\n" for e in trace.edges))
        if plots:
            keep(f"{trace.name} waveform", f"{trace.name}.png", timing_plot(trace, f"{test}: {trace.name}", verdict))
    for series in evidence.series_list:
        times = sorted({t for points in series.columns.values() for t, _ in points})
        lookup = [dict(points) for points in series.columns.values()]
        keep(f"{series.name} data", f"{series.name}-data.csv",
             "t_s," + ",".join(f'"{n}"' for n in series.columns) + "\n" + "".join(
                 f"{t:.6f}," + ",".join(f"{col[t]:.6g}" if t in col else "" for col in lookup) + "\n" for t in times))
        if plots:
            keep(f"{series.name} plot", f"{series.name}.png", series_plot(series, f"{test}: {series.name}", verdict))
    for strip in evidence.led_timelines:
        header = "t_s," + ",".join(f"S{k + 1}_{c}" for k in range(4) for c in "rgb")
        keep(f"{strip.name} LED samples", f"{strip.name}-led.csv", header + "\n" + "".join(
            f"{t:.4f}," + ",".join(f"{v:.4f}" for seg in rgb for v in seg) + "\n" for t, rgb in strip.samples))
        if plots:
            keep(f"{strip.name} LED timeline", f"{strip.name}-led.png", led_strip(strip, f"{test}: {strip.name}", verdict))
    for sound in evidence.sounds:
        keep(f"{sound.name} recording", f"{sound.name}.wav", wav_bytes(sound.samples, sound.rate))
        if plots:
            keep(f"{sound.name} envelope", f"{sound.name}.png", sound_plot(sound, f"{test}: {sound.name}", verdict))
    for log in evidence.message_logs:
        keep(f"{log.name}", f"{log.name}.tsv", "t_s\tutc\tdirection\ttype\taction\tpayload\n"
             + "".join(line + "\n" for line in log.lines))
    for dist in evidence.distributions:
        keep(f"{dist.name} samples", f"{dist.name}-samples.csv",
             f"trial,{dist.name} ({dist.unit})\n" + "".join(f"{k + 1},{x:.6f}\n" for k, x in enumerate(dist.samples)))
        if plots:
            keep(f"{dist.name} histogram and CDF", f"{dist.name}.png", distribution_plot(dist, f"{test}: {dist.name}", verdict))


def wav_bytes(samples: Any, rate: float) -> bytes:
    """16-bit mono PCM WAV (the standard library's `wave`), playable anywhere."""
    import wave

    import numpy as np

    pcm = np.clip(np.round(np.asarray(samples, dtype=float) * 32767.0), -32768, 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(rate))
        out.writeframes(pcm)
    return buf.getvalue()


def write_environment(results_dir: Path, provenance: dict[str, Any]) -> Path:
    """`environment.properties`: what the Allure report shows as the run's environment (rig,
    drivers, instrument identities, calibration dates, DUT, seed, commit)."""
    rows = {"rig.file": provenance.get("rig_file"), "rig.name": provenance.get("rig_name"),
            "virtual_lab": provenance.get("virtual_lab"), "seed": provenance.get("seed"),
            "dut.profile": provenance.get("profile"), "dut.firmware": provenance.get("dut_firmware"),
            "dut.serial": provenance.get("dut_serial"), "git.commit": provenance.get("git_commit")}
    for role, driver in (provenance.get("drivers") or {}).items():
        rows[f"driver.{role}"] = driver
    for role, identity in (provenance.get("identities") or {}).items():
        rows[f"identity.{role}"] = identity
    for role, due in (provenance.get("calibration_due") or {}).items():
        rows[f"calibration_due.{role}"] = due

    def escaped(value: object) -> str:  # java.util.Properties: a backslash escapes, a line ends the value
        return str(value).replace("\\", "\\\\").replace("\n", "\\n")

    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / "environment.properties"
    path.write_text("".join(f"{key}={escaped(value)}\n" for key, value in rows.items() if value is not None))
    return path

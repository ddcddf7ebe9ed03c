"""Evidence into Allure: labels (epic = source document, feature = family, story = requirement),
the measurement table as CSV, waveform plots as PNG, raw edges as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import allure

from reports.results import measurement_csv


def _epic(wb_id: str, clause: str) -> str:
    if clause.startswith("IEC"):
        return clause.split(" Annex")[0].split(",")[0]
    return "Product manual" if wb_id else "wallbox-rig"


def label_test(module: str, wb_id: str, clause: str, story: str, profile: str) -> None:
    family = module.rsplit(".", 1)[-1].removeprefix("test_").replace("_", " ")
    allure.dynamic.epic(_epic(wb_id, clause))
    allure.dynamic.feature(family)
    allure.dynamic.story(story)
    for requirement in (wb_id, clause):
        if requirement:
            allure.dynamic.label("requirement", requirement)
    if profile:
        allure.dynamic.parameter("profile", profile)


def attach_evidence(evidence: Any, folder: Path | None, plots: bool = True) -> None:
    """Attach to Allure and, when a run folder is given, keep the same files there.

    `plots=False` keeps the raw traces but skips rendering (a quarter second each), for runs
    that only want verdicts, such as the suite's self-test."""
    from reports.plots import series_plot, timing_plot

    rows = evidence.as_dicts()
    if rows:
        text = measurement_csv(rows)
        allure.attach(text, name="measurements", attachment_type=allure.attachment_type.CSV)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "measurements.csv").write_text(text)
    for trace in evidence.traces:
        edges = "t_s,channel,value\n" + "".join(f"{e.t_s:.6f},{e.channel},{e.value}\n" for e in trace.edges)
        allure.attach(edges, name=f"{trace.name} edges", attachment_type=allure.attachment_type.CSV)
        png = timing_plot(trace, f"{evidence.test_id.split('::')[-1]}: {trace.name}") if plots else None
        if png is not None:
            allure.attach(png, name=f"{trace.name} waveform", attachment_type=allure.attachment_type.PNG)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{trace.name}-edges.csv").write_text(edges)
            if png is not None:
                (folder / f"{trace.name}.png").write_bytes(png)
    for series in getattr(evidence, "series_list", []):
        names = list(series.columns)
        rows = sorted({t for points in series.columns.values() for t, _ in points})
        lookup = [dict(points) for points in series.columns.values()]
        text = "t_s," + ",".join(f'"{n}"' for n in names) + "\n" + "".join(
            f"{t:.6f}," + ",".join(f"{col[t]:.6g}" if t in col else "" for col in lookup) + "\n" for t in rows)
        allure.attach(text, name=f"{series.name} data", attachment_type=allure.attachment_type.CSV)
        png = series_plot(series, f"{evidence.test_id.split('::')[-1]}: {series.name}") if plots else None
        if png is not None:
            allure.attach(png, name=f"{series.name} plot", attachment_type=allure.attachment_type.PNG)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{series.name}-data.csv").write_text(text)
            if png is not None:
                (folder / f"{series.name}.png").write_bytes(png)

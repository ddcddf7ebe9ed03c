"""`wallbox-rig report RUN_DIR [--previous DIR]`: the matrix (HTML, Markdown, CSV) and the trend."""

from __future__ import annotations

import json
from pathlib import Path

from reports.matrix import build_rows, load_run, matrix_csv, matrix_markdown
from reports.matrix_html import matrix_html
from reports.trend import compare, trend_html, trend_markdown

MARGIN_DROP = 0.2
"""Default threshold: a margin that lost more than this fraction since the previous run is listed."""


def build_reports(folder: Path, previous: Path | None = None, margin_drop: float = MARGIN_DROP) -> list[Path]:
    """Write matrix.html, matrix.md, matrix.csv (and trend.json) into `folder`; returns the paths."""
    run = load_run(folder)
    rows = build_rows(run)
    md, page_trend = matrix_markdown(run, rows), ""
    written = []
    if previous is not None:
        trend = compare(run, load_run(previous), margin_drop)
        md += "\n" + trend_markdown(trend, margin_drop)
        page_trend = trend_html(trend, margin_drop)
        (folder / "trend.json").write_text(json.dumps(trend.as_dict(), indent=2) + "\n")
        written.append(folder / "trend.json")
    for name, text in (("matrix.html", matrix_html(run, rows, page_trend)), ("matrix.md", md),
                       ("matrix.csv", matrix_csv(rows))):
        (folder / name).write_text(text)
        written.append(folder / name)
    return written

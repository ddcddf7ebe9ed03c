"""Trend against an earlier run: new failures, fixed tests, and margins that shrank.

A nightly run is read against last night's: what broke, what was fixed, and which measurements
still pass but crept towards their limit (margin down by more than `margin_drop`, a fraction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from core.errors import RigError
from core.records import Outcome
from reports.matrix import RunData


def same_bench(current: RunData, previous: RunData) -> None:
    """Runs of another profile or rig are not compared: say so instead of mixing them."""
    a, b = current.summary.get("provenance", {}), previous.summary.get("provenance", {})
    for key, what in (("profile", "DUT profile"), ("rig_name", "rig")):
        if a.get(key) != b.get(key):
            raise RigError(f"{previous.folder} is a run of {what} {b.get(key)!r}, {current.folder} of {a.get(key)!r}: "
                           "runs of another profile or rig are not compared")


@dataclass
class Trend:
    previous: str
    new_failures: list[tuple[str, str, str]] = field(default_factory=list)   # test, before, now
    fixed: list[tuple[str, str, str]] = field(default_factory=list)
    shrunk: list[dict[str, Any]] = field(default_factory=list)               # test, measurement, margins

    def as_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "new_failures": self.new_failures, "fixed": self.fixed,
                "shrunk_margins": self.shrunk}


def _finite(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and math.isfinite(x)


def compare(current: RunData, previous: RunData, margin_drop: float = 0.2) -> Trend:
    if not 0 < margin_drop < 1:
        raise ValueError(f"margin_drop must be a fraction in (0, 1), not {margin_drop}")
    same_bench(current, previous)
    trend = Trend(str(previous.folder))
    before = {r.nodeid: r for r in previous.records}
    for record in current.records:
        old = before.get(record.nodeid)
        if old is None:
            continue
        if record.outcome.red and not old.outcome.red:
            trend.new_failures.append((record.name, str(old.outcome), str(record.outcome)))
        elif old.outcome.red and record.outcome is Outcome.PASSED:
            trend.fixed.append((record.name, str(old.outcome), str(record.outcome)))
        old_margins = {m.name: m.margin for m in old.measurements}
        for m in record.measurements:
            if m.random:
                continue  # random by design (limits data): its margin moves from run to run, no drift
            was, now = old_margins.get(m.name), m.margin
            if _finite(was) and _finite(now) and was > 0 and now < was * (1 - margin_drop):
                trend.shrunk.append({"test": record.name, "measurement": m.name, "margin_before": was,
                                     "margin_now": now, "unit": m.unit,
                                     "drop_pct": round(100 * (was - now) / was, 1)})
    return trend


def trend_markdown(trend: Trend, margin_drop: float) -> str:
    lines = [f"## Trend against {trend.previous}", ""]
    for title, items in (("New failures", trend.new_failures), ("Fixed", trend.fixed)):
        lines.append(f"**{title}**: " + (", ".join(f"{t} ({a} → {b})" for t, a, b in items) or "none"))
        lines.append("")
    lines.append(f"**Margins down by more than {margin_drop:.0%}**: " + ("none" if not trend.shrunk else ""))
    for s in trend.shrunk:
        lines.append(f"- {s['test']}: {s['measurement']}: {s['margin_before']:.4g} → {s['margin_now']:.4g} "
                     f"{s['unit']} (−{s['drop_pct']} %)")
    return "\n".join(lines) + "\n"


def trend_html(trend: Trend, margin_drop: float) -> str:
    """The trend section of the matrix page (`templates/trend_section.html.j2`)."""
    from reports.html import render

    return render("trend_section.html.j2",
        previous=trend.previous, new_failures=trend.new_failures, fixed=trend.fixed, shrunk=trend.shrunk,
        drop=f"{margin_drop:.0%}")


def run_folders(paths: list[Path]) -> list[Path]:
    """Run folders, oldest first: each path a run (has summary.json) or a folder of runs."""
    out: list[Path] = []
    for path in paths:
        if (path / "summary.json").exists():
            out.append(path)
        elif path.is_dir():
            runs = sorted(p for p in path.iterdir() if (p / "summary.json").exists())
            if not runs:
                raise RigError(f"{path}: neither a wallbox-rig run folder nor a folder of runs (no summary.json)")
            out += runs
        else:
            raise RigError(f"{path}: no such run folder")
    return out


def trend_page(hist: History, runs: list[RunData], margin_drop: float, nights: int) -> str:
    """The trend as one HTML page (`templates/trend.html.j2`), a plot per family."""
    import base64

    from reports.html import render
    from reports.plots import trend_plot

    families = []
    for name in dict.fromkeys(line.family for line in hist.lines):
        lines = sorted((l for l in hist.lines if l.family == name),
                       key=lambda l: min((m for m in l.margins if m is not None), default=math.inf))
        png = trend_plot(lines, name or "tests", [str(k + 1) for k in range(len(runs))])
        families.append({"name": name or "tests", "png": base64.b64encode(png).decode()})
    prov = runs[-1].summary.get("provenance", {})
    return render("trend.html.j2",
        title=f"Trend: {prov.get('profile')} over {len(runs)} runs", profile=prov.get("profile"),
        rig=prov.get("rig_name"), nights=nights, drop=f"{margin_drop:.0%}",
        runs=[{"folder": r.folder, "status": r.summary.get("status", "?"),
               "counts": ", ".join(f"{k} {v}" for k, v in r.summary.get("counts", {}).items())} for r in runs],
        new_failures=hist.new_failures, fixed=hist.fixed,
        shrinking=[{"test": l.test, "measurement": l.measurement, "unit": l.unit,
                    "margins": [f"{m:.4g}" if m is not None else "-" for m in l.margins[-nights:]]}
                   for l in hist.shrinking],
        families=families)


# --- many nights -------------------------------------------------------------------------------
@dataclass
class Line:
    """One judged measurement over the runs (None where a run lacks it)."""

    test: str
    family: str
    measurement: str
    unit: str
    random: bool
    values: list[float | None]
    margins: list[float | None]
    verdicts: list[str | None]
    low: float | None = None
    high: float | None = None

    def shrinking(self, nights: int, margin_drop: float) -> bool:
        """Margins that fell run after run over the last `nights` runs, by more than `margin_drop` in all."""
        recent = [m for m in self.margins[-nights:] if _finite(m)]
        if self.random or len(recent) < nights or recent[0] <= 0:
            return False
        falling = all(b < a for a, b in zip(recent, recent[1:]))
        return falling and recent[-1] < recent[0] * (1 - margin_drop)


@dataclass
class History:
    runs: list[str]
    lines: list[Line]
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    shrinking: list[Line] = field(default_factory=list)


def history(runs: list[RunData], margin_drop: float = 0.2, nights: int = 3) -> History:
    """Each judged measurement over `runs` (oldest first): new failures and fixes in the last run,
    margins that shrank over the last `nights` runs; random-by-design quantities never flagged."""
    if len(runs) < 2:
        raise RigError("a trend needs at least two runs")
    for run in runs[1:]:
        same_bench(runs[0], run)
    keyed: dict[tuple[str, str], Line] = {}
    family = {e["nodeid"]: e.get("family", "") for run in runs for e in run.catalogue}
    for k, run in enumerate(runs):
        for record in run.records:
            for m in record.judged:
                key = (record.nodeid, m.name)
                line = keyed.get(key)
                if line is None:
                    line = keyed[key] = Line(record.name, family.get(record.nodeid, ""), m.name, m.unit, m.random,
                                             [None] * len(runs), [None] * len(runs), [None] * len(runs))
                line.values[k] = m.value if _finite(m.value) else None
                line.margins[k] = m.margin if _finite(m.margin) else None
                line.verdicts[k] = m.verdict
                line.low, line.high = m.low, m.high
    out = History([str(r.folder) for r in runs], list(keyed.values()))
    last, before = runs[-1], runs[-2]
    was = {r.nodeid: r.outcome for r in before.records}
    for record in last.records:
        old = was.get(record.nodeid)
        if record.outcome.red and old is not None and not old.red:
            out.new_failures.append(f"{record.name} ({old} → {record.outcome})")
        elif old is not None and old.red and record.outcome is Outcome.PASSED:
            out.fixed.append(f"{record.name} ({old} → passed)")
    out.shrinking = [line for line in out.lines if line.shrinking(min(nights, len(runs)), margin_drop)]
    return out

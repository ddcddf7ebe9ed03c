"""Trend against an earlier run: new failures, fixed tests, and margins that shrank.

A nightly run is read against last night's: what broke, what was fixed, and which measurements
still pass but crept towards their limit (margin down by more than `margin_drop`, a fraction).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from reports.matrix import RunData

BAD = ("failed", "broken")


@dataclass
class Trend:
    previous: str
    new_failures: list[tuple[str, str, str]] = field(default_factory=list)   # test, before, now
    fixed: list[tuple[str, str, str]] = field(default_factory=list)
    shrunk: list[dict[str, Any]] = field(default_factory=list)               # test, measurement, margins

    def as_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "new_failures": self.new_failures, "fixed": self.fixed,
                "shrunk_margins": self.shrunk}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def compare(current: RunData, previous: RunData, margin_drop: float = 0.2) -> Trend:
    if not 0 < margin_drop < 1:
        raise ValueError(f"margin_drop must be a fraction in (0, 1), not {margin_drop}")
    trend = Trend(str(previous.folder))
    before = {r["nodeid"]: r for r in previous.records}
    for record in current.records:
        old = before.get(record["nodeid"])
        if old is None:
            continue
        if record["outcome"] in BAD and old["outcome"] not in BAD:
            trend.new_failures.append((record["name"], old["outcome"], record["outcome"]))
        elif old["outcome"] in BAD and record["outcome"] == "passed":
            trend.fixed.append((record["name"], old["outcome"], record["outcome"]))
        old_margins = {m["name"]: m.get("margin") for m in old.get("measurements", [])}
        for m in record.get("measurements", []):
            was, now = old_margins.get(m["name"]), m.get("margin")
            if _finite(was) and _finite(now) and was > 0 and now < was * (1 - margin_drop):
                trend.shrunk.append({"test": record["name"], "measurement": m["name"], "margin_before": was,
                                     "margin_now": now, "unit": m.get("unit", ""),
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
    def items(rows: list[tuple[str, str, str]]) -> str:
        return "".join(f"<li>{html.escape(t)} ({html.escape(a)} → {html.escape(b)})</li>" for t, a, b in rows) \
            or "<li>none</li>"

    shrunk = "".join(f"<li>{html.escape(s['test'])}: {html.escape(s['measurement'])}: {s['margin_before']:.4g} → "
                     f"{s['margin_now']:.4g} {html.escape(s['unit'])} (−{s['drop_pct']} %)</li>" for s in trend.shrunk)
    return (f"<h2>Trend against {html.escape(trend.previous)}</h2><p><b>New failures</b></p><ul>"
            f"{items(trend.new_failures)}</ul><p><b>Fixed</b></p><ul>{items(trend.fixed)}</ul>"
            f"<p><b>Margins down by more than {margin_drop:.0%}</b></p><ul>{shrunk or '<li>none</li>'}</ul>")

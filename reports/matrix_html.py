"""The matrix as one self-contained HTML file: inline CSS, no script, no server, opens offline."""

from __future__ import annotations

import html
from typing import Any

from reports.matrix import VERDICT_ORDER, Row, RunData, limits_text, value_text, verdict_counts

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#1d2327;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccd}
.meta{color:#555;font-size:.9em} .meta td{padding:1px 12px 1px 0;vertical-align:top}
table.m{border-collapse:collapse;width:100%;font-size:.88em}
table.m th{background:#eef1f5;text-align:left;position:sticky;top:0}
table.m th,table.m td{border:1px solid #d5dae1;padding:4px 7px;vertical-align:top}
table.m td:first-child,table.m th{white-space:nowrap} ul.tests{overflow-wrap:anywhere}
table.m td.num{white-space:nowrap}
table.m tr:nth-child(even) td{background:#fafbfc}
.v{display:inline-block;white-space:nowrap;min-width:6.5em;text-align:center;border-radius:3px;padding:1px 6px;font-weight:600}
.v-pass{background:#d4f4dd;color:#0b5d1e} .v-fail{background:#fbd5d5;color:#8a1111}
.v-broken{background:#ffe8b3;color:#7a4b00} .v-skipped{background:#e4e7eb;color:#444}
.v-not-run{background:#e4e7eb;color:#444} .v-not-covered{background:#fff;color:#8a1111;border:1px dashed #c66}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .src{color:#555;font-size:.9em}
.chips span{margin-right:1em} ul.tests{margin:0;padding-left:1.1em}
"""


def _badge(verdict: str) -> str:
    return f'<span class="v v-{verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


def _row(row: Row) -> str:
    by_id = {r.get("nodeid"): r for r in row.results}
    tests = "".join(
        f"<li>{html.escape(t['name'])} {_badge(_outcome(by_id.get(t.get('nodeid'))))}</li>" for t in row.tests)
    k: dict[str, Any] | None = row.key
    if k:
        margin = k.get("margin")
        margin_text = f"{margin:.4g}" if isinstance(margin, (int, float)) else "-"
        key = (f"<td>{html.escape(k['name'])}<div class='src'>{html.escape(k.get('source') or '')}</div></td>"
               f"<td class='num'>{html.escape(value_text(k))}</td><td class='num'>{html.escape(limits_text(k))}</td>"
               f"<td class='num'>{margin_text}</td>")
    else:
        key = "<td colspan='4' class='src'>no judged measurement</td>"
    return (f"<tr><td><b>{html.escape(row.requirement)}</b><div class='src'>{html.escape(row.context)}</div></td>"
            f"<td>{_badge(row.verdict)}</td><td><ul class='tests'>{tests or '<i>none</i>'}</ul></td>{key}</tr>")


def _outcome(record: dict[str, Any] | None) -> str:
    if record is None:
        return "not run"
    return {"passed": "pass", "failed": "fail", "broken": "broken", "skipped": "skipped"}.get(record["outcome"],
                                                                                               "broken")


def matrix_html(run: RunData, rows: list[Row], trend_html: str = "") -> str:
    prov = run.summary.get("provenance", {})
    counts = verdict_counts(rows)
    meta = [("DUT profile", f"{prov.get('profile')} ({prov.get('profile_file')})"),
            ("DUT firmware / serial", f"{prov.get('dut_firmware')} / {prov.get('dut_serial')}"),
            ("rig file", prov.get("rig_file")), ("virtual lab", prov.get("virtual_lab")),
            ("instruments", "; ".join(f"{r}: {i}" for r, i in (prov.get("identities") or {}).items())),
            ("calibration due", "; ".join(f"{r}: {d}" for r, d in (prov.get("calibration_due") or {}).items())
             or "-"),
            ("seed / commit", f"{prov.get('seed')} / {prov.get('git_commit')}"),
            ("tests", ", ".join(f"{k} {v}" for k, v in run.summary.get("counts", {}).items())
             + (" (run interrupted)" if run.summary.get("interrupted") else "")),
            ("time", f"{run.summary.get('virtual_time_s')} virtual s, {run.summary.get('wall_time_s')} wall s")]
    meta_html = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in meta)
    chips = "".join(f"<span>{_badge(v)} {counts[v]}</span>" for v in VERDICT_ORDER if counts[v])
    sections = []
    for document in dict.fromkeys(r.document for r in rows):
        body = "".join(_row(r) for r in rows if r.document == document)
        sections.append(f"<h2>{html.escape(document)}</h2><table class='m'><tr><th>requirement</th><th>verdict</th>"
                        "<th>tests</th><th>key measurement (source)</th><th>value</th><th>limit</th><th>margin</th>"
                        f"</tr>{body}</table>")
    title = f"Certification pre-check: {prov.get('profile', '?')}" + (" (interrupted)" if run.summary.get("interrupted") else "")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='meta'>Run folder {html.escape(str(run.folder))}. A requirement takes the worst verdict of "
            "its tests; <i>broken</i> means the rig failed, not the DUT; <i>not covered</i> means no test checks "
            f"it yet.</p><table class='meta'>{meta_html}</table><p class='chips'>{chips}</p>{trend_html}"
            f"{''.join(sections)}</body></html>\n")

"""The matrix as one self-contained HTML file: inline CSS, no script, no server, opens offline."""

from __future__ import annotations


from reports.html import render
from reports.matrix import (VERDICT_ORDER, Row, RowVerdict, RunData, bad_results, cited_keys, margin_text,
                            test_label, verdict_counts)

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
.v-partial{background:#eef6d9;color:#3d5a0b;border:1px dashed #8a6}
.v-broken{background:#ffe8b3;color:#7a4b00} .v-skipped{background:#e4e7eb;color:#444}
.v-not-run{background:#e4e7eb;color:#444} .v-not-covered{background:#fff;color:#8a1111;border:1px dashed #c66}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap} .src{color:#555;font-size:.9em}
.chips span{margin-right:1em} ul.tests{margin:0;padding-left:1.1em}
table.m{table-layout:fixed} .wrap{overflow-wrap:anywhere} table.m td:first-child{white-space:normal}
.banner{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:600;margin:.2em .5em .2em 0}
.banner.virtual{background:#e3ecfa;color:#173f7a} .banner.bench{background:#fdecc8;color:#6b4100}
.banner.interrupted{background:#fbd5d5;color:#8a1111} ul.sources li{margin-bottom:.3em}
"""


def matrix_html(run: RunData, rows: list[Row], trend_html: str = "") -> str:
    """The matrix page from `templates/matrix.html.j2`: failed and broken first, then each document's
    requirements with their text, tests and key measurement, then the sources the limits cite."""
    prov = run.summary.get("provenance", {})
    counts = verdict_counts(rows)
    meta = [("DUT profile", f"{prov.get('profile')} ({prov.get('profile_file')})"),
            ("DUT firmware / serial", f"{prov.get('dut_firmware')} / {prov.get('dut_serial')}"),
            ("rig file", prov.get("rig_file")),
            ("instruments", "; ".join(f"{r}: {i}" for r, i in (prov.get("identities") or {}).items())),
            ("calibration due", "; ".join(f"{r}: {d}" for r, d in (prov.get("calibration_due") or {}).items())
             or "-"),
            ("seed / commit", f"{prov.get('seed')} / {prov.get('git_commit')}"),
            ("started / ended (UTC)", f"{run.summary.get('started_utc')} / {run.summary.get('ended_utc')}"),
            ("decision rule", run.summary.get("decision_rule_text") or "not recorded"),
            ("knobs bent", ", ".join(f"{k}={v}" for k, v in (run.summary.get("sim_overrides") or {}).items())
             or "none"),
            ("file sha256", "; ".join(f"{k} {v[:16]}" for k, v in {**prov.get("file_sha256", {}),
                                                                   **run.summary.get("limit_files_sha256", {})}.items())
             or "-"),
            ("tests", ", ".join(f"{k} {v}" for k, v in run.summary.get("counts", {}).items())
             + (" (run interrupted)" if run.summary.get("interrupted") else "")),
            ("time", f"{run.summary.get('virtual_time_s')} virtual s, {run.summary.get('wall_time_s')} wall s")]
    bad = [{"test": record.name, "requirement": row.requirement, "verdict": RowVerdict.of(record.outcome),
            "m": m, "value": m.value_text() if m else "", "limit": m.limits_text() if m else "",
            "margin": margin_text(m) if m else "", "evidence": record.evidence, "message": record.message[:600]}
           for row, record in bad_results(rows) for m in [record.deciding()]]
    sections = []
    for document in dict.fromkeys(r.document for r in rows):
        items = []
        for row in (r for r in rows if r.document == document):
            by_id = {r.nodeid: r for r in row.results}
            tests = [{"name": test_label(t), "verdict": RowVerdict.of(by_id[t["nodeid"]].outcome)
                      if t.get("nodeid") in by_id else RowVerdict.NOT_RUN} for t in row.tests]
            items.append({"requirement": row.requirement, "text": row.text, "context": row.context, "reason": row.reason,
                          "uncovered": row.uncovered,
                          "verdict": row.verdict, "tests": tests, "key": row.key,
                          "value": row.key.measurement.value_text() if row.key else "",
                          "limit": row.key.measurement.limits_text() if row.key else "",
                          "margin": margin_text(row.key.measurement) if row.key else ""})
        sections.append({"document": document, "rows": items})
    sources = [{"key": k, **run.sources[k]} for k in cited_keys(rows) if k in run.sources]
    title = f"Certification pre-check: {prov.get('profile', '?')}" + (" (interrupted)" if run.summary.get("interrupted") else "")
    return render("matrix.html.j2",
        title=title, style=_STYLE, virtual=bool(prov.get("virtual_lab")), interrupted=bool(run.summary.get("interrupted")),
        folder=str(run.folder), meta=meta, chips=[(v, counts[v]) for v in VERDICT_ORDER if counts[v]], bad=bad,
        trend=trend_html, sections=sections, sources=sources)

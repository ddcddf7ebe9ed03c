"""Waveform plots a person reads faster than a table: CP level, PWM and contactor around an event."""

from __future__ import annotations

import io
from typing import Any

from core.types import Channel

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


Verdict = tuple[str, bool]
"""(caption, passed) stamped on a plot: what was judged, its value against its limit."""


MARGINS_IN = {"left": 0.85, "right": 0.2, "bottom": 0.5, "top": 0.4}
"""Fixed margins in inches, room for tick labels, an axis label and a title: laying out by measuring
every text (`tight_layout`) cost 40 % of a plot, and a run draws hundreds on its critical path."""


def _layout(fig: Any) -> None:
    width, height = fig.get_size_inches()
    m = MARGINS_IN
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, bottom=m["bottom"] / height,
                        top=1 - m["top"] / height, hspace=0.3, wspace=0.28)


def _png(fig: Any, verdict: Verdict | None = None, measured_layout: bool = False) -> bytes:
    """Lay out, stamp the verdict, render at report resolution, and free the figure (a long run
    draws hundreds).  `measured_layout`: fit to the texts (a grid of many small panels)."""
    if measured_layout:
        fig.tight_layout()
    else:
        _layout(fig)
    if verdict is not None:
        caption, passed = verdict
        fig.subplots_adjust(top=min(fig.subplotpars.top, 0.86))
        fig.text(0.99, 0.995, ("PASS: " if passed else "FAIL: ") + caption, ha="right", va="top", fontsize=8,
                 fontweight="bold", color="#0b5d1e" if passed else "#8a1111",
                 bbox={"facecolor": "#d4f4dd" if passed else "#fbd5d5", "edgecolor": "none", "pad": 3})
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _steps(edges: list[Any], channel: str, t0: float, t1: float, initial: float) -> tuple[list[float], list[float]]:
    ts, vs = [t0], [initial]
    for e in edges:
        if e.channel == channel and t0 <= e.t_s <= t1:
            ts.append(e.t_s)
            vs.append(float(e.value))
    ts.append(t1)
    vs.append(vs[-1])
    return ts, vs


def _level_before(edges: list[Any], channel: str, t0: float, default: float) -> float:
    level = default
    for e in edges:
        if e.channel == channel and e.t_s < t0:
            level = float(e.value)
    return level


def timing_plot(trace: Any, title: str, verdict: Verdict | None = None) -> bytes:
    """PNG: CP high level (V) above, PWM and output voltage (contactor) below, markers and limit window."""
    # Zoom on what matters (markers and the limit window); levels before it come from earlier edges.
    times = list(trace.markers.values()) or [e.t_s for e in trace.edges] or [0.0]
    if trace.window:
        times += list(trace.window)
    span = max(max(times) - min(times), 0.05)
    t0, t1 = min(times) - 0.3 * span, max(times) + 0.3 * span
    duty_shown = any(e.channel == Channel.DUTY for e in trace.edges)
    rows = 3 if duty_shown else 2
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(8, 4.2 + 1.6 * (rows - 2)),
                             gridspec_kw={"height_ratios": [2, 1, 1][:rows]})
    ax_cp, ax_dig = axes[0], axes[1]
    ts, vs = _steps(trace.edges, Channel.CPH, t0, t1, _level_before(trace.edges, Channel.CPH, t0, 12.0))
    ax_cp.step([t - t0 for t in ts], vs, where="post", color="tab:blue", label="CP high level")
    ax_cp.set_ylabel("CP (V)")
    ax_cp.set_ylim(-13.5, 13.5)  # down to state F (-12 V)
    for channel, offset, color in ((Channel.PWM, 0.0, "tab:orange"), (Channel.OVP, 1.5, "tab:red")):
        ts, vs = _steps(trace.edges, channel, t0, t1, _level_before(trace.edges, channel, t0, 0.0))
        ax_dig.step([t - t0 for t in ts], [v + offset for v in vs], where="post", color=color,
                    label="PWM on" if channel == Channel.PWM else "output voltage (contactor closed)")
    ax_dig.set_yticks([0, 1, 1.5, 2.5], ["off", Channel.PWM, "open", "closed"])
    if duty_shown:
        ts, vs = _steps(trace.edges, Channel.DUTY, t0, t1, _level_before(trace.edges, Channel.DUTY, t0, 0.0))
        axes[2].step([t - t0 for t in ts], vs, where="post", color="tab:purple", label="PWM duty (offer)")
        axes[2].set_ylabel("duty (%)")
        axes[2].legend(loc="lower right", fontsize=7)
    axes[-1].set_xlabel(f"time since {t0:.3f} s (instrument timebase)")
    for k, (name, t) in enumerate(sorted(trace.markers.items(), key=lambda kv: kv[1])):
        for ax in axes:
            ax.axvline(t - t0, color="grey", linestyle="--", linewidth=0.8)
        ax_cp.annotate(f"{name} ({t:.3f} s)", (t - t0, 11.5 - 2.5 * k), fontsize=7, ha="left",
                       xytext=(3, 0), textcoords="offset points")
    if trace.window:
        for k, ax in enumerate(axes):
            ax.axvspan(trace.window[0] - t0, trace.window[1] - t0, color="tab:green", alpha=0.12,
                       label="allowed by the limit" if k == 0 else None)
    ax_cp.legend(loc="lower right", fontsize=7)
    ax_dig.legend(loc="best", fontsize=7)
    ax_cp.set_title(title, fontsize=9)
    return _png(fig, verdict)


def series_plot(series: Any, title: str, verdict: Verdict | None = None) -> bytes:
    """PNG: one step panel per column (shared time axis), limit bands shaded, markers as lines."""
    columns = [(name, points) for name, points in series.columns.items() if points]
    if getattr(series, "overlay", False):
        return _overlay_plot(series, columns, title, verdict)
    rows = max(1, len(columns))
    fig, axes = plt.subplots(rows, 1, sharex=True, figsize=(8, 1.2 + 1.9 * rows), squeeze=False)
    times = [t for _, points in columns for t, _ in points] + list(series.markers.values())
    t0 = min(times) if times else 0.0
    for ax, (name, points) in zip(axes[:, 0], columns):
        ax.step([t - t0 for t, _ in points], [v for _, v in points], where="post", color="tab:blue")
        ax.set_ylabel(name, fontsize=8)
        low, high = series.bands.get(name, (None, None))
        if low is not None or high is not None:
            ax.axhspan(low if low is not None else ax.get_ylim()[0], high if high is not None else ax.get_ylim()[1],
                       color="tab:green", alpha=0.12, label="limits")
            ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
    for k, (name, t) in enumerate(sorted(series.markers.items(), key=lambda kv: kv[1])):
        for ax in axes[:, 0]:
            ax.axvline(t - t0, color="tab:red", linestyle="--", linewidth=0.8)
        axes[0, 0].annotate(f"{name} ({t:.3f} s)", (t - t0, 1.0 - 0.12 * (k % 6)), xycoords=("data", "axes fraction"),
                            fontsize=7, ha="left", va="top", xytext=(3, 0), textcoords="offset points")
    axes[-1, 0].set_xlabel(f"time since {t0:.3f} s (instrument timebase)")
    axes[0, 0].set_title(title, fontsize=9)
    return _png(fig, verdict)


def _overlay_plot(series: Any, columns: list[tuple[str, list[tuple[float, float]]]], title: str,
                  verdict: Verdict | None = None) -> bytes:
    """PNG: every column in one panel, each band edge as a dashed limit line, markers as lines."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    times = [t for _, points in columns for t, _ in points] + list(series.markers.values())
    t0 = min(times) if times else 0.0
    for name, points in columns:
        ax.step([t - t0 for t, _ in points], [v for _, v in points], where="post", label=name, linewidth=1.2)
    for name, (low, high) in series.bands.items():
        for edge in (low, high):
            if edge is not None:
                ax.axhline(edge, color="tab:red", linestyle="--", linewidth=1.2, label=f"{name}: {edge:g}")
    for k, (name, t) in enumerate(sorted(series.markers.items(), key=lambda kv: kv[1])):
        ax.axvline(t - t0, color="grey", linestyle=":", linewidth=0.8)
        ax.annotate(name, (t - t0, 1.0 - 0.06 * (k % 8)), xycoords=("data", "axes fraction"), fontsize=7,
                    ha="left", va="top", xytext=(3, 0), textcoords="offset points")
    ax.set_xlabel(f"time since {t0:.3f} s (instrument timebase)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    return _png(fig, verdict)


def distribution_plot(dist: Any, title: str, verdict: Verdict | None = None) -> bytes:
    """PNG: histogram (left) and empirical CDF (right), each against the uniform reference when given."""
    xs = sorted(dist.samples)
    fig, (ax_hist, ax_cdf) = plt.subplots(1, 2, figsize=(9, 3.4))
    low, high = dist.reference if dist.reference else (xs[0], xs[-1]) if xs else (0.0, 1.0)
    bins = max(5, min(30, round(len(xs) ** 0.5)))
    ax_hist.hist(xs, bins=bins, range=(low, high) if high > low else None, color="tab:blue", alpha=0.8,
                 edgecolor="white")
    if dist.reference and xs:
        ax_hist.axhline(len(xs) / bins, color="tab:red", linestyle="--", linewidth=1, label="uniform")
        ax_hist.legend(fontsize=7)
    ax_hist.set_xlabel(f"{dist.name} ({dist.unit})", fontsize=8)
    ax_hist.set_ylabel("trials", fontsize=8)
    if xs:
        ax_cdf.step(xs, [(k + 1) / len(xs) for k in range(len(xs))], where="post", color="tab:blue",
                    label=f"empirical ({len(xs)} trials)")
    if dist.reference:
        ax_cdf.plot([low, high], [0.0, 1.0], color="tab:red", linestyle="--", linewidth=1, label="uniform")
    ax_cdf.set_xlabel(f"{dist.name} ({dist.unit})", fontsize=8)
    ax_cdf.set_ylabel("fraction of trials", fontsize=8)
    ax_cdf.legend(fontsize=7, loc="lower right")
    for ax in (ax_hist, ax_cdf):
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return _png(fig, verdict)


def fleet_plot(curves: Any, title: str) -> bytes:
    """PNG: the feeder's current after the mains returns, one line per fleet variant."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for curve in curves:
        ax.step([t for t, _ in curve.points], [a for _, a in curve.points], where="post", label=curve.label)
    ax.set_xlabel("time since the mains returned (s)", fontsize=8)
    ax.set_ylabel("feeder current on L1 (A)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=9)
    return _png(fig)


def led_strip(strip: Any, title: str, verdict: Verdict | None = None) -> bytes:
    """PNG: one row per segment, its colour over time (as the eye sees it), the classifier's
    reading written beside each row."""
    import numpy as np

    samples = strip.samples
    times = [t for t, _ in samples]
    rows = np.array([[seg for seg in rgb] for _, rgb in samples], dtype=float).transpose(1, 0, 2)  # (seg, n, 3)
    peak = max(float(rows.max()), 1e-6)
    image = np.power(np.clip(rows / peak, 0.0, 1.0), 1 / 2.2)
    fig, ax = plt.subplots(figsize=(9, 2.4))
    t0 = times[0] if times else 0.0
    ax.imshow(image, aspect="auto", interpolation="nearest",
              extent=(0.0, (times[-1] - t0) if times else 1.0, len(rows) - 0.5, -0.5))
    ax.set_yticks(range(len(rows)), [f"S{k + 1}" for k in range(len(rows))], fontsize=8)
    for k, state in enumerate(strip.states):
        ax.annotate(state, (1.01, k), xycoords=("axes fraction", "data"), fontsize=7, va="center")
    ax.set_xlabel(f"time since {t0:.3f} s (sensor timebase)", fontsize=8)
    ax.set_title(title, fontsize=9)
    return _png(fig, verdict)


def sound_plot(sound: Any, title: str, verdict: Verdict | None = None) -> bytes:
    """PNG: the recording's level over time (dB re full scale, 10 ms frames), the beeps the
    classifier found shaded, what it heard written on top."""
    import numpy as np

    samples = np.asarray(sound.samples, dtype=float)
    frame = max(1, int(sound.rate * 0.010))
    n = samples.size // frame
    rms = np.sqrt(np.mean(samples[:n * frame].reshape(n, frame) ** 2, axis=1)) if n else np.zeros(1)
    level = 20 * np.log10(np.maximum(rms, 1e-6))
    fig, ax = plt.subplots(figsize=(9, 2.4))
    ax.plot(np.arange(level.size) * frame / sound.rate, level, lw=0.8, color="#333333")
    for onset, length in sound.beeps:
        ax.axvspan(onset, onset + length, color="#f2b134", alpha=0.4)
    ax.set_ylabel("level (dBFS)", fontsize=8)
    ax.set_xlabel("time since the recording started (s)", fontsize=8)
    ax.set_title(f"{title}: heard {sound.heard}", fontsize=9)
    return _png(fig, verdict)


def trend_plot(lines: Any, family: str, labels: list[str], limit: int = 24) -> bytes:
    """PNG: one small panel per judged measurement of a family, its value run after run with the
    latest limits dashed; failing runs red; random-by-design quantities say so in their title."""
    shown = lines[:limit]
    cols = 3
    rows = max(1, (len(shown) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 1.9 * rows + 0.6), squeeze=False)
    xs = list(range(len(labels)))
    for ax, line in zip(axes.flat, shown):
        pts = [(x, v) for x, v in zip(xs, line.values) if v is not None]
        ax.plot([x for x, _ in pts], [v for _, v in pts], marker="o", markersize=3, color="tab:blue", linewidth=1)
        bad = [(x, v) for x, v, verdict in zip(xs, line.values, line.verdicts) if v is not None and verdict == "fail"]
        if bad:
            ax.scatter([x for x, _ in bad], [v for _, v in bad], color="tab:red", zorder=3, s=18, label="fail")
        for edge in (line.low, line.high):
            if edge is not None:
                ax.axhline(edge, color="tab:red", linestyle="--", linewidth=0.9)
        name = f"{line.test}: {line.measurement}"
        ax.set_title((name[:58] + "…" if len(name) > 60 else name) + (" (random by design)" if line.random else ""),
                     fontsize=6.5)
        ax.set_ylabel(line.unit or "-", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xticks(xs, [str(k + 1) for k in xs])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle(f"{family}: value per run (1 = oldest; limits dashed)"
                 + (f"; first {limit} of {len(lines)}" if len(lines) > limit else ""), fontsize=9)
    return _png(fig, measured_layout=True)


def timeline_plot(rows: list[dict[str, Any]], marks: dict[str, float], title: str, t0_s: float = 0.0) -> bytes:
    """A scenario's record on one time axis (seconds from its start): the CP (its high level and the
    offer a vehicle reads from the duty), the contactor, the phase currents, the grid connection and
    PV where the scenario set a building, and the LED bar; each named step a dashed line."""
    sampled = [r for r in rows if not str(r["event"]).startswith(("edge ", "beep "))]
    t = [r["t_s"] - t0_s for r in sampled]

    def column(name: str) -> list[float]:
        return [float(r[name]) if isinstance(r[name], (int, float)) else float("nan") for r in sampled]

    building = any(isinstance(r["grid_w"], (int, float)) for r in sampled)
    leds = sorted({r["led"] for r in sampled if r["led"]})
    panels = 3 + building + bool(leds)
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.2 * panels), sharex=True)
    cp, contactor, currents = axes[:3]
    cp.step(t, column("cp_high_v"), where="post", label="CP high level (V)")
    cp.step(t, column("offer_a"), where="post", label="offer read from the duty (A)")
    contactor.step(t, [1.0 if r["contactor"] == "closed" else 0.0 for r in sampled], where="post", color="#8a1111")
    contactor.set_yticks([0, 1], ["open", "closed"])
    for k in range(3):
        currents.step(t, column(f"l{k + 1}_a"), where="post", label=f"L{k + 1} (A)")
    if building:
        grid = axes[3]
        grid.step(t, [x / 1000 for x in column("grid_w")], where="post", label="grid import (kW; export < 0)")
        grid.step(t, [x / 1000 for x in column("pv_w")], where="post", label="PV (kW)")
        grid.axhline(0.0, color="#999", linewidth=0.6)
        grid.legend(fontsize=7, loc="upper right")
    if leds:
        bar = axes[-1]
        bar.step(t, [leds.index(r["led"]) if r["led"] else float("nan") for r in sampled], where="post",
                 color="#6b4100")
        bar.set_yticks(range(len(leds)), [x[:28] for x in leds], fontsize=6)
        bar.set_ylabel("LED bar")
    for ax in axes:
        for note, at in marks.items():
            ax.axvline(at - t0_s, color="#555", linestyle="--", linewidth=0.8)
        ax.grid(alpha=0.3)
    for note, at in marks.items():
        cp.annotate(note, (at - t0_s, 1.0), xycoords=("data", "axes fraction"), fontsize=7, rotation=90, va="top",
                    ha="right")
    cp.legend(fontsize=7, loc="upper right")
    currents.legend(fontsize=7, loc="upper right")
    contactor.set_ylabel("contactor")
    axes[-1].set_xlabel("seconds from the scenario's start (CP emulator time)")
    cp.set_title(title, fontsize=9)
    return _png(fig)

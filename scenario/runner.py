"""Play a scenario on the rig clock and record everything on the CP emulator's timebase.

The rig energises the DUT, waits for A1, then applies each step at its `at_s` and samples the state
every `sample_s` between steps: the CP (level, PWM, duty and the offer a vehicle reads from it), the
contactor, the analyser's phase currents and the backend's last status.  A row is kept whenever
something changed, and every edge the CP emulator captured (its own switching, PWM, duty, the
contactor) is merged in by its stamp: the record's times are the instrument's, never the host's.
Expectations are judged from that record afterwards: a contactor from its edges, a CP state or an
offer from the sampled rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from conformance.limits import LIMITS, decoded_current_a
from core.errors import RigError
from core.types import Channel, Edge
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle
from scenario.spec import CARD_TAP_S, Action, Expect, Scenario

COLUMNS = ("t_s", "event", "cp_state", "cp_high_v", "pwm", "duty_pct", "offer_a", "contactor", "l1_a", "l2_a",
           "l3_a", "ocpp_status")
"""The columns of `timeline.csv`, in order."""


@dataclass
class ExpectResult:
    """What came of one expectation: met at `t_s` (rig time), `delay_s` after its step, or not."""

    expect: Expect
    met: bool
    t_s: float | None
    delay_s: float | None

    def line(self) -> str:
        if self.met and self.delay_s is not None:
            return f"met: {self.expect.describe()} (after {self.delay_s:.3f} s)"
        return f"NOT MET: {self.expect.describe()}"


@dataclass
class Record:
    """The scenario's record: rows (one per change), the step instants by note, what each expectation came to."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    """Step note → the CP emulator's time at which the step was applied."""
    edges: list[Edge] = field(default_factory=list)
    results: list[ExpectResult] = field(default_factory=list)


def cp_state_of(high_v: float, low_v: float) -> str:
    """The EVSE-side CP state from its levels, by IEC 61851-1's bands (limits data); "" between them."""
    lim = LIMITS.iec61851
    if lim.state_f_level.low <= low_v <= lim.state_f_level.high and high_v <= lim.state_f_level.high:
        return "F"
    for letter, band in (("A", lim.state_a_level), ("B", lim.state_b_level), ("C", lim.state_c_level)):
        if band.low <= high_v <= band.high:
            return letter
    return ""


BACKEND_WAIT_S = 300.0
"""How long a `backend` step waits for the DUT to be connected (it dials its backend after booting)."""


def apply(rig: Rig, action: Action) -> str:
    """One action on its role; returns what the record should say of it beyond the action itself."""
    name, v = action.name, action.value
    if name == "vehicle":
        rig.cp.set_state(v)
    elif name == "diode":
        rig.cp.set_diode(v)
    elif name == "pe":
        rig.cp.set_pe(v)
    elif name == "draw_a":
        rig.load.set_current(v)
        rig.load.set_on(v > 0)
    elif name in ("residual_ac_ma", "residual_dc_ma"):
        rig.fault_box.set_residual_ma(name.split("_")[1], v)
    elif name == "weld":
        rig.fault_box.set_weld([] if v == "none" else [int(v[1])])
    elif name == "supply_pe":
        rig.fault_box.set_pe_open(not v)
    elif name == "ambient_c":   # a climate chamber where the bench has one, else the board's sensor override
        rig.fault_box.set_temperature("chamber" if "chamber" in rig.fault_box.temperature_modes else "sensor", v)
    elif name == "supply":
        rig.source.set_output(v)
        rig.energised = v
    elif name == "supply_v":
        rig.source.set_voltage(v)
    elif name == "supply_hz":
        rig.source.set_frequency(v)
    elif name == "dip_ms":
        rig.source.dropout(v / 1000.0)
    elif name == "card":
        deck = rig.card.deck
        card = deck.setup if v == "setup" else deck.foreign if v == "foreign" else \
            (deck.cards[int(v[4:]) - 1] if int(v[4:]) <= len(deck.cards) else None)
        if card is None:
            raise RigError(f"scenario step: card {v!r}: the rig file's [instruments.card] names no such card")
        rig.card.present(card)
        rig.clock.sleep(CARD_TAP_S)
        rig.card.withdraw()
        return f"{card.label} {card.id_tag}"
    elif name == "button_s":
        rig.button.press_down()
        rig.clock.sleep(v)
        rig.button.release()
    elif name == "backend":
        action_name, payload = v
        if not rig.clock.wait_until(rig.backend.connected, BACKEND_WAIT_S, poll_s=1.0):
            raise RigError(f"scenario step: {action_name}: the DUT did not connect to the backend within "
                           f"{BACKEND_WAIT_S:g} s")
        return f"answer {json.dumps(rig.backend.call(action_name, payload), separators=(',', ':'))}"
    else:   # the spec's ACTIONS and this function change together
        raise RigError(f"scenario action {name!r} has no implementation")
    return ""


def describe(action: Action) -> str:
    if action.name == "backend":
        name, payload = action.value
        return f"backend {name} {json.dumps(payload, separators=(',', ':'))}"
    return f"{action.name} = {action.value}"


def sample(rig: Rig) -> dict[str, Any]:
    """The state now, stamped by the CP emulator."""
    m = rig.cp.measure_cp()
    pwm = m.frequency_hz > 0
    row: dict[str, Any] = {"t_s": m.t_s, "event": "", "cp_state": cp_state_of(m.high_v, m.low_v),
                           "cp_high_v": round(m.high_v, 1), "pwm": int(pwm),
                           "duty_pct": round(m.duty_pct, 1) if pwm else "",
                           "offer_a": round(decoded_current_a(m.duty_pct), 1) if pwm else 0.0,
                           "contactor": "closed" if rig.cp.output_present().value == 1 else "open",
                           "l1_a": "", "l2_a": "", "l3_a": "", "ocpp_status": ""}
    if rig.has("analyser"):
        phases = rig.analyser.read().phases
        for k, p in enumerate(phases[:3]):
            row[f"l{k + 1}_a"] = round(p.i_a, 2)
    if rig.has("backend"):
        statuses = rig.backend.statuses()
        row["ocpp_status"] = statuses[-1].status if statuses else ""
    return row


TOLERANCE = {"cp_high_v": 0.3, "duty_pct": 0.3, "offer_a": 0.05, "l1_a": 0.5, "l2_a": 0.5, "l3_a": 0.5}
"""A sampled number moves the record only beyond this (the CP board's own edge thresholds for the level
and the duty, docs/protocols/cp-emulator.md; half an ampere for the currents): noise makes no rows."""


def _changed(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for k in COLUMNS[2:]:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float):
            if abs(x - y) > TOLERANCE.get(k, 0.0):
                return True
        elif x != y:
            return True
    return False


def play(rig: Rig, scenario: Scenario, progress: Any = None) -> Record:
    """Energise, wait for A1, play the steps, record; the rig's close does the safe state."""
    lacking = sorted(r for r in scenario.roles() if not rig.has(r))
    if lacking:
        raise RigError(f"{scenario.path}: the scenario needs {', '.join(lacking)}, which this rig has not")
    record = Record()
    rig.energise()
    if not rig.clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.25):
        raise RigError(f"the DUT did not reach state A1 within {READY_TIMEOUT_S:.0f} s of power-on")
    rig.cp.start_capture()
    start = rig.clock.now()
    steps = list(scenario.steps)
    last: dict[str, Any] | None = None
    next_sample = 0.0
    while True:
        elapsed = rig.clock.now() - start
        while steps and steps[0].at_s <= elapsed + 1e-9:
            step = steps.pop(0)
            t = rig.cp.time()   # the step's instant: before its actions (a card tap or a button press holds)
            said = [apply(rig, action) for action in step.actions]
            if step.note:
                record.marks[step.note] = t
            text = "; ".join(describe(a) + (f" -> {x}" if x else "") for a, x in zip(step.actions, said))
            record.rows.append({**(last or sample(rig)), "t_s": t,
                                "event": " | ".join(x for x in (step.note, text) if x)})
            if progress is not None:
                progress(f"{step.at_s:8.1f} s  {record.rows[-1]['event']}")
        if elapsed >= next_sample - 1e-9:
            now = sample(rig)
            if last is None or _changed(now, last):
                record.rows.append(now)
            last = now
            next_sample += scenario.sample_s
        if elapsed >= scenario.duration_s - 1e-9:
            break
        wake = min([next_sample, scenario.duration_s] + ([steps[0].at_s] if steps else []))
        rig.clock.sleep(max(wake - elapsed, 1e-6))
    record.edges = rig.cp.read_edges()
    for edge in record.edges:
        record.rows.append({**{k: "" for k in COLUMNS}, "t_s": edge.t_s, "event": f"edge {edge.channel} {edge.value}"})
    record.rows.sort(key=lambda r: r["t_s"])
    record.results = [judge(e, record) for e in scenario.expects]
    return record


def judge(expect: Expect, record: Record) -> ExpectResult:
    """Did what `expect` asks come within its window after its step?  A contactor from the edges the CP
    emulator stamped (the state at the step counts too); a CP state or an offer from the sampled rows."""
    t0 = record.marks[expect.after]
    end = t0 + expect.within_s
    if expect.what == "contactor":
        closed = expect.value == "closed"
        before = [e for e in record.edges if e.channel == Channel.OVP and e.t_s <= t0]
        if (before[-1].value == "1") == closed if before else not closed:
            return ExpectResult(expect, True, t0, 0.0)
        hit = next((e for e in record.edges if e.channel == Channel.OVP and t0 < e.t_s <= end
                    and (e.value == "1") == closed), None)
        return ExpectResult(expect, hit is not None, hit.t_s if hit else None, hit.t_s - t0 if hit else None)
    for row in record.rows:
        if not (t0 <= row["t_s"] <= end) or row["event"].startswith("edge "):
            continue
        if expect.what == "cp_state" and row["cp_state"] == expect.value:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
        if expect.what == "ocpp_status" and row["ocpp_status"] == expect.value:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
        if expect.what == "offer_a" and isinstance(row["offer_a"], float) \
                and expect.value[0] <= row["offer_a"] <= expect.value[1]:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
    return ExpectResult(expect, False, None, None)


def row_text(row: dict[str, Any], column: str) -> str:
    """A cell as the record shows it: times to the microsecond, other numbers to six digits."""
    v = row[column]
    if column == "t_s":
        return f"{v:.6f}"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else ""
    return str(v)


def csv_text(record: Record) -> str:
    """timeline.csv: RFC 4180 quoting (an event may hold commas and quotes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in record.rows:
        writer.writerow([row_text(r, c) for c in COLUMNS])
    return buf.getvalue()

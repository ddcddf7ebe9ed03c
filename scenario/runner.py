"""Play a scenario on the rig clock and record everything on the CP emulator's timebase.

The rig energises the DUT, waits for A1, then applies each step at its `at_s` and samples the state
every `sample_s` between steps: the CP (level, PWM, duty and the offer a vehicle reads from it), the
contactor, the analyser's phase currents, the building at the grid connection (what the meter
emulator serves: the DUT's draw plus household minus PV), the LED bar (classified over the rig's LED
observation window, from a sensor recording that runs through every wait) and the backend's last
status.  A row is kept whenever something changed, and every edge the CP emulator captured (its own
switching, PWM, duty, the contactor) is merged in by its stamp; beeps the microphone heard are rows
too.  The record's times are the instruments', never the host's; `t_s` in the files counts from the
scenario's start.  Expectations are judged from that record afterwards: a contactor from its edges, a
beep from the recording of its window, the rest from the sampled rows.

On a bench the LED sensor and the microphone stamp with their own clocks; the virtual lab's share the
world's time.  A bench whose sensors keep another timebase shows their rows offset (docs/scenarios.md).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from conformance.grid import MIN_LINE_V, configure_energy, grid_state
from conformance.limits import LIMITS, decoded_current_a
from conformance.session import cable_rating_a, configured_current_a
from core.errors import RigError
from core.types import Channel, Edge
from instruments.buzzer import MAX_RECORDING_S, Clip
from instruments.buzzer.classifier import classify as classify_beeps
from instruments.led import LedSample
from instruments.led.classifier import SegmentState
from instruments.led.classifier import classify as classify_led
from rig.rig import READY_TIMEOUT_S, Rig, dut_idle
from scenario.spec import CARD_TAP_S, Action, Expect, Scenario

COLUMNS = ("t_s", "event", "cp_state", "cp_high_v", "pwm", "duty_pct", "offer_a", "contactor", "l1_a", "l2_a",
           "l3_a", "grid_w", "pv_w", "led", "ocpp_status")
"""The columns of `timeline.csv`, in order (`utc` follows when the record is anchored with `--at`)."""

BEEP_CHUNK_S = MAX_RECORDING_S / 2
"""The microphone records in pieces this long (a recording is at most `MAX_RECORDING_S`)."""


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
    t0_s: float = 0.0
    """The CP emulator's time at the scenario's start: `t_s` in the files counts from here."""
    led: list[LedSample] = field(default_factory=list)
    clips: list[Clip] = field(default_factory=list)


@dataclass
class Site:
    """What the scenario has set of the world around the DUT: the building and the vehicle's wish."""

    pv_w: float = 0.0
    household_w: float = 0.0
    building: bool = False
    """True once a step set PV or household: from then on the meter emulator follows the building."""
    follow_offer: bool = False
    draw_a: float = 0.0


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


def apply(rig: Rig, action: Action, site: Site) -> str:
    """One action on its role; returns what the record should say of it beyond the action itself."""
    name, v = action.name, action.value
    if name == "draw_a":
        site.follow_offer = v == "offer"
        if not site.follow_offer:
            _draw(rig, site, v)
        return ""
    if name in ("pv_w", "household_w"):
        setattr(site, name, v)
        site.building = True
        return ""
    if name == "energy":
        entered = configure_energy(rig, v)
        return f"meter {entered['model']} id {entered['id']}"
    if name == "access_control":
        rig.installer.set_access_control(v)
        return ""
    if name == "dimming":
        rig.fault_box.set_grid_contact(v, False)
        return ""
    if name == "vehicle":
        rig.cp.set_state(v)
    elif name == "diode":
        rig.cp.set_diode(v)
    elif name == "pe":
        rig.cp.set_pe(v)
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


def _draw(rig: Rig, site: Site, amps: float) -> None:
    if amps != site.draw_a:
        rig.load.set_current(amps)
        rig.load.set_on(amps > 0)
        site.draw_a = amps


def describe(action: Action) -> str:
    if action.name == "backend":
        name, payload = action.value
        return f"backend {name} {json.dumps(payload, separators=(',', ':'))}"
    if action.name == "supply":
        return f"supply = {'on' if action.value else 'off'}"
    return f"{action.name} = {action.value}"


def sample(rig: Rig, site: Site, record: Record) -> dict[str, Any]:
    """The state now, stamped by the CP emulator; the vehicle and the building follow it."""
    m = rig.cp.measure_cp()
    pwm = m.frequency_hz > 0
    offer = round(decoded_current_a(m.duty_pct), 1) if pwm else 0.0
    row: dict[str, Any] = {"t_s": m.t_s, "event": "", "cp_state": cp_state_of(m.high_v, m.low_v),
                           "cp_high_v": round(m.high_v, 1), "pwm": int(pwm),
                           "duty_pct": round(m.duty_pct, 1) if pwm else "", "offer_a": offer,
                           "contactor": "closed" if rig.cp.output_present().value == 1 else "open",
                           "l1_a": "", "l2_a": "", "l3_a": "", "grid_w": "", "pv_w": "", "led": "",
                           "ocpp_status": ""}
    if site.follow_offer:   # a car draws what it reads from the duty, up to what it and the cable can take
        wish = min(configured_current_a(rig), cable_rating_a(rig.profile))
        _draw(rig, site, min(offer, wish) if offer >= LIMITS.iec61851.min_offered_current.low else 0.0)
    if rig.has("analyser"):
        analysed = rig.analyser.read()
        phases = list(analysed.phases)[:3]
        for k, p in enumerate(phases):
            row[f"l{k + 1}_a"] = round(p.i_a, 2)
        if site.building:
            nominal = LIMITS.rig.nominal_supply_voltage.value
            u = [p.u_v if p.u_v > MIN_LINE_V else nominal for p in phases] + [nominal] * (3 - len(phases))
            ev = [p.i_a for p in phases] + [0.0] * (3 - len(phases))
            others = [(site.household_w - site.pv_w) / 3 / u[k] for k in range(3)]
            state = grid_state(u, ev, others)
            rig.meter.update(state, analysed.t_s)
            row["grid_w"], row["pv_w"] = round(sum(state.p_w), 0), site.pv_w
    if record.led:
        states = steady_led(record.led)
        if states is not None:
            row["_led"], row["led"] = states, led_text(states)
    if rig.has("backend"):
        statuses = rig.backend.statuses()
        row["ocpp_status"] = statuses[-1].status if statuses else ""
    return row


def steady_led(samples: list[LedSample]) -> list[SegmentState] | None:
    """The bar over the rig's LED observation window up to the newest sample, or None while that
    window straddles a change: a window holding blue breathing and then red solid classifies as
    neither, so the window's halves must each show what the whole does (each half still holds two
    periods of a 2 s pattern, which the classifier needs)."""
    window = LIMITS.rig.led_observation.value
    end = samples[-1].t_s
    if end - samples[0].t_s < window * 0.99:   # not yet a whole window recorded
        return None
    recent = [x for x in samples if x.t_s > end - window]
    middle = end - window / 2
    whole = classify_led(recent)
    halves = (classify_led([x for x in recent if x.t_s <= middle]), classify_led([x for x in recent if x.t_s > middle]))
    words = led_text(whole)
    return whole if all(led_text(h) == words for h in halves) else None


def led_text(states: list[SegmentState]) -> str:
    """The bar in a few words: one state for all segments when they agree (a sweep is one state)."""
    words = ["off" if s.pattern == "off" else f"{s.colour} {s.pattern}" for s in states]
    if len(set(words)) == 1:
        return f"all {words[0]}"
    return ", ".join(f"{s.segment} {w}" for s, w in zip(states, words))


TOLERANCE = {"cp_high_v": 0.3, "duty_pct": 0.3, "offer_a": 0.05, "l1_a": 0.5, "l2_a": 0.5, "l3_a": 0.5,
             "grid_w": 100.0}
"""A sampled number moves the record only beyond this (the CP board's own edge thresholds for the level
and the duty, docs/protocols/cp-emulator.md; half an ampere for the currents, 100 W at the grid): noise makes
no rows."""


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
    record, site = Record(), Site()
    listening = rig.has("buzzer") and any(e.what == "beep" for e in scenario.expects)
    rig.energise()
    if not rig.clock.wait_until(lambda: dut_idle(rig), READY_TIMEOUT_S, poll_s=0.25):
        raise RigError(f"the DUT did not reach state A1 within {READY_TIMEOUT_S:.0f} s of power-on")
    rig.cp.start_capture()
    start = rig.clock.now()
    record.t0_s = rig.cp.time()
    steps = list(scenario.steps)
    last: dict[str, Any] | None = None
    next_sample = 0.0
    chunk_start = start
    if listening:
        rig.buzzer.start()
    while True:
        elapsed = rig.clock.now() - start
        while steps and steps[0].at_s <= elapsed + 1e-9:
            step = steps.pop(0)
            t = rig.cp.time()   # the step's instant: before its actions (a card tap or a button press holds)
            said = [apply(rig, action, site) for action in step.actions]
            if step.note:
                record.marks[step.note] = t
            text = "; ".join(describe(a) + (f" -> {x}" if x else "") for a, x in zip(step.actions, said))
            record.rows.append({**(last or sample(rig, site, record)), "t_s": t,
                                "event": " | ".join(x for x in (step.note, text) if x)})
            if progress is not None:
                progress(f"{step.at_s:8.1f} s  {record.rows[-1]['event']}")
        if elapsed >= next_sample - 1e-9:
            now = sample(rig, site, record)
            if last is None or _changed(now, last):
                record.rows.append(now)
            last = now
            next_sample += scenario.sample_s
        if elapsed >= scenario.duration_s - 1e-9:
            record.rows.append({**sample(rig, site, record), "event": "end of the scenario"})
            break
        wake = min([next_sample, scenario.duration_s] + ([steps[0].at_s] if steps else []))
        wait = max(wake - elapsed, 1e-6)
        if rig.has("led"):   # the bar is watched through every wait: the record has no gaps
            record.led += rig.led.record(wait, LIMITS.rig.led_sample_rate.value, rig.clock)
        else:
            rig.clock.sleep(wait)
        if listening and rig.clock.now() - chunk_start >= BEEP_CHUNK_S:
            record.clips.append(rig.buzzer.stop())
            rig.buzzer.start()
            chunk_start = rig.clock.now()
    if listening:
        record.clips.append(rig.buzzer.stop())
    record.edges = rig.cp.read_edges()
    for edge in record.edges:
        record.rows.append({**{k: "" for k in COLUMNS}, "t_s": edge.t_s, "event": f"edge {edge.channel} {edge.value}"})
    for clip in record.clips:
        for onset, length in classify_beeps(clip.samples, clip.rate).beeps:
            record.rows.append({**{k: "" for k in COLUMNS}, "t_s": _clip_t0(clip) + onset,
                                "event": f"beep {length:.2f} s"})
    record.rows.sort(key=lambda r: r["t_s"])
    record.results = [judge(e, record) for e in scenario.expects]
    return record


def _clip_t0(clip: Clip) -> float:
    if clip.t0_s is None:
        raise RigError("the buzzer's recordings carry no start time: a scenario cannot place its beeps "
                       "(use a microphone board that stamps its recordings, docs/protocols/audio.md)")
    return clip.t0_s


def heard_between(record: Record, a: float, b: float) -> str:
    """What a person at the wallbox heard from `a` to `b`: the recordings cut to that window, classified."""
    pieces, rate = [], None
    for clip in record.clips:
        t0 = _clip_t0(clip)
        i, j = (max(0, int(round((x - t0) * clip.rate))) for x in (a, b))
        if j > i and i < clip.samples.size:
            pieces.append(clip.samples[i:j])
            rate = clip.rate
    if not pieces or rate is None:
        return "none"
    return classify_beeps(np.concatenate(pieces), rate).pattern


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
    if expect.what == "beep":
        heard = heard_between(record, t0, end)
        return ExpectResult(expect, heard == expect.value, t0 if heard == expect.value else None,
                            0.0 if heard == expect.value else None)
    for row in record.rows:
        if not (t0 <= row["t_s"] <= end) or row["event"].startswith(("edge ", "beep ")):
            continue
        if expect.what == "led" and any(_shows(state, expect.value) for state in row.get("_led", ())):
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
        if expect.what == "cp_state" and row["cp_state"] == expect.value:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
        if expect.what == "ocpp_status" and row["ocpp_status"] == expect.value:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
        if expect.what == "offer_a" and isinstance(row["offer_a"], float) \
                and expect.value[0] <= row["offer_a"] <= expect.value[1]:
            return ExpectResult(expect, True, row["t_s"], row["t_s"] - t0)
    return ExpectResult(expect, False, None, None)


def _shows(state: SegmentState, asked: str) -> bool:
    """A segment shows what an `led` expectation asks: each word of it is its colour or its pattern."""
    return all(word in (state.colour, state.pattern) for word in asked.split())


def row_text(row: dict[str, Any], column: str, t0_s: float = 0.0, anchor: datetime | None = None) -> str:
    """A cell as the record shows it: times to the microsecond from the scenario's start (with `anchor`,
    `utc` is that instant on the field log's clock), other numbers to six digits."""
    if column == "utc":
        if anchor is None:
            return ""
        at = anchor + timedelta(seconds=row["t_s"] - t0_s)
        return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    v = row[column]
    if column == "t_s":
        return f"{v - t0_s:.6f}"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else ""
    return str(v)


def columns(anchor: datetime | None) -> tuple[str, ...]:
    return COLUMNS + (("utc",) if anchor is not None else ())


def csv_text(record: Record, anchor: datetime | None = None) -> str:
    """timeline.csv: RFC 4180 quoting (an event may hold commas and quotes)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns(anchor))
    for r in record.rows:
        writer.writerow([row_text(r, c, record.t0_s, anchor) for c in columns(anchor)])
    return buf.getvalue()

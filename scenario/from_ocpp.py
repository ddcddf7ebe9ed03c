"""`wallbox-rig scenario from-ocpp LOG`: a central system's OCPP 1.6J message log turned into a scenario
skeleton, for the developer to complete with what the log cannot know (PV, leakage, the vehicle's draw).

What a log tells, and the step it becomes:
- StatusNotification from the charge point: Preparing → the vehicle plugs in (B), Charging → it asks
  for power (C, drawing what is offered), SuspendedEV → it pauses (B), Available after an occupied
  status → it unplugs (A); Faulted becomes a step whose cause is left to fill
  in, and a commented expectation (`ocpp_status = "Faulted"` after the step before, its errorCode beside);
- Authorize and StartTransaction carry an idTag: a note, and a commented `card` to choose;
- a CALL the central system sent (SetChargingProfile, RemoteStart/StopTransaction, Reset,
  ChangeConfiguration, …) → a `backend` step with the same action and payload;
- BootNotification → a note (a reboot: whether the power failed, the log cannot say).

Accepted logs: JSON Lines or a JSON array of objects, each with a timestamp (`timestamp`, `time`,
`ts`; ISO 8601 or seconds since the epoch) and the OCPP-J frame (`message`, `frame`, `msg` or
`data`; the frame's list, or its JSON text); or text lines `<ISO 8601 timestamp> <frame JSON>`.
Frames are matched to their CALL by message id, so a CALLRESULT never becomes a step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import ConfigError

TIME_KEYS = ("timestamp", "time", "ts")
FRAME_KEYS = ("message", "frame", "msg", "data")
FROM_CENTRAL = {"SetChargingProfile", "ClearChargingProfile", "RemoteStartTransaction", "RemoteStopTransaction",
                "Reset", "ChangeConfiguration", "ChangeAvailability", "TriggerMessage", "UnlockConnector",
                "GetConfiguration", "ClearCache", "GetCompositeSchedule", "DataTransfer"}
"""Core and Smart Charging CALLs a central system sends (OCPP 1.6 §5); the rig's backend can send each."""
VEHICLE_BY_STATUS = {"Preparing": "B", "Charging": "C", "SuspendedEV": "B"}
OCCUPIED = {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Faulted"}
TAIL_S = 60.0
"""The scenario runs on this long after the log's last frame, to see what followed."""


@dataclass
class LogStep:
    at_s: float
    note: str
    lines: list[str] = field(default_factory=list)
    """The step's keys as TOML lines (comments included)."""


def _instant(value: Any, where: str, path: Path) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    raise ConfigError(path, where, "an ISO 8601 timestamp or seconds since the epoch", value)


def _frame(value: Any, where: str, path: Path) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(path, where, "an OCPP-J frame ([2, id, action, payload], [3, id, payload] or "
                              "[4, id, code, text, details])", value[:80]) from None
    if not isinstance(value, list) or not value or value[0] not in (2, 3, 4):
        raise ConfigError(path, where, "an OCPP-J frame ([2, id, action, payload], …)", str(value)[:80])
    return value


TEXT_LINE = re.compile(r"^\s*(\S+)\s+.*?(\[\s*[234]\s*,.*\])\s*$")


def read_log(path: Path) -> list[tuple[datetime, list[Any]]]:
    """Every frame of the log with its instant, oldest first."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(path, "", "a readable OCPP log", hint=str(exc)) from None
    entries: list[tuple[Any, str]] = []
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise ConfigError(path, "", "a JSON array of log entries", hint=str(exc)) from None
        entries = [(item, f"[{n}]") for n, item in enumerate(items)]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append((json.loads(line), f"line {n}"))
            except ValueError:
                m = TEXT_LINE.match(line)
                if m is None:
                    raise ConfigError(path, f"line {n}", "a JSON object or '<timestamp> <frame>'", line[:80]) from None
                entries.append(({"timestamp": m.group(1), "message": m.group(2)}, f"line {n}"))
    frames = []
    for item, where in entries:
        if not isinstance(item, dict):
            raise ConfigError(path, where, "a log entry (an object with a timestamp and a frame)", str(item)[:80])
        t_key = next((k for k in TIME_KEYS if k in item), None)
        f_key = next((k for k in FRAME_KEYS if k in item), None)
        if t_key is None or f_key is None:
            raise ConfigError(path, where, f"a timestamp ({', '.join(TIME_KEYS)}) and a frame ({', '.join(FRAME_KEYS)})",
                              ", ".join(item))
        frames.append((_instant(item[t_key], f"{where}.{t_key}", path), _frame(item[f_key], f"{where}.{f_key}", path)))
    if not frames:
        raise ConfigError(path, "", "at least one OCPP frame", "an empty log")
    return sorted(frames, key=lambda f: f[0])


def toml_value(value: Any) -> str:
    """A JSON value as TOML (inline tables and arrays); JSON's string escapes are TOML's."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ValueError(f"no TOML for {value!r}")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def skeleton(path: Path) -> str:
    """The scenario, as TOML text."""
    frames = read_log(path)
    t0 = frames[0][0]
    steps: list[LogStep] = []
    expects: list[str] = []
    occupied = False
    drawing = False
    for at, frame in frames:
        if frame[0] != 2:
            continue
        action, payload = str(frame[2]), frame[3] if len(frame) > 3 and isinstance(frame[3], dict) else {}
        t = round((at - t0).total_seconds(), 3)
        if action == "StatusNotification":
            status = str(payload.get("status", ""))
            if payload.get("connectorId", 1) == 0:
                continue   # the charge point as a whole
            if status in VEHICLE_BY_STATUS:
                step = LogStep(t, f"{status} at {at:%H:%M:%S}", [f'vehicle = "{VEHICLE_BY_STATUS[status]}"'])
                if status == "Charging" and not drawing:
                    step.lines.append('draw_a = "offer"          # the log does not say what the vehicle drew')
                    drawing = True
                add(steps, step)
            elif status == "Available" and occupied:
                add(steps, LogStep(t, f"Available at {at:%H:%M:%S}", ['vehicle = "A"', "draw_a = 0"]))
                drawing = False
            elif status == "Faulted":
                code = payload.get("errorCode", "")
                before = next((s.note for s in reversed(steps) if s.at_s <= t), None)
                if before is not None:   # to judge once the cause is filled in: uncomment
                    expects.append(f"# [[expect]]\n# after = {toml_value(before)}\n"
                                   f"# within_s = {max(1.0, t - _at(steps, before)) + 5:g}\n"
                                   f'# ocpp_status = "Faulted"    # the log: errorCode {code}\n')
                add(steps, LogStep(t, f"Faulted ({code}) at {at:%H:%M:%S}",
                                     ["# what made it fault? e.g. residual_dc_ma = 8, weld = \"L1\", supply_v = 270"]))
            occupied = status in OCCUPIED or (occupied and status not in ("Available",))
        elif action in ("Authorize", "StartTransaction") and "idTag" in payload:
            add(steps, LogStep(t, f"{action} {payload['idTag']} at {at:%H:%M:%S}",
                                 [f'# card = "card1"            # the rig file\'s card for idTag {payload["idTag"]}']))
        elif action == "BootNotification":
            add(steps, LogStep(t, f"boot at {at:%H:%M:%S}",
                                 ["# a reboot: after a power failure, add supply = \"off\" a step before and "
                                  "supply = \"on\" here"]))
        elif action in FROM_CENTRAL:
            add(steps, LogStep(t, f"{action} at {at:%H:%M:%S}",
                                 [f"backend = {{ action = {toml_value(action)}, payload = {toml_value(payload)} }}"]))
    if not steps:
        raise ConfigError(path, "", "a frame the scenario can replay (StatusNotification, Authorize, a central "
                          "system's CALL, …)", "none")
    out = [f"# From {path.name}: {len(frames)} frames from {t0:%Y-%m-%dT%H:%M:%SZ}.",
           f"# Replay on the log's clock: wallbox-rig scenario run THIS.toml --at {t0:%Y-%m-%dT%H:%M:%SZ}",
           "# Complete what the log cannot know: the building (pv_w, household_w), faults (residual_dc_ma, …),",
           "# the cards (card = …) and what should follow ([[expect]]).",
           f'name = {toml_value(f"from {path.name}")}',
           f"duration_s = {steps[-1].at_s + TAIL_S:g}", ""]
    for step in steps:
        out += ["[[step]]", f"at_s = {step.at_s:g}", f"note = {toml_value(step.note)}", *step.lines, ""]
    out += expects
    return "\n".join(out).rstrip() + "\n"


def add(steps: list[LogStep], step: LogStep) -> None:
    """Append `step` with a note no other step has (expectations name steps by their note)."""
    notes = {s.note for s in steps}
    base, n = step.note, 1
    while step.note in notes:
        n += 1
        step.note = f"{base} ({n})"
    steps.append(step)


def _at(steps: list[LogStep], note: str) -> float:
    return next(s.at_s for s in steps if s.note == note)

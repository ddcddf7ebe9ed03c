"""The operator's side of `wallbox-rig backend serve`: commands from a script file (`--script`) or typed on
standard input (`--console`), so a session with a real wallbox needs no Python.

```text
# a line each; '#' starts a comment
wait-boot 120                                   # until a charge point boots (seconds at most)
call ChangeConfiguration {"key": "MeterValueSampleInterval", "value": "10"}
call RemoteStartTransaction {"idTag": "MYCARD"}
sleep 30
call TriggerMessage {"requestedMessage": "MeterValues", "connectorId": 1}
to CP-0042                                      # the charge point the next calls go to
```

`call` sends any CALL by its OCPP 1.6 action name with a JSON payload (checked against the action's
schema before it is sent) to the charge point that booted first, or the one `to` named; the answer, or
the CALLERROR, is printed, as every frame is.  A `call` line is taken whole (a JSON string may hold a
'#'); comments elsewhere may follow a command.  A script is read whole first: a line it cannot take is
refused with its line number before anything is sent.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, RigError
from instruments.backend import OcppCentralSystem
from instruments.transport.ocpp_ws import call_problem

COMMANDS = ("call", "wait-boot", "sleep", "to")


@dataclass(frozen=True)
class Command:
    line: int
    verb: str
    action: str = ""
    payload: dict[str, Any] | None = None
    seconds: float = 0.0
    target: str = ""


def parse(text: Iterable[str], source: Path | None, version: str = "1.6") -> list[Command]:
    """Every line of a script as a command; the first line that is none is a ConfigError with its number."""
    out = []
    for n, raw in enumerate(text, 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("call") else raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(parse_line(line, n, source, version))
    return out


def parse_line(line: str, n: int, source: Path | None, version: str = "1.6") -> Command:
    verb, _, rest = line.partition(" ")
    rest = rest.strip()
    where = f"line {n}"
    if verb == "call":
        action, _, body = rest.partition(" ")
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise ConfigError(source, where, "call ACTION {json payload}", body, hint=str(exc)) from None
        if not action.isalpha() or not isinstance(payload, dict):
            raise ConfigError(source, where, "call ACTION {json payload}", rest)
        refused = call_problem(action, payload, version)
        if refused is not None:
            raise ConfigError(source, where, f"a payload valid for {action} (OCPP {version})", body,
                              hint=f"{refused[0]}: {refused[1]}")
        return Command(n, verb, action=action, payload=payload)
    if verb in ("wait-boot", "sleep"):
        try:
            seconds = float(rest) if rest else 300.0
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds <= 86_400:
            raise ConfigError(source, where, f"{verb} SECONDS (0…86400)", rest)
        return Command(n, verb, seconds=seconds)
    if verb == "to" and rest:
        return Command(n, verb, target=rest)
    raise ConfigError(source, where, "one of " + ", ".join(COMMANDS), line)


def run(commands: Iterable[Command], backend: OcppCentralSystem, say: Callable[[str], None],
        timeout_s: float = 30.0) -> int:
    """Carry the commands out; returns how many could not be (a charge point that never booted, a call
    without an answer).  A CALLERROR is an answer: printed, not counted."""
    failures = 0
    target = ""
    for c in commands:
        if c.verb == "to":
            target = c.target
        elif c.verb == "sleep":
            time.sleep(c.seconds)
        elif c.verb == "wait-boot":
            try:
                booted = backend.booted_points.get(timeout=max(c.seconds, 0.001))
            except queue.Empty:
                booted = ""
            if booted:
                target = target or booted
                say(f"line {c.line}: {booted} booted")
            else:
                failures += 1
                say(f"line {c.line}: no charge point booted within {c.seconds:g} s")
        else:
            if not target:
                failures += 1
                say(f"line {c.line}: {c.action}: no charge point yet (wait-boot first, or `to ID`)")
                continue
            try:
                answer = backend.call_point(target, c.action, c.payload or {}, timeout_s)
                say(f"line {c.line}: {c.action} -> {json.dumps(answer, separators=(',', ':'))}")
            except RigError as exc:
                failures += 1
                say(f"line {c.line}: {c.action}: {exc}")
    return failures

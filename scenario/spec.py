"""A field fault as a timeline: what the rig does when (`[[step]]`), what should follow (`[[expect]]`).

```toml
name = "DC leakage while charging"
duration_s = 120          # rig time the scenario runs (the recording goes on to the end)
sample_s = 0.5            # how often the state is sampled between steps (default 0.5 s)

[[step]]
at_s = 0
vehicle = "B"
[[step]]
at_s = 5
vehicle = "C"
draw_a = 16
[[step]]
at_s = 60
residual_dc_ma = 8
note = "leakage"

[[expect]]
after = "leakage"         # the note of the step it follows
within_s = 10
contactor = "open"
```

Each step has `at_s` (rig seconds from the start) and one or more actions, applied in the order the
file gives them; `note` names the step for expectations and marks it in the record.  A file is read
whole before anything is energised: every complaint names the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.tables import Table, read_toml

VEHICLE_STATES = ("A", "B", "C", "D", "E")
WELDABLE = ("L1", "L2", "L3", "none")


@dataclass(frozen=True)
class Action:
    """One thing a step does: `name` as the file spells it, `value` parsed and checked."""

    name: str
    value: Any
    roles: tuple[str, ...]
    """The rig roles the action needs (a rig without one refuses the scenario before it starts)."""


def _vehicle(t: Table, k: str) -> Any:
    v = t.get(k, str)
    if v not in VEHICLE_STATES:
        raise ConfigError(t.file, t.key(k), " or ".join(f'"{s}"' for s in VEHICLE_STATES), v)
    return v


def _on_off(t: Table, k: str) -> Any:
    v = t.get(k, str)
    if v not in ("on", "off"):
        raise ConfigError(t.file, t.key(k), '"on" or "off"', v)
    return v == "on"


def _weld(t: Table, k: str) -> Any:
    v = t.get(k, str)
    if v not in WELDABLE:
        raise ConfigError(t.file, t.key(k), " or ".join(f'"{w}"' for w in WELDABLE), v)
    return v


CARD_TAP_S = 1.0
"""How long a `card` step holds the card to the reader: a person's tap."""


def _card(t: Table, k: str) -> Any:
    v = t.get(k, str)
    names = ("setup", *(f"card{n}" for n in range(1, 7)), "foreign")
    if v not in names:
        raise ConfigError(t.file, t.key(k), " or ".join(f'"{n}"' for n in names), v)
    return v


def _draw(t: Table, k: str) -> Any:
    """A current per phase, or "offer": the vehicle draws what the duty offers, as a car does."""
    v = t.get(k, (int, float, str))
    if v == "offer":
        return v
    if isinstance(v, str) or isinstance(v, bool):
        raise ConfigError(t.file, t.key(k), 'a current in A (0: off) or "offer"', v)
    return t.number(k, low=0, high=80)


def _energy(t: Table, k: str) -> Any:
    v = t.get(k, str)
    if v not in ENERGY_MODES:
        raise ConfigError(t.file, t.key(k), " or ".join(f'"{m}"' for m in ENERGY_MODES), v)
    return v


ENERGY_MODES = ("off", "load", "solar")
"""The DUT's energy management as its installer interface sets it (docs/protocols/installer.md, EMS)."""


def _call(t: Table, k: str) -> Any:
    call = t.table(k, required=True)
    assert call is not None
    call.reject_unknown({"action", "payload"})
    action = call.get("action", str)
    if not action.isalpha():
        raise ConfigError(t.file, call.key("action"), "an OCPP action name (e.g. ChangeConfiguration)", action)
    payload = call.table("payload")
    return action, dict(payload.data) if payload is not None else {}


ACTIONS: dict[str, tuple[tuple[str, ...], Any, str]] = {
    "vehicle": (("cp",), _vehicle, "the vehicle's CP state: A (unplugged), B, C (asks for power), D, E"),
    "diode": (("cp",), lambda t, k: t.get(k, bool), "false shorts the vehicle's diode"),
    "pe": (("cp",), lambda t, k: t.get(k, bool), "false breaks the vehicle's PE"),
    "draw_a": (("load",), _draw, 'the vehicle\'s current per phase, A (0: off), or "offer": it draws what the duty '
               "offers (up to the rig file's configured current), as a car does"),
    "energy": (("installer", "meter"), _energy, '"off", "load" or "solar": the DUT\'s energy management, entered with '
               "the meter emulator's line and the rig's grid limit and failsafe current"),
    "access_control": (("installer",), lambda t, k: t.get(k, bool),
                       "true: a session needs a registered card (the installer's setting, WB-AC-01)"),
    "pv_w": (("meter", "analyser"), lambda t, k: t.number(k, low=0, high=100_000),
             "the building's PV production, W (spread over the phases): the meter emulator reads it closed over the "
             "DUT's draw the analyser measures"),
    "household_w": (("meter", "analyser"), lambda t, k: t.number(k, low=0, high=100_000),
                    "the building's household load, W (spread over the phases), as `pv_w`"),
    "dimming": (("fault_box",), lambda t, k: t.get(k, bool),
                "true closes the grid operator's PS_1 contact (§14a EnWG dimming), false opens it"),
    "residual_ac_ma": (("fault_box",), lambda t, k: t.number(k, low=0, high=1000), "AC residual current, mA"),
    "residual_dc_ma": (("fault_box",), lambda t, k: t.number(k, low=0, high=1000), "smooth DC residual current, mA"),
    "weld": (("fault_box",), _weld, 'a welded contactor pole: "L1", "L2", "L3" or "none"'),
    "supply_pe": (("fault_box",), lambda t, k: t.get(k, bool), "false interrupts the wallbox's supply PE"),
    "ambient_c": (("fault_box",), lambda t, k: t.number(k, low=-40, high=90),
                  "the DUT's ambient, °C (a climate chamber where the bench has one, else its sensor overridden)"),
    "supply": (("source",), _on_off, '"off" or "on": the mains to the wallbox'),
    "supply_v": (("source",), lambda t, k: t.number(k, low=0, high=300), "the supply's line-to-neutral voltage, V"),
    "supply_hz": (("source",), lambda t, k: t.number(k, low=45, high=65), "the supply's frequency, Hz"),
    "dip_ms": (("source",), lambda t, k: t.number(k, low=1, high=60_000),
               "every phase to 0 V for this long, timed by the source itself, then back"),
    "card": (("card",), _card, '"setup", "card1" … "card6" or "foreign": held to the reader for `CARD_TAP_S`, then '
             "taken away"),
    "button_s": (("button",), lambda t, k: t.number(k, low=0.05, high=600), "the pairing button held this long, s"),
    "backend": (("backend",), _call, "any CALL to the DUT: `{ action = \"…\", payload = { … } }` (waits for the DUT "
                "to be connected; the answer goes into the record)"),
}
"""Action name → (the roles it needs, its parser, what it does)."""

def actions_table() -> str:
    """The actions as docs/scenarios.md lists them (a test keeps the guide current)."""
    return "| action | role | what it does |\n|---|---|---|\n" + "\n".join(
        f"| `{name}` | {', '.join(roles)} | {doc} |" for name, (roles, _, doc) in ACTIONS.items())


LED_COLOURS = ("red", "yellow", "green", "blue", "white", "magenta")
LED_PATTERNS = ("off", "solid", "blinking", "breathing", "sweeping")
BEEP_PATTERNS = ("short", "two short", "long", "none")
"""What the classifiers name (instruments/led/classifier.py, instruments/buzzer/classifier.py)."""


EXPECTABLE: dict[str, Any] = {
    "contactor": lambda t, k: _choice(t, k, ("open", "closed")),
    "cp_state": lambda t, k: _choice(t, k, ("A", "B", "C", "D", "E", "F")),
    "offer_a": lambda t, k: _band(t, k),
    "ocpp_status": lambda t, k: _choice(t, k, ("Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE",
                                               "Finishing", "Reserved", "Unavailable", "Faulted")),
    "led": lambda t, k: _led(t, k),
    "beep": lambda t, k: _choice(t, k, BEEP_PATTERNS),
}
"""What an expectation may ask of the record, within `within_s` after its step."""

EXPECT_ROLES = {"led": "led", "beep": "buzzer", "ocpp_status": "backend"}
"""An expectation that only an instrument can see needs its role."""

def _led(t: Table, k: str) -> str:
    """A colour, a pattern, or both ("red", "blinking", "red blinking"): what some segment of the bar shows."""
    v = t.get(k, str)
    words = v.split()
    colours = [w for w in words if w in LED_COLOURS]
    patterns = [w for w in words if w in LED_PATTERNS]
    if not words or len(colours) > 1 or len(patterns) > 1 or len(colours) + len(patterns) != len(words):
        raise ConfigError(t.file, t.key(k), f"a colour ({', '.join(LED_COLOURS)}), a pattern "
                          f"({', '.join(LED_PATTERNS)}) or both, e.g. \"red blinking\"", v)
    return str(v)


def _choice(t: Table, k: str, choices: tuple[str, ...]) -> str:
    v = t.get(k, str)
    if v not in choices:
        raise ConfigError(t.file, t.key(k), " or ".join(f'"{c}"' for c in choices), v)
    return str(v)


def _band(t: Table, k: str) -> tuple[float, float]:
    v = t.get(k, list)
    if len(v) != 2 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v) or v[0] > v[1]:
        raise ConfigError(t.file, t.key(k), "[low, high] in A", v)
    return float(v[0]), float(v[1])


@dataclass(frozen=True)
class Step:
    at_s: float
    actions: tuple[Action, ...]
    note: str = ""


@dataclass(frozen=True)
class Expect:
    after: str
    within_s: float
    what: str
    value: Any

    def describe(self) -> str:
        value = f"[{self.value[0]:g}, {self.value[1]:g}] A" if self.what == "offer_a" else self.value
        return f"{self.what} {value} within {self.within_s:g} s after {self.after!r}"


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    duration_s: float
    sample_s: float
    steps: tuple[Step, ...]
    expects: tuple[Expect, ...]

    def roles(self) -> set[str]:
        return ({"cp"} | {r for s in self.steps for a in s.actions for r in a.roles}
                | {EXPECT_ROLES[e.what] for e in self.expects if e.what in EXPECT_ROLES})

    def uses(self, *actions: str) -> bool:
        return any(a.name in actions for s in self.steps for a in s.actions)


def load_scenario(path: Path) -> Scenario:
    root = Table(read_toml(path), path)
    root.reject_unknown({"name", "duration_s", "sample_s", "step", "expect"})
    duration = root.number("duration_s", low=1, high=7 * 24 * 3600)
    sample = root.number("sample_s", 0.5, low=0.01, high=60)
    raw_steps = root.get("step", list, [])
    steps = []
    for n, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise ConfigError(path, f"step[{n}]", "a table ([[step]])", raw)
        t = Table(raw, path, f"step[{n}]")
        t.reject_unknown({"at_s", "note", *ACTIONS})
        at = t.number("at_s", low=0, high=duration)
        actions = tuple(Action(k, ACTIONS[k][1](t, k), ACTIONS[k][0]) for k in raw if k in ACTIONS)
        note = t.get("note", str, "")
        if not actions and not note:
            raise ConfigError(path, f"step[{n}]", f"an action ({', '.join(ACTIONS)}) or a note", hint="the step does nothing")
        steps.append(Step(at, actions, note))
    if [s.at_s for s in steps] != sorted(s.at_s for s in steps):
        raise ConfigError(path, "step", "steps in the order of their at_s", hint="a step comes before an earlier one")
    notes = [s.note for s in steps if s.note]
    if len(notes) != len(set(notes)):
        raise ConfigError(path, "step", "a different note on each step", hint="expectations name steps by their note")
    expects = []
    for n, raw in enumerate(root.get("expect", list, [])):
        if not isinstance(raw, dict):
            raise ConfigError(path, f"expect[{n}]", "a table ([[expect]])", raw)
        t = Table(raw, path, f"expect[{n}]")
        t.reject_unknown({"after", "within_s", *EXPECTABLE})
        after = t.get("after", str)
        if after not in notes:
            raise ConfigError(path, t.key("after"), f"the note of a step ({', '.join(notes) or 'no step has one'})", after)
        asked = [k for k in raw if k in EXPECTABLE]
        if len(asked) != 1:
            raise ConfigError(path, f"expect[{n}]", f"exactly one of {', '.join(EXPECTABLE)}", ", ".join(asked) or "none")
        expects.append(Expect(after, t.number("within_s", low=0, high=duration), asked[0],
                              EXPECTABLE[asked[0]](t, asked[0])))
    return Scenario(path, root.get("name", str, path.stem), duration, sample, tuple(steps), tuple(expects))

"""What the datasheets and programmer's guides of the bench's bought instruments promise, as data.

One TOML file per instrument family (`<driver-name>.toml`); every entry is a number with its unit
and the page it comes from, so a lab can check each figure the rig states an uncertainty from, and
the virtual lab can honour the same figure (it reads these files too: they are the instrument's
facts, not the DUT's expected values).  Loading validates every entry and names the file and key
that is wrong.

    [acv_1v_reading_pct]
    value = 0.05
    unit = "%"
    source = "Keysight DAQ970A Data Sheet, p. 10 (Example 4: acV accuracy, 1 V range)"
    note = "why it matters, or what is not yet confirmed"
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from core.errors import InvalidValue


@dataclass(frozen=True)
class Fact:
    value: float
    unit: str
    source: str
    note: str = ""


@cache
def facts(family: str) -> dict[str, Fact]:
    """The facts of one instrument family (`keysight-daq970`, `keysight-infiniivision`, …)."""
    name = f"{family}.toml"
    try:
        text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        known = sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir()
                       if p.name.endswith(".toml"))
        raise InvalidValue(f"instruments/facts/{name}: no such facts file (there are: {', '.join(known)})") from None
    return parse_facts(name, text)


def parse_facts(name: str, text: str) -> dict[str, Fact]:
    """One facts file's text → its facts; an `InvalidValue` names the file and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidValue(f"instruments/facts/{name}: not valid TOML ({exc})") from exc
    out = {}
    for key, entry in data.items():
        where = f"instruments/facts/{name} [{key}]"
        if not isinstance(entry, dict):
            raise InvalidValue(f"{where}: expected a table with value, unit and source")
        unknown = sorted(set(entry) - {"value", "unit", "source", "note"})
        if unknown:
            raise InvalidValue(f"{where}: unknown key {unknown[0]!r} (expected value, unit, source, note)")
        value = entry.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidValue(f"{where}: value must be a finite number, found {value!r}")
        for text_key in ("unit", "source"):
            if not isinstance(entry.get(text_key), str) or not entry[text_key].strip():
                raise InvalidValue(f"{where}: {text_key} must be a non-empty string")
        out[key] = Fact(float(value), entry["unit"], entry["source"], str(entry.get("note", "")))
    return out


def fact(family: str, key: str) -> float:
    """One figure; a missing one is the repository's defect, named with where it was looked for."""
    table = facts(family)
    if key not in table:
        raise InvalidValue(f"instruments/facts/{family}.toml has no [{key}] (it has: {', '.join(sorted(table))})")
    return table[key].value


def accuracy_bound(family: str, function: str, reading: float, range_: float) -> float:
    """± bound of a "% of reading + % of range" accuracy: `function` names the pair
    `<function>_reading_pct` / `<function>_range_pct` in the family's file."""
    return (fact(family, f"{function}_reading_pct") * abs(reading) + fact(family, f"{function}_range_pct") * range_) / 100.0

"""A driver's settings, declared by the driver itself (labgrid's attrs-typed resources, python-can's
interface arguments are the models).

A rig file's `[instruments.ROLE]` table may hold exactly what its driver class declares: the
settings of the transport it opens and its own.  `rig check` validates a plug-in driver's settings
the same way as a built-in one's, and the configuration reference (`docs/reference/drivers.md`) is
generated from these declarations, so what a driver reads, what the checker accepts and what the
documentation says are one list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Setting:
    """One key of an instrument's rig-file table.

    `kind` is the TOML type (an integer is taken where a float is declared); `low`/`high` bound
    numbers (inclusive; `low_open` excludes the low end); `choices` lists the only values allowed;
    `check` is a further test for what a type and a range cannot say (a UID, a region of interest),
    and `expected` then says in words what it wants."""

    name: str
    kind: type
    doc: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    required: bool = False
    default: Any = None
    check: Callable[[Any], bool] | None = None
    expected: str = ""

    def describe(self) -> str:
        """What a valid value looks like, as a config error and the reference page say it."""
        if self.expected:
            return self.expected
        if self.choices:
            return ", ".join(_show(c) for c in self.choices[:-1]) + f" or {_show(self.choices[-1])}" \
                if len(self.choices) > 1 else _show(self.choices[0])
        text = _KIND_NAMES.get(self.kind, self.kind.__name__)
        if self.low is not None and self.high is not None:
            text += f" in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}]"
        elif self.low is not None:
            text += f" {'>' if self.low_open else '>='} {_num(self.low)}"
        elif self.high is not None:
            text += f" <= {_num(self.high)}"
        return text + (f" {self.unit}" if self.unit else "")

    def problem(self, value: Any) -> str | None:
        """None if `value` is valid, else what was expected (for a `ConfigError`)."""
        if not _is_kind(value, self.kind):
            return self.describe()
        if isinstance(value, float) and not math.isfinite(value):
            return self.describe() + " (a finite number)"
        if self.choices and value not in self.choices:
            return self.describe()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
                return self.describe()
            if self.high is not None and value > self.high:
                return self.describe()
        if self.check is not None and not self.check(value):
            return self.describe()
        return None

    def of(self, settings: Mapping[str, Any]) -> Any:
        """This setting's value in a validated table, or its default."""
        value = settings.get(self.name, self.default)
        return float(value) if self.kind is float and isinstance(value, int) else value


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def by_name(settings: Iterable[Setting]) -> dict[str, Setting]:
    """Name → setting; a name declared twice (a driver repeating its transport's key) keeps the
    later, more specific declaration."""
    return {s.name: s for s in settings}


def iso_utc(value: Any) -> bool:
    """An ISO 8601 instant in UTC written with a trailing Z."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True

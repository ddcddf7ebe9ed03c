"""TOML tables that know where they came from, so that every complaint names file and key.

The one reader of configuration and limits data: rig files, DUT profiles, limits, meter maps and
scenarios all go through `read_toml` and `Table`, so an error always reads
`FILE: [dotted.key]: expected …, found …` and never as a KeyError or a traceback.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from core.errors import ConfigError

_MISSING = object()


def nearest(name: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """' (did you mean "x"?)' for a misspelt name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else ""


class Table:
    """A TOML table that knows its file and dotted path, so every complaint can say where."""

    def __init__(self, data: dict[str, Any], file: Path, path: str = "") -> None:
        self.data, self.file, self.path = data, file, path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        if name not in self.data:
            if default is _MISSING:
                raise ConfigError(self.file, self.key(name), f"a {kind_name(kind)}", hint="the key is missing")
            return default
        value = self.data[name]
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            raise ConfigError(self.file, self.key(name), f"a {kind_name(kind)}", value)
        if not isinstance(value, kind):
            if float in _as_tuple(kind) and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise ConfigError(self.file, self.key(name), f"a {kind_name(kind)}", value)
        return value

    def number(self, name: str, default: Any = _MISSING, low: float | None = None,
               high: float | None = None) -> Any:
        """A number (an integer is taken as one), optionally inside [low, high]."""
        value = self.get(name, float, default)
        if value is None or value is default:
            return value
        if not math.isfinite(value):   # TOML has nan and inf; a NaN passes every comparison with a bound
            raise ConfigError(self.file, self.key(name), "a finite number", value)
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"[{low:g}, {high:g}]" if low is not None and high is not None else (
                f">= {low:g}" if low is not None else f"<= {high:g}")
            raise ConfigError(self.file, self.key(name), f"a number {span}", value)
        return value

    def date(self, name: str, default: Any = _MISSING) -> Any:
        """An ISO date (`2027-03-31`, quoted or a TOML date)."""
        if name not in self.data:
            return self.get(name, str, default)
        value = self.data[name]
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(self.file, self.key(name), "an ISO date (YYYY-MM-DD)", value)

    def table(self, name: str, required: bool = False) -> Table | None:
        if name not in self.data:
            if required:
                raise ConfigError(self.file, self.key(name), "a table", hint="the table is missing")
            return None
        value = self.data[name]
        if not isinstance(value, dict):
            raise ConfigError(self.file, self.key(name), "a table", value)
        return Table(value, self.file, self.key(name))

    def required_table(self, name: str) -> Table:
        table = self.table(name, required=True)
        assert table is not None  # table(required=True) raises instead of returning None
        return table

    def reject_unknown(self, allowed: set[str] | list[str] | tuple[str, ...]) -> None:
        for name in self.data:
            if name not in allowed:
                hint = nearest(name, list(allowed))
                raise ConfigError(self.file, self.key(name), f"one of {', '.join(sorted(allowed))}",
                                  name, hint=f"unknown key; {hint}" if hint else "unknown key")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean (true/false)",
             list: "list", dict: "table"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(path, "", "an existing TOML file", hint="no such file") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "a TOML file", hint="this is a folder") from None
    except PermissionError:
        raise ConfigError(path, "", "a readable TOML file", hint="permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", "a UTF-8 TOML file", hint=str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", "valid TOML", hint=str(exc)) from None

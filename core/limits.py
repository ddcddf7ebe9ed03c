"""Limits as typed records: every number a conformance test judges against, with unit and source.

A limit file is parsed once into frozen records whose kind says which bounds it has, so that a
test reads `LIMITS.iec61851.contactor_open_after_c_to_b.high` as a float and never needs a
fallback: a missing bound, a unit left out, an unknown or misspelt entry is a `ConfigError`
naming the file and the key, raised when the limits are loaded (at the start of a run and by
`wallbox-rig rig check`), never in the middle of a test.

This module holds the kinds and the parser, nothing of the suite: each limits file's schema (which
entries it has and of which kind) is a record class beside the file (`conformance/limits/*.py`).

Kinds (the schema fixes each entry's kind; the file gives the values):

- `Band`: `low` and `high`;  `AtMost`: `high`;  `AtLeast`: `low`;  `Count`: an exact count `value`.
  These are *judged*: `Evidence.check` accepts only them.  Each may declare `marginal`, a
  distance (in its unit) inside the limits within which a pass is flagged as marginal.
- `Setting`: a `value` the suite uses to *test* (an observation window, a ramp step, a dwell);
  never judged, but kept here with its unit and its reasoning so that every report can trace it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, get_type_hints

from core.errors import ConfigError
from core.tables import Table, nearest, read_toml


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """What every entry carries: where it is from and what it is in."""

    name: str
    unit: str
    source: str
    clause: str = ""
    cites: tuple[str, ...] = ()
    """Keys of the documents in the bibliography (`sources.toml`) this value rests on."""

    KEYS: ClassVar[tuple[str, ...]] = ()
    """The bound keys of this kind (beside unit, source, clause, marginal)."""


@dataclass(frozen=True, kw_only=True)
class _Judged(Quantity):
    marginal: float | None = None
    random: bool = False
    """The judged quantity is random by design (a cold-load delay, a test statistic): a trend never
    reads a change of its margin as drift."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Band(_Judged):
    low: float
    high: float
    KEYS: ClassVar[tuple[str, ...]] = ("low", "high")

    def describe(self) -> str:
        return f"[{self.low:g}, {self.high:g}] {self.unit}".rstrip()

    def lower(self) -> AtLeast:
        """The band's lower end alone (the shortest of many values is judged against it)."""
        return AtLeast(name=f"{self.name}.low", low=self.low, **self._common())

    def upper(self) -> AtMost:
        """The band's upper end alone."""
        return AtMost(name=f"{self.name}.high", high=self.high, **self._common())

    def _common(self) -> dict[str, Any]:
        return {"unit": self.unit, "clause": self.clause, "source": self.source, "cites": self.cites,
                "marginal": self.marginal, "random": self.random}


@dataclass(frozen=True, kw_only=True)
class AtMost(_Judged):
    high: float
    KEYS: ClassVar[tuple[str, ...]] = ("high",)

    @property
    def low(self) -> None:
        return None

    def describe(self) -> str:
        return f"<= {self.high:g} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class AtLeast(_Judged):
    low: float
    KEYS: ClassVar[tuple[str, ...]] = ("low",)

    @property
    def high(self) -> None:
        return None

    def describe(self) -> str:
        return f">= {self.low:g} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class Count(_Judged):
    """An exact number of events (closures, offers, interruptions): `value` and nothing else passes."""

    value: int
    KEYS: ClassVar[tuple[str, ...]] = ("value",)

    @property
    def low(self) -> float:
        return float(self.value)

    @property
    def high(self) -> float:
        return float(self.value)

    def describe(self) -> str:
        return f"= {self.value} {self.unit}".rstrip()


@dataclass(frozen=True, kw_only=True)
class Setting(Quantity):
    """A value the suite tests with (a window, a step, a dwell); not a verdict."""

    value: float
    KEYS: ClassVar[tuple[str, ...]] = ("value",)


Judged = Band | AtMost | AtLeast | Count
"""What `Evidence.check` judges against."""


def sources_of(*parts: Quantity) -> str:
    """The sources of the records a derived limit is computed from, each named."""
    return "; ".join(f"{p.name}: {p.source}" for p in parts)


def cites_of(*parts: Quantity) -> tuple[str, ...]:
    """The bibliography keys of the records a derived limit is computed from."""
    return tuple(dict.fromkeys(key for p in parts for key in p.cites))


def derived_from(*parts: Quantity) -> dict[str, Any]:
    """`source` and `cites` of a limit computed from `parts` (as keyword arguments)."""
    return {"source": sources_of(*parts), "cites": cites_of(*parts)}


@dataclass(frozen=True)
class Source:
    """One document of the bibliography, expanded so a report can be checked without this repo's authors."""

    key: str
    document: str
    edition: str
    where: str
    says: str

    def cite(self) -> str:
        return f"{self.key}: {self.document}, {self.edition}, {self.where}"


# --- table rows ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One row of a table in a limits file (`[[name]]`): the numbers its `KEYS` name, in that order,
    then its source and the bibliography keys it cites."""

    KEYS: ClassVar[tuple[str, ...]] = ()


_COMMON = ("unit", "source", "clause", "cites")


def parse_quantity(kind: type[Quantity], table: Table, name: str) -> Quantity:
    """One entry of `kind` from its table: every bound the kind needs, nothing it does not know."""
    allowed = set(_COMMON) | set(kind.KEYS) | ({"marginal", "random"} if issubclass(kind, _Judged) else set())
    table.reject_unknown(allowed)
    values: dict[str, Any] = {"name": name, "unit": table.get("unit", str), "source": table.get("source", str),
                              "clause": table.get("clause", str, ""), "cites": _cites(table)}
    if not values["source"].strip():
        raise ConfigError(table.file, table.key("source"), "the document this value comes from", "")
    for key in kind.KEYS:
        values[key] = table.get(key, int) if kind is Count else table.number(key)
    if issubclass(kind, _Judged):
        values["marginal"] = table.number("marginal", None, low=0.0)
        values["random"] = table.get("random", bool, False)
    if kind is Band and values["low"] > values["high"]:
        raise ConfigError(table.file, table.key("low"), f"low <= high ({values['high']:g})", values["low"])
    return kind(**values)


def _parse_rows(kind: type[Row], items: Any, file: Path, name: str) -> tuple[Any, ...]:
    if not isinstance(items, list) or not items:
        raise ConfigError(file, name, "an array of tables ([[" + name + "]])", items)
    rows = []
    make: Callable[..., Row] = kind   # a row's fields are its KEYS, then source and cites
    for k, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise ConfigError(file, f"{name}[{k}]", "a table", raw)
        t = Table(raw, file, f"{name}[{k}]")
        t.reject_unknown(set(kind.KEYS) | {"source", "cites"})
        rows.append(make(*(t.number(key) for key in kind.KEYS), t.get("source", str), _cites(t)))
    return tuple(rows)


def _cites(table: Table) -> tuple[str, ...]:
    cites = table.get("cites", list)
    if not cites or not all(isinstance(c, str) and c for c in cites):
        raise ConfigError(table.file, table.key("cites"), "a non-empty list of bibliography keys (sources.toml)", cites)
    return tuple(cites)


SOURCE_KEYS = ("document", "edition", "where", "says")


def parse_sources(path: Path) -> dict[str, Source]:
    """The bibliography: every key with its document, edition, where in it, and what it says."""
    root = Table(read_toml(path), path)
    out = {}
    for key in root.data:
        table = root.required_table(key)
        table.reject_unknown(SOURCE_KEYS)
        out[key] = Source(key, *(table.get(k, str) for k in SOURCE_KEYS))
    return out


def _check_cites(folder: Path, documents: dict[str, Any], sources: dict[str, Source]) -> None:
    for doc, record in documents.items():
        path = folder / f"{doc}.toml"
        for f in dataclasses.fields(record):
            value = getattr(record, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                for key in item.cites:
                    if key not in sources:
                        raise ConfigError(path, f"{f.name}.cites", f"keys of sources.toml ({', '.join(sources)})",
                                          key, hint=nearest(key, list(sources)))


def parse_document(schema: type, path: Path) -> Any:
    """One limits file against its schema class: every entry present, typed, and nothing else."""
    root = Table(read_toml(path), path)
    hints = get_type_hints(schema)
    fields = [f.name for f in dataclasses.fields(schema)]
    for name in root.data:
        if name not in hints:
            hint = nearest(name, fields)
            raise ConfigError(path, name, f"an entry the suite knows ({len(fields)} of them)", name,
                              hint=f"unknown entry; {hint}" if hint else "unknown entry")
    values: dict[str, Any] = {}
    for name in fields:
        kind = hints[name]
        if name not in root.data:
            raise ConfigError(path, name, f"a {_kind_label(kind)} entry", hint="the entry is missing")
        if getattr(kind, "__origin__", None) is tuple:
            values[name] = _parse_rows(kind.__args__[0], root.data[name], path, name)
        else:
            values[name] = parse_quantity(kind, root.required_table(name), name)
    return schema(**values)


def _kind_label(kind: Any) -> str:
    if getattr(kind, "__origin__", None) is tuple:
        return f"[[table]] of {kind.__args__[0].__name__}"
    return f"{kind.__name__} ({', '.join(kind.KEYS)}, unit, source)"


def load_documents(folder: Path, schemas: Mapping[str, type]) -> tuple[dict[str, Any], dict[str, Source]]:
    """Every limits file of `folder` against its schema (`NAME.toml` → `schemas[NAME]`), and the
    bibliography (`sources.toml`) every entry's `cites` must be keys of; a file no schema names is
    refused too."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(folder, "", "a folder of limit files", hint="no such folder")
    known = {f"{name}.toml" for name in schemas} | {"sources.toml"}
    for path in sorted(folder.glob("*.toml")):
        if path.name not in known:
            raise ConfigError(path, "", f"one of the suite's limit files ({', '.join(sorted(known))})",
                              path.name, hint="unknown limits file")
    parsed = {name: parse_document(schema, folder / f"{name}.toml") for name, schema in schemas.items()}
    sources = parse_sources(folder / "sources.toml")
    _check_cites(folder, parsed, sources)
    return parsed, sources

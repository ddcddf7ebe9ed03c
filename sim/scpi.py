"""Just enough SCPI parsing for the simulated instruments: short/long mnemonics, suffixes, errors."""

from __future__ import annotations

import re
from collections.abc import Callable

from sim.server import FrontEnd
from sim.world import World

Handler = Callable[[str, list[str]], str | bytes | None]
_NODE = re.compile(r"^([A-Z]+)([a-z]*)(<n>)?$")


def _node_matches(pattern: str, node: str) -> str | None:
    """'' if `node` fits `pattern` (e.g. 'ITEM<n>' ~ 'ITEM3' → '3'), else None."""
    m = _NODE.match(pattern)
    if not m:
        return "" if pattern.upper() == node.upper() else None
    short, rest, numbered = m.group(1), m.group(2), m.group(3)
    node_up = node.upper()
    suffix = ""
    if numbered:
        digits = re.search(r"\d+$", node_up)
        if digits:
            suffix = digits.group(0)
            node_up = node_up[: -len(suffix)]
    if node_up in (short, (short + rest).upper()):
        return suffix
    return None


class ScpiFrontEnd(FrontEnd):
    """Dispatch on the header; unknown headers queue -113 as a real instrument does."""

    idn = "SIM,INSTRUMENT,0,0"

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.errors: list[str] = []
        self._commands: list[tuple[list[str], bool, Handler]] = []
        self.command("*IDN?", lambda s, a: self.idn)
        self.command("*RST", lambda s, a: None)
        self.command("*CLS", lambda s, a: self.errors.clear())
        self.command("*OPC?", lambda s, a: "1")  # commands are applied in order, so all are complete
        self.command("SYSTem:ERRor?", lambda s, a: self.errors.pop(0) if self.errors else '0,"No error"')

    def command(self, pattern: str, handler: Handler) -> None:
        query = pattern.endswith("?")
        nodes = pattern.rstrip("?").lstrip(":").split(":")
        self._commands.append((nodes, query, handler))

    def handle(self, line: str) -> str | bytes | None:
        """One program message: commands joined by `;` (each here with its full header, `;:`),
        their answers joined by `;` as IEEE 488.2 does."""
        if ";" in line:
            answers = [a for a in (self._one(part) for part in line.split(";") if part.strip()) if a is not None]
            if not answers:
                return None
            if any(isinstance(a, bytes) for a in answers):
                return b";".join(a if isinstance(a, bytes) else a.encode("ascii") for a in answers)
            return ";".join(a for a in answers if isinstance(a, str))
        return self._one(line)

    def _one(self, line: str) -> str | bytes | None:
        header, _, args = line.strip().partition(" ")
        query = header.endswith("?")
        nodes = header.rstrip("?").lstrip(":").split(":")
        for pattern, is_query, handler in self._commands:
            if is_query != query or len(pattern) != len(nodes):
                continue
            suffixes = [_node_matches(p, n) for p, n in zip(pattern, nodes)]
            if all(s is not None for s in suffixes):
                suffix = "".join(s for s in suffixes if s)
                return handler(suffix, [a.strip() for a in args.split(",")] if args else [])
        self.errors.append('-113,"Undefined header"')
        return '-113,"Undefined header"' if query else None

    def bad_value(self) -> None:
        self.errors.append('-224,"Illegal parameter value"')

    def number(self, a: list[str]) -> float | None:
        """The first argument as a number; else -224 and None."""
        try:
            return float(a[0])
        except (ValueError, IndexError):
            self.bad_value()
            return None

    def word(self, a: list[str], allowed: tuple[str, ...]) -> str | None:
        """The first argument, upper case, if it is one of `allowed`; else -224 and None."""
        arg = a[0].strip().upper() if a else ""
        if arg not in allowed:
            self.bad_value()
            return None
        return arg

    def out_of_range(self) -> None:
        """A number the instrument parses but cannot take (SCPI-99's -222, "Data out of range")."""
        self.errors.append('-222,"Data out of range"')

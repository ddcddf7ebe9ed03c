"""Meter register maps as data (`instruments/meter/maps/*.toml`): one file per supported meter.

A map says, per register, which quantity it carries, at which wire address (the 0-based
address in the frame), as which type, with which scale and unit, and where a block read across
undocumented registers is answered.  Items the sources leave unconfirmed live in the data, with
a comment, so changing one never touches code.
"""

from __future__ import annotations

import math
import struct
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from core.errors import ConfigError

WIDTH = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2, "uint64": 4, "int64": 4}
_STRUCT = {"uint16": ">H", "int16": ">h", "uint32": ">I", "int32": ">i", "float32": ">f",
           "uint64": ">Q", "int64": ">q"}
UNIT_FACTOR = {"": 1.0, "V": 1.0, "A": 1.0, "Hz": 1.0, "W": 1.0, "var": 1.0, "VA": 1.0, "Wh": 1.0,
               "kW": 1e-3, "kvar": 1e-3, "kVA": 1e-3, "kWh": 1e-3}
"""Quantities are computed in V, A, Hz, W, var, VA and Wh; a register in kW carries value × 1e-3."""


@dataclass(frozen=True)
class Register:
    name: str
    quantity: str
    wire: int
    type: str
    unit: str
    scale: float = 1.0
    length: int = 0          # strings: registers
    value: float | None = None
    text: str = ""

    @property
    def width(self) -> int:
        return self.length if self.type == "string" else WIDTH[self.type]

    def encode(self, value: float) -> list[int]:
        """The register words for `value` (in the quantity's base unit), big-endian words."""
        if self.type == "string":
            raw = self.text.encode("utf-8")[: 2 * self.length].ljust(2 * self.length, b"\0")
        else:
            scaled = value * UNIT_FACTOR[self.unit] / self.scale
            if self.type == "float32":
                raw = struct.pack(">f", scaled)
            else:
                raw = struct.pack(_STRUCT[self.type], _clamp(self.type, scaled))
        return [int.from_bytes(raw[k:k + 2], "big") for k in range(0, len(raw), 2)]


def _clamp(kind: str, value: float) -> int:
    bits = WIDTH[kind] * 16
    if kind.startswith("u"):
        low, high = 0, 2**bits - 1
    else:
        low, high = -(2**(bits - 1)), 2**(bits - 1) - 1
    if not math.isfinite(value):
        return high
    return max(low, min(high, round(value)))


@dataclass(frozen=True)
class Block:
    start: int
    end: int          # inclusive
    filler: int


@dataclass(frozen=True)
class MeterMap:
    model: str
    title: str
    phases: int
    functions: tuple[int, ...]
    defaults: dict[str, Any]
    source: str
    registers: tuple[Register, ...]
    blocks: tuple[Block, ...]
    unused_phases: float = 0.0
    codes: dict[str, dict[str, int]] = field(default_factory=dict)

    def runs(self) -> list[tuple[int, list[int]]]:
        """(first wire address, filler words) of every answered range: each block whole, each
        register outside a block on its own.  Everything else is an illegal address."""
        out = [(b.start, [b.filler] * (b.end - b.start + 1)) for b in self.blocks]
        for reg in self.registers:
            if not any(b.start <= reg.wire and reg.wire + reg.width - 1 <= b.end for b in self.blocks):
                out.append((reg.wire, [0] * reg.width))
        return sorted(out)


DEFAULT_MODEL = "inepro-pro380"
"""Served where the rig file names no model: the first of the supported meters WB-MB-03 lists."""


def model_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("instruments.meter.maps").iterdir()
                  if p.name.endswith(".toml"))


def _raw(model: str) -> dict[str, Any]:
    if model not in model_names():
        raise ConfigError(None, "instruments.meter.model", f"one of {', '.join(model_names())}", model)
    text = resources.files("instruments.meter.maps").joinpath(f"{model}.toml").read_text("utf-8")
    data = tomllib.loads(text)
    parent = data.pop("inherits", None)
    if parent is None:
        return data
    base = _raw(parent)
    registers = {**base.get("registers", {}), **data.pop("registers", {})}
    return {**base, **data, "registers": registers}


def load_map(model: str) -> MeterMap:
    """The map of `model`; a map file that contradicts itself (overlaps, unknown types) names the key."""
    data = _raw(model)
    where = f"instruments/meter/maps/{model}.toml"
    registers = []
    for name, spec in data.get("registers", {}).items():
        kind = spec.get("type")
        if kind not in WIDTH and kind != "string":
            raise ConfigError(where, f"registers.{name}.type", f"one of {', '.join([*WIDTH, 'string'])}", kind)
        if spec.get("unit", "") not in UNIT_FACTOR:
            raise ConfigError(where, f"registers.{name}.unit", f"one of {', '.join(UNIT_FACTOR)}", spec.get("unit"))
        registers.append(Register(name, spec.get("quantity", name), int(spec["wire"]), kind, spec.get("unit", ""),
                                  float(spec.get("scale", 1.0)), int(spec.get("length", 0)), spec.get("value"),
                                  str(spec.get("text", ""))))
    registers.sort(key=lambda r: r.wire)
    for a, b in zip(registers, registers[1:]):
        if a.wire + a.width > b.wire:
            raise ConfigError(where, f"registers.{b.name}.wire", f"an address after {a.name}'s last word",
                              hex(b.wire))
    blocks = tuple(Block(int(b["start"]), int(b["end"]), int(b.get("filler", 0))) for b in data.get("blocks", []))
    codes = {k: {str(kk): int(vv) for kk, vv in v.items()} for k, v in data.get("codes", {}).items()}
    return MeterMap(model, data["title"], int(data["phases"]), tuple(data["functions"]), dict(data["defaults"]),
                    data["source"], tuple(registers), blocks, float(data.get("unused_phases", 0.0)), codes)

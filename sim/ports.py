"""Which endpoint of a served virtual lab takes which port from `--port-base` up: a module of its own,
so `wallbox-rig sim serve --help` can list them without building a lab."""

from __future__ import annotations

PORT_ORDER = ("clock", "cp", "installer", "led", "analyser", "source", "load1", "load2", "load3", "fault_box", "rs485",
              "switch", "scope", "dc_source", "relays", "chamber", "ocpp", "audio", "card", "secc", "secc_tcp")
"""Which endpoint takes which port from `--port-base` up (clock = base, …, rs485 = base + 10, the
bench of bought parts after it)."""


def port_map_text() -> str:
    """"clock +0, cp +1, …": each endpoint's offset from the port base."""
    return ", ".join(f"{name} +{k}" for k, name in enumerate(PORT_ORDER))

"""CAN message catalogues of the rig's own instruments: the published interface, read by the lab
driver and by the virtual lab's simulated box alike (as a vendor's DBC would be)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import cantools


@cache
def fault_box_dbc() -> Any:
    """`wbr_fault_box.dbc`: the fault box's frames (docs/protocols/fault-box.md)."""
    text = resources.files(__name__).joinpath("wbr_fault_box.dbc").read_text()
    return cantools.database.load_string(text, database_format="dbc")

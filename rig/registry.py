"""Driver names → `module:Class`, imported only when a rig file asks for them.

A lab adds its own driver without forking: an entry point in the group `wallbox_rig.drivers`
named `ROLE.NAME` (e.g. `analyser.hioki-pw3390 = mylab.hioki:PW3390`).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "wallbox_rig.drivers"

ROLES: dict[str, str] = {
    "cp": "CP/PP emulator (vehicle side of the control and proximity pilots)",
    "analyser": "power analyser on the wallbox output",
    "source": "programmable AC source feeding the wallbox",
    "load": "electronic AC load standing in for the vehicle's charger",
    "fault_box": "fault-injection box (residual current, weld, PE, temperature, PS_1/PS_2)",
    "led": "LED sensor (camera or colour sensor)",
    "meter": "Modbus meter emulator",
    "installer": "the DUT's installer interface (current setting, pause), bridged to what the DUT speaks",
    "switch": "switch unit or relay module: the vehicle's resistor network, weld bridges, PE, PS_1/PS_2 ([wiring])",
    "scope": "oscilloscope on CP and the vehicle-side voltage: the bench's timebase for edges",
    "leakage_load": "electronic load drawing an AC residual current from vehicle-side L1 to PE",
    "dc_source": "DC source driving a smooth DC residual current from vehicle-side L1 to PE",
    "chamber": "climate chamber: the DUT's ambient (WB-TH-01 at real temperatures)",
    "backend": "OCPP 1.6J central system the DUT connects to (the rig listens; the DUT is the charge point)",
    "card": "RFID card presenter: a card emulator or a carousel of cards at the DUT's reader",
    "buzzer": "microphone at the DUT's beeper",
    "button": "actuator on the DUT's pairing button (a switch channel driving a solenoid)",
}

BUILTIN_DRIVERS: dict[str, dict[str, str]] = {
    "cp": {"wbr-cpemu": "instruments.cp_emulator:WbrCpEmulator",
           "parts-cp": "instruments.parts.cp:PartsCpEmulator"},
    "switch": {"keysight-daq970": "instruments.switch:KeysightDaq970",
               "modbus-relays": "instruments.switch:ModbusRelayBoard"},
    "scope": {"keysight-infiniivision": "instruments.scope:KeysightInfiniiVision"},
    "leakage_load": {"chroma-63800": "instruments.ac_load:Chroma63800"},
    "dc_source": {"keysight-e36100": "instruments.dc_source:KeysightE36100"},
    "chamber": {"watlow-f4t": "instruments.chamber:WatlowF4T"},
    "analyser": {"yokogawa-wt": "instruments.power_analyser:YokogawaWT"},
    "source": {"keysight-ac6800": "instruments.ac_source:KeysightAC6800",
               "ametek-lx": "instruments.ac_source:AmetekLx"},
    "load": {"chroma-63800": "instruments.ac_load:Chroma63800"},
    "installer": {"wbr-installer": "instruments.installer:WbrInstaller"},
    "fault_box": {"wbr-faultbox": "instruments.fault_box:WbrFaultBox",
                  "parts-faults": "instruments.parts.faults:PartsFaultBox"},
    "led": {"wbr-ledsense": "instruments.led.sensor_board:WbrLedSense",
            "opencv-camera": "instruments.led.camera:OpenCvCamera"},
    "meter": {"wbr-meter": "instruments.meter.emulator:WbrMeterEmulator"},
    "backend": {"ocpp16": "instruments.backend:OcppCentralSystem"},
    "card": {"chameleon-ultra": "instruments.card:ChameleonUltra", "card-carousel": "instruments.card:CardCarousel"},
    "buzzer": {"microphone": "instruments.buzzer:Microphone", "wbr-audio": "instruments.buzzer:WbrAudioBoard"},
    "button": {"switch-button": "instruments.button:SwitchButton"},
}

DRIVER_KINDS: dict[str, tuple[str, ...]] = {
    "wbr-cpemu": ("serial",), "wbr-installer": ("serial",), "wbr-ledsense": ("serial",),
    "yokogawa-wt": ("visa",), "keysight-ac6800": ("visa",), "ametek-lx": ("visa",), "chroma-63800": ("visa",),
    "wbr-faultbox": ("can",), "opencv-camera": ("camera",), "wbr-meter": ("meter",),
    "keysight-daq970": ("visa",), "modbus-relays": ("modbus",), "keysight-infiniivision": ("visa",),
    "keysight-e36100": ("visa",), "watlow-f4t": ("modbus",), "parts-cp": ("parts-cp",), "parts-faults": ("parts-faults",),
    "ocpp16": ("ocpp",), "chameleon-ultra": ("serial", "card"), "card-carousel": ("card",),
    "microphone": ("audio",), "wbr-audio": ("serial",), "switch-button": ("button",),
}
"""The transports each built-in driver talks through, hence the settings its rig table may hold
(`rig.config.SETTINGS_BY_KIND`); a plug-in driver may use any of them."""

VIRTUAL_LAB = "sim.lab:start_virtual_lab"
"""The virtual lab's launcher; imported lazily so that `rig/` never depends on `sim/`."""
VIRTUAL_LAB_KNOBS = "sim.params:resolve_knobs"
"""Validates the simulated wallbox's knobs (same lazy import)."""


COMPOSED = ("parts-cp", "parts-faults", "card-carousel", "switch-button")
"""Drivers that are built from other roles (their class names them in `parts`), not from an address."""


def available_drivers(role: str) -> dict[str, str]:
    drivers = dict(BUILTIN_DRIVERS.get(role, {}))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep_role, _, name = ep.name.partition(".")
        if ep_role == role and name:
            drivers[name] = ep.value
    return drivers


def load_object(target: str) -> Any:
    """Import `module:attr` on demand."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)

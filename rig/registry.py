"""Roles and driver names: what a rig can hold, and which class drives each name.

A driver name maps to `module:Class`, imported only when a rig file asks for it; everything else
about a driver (how it is reached, which settings it reads, which roles it is built from) is
declared by the class itself (`instruments.base.Instrument`).  A lab adds its own driver without
forking: an entry point in the group `wallbox_rig.drivers` named `ROLE.NAME`
(e.g. `analyser.hioki-pw3390 = mylab.hioki:PW3390`); docs/writing-a-driver.md shows one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "wallbox_rig.drivers"


@dataclass(frozen=True)
class Role:
    """One instrument role: its interface, what it is for, and what its safe state does."""

    name: str
    interface: str
    """`module:Class` every driver of the role subclasses (the `Rig` property's type)."""
    doc: str
    safe_step: str | None
    """What its safe state does, as the report's safe-state steps say it (None: a role that only
    measures, whose safe state is the one it is in)."""


ROLES: tuple[Role, ...] = (
    # in the order the safe state visits them: injections off first, the supply last
    Role("fault_box", "instruments.fault_box:FaultBox",
         "fault-injection box (residual current, weld, PE, temperature, PS_1/PS_2)", "fault injection off"),
    Role("dc_source", "instruments.dc_source:DcSource",
         "DC source driving a smooth DC residual current into the leakage path (docs/bench/cots.md)", "DC source off"),
    Role("chamber", "instruments.chamber:Chamber", "climate chamber: the DUT's ambient (WB-TH-01 at real "
         "temperatures)", "chamber to room temperature"),
    Role("card", "instruments.card:CardPresenter",
         "RFID card presenter: a card emulator or a carousel of cards at the DUT's reader", "no card at the reader"),
    Role("button", "instruments.button:Button",
         "actuator on the DUT's pairing button (a switch channel driving a solenoid)", "pairing button released"),
    Role("buzzer", "instruments.buzzer:Buzzer", "microphone at the DUT's beeper", "recording stopped"),
    Role("ev_comms", "instruments.ev_comms:EvComms", "the vehicle's ISO 15118 communication controller (SDP, "
         "V2GTP, SessionSetup with its EVCC ID)", None),
    Role("cp", "instruments.cp_emulator:CpEmulator",
         "CP/PP emulator (vehicle side of the control and proximity pilots)", "CP emulator to state A"),
    Role("switch", "instruments.switch:Switch", "switch unit or relay module: the vehicle's resistor network, "
         "weld bridges, PE, PS_1/PS_2 ([wiring])", "every relay open"),
    Role("load", "instruments.ac_load:AcLoad", "electronic AC load standing in for the vehicle's charger",
         "load off"),
    Role("installer", "instruments.installer:Installer",
         "the DUT's installer interface (current setting, pause), bridged to what the DUT speaks",
         "installer setting restored"),
    Role("meter", "instruments.meter:MeterEmulator", "Modbus meter emulator",
         "meter emulator answers truthfully"),
    Role("backend", "instruments.backend:Backend",
         "OCPP 1.6J central system the DUT connects to (the rig listens; the DUT is the charge point)",
         "backend online, charging profiles cleared, configuration restored"),
    Role("scope", "instruments.scope:Scope",
         "oscilloscope on CP and the vehicle-side voltage: the bench's timebase for edges", None),
    Role("analyser", "instruments.power_analyser:PowerAnalyser", "power analyser on the wallbox output", None),
    Role("led", "instruments.led:LedSensor", "LED sensor (camera or colour sensor)", None),
    Role("source", "instruments.ac_source:AcSource", "programmable AC source feeding the wallbox",
         "source to its configured idle, or off"),
)
ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)


def role(name: str) -> Role:
    return next(r for r in ROLES if r.name == name)


BUILTIN_DRIVERS: dict[str, dict[str, str]] = {
    "cp": {"wbr-cpemu": "instruments.cp_emulator:WbrCpEmulator",
           "parts-cp": "instruments.parts.cp:PartsCpEmulator"},
    "switch": {"keysight-daq970": "instruments.switch:KeysightDaq970",
               "modbus-relays": "instruments.switch:ModbusRelayBoard"},
    "scope": {"keysight-infiniivision": "instruments.scope:KeysightInfiniiVision"},
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
    "backend": {"ocpp16": "instruments.backend:OcppCentralSystem", "ocpp201": "instruments.backend:Ocpp201CentralSystem"},
    "card": {"chameleon-ultra": "instruments.card:ChameleonUltra", "card-carousel": "instruments.card:CardCarousel"},
    "buzzer": {"microphone": "instruments.buzzer:Microphone", "wbr-audio": "instruments.buzzer:WbrAudioBoard"},
    "button": {"switch-button": "instruments.button:SwitchButton"},
    "ev_comms": {"v2g-ip": "instruments.ev_comms:V2gOverIp", "greenphy-ev": "instruments.ev_comms:GreenPhyEv"},
}

VIRTUAL_LAB = "sim.lab:start_virtual_lab"
"""The virtual lab's launcher; imported lazily so that `rig/` never depends on `sim/`."""
VIRTUAL_LAB_KNOBS = "sim.params:resolve_knobs"
"""Validates the simulated wallbox's knobs (same lazy import)."""


def available_drivers(role: str) -> dict[str, str]:
    """Driver name → `module:Class` for `role`: the built-in ones, then the plug-ins' entry points."""
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

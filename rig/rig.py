"""`Rig`: opens what a rig file describes, and always leaves the DUT in the safe state.

Safe state (DESIGN.md): fault injection off, CP emulator to state A, load off, source to its
configured idle.  Every step is attempted even when an earlier one fails; the failures are
raised together afterwards, so one dead instrument never leaves another one live.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

from instruments.ac_load import AcLoad
from instruments.ac_source import AcSource
from instruments.backend import Backend
from instruments.base import Instrument
from instruments.button import Button
from instruments.buzzer import Buzzer
from instruments.ev_comms import EvComms
from instruments.card import CardPresenter, deck_from
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from instruments.installer import Installer
from instruments.led import LedSensor
from instruments.meter import MeterEmulator
from instruments.power_analyser import PowerAnalyser
from instruments.transport.factory import open_line_transport
from rig.clock import Clock, RealClock, VirtualClock
from rig.config import RigConfig, check_against_profile, load_rig_file
from rig import interrupts
from core.errors import ConfigError, InstrumentOperationError, RigError, SafetyRefusal
from rig.places import Place, references
from rig.profile import Profile, load_profile
from rig.registry import ROLE_NAMES, ROLES, VIRTUAL_LAB, VIRTUAL_LAB_KNOBS, available_drivers, load_object
from rig.registry import role as role_of

log = logging.getLogger("wallbox_rig.rig")


@dataclass
class SafeStateReport:
    """What the last safe-state pass did, for the report and for tests of failing safe."""

    steps: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Rig:
    def __init__(self, config: RigConfig, profile: Profile, sim_overrides: dict[str, str] | None = None,
                 live: bool = False) -> None:
        self.lab_journal: Path | None = None
        """Where the virtual lab writes its journal as it goes (set before `open`), if anywhere."""
        self.config = config
        self.profile = profile
        self.sim_overrides = dict(sim_overrides or {})
        self.live = live
        self.instruments: dict[str, Instrument] = {}
        self.identities: dict[str, str] = {}
        self.clock: Clock = RealClock()
        self.lab: Any = None
        self.place: Place | None = None
        """The labgrid place this rig holds while open (a rig file with `[place]`)."""
        self.notify: Callable[[str], None] | None = None
        """Where waiting for a place is reported (set before `open`; default: stderr)."""
        self.last_safe_state = SafeStateReport()
        self.unreachable: dict[str, str] = {}
        """Roles that did not open (only with `open(every_role=True)`), and why."""
        self.energised = False

    @classmethod
    def from_config(cls, config: RigConfig, profile: str | Profile | None = None,
                    sim_overrides: dict[str, str] | None = None, live: bool = False) -> Rig:
        """`profile` (a name or file, or one already read) overrides the rig file's."""
        dut = profile if isinstance(profile, Profile) else resolve_profile(config, profile)
        check_against_profile(config, dut)
        return cls(config, dut, sim_overrides, live)

    @classmethod
    def from_file(cls, path: str | Path, profile: str | None = None,
                  sim_overrides: dict[str, str] | None = None, live: bool = False) -> Rig:
        return cls.from_config(load_rig_file(path), profile, sim_overrides, live)

    # --- opening and closing -------------------------------------------------------------
    def open(self, every_role: bool = False) -> Rig:
        """Open every instrument and reach the safe state.  `every_role` (bench bring-up, `rig ping`):
        an instrument that will not open is noted in `unreachable` and the others still open, instead
        of the first failure closing the rig."""
        try:
            endpoints: dict[str, str] = {}
            classes = {role: load_object(available_drivers(role)[inst.driver])
                       for role, inst in self.config.instruments.items()}
            if self.config.in_process_lab:
                # the roles the lab dials (the meter emulator, the backend) listen first, on ports the kernel
                # picks; the lab is told them (a port probed and released could be taken in between)
                served = {role: name for role, inst in self.config.instruments.items()
                          for name in SERVED_BY_RIG if f"sim:{name}" in inst.addresses}
                for role in served:
                    self._build(role, classes[role], dict(SERVED_BY_RIG), every_role)
                self.lab = self._start_lab({name: port for role, name in served.items() if role in self.instruments
                                            for port in [self.instruments[role].listening_port()] if port})
                endpoints = self.lab.endpoints
            elif self.config.virtual and self.sim_overrides:
                raise ConfigError(self.config.path, "sim.served", "no --sim-set: a served virtual lab took its knobs "
                                  "when it was started (wallbox-rig sim serve --sim-set …)",
                                  ", ".join(self.sim_overrides))
            if self.config.place is not None:
                self.place = Place(self.config.place, self.notify).acquire()
            if self.config.clock == "virtual":
                address = self._resolve(self.config.clock_address or "", endpoints, "clock.address")
                self.clock = VirtualClock(open_line_transport("clock", address, {}),
                                          reopen=lambda: open_line_transport("clock", address, {}))
            # drivers with an address first; those composed of them (a CP emulator from a switch and a
            # scope) after, on the wiring table
            for role in sorted(classes, key=lambda r: bool(classes[r].parts)):
                if role not in self.instruments and role not in self.unreachable:
                    self._build(role, classes[role], endpoints, every_role)
            if isinstance(self.instruments.get("backend"), Backend):
                self.backend.attach_clock(self.clock.reader(), self.clock.virtual)
            if isinstance(self.instruments.get("ev_comms"), EvComms):
                self.ev_comms.attach_clock(self.clock.reader())
            for inst in self.instruments.values():
                for every_s, callback in inst.watches():
                    self.clock.watch(every_s, callback)
            if isinstance(self.instruments.get("analyser"), PowerAnalyser):
                self.analyser.configure()
                self.analyser.start_integration()
            if self.config.attached and isinstance(self.instruments.get("source"), AcSource):
                self.energised = self.source.output_is_on()   # an attached session keeps the DUT it found
            self.safe_state(raise_failures=not every_role, between_tests=self.config.attached)
        except BaseException:
            self.close()
            raise
        return self

    def _build(self, role: str, cls: Any, endpoints: dict[str, str], every_role: bool) -> None:
        """Build, start clean and identify one role; with `every_role` a failure is noted, not raised."""
        inst = self.config.instruments[role]
        try:
            missing = [p for p in cls.parts if p not in self.instruments]
            if missing:
                raise RigError(f"built from {', '.join(missing)}, which did not open")
            addresses = [self._resolve(a, endpoints, f"instruments.{role}.address") for a in inst.addresses]
            self.instruments[role] = cls.build(role, addresses, inst.settings, self.instruments, self.config.wiring)
            self.instruments[role].start_clean()
            self.identities[role] = self.instruments[role].identify()
        except Exception as exc:   # noqa: BLE001 - bring-up reports every role, then the run refuses
            if not every_role:
                raise
            self.unreachable[role] = f"{type(exc).__name__}: {exc}"
            self.instruments.pop(role, None)

    def _start_lab(self, bound: dict[str, int] | None = None) -> Any:
        knobs = sim_knobs(self.config, self.sim_overrides, self.profile.id)
        sim = self.config.sim or {}
        return load_object(VIRTUAL_LAB)(seed=knobs["seed"], knobs=knobs, realtime=sim["realtime"],
                                        source_file=str(self.config.path),
                                        journal_path=str(self.lab_journal) if self.lab_journal else None,
                                        rs485=rs485_line(self.config), ocpp=ocpp_account(self.config),
                                        cards=lab_cards(self.config), bound_ports=bound or {})

    def _resolve(self, address: str, endpoints: dict[str, str], key: str) -> str:
        if self.place is not None and references(address):
            return self.place.address(address, f"{self.config.path}: [{key}]")
        if not address.startswith("sim:"):
            return address
        name = address[4:]
        if name not in endpoints:
            raise ConfigError(self.config.path, key, f"a virtual lab endpoint ({', '.join(sorted(endpoints))})",
                              address)
        return endpoints[name]

    def close(self) -> None:
        try:
            if self.instruments:
                self.safe_state(raise_failures=False, between_tests=self.config.attached)
        finally:
            for inst in self.instruments.values():
                try:
                    inst.close()
                except Exception as exc:  # noqa: BLE001 - closing must reach every instrument
                    log.warning("closing %s failed: %s", inst.role, exc)
            self.instruments.clear()
            try:
                self.clock.close()
                if self.lab is not None:
                    self.lab.stop()
                    self.lab = None
            finally:
                if self.place is not None:  # after the safe state: the next run finds the bench safe
                    place, self.place = self.place, None
                    place.release()

    def __enter__(self) -> Rig:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- roles ---------------------------------------------------------------------------
    def has(self, role: str) -> bool:
        return role in self.instruments

    def role(self, name: str) -> Instrument:
        """The driver of role `name` (an interface of the roles table)."""
        if name not in ROLE_NAMES:
            raise RigError(f"no instrument role {name!r} ({', '.join(ROLE_NAMES)})")
        return self._role(name, load_object(role_of(name).interface))

    def _role(self, role: str, kind: type) -> Any:
        """The role's driver, checked to be a `kind` (the typed properties name their interface)."""
        inst = self.instruments.get(role)
        if inst is None:
            raise RigError(f"this rig ({self.config.path}) has no {role!r} instrument")
        if not isinstance(inst, kind):
            raise RigError(f"the {role!r} driver {type(inst).__name__} is not a {kind.__name__}")
        return inst

    @property
    def cp(self) -> CpEmulator:
        return self._role("cp", CpEmulator)

    @property
    def analyser(self) -> PowerAnalyser:
        return self._role("analyser", PowerAnalyser)

    @property
    def source(self) -> AcSource:
        return self._role("source", AcSource)

    @property
    def load(self) -> AcLoad:
        return self._role("load", AcLoad)

    @property
    def installer(self) -> Installer:
        return self._role("installer", Installer)

    @property
    def fault_box(self) -> FaultBox:
        return self._role("fault_box", FaultBox)

    @property
    def led(self) -> LedSensor:
        return self._role("led", LedSensor)

    @property
    def meter(self) -> MeterEmulator:
        return self._role("meter", MeterEmulator)

    @property
    def backend(self) -> Backend:
        return self._role("backend", Backend)

    @property
    def card(self) -> CardPresenter:
        return self._role("card", CardPresenter)

    @property
    def buzzer(self) -> Buzzer:
        return self._role("buzzer", Buzzer)

    @property
    def ev_comms(self) -> EvComms:
        return self._role("ev_comms", EvComms)

    @property
    def button(self) -> Button:
        return self._role("button", Button)

    # --- power and safety ----------------------------------------------------------------
    def energise(self, volts: float | None = None, hz: float | None = None, phases: int = 3) -> None:
        """Switch the DUT's supply on (the rig file's idle voltage and frequency unless given; with
        `phases=1`, L1 alone: a single-phase installation); a lab rig refuses unless it was opened
        with `live=True`.  Everything is programmed before the output goes on, so the DUT powers up
        on exactly that supply."""
        interrupts.check()  # a stop asked for while the rig opened: nothing is switched on
        if not self.config.virtual and not self.live:
            raise SafetyRefusal(f"{self.config.path}: a lab rig energises the DUT only with --live")
        interlock = self.config.safety.interlock
        if interlock is None:
            interlock = not self.config.virtual
        if interlock:
            closed = self.cp.interlock_closed()
            if closed.value != 1:
                raise SafetyRefusal(f"{self.config.path}: the interlock is open (CP board input ILK: bench door "
                                    "or emergency stop), so the DUT is not energised; close it and start again")
        safety = self.config.safety
        self.source.set_voltage(safety.source_idle_v if volts is None else volts)
        self.source.set_frequency(safety.source_idle_hz if hz is None else hz)
        for phase in range(phases + 1, 4):
            self.source.set_phase_voltage(phase, 0.0)
        self.source.set_output(True)
        self.energised = True

    def safe_state(self, raise_failures: bool = True, between_tests: bool = False) -> SafeStateReport:
        """Every role to its safe state.  `between_tests`: the run goes on, so an energised DUT keeps
        its supply at the rig file's idle (a bench with `source_idle_on = false` switches it off only
        when the run ends or stops, not before every test, which would leave no DUT to test)."""
        report = SafeStateReport()

        def step(name: str, action: Any) -> None:
            try:
                action()
                report.steps.append(name)
            except Exception as exc:  # noqa: BLE001 - every step must be tried
                report.failures.append(f"{name}: {exc}")
                log.error("safe state step %s failed: %s", name, exc)

        for role in ROLES:
            if role.name not in self.instruments or role.safe_step is None:
                continue
            if role.name == "installer" and self.config.attached:
                continue   # its SAFE is the factory's settings (no cards, no registration): an attached session keeps them
            if role.name == "source":
                safety = self.config.safety
                if self.energised and (safety.source_idle_on or between_tests):
                    step("source to idle", lambda: (self.source.set_voltage(safety.source_idle_v),
                                                    self.source.set_frequency(safety.source_idle_hz)))
                else:
                    step("source off", lambda: self.source.set_output(False))
            elif role.name == "backend":
                step(role.safe_step, self._backend_safe)
            else:
                step(role.safe_step, self.instruments[role.name].safe)
        self.last_safe_state = report
        if self.lab is not None:
            self.lab.journal("safe_state", ok=not report.failures, steps=report.steps, failures=report.failures)
        if report.failures and raise_failures:
            raise RigError("safe state incomplete: " + "; ".join(report.failures))
        return report

    def _backend_safe(self) -> None:
        """The backend's safe state, before the supply's: a DUT that went offline while it owes a restore
        (a test changed its configuration or profiles) is waited for, on the rig clock, so the run leaves
        a served lab or a bench as it found it, or says it could not."""
        backend = self.backend
        if backend.owes_restore():
            backend.set_online(True)
            self.clock.wait_until(backend.connected, backend.reconnect_wait_s, poll_s=1.0)
        backend.safe()
        if backend.owes_restore():
            raise InstrumentOperationError("backend", f"the DUT stayed offline {backend.reconnect_wait_s:g} s: the "
                                           "configuration keys and charging profiles a test changed are not restored")

    # --- provenance ----------------------------------------------------------------------
    def provenance(self) -> dict[str, Any]:
        return {
            "rig_file": str(self.config.path),
            "rig_name": self.config.name,
            "virtual_lab": self.config.virtual,
            "seed": self.lab.knob_values()["seed"] if self.lab is not None else (self.config.sim or {}).get("seed"),
            "sim_knobs": self.lab.knob_values() if self.lab is not None else None,
            "drivers": {role: inst.driver for role, inst in self.config.instruments.items()},
            "identities": dict(self.identities),
            "calibration_due": {role: inst.calibration_due for role, inst in self.config.instruments.items()
                                if inst.calibration_due},
            "calibration_certificates": {role: inst.calibration_certificate
                                         for role, inst in self.config.instruments.items()
                                         if inst.calibration_certificate},
            "profile": self.profile.id,
            "profile_file": str(self.profile.path),
            "dut_firmware": self.config.dut.firmware,
            "dut_serial": self.config.dut.serial,
            "git_commit": git_commit(self.config.path.parent),
            "file_sha256": {"rig file": sha256_of(self.config.path), "profile": sha256_of(self.profile.path)},
            "wallbox_rig_version": package_version(),
            **(self.place.provenance() if self.place is not None else {}),
        }


SERVED_BY_RIG = {"rs485": "socket://127.0.0.1:0", "ocpp": "ws://127.0.0.1:0"}
"""The virtual lab's endpoints where the rig listens and the lab dials: the meter emulator on the RS485
converter's port, the backend where the simulated wallbox connects.  Bound before the lab starts."""
READY_CP_HIGH_V = 10.5
"""CP above this (halfway between nominal states A and B) with no PWM: the EVSE idles in A1."""
READY_TIMEOUT_S = 120.0
"""How long a DUT may take from power-on to A1 before the rig calls it broken."""


def dut_idle(rig: Rig) -> bool:
    """The DUT idles in A1: +12 V on CP, no PWM, output dead."""
    m = rig.cp.measure_cp()
    return m.high_v > READY_CP_HIGH_V and m.frequency_hz == 0 and rig.cp.output_present().value == 0


def resolve_profile(config: RigConfig, profile: str | None = None) -> Profile:
    """The DUT profile a run judges against: `profile` (a name, or a file relative to the current
    folder, as typed after `--profile`) or else the rig file's (a file relative to the rig file)."""
    if profile:
        return load_profile(profile, Path.cwd(), named_in=None, key="--profile")
    return load_profile(config.profile, config.path.parent, named_in=config.path)


def sim_knobs(config: RigConfig, overrides: dict[str, str] | None = None,
              profile_id: str | None = None) -> dict[str, Any]:
    """The simulated wallbox's knobs for a virtual-lab rig: `[sim] seed`, then `[sim.dut]`, then
    `[sim.dut_for_profile.PROFILE]` (the virtual lab builds the product the profile names, e.g. a
    socket outlet), then `--sim-set`, validated; a bad one is a `ConfigError` naming file and key."""
    overrides = dict(overrides or {})
    sim = config.sim or {}
    per_profile = dict(sim.get("dut_for_profile", {}).get(profile_id, {}))
    raw: dict[str, object] = {"seed": sim.get("seed", 1), **config.sim_dut, **per_profile, **overrides}
    try:
        return dict(load_object(VIRTUAL_LAB_KNOBS)(raw))
    except ValueError as exc:
        knob = getattr(exc, "knob", None)
        if knob is None:
            raise
        key = f"sim.dut_for_profile.{profile_id}.{knob}" if knob in per_profile else f"sim.dut.{knob}"
        raise ConfigError(config.path, key, getattr(exc, "expected", "a valid value"), getattr(exc, "found", None),
                          hint="given with --sim-set" if knob in overrides else "") from exc


def rs485_line(config: RigConfig) -> dict[str, Any] | None:
    """The virtual lab's RS485 converter runs at the meter's line settings as the rig file gives
    them (else the model's defaults), as a bench's converter is set up once; a served lab
    (`wallbox-rig sim serve`) the same as an in-process one."""
    meter = config.instruments.get("meter")
    if meter is None:
        return None
    from instruments.meter.registers import DEFAULT_MODEL, load_map
    defaults = load_map(str(meter.settings.get("model", DEFAULT_MODEL))).defaults
    return {key: meter.settings.get(key, defaults[key]) for key in ("baud", "parity", "stopbits")}


def ocpp_account(config: RigConfig, url: str | None = None) -> dict[str, Any] | None:
    """What the simulated wallbox's installer entered for its backend: the identity and password of
    the rig file's backend, and where to dial: `url` if given (`sim serve --backend-url`, any central
    system), else the backend's own address when it is a URL (a wildcard host dialled on loopback),
    else (`sim:ocpp`) the lab's `ocpp` endpoint, where the rig's backend listens; and in the OCPP version
    the backend prefers (a wallbox set up for it).  None without a backend: such a wallbox dials none."""
    backend = config.instruments.get("backend")
    if backend is None:
        return None
    address = url or backend.addresses[0]
    if address.startswith("sim:"):
        address = ""
    for wildcard in ("0.0.0.0", "[::]"):
        address = address.replace(f"//{wildcard}:", "//127.0.0.1:")
    return {"charge_point_id": backend.settings.get("charge_point_id"), "password": backend.settings.get("password"),
            "url": address.rstrip("/") or None, "version": backend_versions(config)[0]}


def backend_versions(config: RigConfig) -> tuple[str, ...]:
    """The OCPP versions the rig file's backend offers, preferred first (its `versions`, or its driver's);
    () without a backend."""
    backend = config.instruments.get("backend")
    if backend is None:
        return ()
    drivers = available_drivers("backend")
    default = getattr(load_object(drivers[backend.driver]), "VERSIONS", ("1.6",)) if backend.driver in drivers \
        else ("1.6",)
    versions: Sequence[str] = backend.settings.get("versions") or default
    return tuple(str(v) for v in versions)


def lab_cards(config: RigConfig) -> dict[str, Any] | None:
    """The virtual lab's physical cards, as the rig file's card role names them: the setup card
    delivered with the simulated wallbox, and what a carousel holds in its positions (setup card,
    cards, foreign card).  None without a card role: that wallbox knows no setup card."""
    card = config.instruments.get("card")
    if card is None:
        return None
    deck = deck_from(card.settings)
    return {"setup_card": deck.setup.id_tag, "carousel": [(c.id_tag, c.kind) for c in deck.all()]}


def git_commit(folder: Path) -> str:
    """The commit of the repository the rig file lives in (a lab keeps its rig files and profiles under
    version control; a checkout of wallbox-rig holds its own), "+dirty" when it has uncommitted changes;
    "none" outside a repository (an installed wheel's shipped rig files)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True,
                              timeout=5)
        if head.returncode != 0 or not head.stdout.strip():
            return "none"
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "none"


def sha256_of(path: Path) -> str:
    """What a file held when the run used it (a report can then be tied to the exact file)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def package_version() -> str:
    """The installed wallbox-rig's version (a checkout installed with `pip install -e` has one too)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("wallbox-rig")
    except PackageNotFoundError:
        return "not installed"

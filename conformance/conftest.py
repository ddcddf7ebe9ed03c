"""What every conformance test shares: the cable in a socket outlet, and the profile's settings.

The plugin gives a fixture per role (the bare driver); `cp` and `fault_box` here refine two of them
with what the suite needs around them (the test cable in a socket outlet; recovery after an injection)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import limits
from conformance.grid import Building
from conformance.injection import recover
from conformance.installation import Installation
from conformance.session import settable_currents, socket_outlet, socket_test_cable
from conformance.thermal import restore_ambient
from fixtures.session import dut_profile
from instruments.cp_emulator import CpEmulator
from instruments.fault_box import FaultBox
from rig.rig import Rig, sha256_of
from conformance.limits import LIMITS
from core.errors import PreconditionError
from fixtures.evidence import Evidence
from instruments.backend import Backend


@pytest.fixture
def cp(idle_dut: Rig) -> CpEmulator:
    """The vehicle emulator; on a socket-outlet EVSE the rig's test cable is plugged into the socket
    first (PP coded, vehicle still unplugged), as a driver does before reaching the car."""
    board = idle_dut.cp
    if socket_outlet(idle_dut.profile):
        board.set_pp(socket_test_cable()[0])
    return board


def pytest_configure(config: pytest.Config) -> None:
    folder = config.getoption("--wbr-limits", None)
    limits.use_folder(Path(folder) if folder else None)


def pytest_wbr_validate(config: pytest.Config) -> None:
    """Called by the plugin before the first test: a broken limits file stops the run there."""
    limits.load()


def pytest_wbr_sources(config: pytest.Config) -> dict[str, Any] | None:
    """What the limits cite and which limit files judged the run (the plugin keeps it in the run folder)."""
    try:
        loaded = limits.load()
    except Exception:  # noqa: BLE001 - a broken limits file was reported when the run stopped
        return None
    sources = {key: {"document": s.document, "edition": s.edition, "where": s.where, "says": s.says}
               for key, s in loaded.sources.items()}
    hashes = {p.name: sha256_of(p) for p in sorted(Path(loaded.folder).glob("*.toml"))}
    return {"limits_folder": str(loaded.folder), "sources": sources, "limit_files_sha256": hashes}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`setting_a`: every settable current of the run's DUT profile (ids like `16A`); `model`: every
    meter model it supports (ids like `janitza-b23`; `none` where it lists none, and the test skips);
    `single_phase_v`, `three_phase_v`, `supply_hz`: both ends of its rated supply ranges (`100V`)."""
    if "model" in metafunc.fixturenames:  # every meter the DUT profile supports (WB-MB-03)
        profile = dut_profile(metafunc.config)
        models = list(profile.meter.models) if profile is not None else []
        metafunc.parametrize("model", models or ["none"])
    for name, key, unit in (("single_phase_v", "supply_single_phase_v", "V"),
                            ("three_phase_v", "supply_three_phase_v", "V"), ("supply_hz", "supply_frequency_hz", "Hz")):
        if name in metafunc.fixturenames:   # both ends of each rated supply range (WB-EL-01, WB-EL-02)
            profile = dut_profile(metafunc.config)
            ends = sorted(set(getattr(profile.electrical, key))) if profile is not None else [float("nan")]
            metafunc.parametrize(name, ends, ids=[f"{v:g}{unit}" for v in ends])
    if "setting_a" in metafunc.fixturenames:
        profile = dut_profile(metafunc.config)
        values = settable_currents(profile) if profile is not None else [float("nan")]
        metafunc.parametrize("setting_a", values, ids=[f"{v:g}A" for v in values])


@pytest.fixture
def fault_box(idle_dut: Rig) -> Iterator[FaultBox]:
    """The fault box; afterwards a chamber is back at room temperature with the enclosure soaked, every
    injection is removed and the DUT recovered by the documented procedure (power cycle), so the next
    test starts from A1, cool, with nothing latched."""
    box = idle_dut.fault_box
    yield box
    restore_ambient(box, idle_dut.clock)
    if idle_dut.has("source"):
        recover(idle_dut, idle_dut.clock)
    else:
        box.safe()


@pytest.fixture
def backend(idle_dut: Rig, evidence: Evidence) -> Iterator[Backend]:
    """The OCPP backend, with the DUT booted against it and the rig file's configuration set; the
    frames of the test are kept as its message sequence.  A profile without OCPP skips."""
    if idle_dut.profile.ocpp is None:
        pytest.skip(f"profile {idle_dut.profile.id} declares no OCPP ([ocpp] table)")
    central = idle_dut.backend
    clock = idle_dut.clock
    wait = LIMITS.ocpp.boot_timeout.value
    if not clock.wait_until(lambda: central.booted() and central.connected(), wait, poll_s=1.0):
        raise PreconditionError(f"the DUT did not connect and boot against the backend within {wait:g} s")
    if not central.configured:
        central.configure()
    since = clock.now()
    yield central
    evidence.messages("OCPP messages", central.messages(since))


@pytest.fixture
def installation(idle_dut: Rig) -> Iterator[Installation]:
    """Powers the DUT up on another rated supply when the test asks; afterwards back on the rig
    file's idle supply by a power cycle, so the next test finds the DUT installed as usual."""
    installed = Installation(idle_dut)
    yield installed
    installed.restore()


@pytest.fixture
def building(idle_dut: Rig, installation: Installation) -> Iterator[Building]:
    """The household and PV behind the meter, the vehicle following the offer; afterwards the
    emulator serves the rig file's meter again (the installer's SAFE restores the DUT's setup)."""
    yield Building(idle_dut, installation)
    meter = idle_dut.meter
    meter.set_fault("none")
    default = str(idle_dut.config.instruments["meter"].settings.get("model", meter.line["model"]))
    if meter.line["model"] != default:
        meter.serve(default)

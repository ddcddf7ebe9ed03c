"""Rig files and profiles: good ones load; bad ones say which file, which key, what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.config import REPO_ROOT, load_rig_file, with_place
from core.errors import ConfigError, RigError
from rig.places import Place, PlaceSpec, address_of, exporter_config
from rig.profile import available_profiles, load_profile

GOOD = """
[rig]
name = "t"
profile = "bmw-wallbox-plus"
[clock]
kind = "real"
[instruments.cp]
driver = "wbr-cpemu"
address = "/dev/ttyACM0"
"""


def write(tmp_path: Path, text: str, name: str = "rig.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["sim.toml", "lab-example.toml"])
def test_shipped_rig_files_load(name: str) -> None:
    config = load_rig_file(REPO_ROOT / "rigs" / name)
    assert {"cp", "analyser", "source", "load"} <= set(config.instruments)


def test_lab_example_is_a_real_time_rig_with_three_load_units() -> None:
    config = load_rig_file(REPO_ROOT / "rigs" / "lab-example.toml")
    assert config.clock == "real" and not config.virtual
    assert len(config.instruments["load"].addresses) == 3
    assert config.instruments["analyser"].calibration_due == "2027-03-31"


@pytest.mark.parametrize("edit, key, expected", [
    (('driver = "wbr-cpemu"', 'driver = "nope"'), "instruments.cp.driver", "a cp driver"),
    (('kind = "real"', 'kind = "fast"'), "clock.kind", '"real" or "virtual"'),
    (('kind = "real"', 'kind = "virtual"'), "clock.kind", '"real" on a rig without a [sim] table'),
    (('[instruments.cp]', '[instruments.toaster]'), "instruments.toaster", "an instrument role"),
    (('address = "/dev/ttyACM0"', 'address = 5'), "instruments.cp.address", "a string or list"),
    (('address = "/dev/ttyACM0"', 'address = "sim:cp"'), "instruments.cp.address", "a real instrument address"),
    (('name = "t"', 'nmae = "t"'), "rig.nmae", "one of name, profile"),
    (('address = "/dev/ttyACM0"', 'address = "ttyACM0"'), "instruments.cp.address", "a VISA resource"),
    (('address = "/dev/ttyACM0"', 'address = "can:socketcand:vcan0"'), "instruments.cp.address",
     "can:socketcand:CHANNEL@HOST:PORT"),
])
def test_bad_rig_file_names_file_key_and_expectation(tmp_path: Path, edit: tuple[str, str], key: str,
                                                     expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(ConfigError) as err:
        load_rig_file(path)
    text = str(err.value)
    assert str(path) in text and f"[{key}]" in text and expected in text


def test_missing_table_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[clock\].*table is missing"):
        load_rig_file(write(tmp_path, GOOD.replace('[clock]\nkind = "real"\n', "")))


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[rig\nname=")
    with pytest.raises(ConfigError, match="expected valid TOML"):
        load_rig_file(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_rig_file(tmp_path / "absent.toml")


def test_all_three_profiles_exist_and_carry_requirement_ids() -> None:
    assert {"bmw-wallbox-plus", "mini-wallbox-plus", "generic-iec61851"} <= set(available_profiles())
    bmw = load_profile("bmw-wallbox-plus")
    assert "WB-EL-03" in bmw.requirement_ids() and "WB-CL-01" in bmw.requirement_ids()
    assert bmw.electrical.settable_currents_a == (0.0, 6.0, 10.0, 12.0, 16.0, 20.0, 24.0, 32.0)


def test_profiles_differ_where_the_manuals_do() -> None:
    bmw, mini = load_profile("bmw-wallbox-plus"), load_profile("mini-wallbox-plus")
    assert (bmw.led.colour, mini.led.colour) == ("blue", "yellow")
    assert bmw.electrical.settable_currents_kind == "discrete"
    assert mini.electrical.settable_currents_kind == "range"
    assert mini.control_pilot.simplified_control_supported is False


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="bmw-wallbox-plus"):
        load_profile("tesla-wall-connector")


def test_missing_profile_fact_names_the_profile_file(tmp_path: Path) -> None:
    text = (REPO_ROOT / "rig" / "profiles" / "bmw-wallbox-plus.toml").read_text()
    path = write(tmp_path, text.replace("phases = 3\n", ""), "broken-profile.toml")
    with pytest.raises(ConfigError, match=r"broken-profile.toml: \[electrical.phases\].*the key is missing"):
        load_profile(str(path))


def test_mistyped_profile_keys_are_refused_with_the_nearest_valid_one(tmp_path: Path) -> None:
    text = (REPO_ROOT / "rig" / "profiles" / "bmw-wallbox-plus.toml").read_text()
    with pytest.raises(ConfigError, match=r'\[electrical.phase\].*did you mean "phases"'):
        load_profile(str(write(tmp_path, text.replace("phases = 3", "phase = 3"), "p1.toml")))
    with pytest.raises(ConfigError, match=r"\[electrical.phases\]: expected one of 1, 3, found 2"):
        load_profile(str(write(tmp_path, text.replace("phases = 3", "phases = 2"), "p2.toml")))
    with pytest.raises(ConfigError, match=r"weld_signal_within_s"):
        load_profile(str(write(tmp_path, text.replace("weld_signal_within_s = 2.0", 'weld_signal_within_s = "2 s"'),
                               "p3.toml")))


def test_profile_promises_are_judged_limits_with_their_source() -> None:
    weld = load_profile("bmw-wallbox-plus").protection.weld_signal_within_s
    assert weld.high == 2.0 and weld.unit == "s" and "bmw-wallbox-plus" in weld.source and "unconfirmed" in weld.source
    assert load_profile("mini-wallbox-plus").control_pilot.e_f_contactor_open_ms.high == pytest.approx(0.1)


def test_misspelt_profile_name_in_a_rig_file_names_the_file_and_the_nearest(tmp_path: Path) -> None:
    from rig.rig import Rig

    text = (REPO_ROOT / "rigs" / "sim.toml").read_text().replace('profile = "bmw-wallbox-plus"',
                                                                  'profile = "bmw-wallbox-pluss"')
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        Rig.from_config(load_rig_file(path))
    assert str(path) in str(err.value) and "[rig.profile]" in str(err.value)
    assert 'did you mean "bmw-wallbox-plus"' in str(err.value) and "<no file>" not in str(err.value)


def test_sim_knobs_follow_the_profile_the_virtual_lab_impersonates(tmp_path: Path) -> None:
    from rig.rig import sim_knobs

    config = load_rig_file(REPO_ROOT / "rigs" / "sim.toml")
    assert sim_knobs(config, profile_id="bmw-wallbox-plus")["connector"] == "tethered"
    assert sim_knobs(config, profile_id="generic-iec61851")["connector"] == "socket"
    assert sim_knobs(config, {"connector": "tethered"}, "generic-iec61851")["connector"] == "tethered"
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text().replace('connector = "socket"', 'connector = "plug"')
    with pytest.raises(ConfigError) as err:
        sim_knobs(load_rig_file(write(tmp_path, text)), profile_id="generic-iec61851")
    assert "sim.dut_for_profile.generic-iec61851.connector" in str(err.value) and "tethered, socket" in str(err.value)


LAB = REPO_ROOT / "rigs" / "lab-example.toml"


@pytest.mark.parametrize("old, new, expected", [
    ("baudrate = 115200", 'baudrate = "fast"', r"\[instruments.cp.baudrate\]: expected a baud rate"),
    ('calibration_due = "2027-03-31"', 'calibraton_due = "2027-03-31"',
     r'\[instruments.analyser.calibraton_due\].*did you mean "calibration_due"'),
    ("roi_S1 = [28, 46, 54, 28]", "roi_S1 = [28, 46]", r"\[instruments.led.roi_S1\]: expected \[x, y, width, height\]"),
    ('calibration_due = "2027-03-31"', 'calibration_due = "next spring"',
     r"\[instruments.analyser.calibration_due\]: expected an ISO date"),
])
def test_rig_check_refuses_what_a_lab_gets_wrong(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = LAB.read_text()
    assert old in text
    with pytest.raises(ConfigError, match=expected):
        load_rig_file(write(tmp_path, text.replace(old, new, 1)))


def test_configured_current_must_fit_the_profile(tmp_path: Path) -> None:
    from rig.rig import Rig

    path = write(tmp_path, LAB.read_text().replace("configured_current_a = 16", "configured_current_a = 99"))
    with pytest.raises(ConfigError, match=r"\[dut.configured_current_a\]: expected a current the DUT can be set to, "
                                          r"0…32 A.*found 99"):
        Rig.from_config(load_rig_file(path))


def test_a_broken_driver_plug_in_is_caught_when_the_rig_file_is_loaded(tmp_path: Path, monkeypatch) -> None:
    from rig import registry

    monkeypatch.setitem(registry.BUILTIN_DRIVERS, "analyser", {"yokogawa-wt": "instruments.no_such_module:Nope"})
    with pytest.raises(ConfigError, match=r"\[instruments.analyser.driver\]: expected an importable driver"):
        load_rig_file(LAB)


# --- labgrid places (rig/places.py): what a rig file may say, and how resources become addresses ---
PLACED = GOOD.replace('address = "/dev/ttyACM0"', 'address = "place:cp"') + """
[place]
name = "bench-1"
coordinator = "127.0.0.1:20408"
"""


def test_a_rig_on_a_place_loads_and_names_its_place(tmp_path: Path) -> None:
    config = load_rig_file(write(tmp_path, PLACED))
    assert config.place is not None and config.place.filters() == ["name=bench-1"]
    assert config.instruments["cp"].addresses == ("place:cp",)
    tagged = with_place(config, None, {"kind": "wallbox"})
    assert tagged.place is not None and tagged.place.filters() == ["kind=wallbox"]


@pytest.mark.parametrize("text, key, fragment", [
    (GOOD.replace('"/dev/ttyACM0"', '"place:cp"'), "instruments.cp.address", "[place] table"),
    (PLACED.replace('name = "bench-1"', 'name = "bench-1"\ntags = { kind = "wallbox" }'), "place", "either"),
    (PLACED.replace('name = "bench-1"', ''), "place", "either"),
    (PLACED.replace('coordinator =', 'wait_s = -1\ncoordinator ='), "place.wait_s", "positive"),
    (PLACED.replace('coordinator =', 'cordinator ='), "place", "coordinator"),
])
def test_a_bad_place_says_which_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_rig_file(write(tmp_path, text))
    assert key in str(err.value) and fragment in str(err.value)


def test_place_options_need_a_rig_on_a_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[place\] table"):
        with_place(load_rig_file(write(tmp_path, GOOD)), "bench-2", None)


@pytest.mark.parametrize("cls, params, address", [
    ("NetworkSerialPort", {"host": "10.0.0.5", "port": 4001, "protocol": "raw"}, "socket://10.0.0.5:4001"),
    ("NetworkSerialPort", {"host": "bench-host", "port": 4002}, "rfc2217://bench-host:4002"),
    ("PyVISADevice", {"type": "TCPIP", "url": "TCPIP0::10.0.0.6::5025::SOCKET"}, "TCPIP0::10.0.0.6::5025::SOCKET"),
    ("NetworkService", {"address": "10.0.0.7", "port": 502, "username": "x"}, "tcp://10.0.0.7:502"),
    ("HTTPVideoStream", {"url": "http://cam/stream"}, "video:http://cam/stream"),
])
def test_place_resources_become_driver_addresses(cls: str, params: dict, address: str) -> None:
    assert address_of(cls, params, "x") == address


def test_a_place_address_inside_a_longer_one_and_an_unknown_resource() -> None:
    place = Place(PlaceSpec(name="bench-1"))
    place.name, place.resources = "bench-1", {"fault_box": ("NetworkService", {"address": "h", "port": 29536}),
                                              "analyser": ("PyVISADevice", {"url": "TCPIP0::h::5025::SOCKET"})}
    assert place.address("can:socketcand:can0@{place:fault_box}", "rig.toml") == "can:socketcand:can0@h:29536"
    assert place.address("place:analyser", "rig.toml") == "TCPIP0::h::5025::SOCKET"
    with pytest.raises(ConfigError, match="analyser, fault_box"):
        place.address("place:cp", "rig.toml")
    with pytest.raises(RigError, match="reaches NetworkSerialPort"):
        address_of("USBTMC", {}, "scope")


def test_a_served_lab_is_exported_as_one_labgrid_group() -> None:
    yaml = exporter_config("wbr-virtual-1", {"clock": "socket://127.0.0.1:27100",
                                             "analyser": "TCPIP0::127.0.0.1::27104::SOCKET",
                                             "fault_box": "can:socketcand:vcan0@127.0.0.1:27109"})
    assert yaml.splitlines() == [
        "wbr-virtual-1:",
        "  clock:", "    cls: NetworkSerialPort", "    host: 127.0.0.1", "    port: 27100", "    protocol: raw",
        "  analyser:", "    cls: PyVISADevice", "    type: TCPIP", "    url: TCPIP0::127.0.0.1::27104::SOCKET",
        "  fault_box:", "    cls: NetworkService", "    address: 127.0.0.1", "    port: 27109", "    username: socketcand"]


def test_without_labgrid_a_place_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("rig.places.sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RigError, match=r"wallbox-rig\[labgrid\]"):
        Place(PlaceSpec(name="bench-1")).acquire()


@pytest.mark.parametrize("line, expected", [
    ("source_idle_v = nan", r"\[safety.source_idle_v\]: expected a finite number"),
    ("source_idle_v = 1e9", r"\[safety.source_idle_v\]: expected a number \[0, 300\]"),
    ("source_idle_hz = inf", r"\[safety.source_idle_hz\]: expected a finite number"),
    ("source_idle_hz = 400.0", r"\[safety.source_idle_hz\]: expected a number \[45, 65\]"),
])
def test_rig_check_refuses_a_safe_state_no_supply_should_have(tmp_path: Path, line: str, expected: str) -> None:
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    key = line.split(" =")[0]
    old = next(x for x in text.splitlines() if x.startswith(f"{key} ="))
    with pytest.raises(ConfigError, match=expected):
        load_rig_file(write(tmp_path, text.replace(old, line)))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_knob_of_nan_or_infinity_is_refused(value: str) -> None:
    from sim.params import KnobError, resolve_knobs
    with pytest.raises(KnobError, match="contactor_open_delay_ms.*a finite number"):
        resolve_knobs({"contactor_open_delay_ms": value})


def test_rig_check_refuses_two_roles_on_one_port(tmp_path: Path) -> None:
    text = GOOD + '[instruments.installer]\ndriver = "wbr-installer"\naddress = "/dev/ttyACM0"\n'
    with pytest.raises(ConfigError, match=r"\[instruments.installer.address\]: expected a port or resource of its own "
                                          r"\(/dev/ttyACM0 is the cp's\)"):
        load_rig_file(write(tmp_path, text))


def test_a_shipped_rig_file_is_found_by_its_name_or_its_repository_path_from_any_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From an installed wheel the rig files lie in site-packages: `sim-cots` and `rigs/sim-cots.toml`
    (as the docs write it) find the shipped file from any folder; a file of that name in the folder
    wins; a missing one is still an error naming it."""
    monkeypatch.chdir(tmp_path)
    shipped = REPO_ROOT / "rigs" / "sim-cots.toml"
    assert load_rig_file("sim-cots").path == shipped
    assert load_rig_file("rigs/sim-cots.toml").path == shipped
    (tmp_path / "rigs").mkdir()
    own = tmp_path / "rigs" / "sim-cots.toml"
    own.write_text(shipped.read_text())
    assert load_rig_file("rigs/sim-cots.toml").path == Path("rigs/sim-cots.toml")
    with pytest.raises(ConfigError, match="no-such-rig"):
        load_rig_file("no-such-rig")

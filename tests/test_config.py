"""Rig files and profiles: good ones load; bad ones say which file, which key, what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.config import REPO_ROOT, load_rig_file
from rig.errors import ConfigError
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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.toml"
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
    assert bmw.value("electrical.settable_currents_a") == [0.0, 6.0, 10.0, 12.0, 16.0, 20.0, 24.0, 32.0]


def test_profiles_differ_where_the_manuals_do() -> None:
    bmw, mini = load_profile("bmw-wallbox-plus"), load_profile("mini-wallbox-plus")
    assert (bmw.value("led.colour"), mini.value("led.colour")) == ("blue", "yellow")
    assert bmw.value("electrical.settable_currents_kind") == "discrete"
    assert mini.value("electrical.settable_currents_kind") == "range"
    assert mini.value("control_pilot.simplified_control_supported") is False


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="bmw-wallbox-plus"):
        load_profile("tesla-wall-connector")


def test_missing_profile_fact_names_the_profile_file() -> None:
    with pytest.raises(ConfigError, match=r"bmw-wallbox-plus.toml: \[electrical.nonexistent\]"):
        load_profile("bmw-wallbox-plus").value("electrical.nonexistent")


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

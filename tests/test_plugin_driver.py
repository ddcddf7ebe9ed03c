"""A lab's own driver from its own package (docs/examples/plugin-driver): found through its entry
point, its own setting validated by `rig check` exactly like a built-in one, and driving the virtual
lab's source like the built-in driver it extends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ConfigError, InvalidValue
from rig.config import REPO_ROOT, load_rig_file
from rig.reference import markdown
from rig.registry import available_drivers
from rig.rig import Rig

EXAMPLE = REPO_ROOT / "docs" / "examples" / "plugin-driver"


def install(site: Path) -> None:
    """What `pip install docs/examples/plugin-driver` leaves in site-packages: the package's
    metadata with its entry point (the code is found on the example's own folder)."""
    info = site / "wbr_lab_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wbr-lab-example\nVersion: 0.1.0\n")
    pyproject = (EXAMPLE / "pyproject.toml").read_text()
    entry = next(line for line in pyproject.splitlines() if line.startswith('"source.')).replace('"', "")
    (info / "entry_points.txt").write_text(f"[wallbox_rig.drivers]\n{entry}\n")


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    install(site)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(site))
    return site


def rig_file(tmp_path: Path, setting: str) -> Path:
    text = (REPO_ROOT / "rigs" / "sim.toml").read_text()
    old = '[instruments.source]                  # three-phase: phase loss needs one phase set alone\ndriver = "ametek-lx"\n'
    assert old in text
    path = tmp_path / "ceiling.toml"
    path.write_text(text.replace(old, f'[instruments.source]\ndriver = "ceiling-lx"\n{setting}\n'))
    return path


def test_the_plug_in_is_found_through_its_entry_point_and_documented(plugin: Path) -> None:
    assert available_drivers("source")["ceiling-lx"] == "wbr_lab_example:CeilingLx"
    reference = markdown()
    assert "#### `ceiling-lx` — `wbr_lab_example:CeilingLx`" in reference
    assert "| `max_voltage_v` | a number in [0, 310] V | `264.0` |" in reference


@pytest.mark.parametrize("value, expected", [
    ("400", r"\[instruments.source.max_voltage_v\]: expected a number in \[0, 310\] V, found 400"),
    ('"high"', r"\[instruments.source.max_voltage_v\]: expected a number in \[0, 310\] V, found 'high'"),
    ("nan", r"\[instruments.source.max_voltage_v\]: expected a number .*finite"),
])
def test_rig_check_refuses_a_bad_value_of_the_plug_ins_own_setting(plugin: Path, tmp_path: Path, value: str,
                                                                     expected: str) -> None:
    path = rig_file(tmp_path, f"max_voltage_v = {value}")
    with pytest.raises(ConfigError, match=expected) as caught:
        load_rig_file(path)
    assert caught.value.file == str(path)


def test_rig_check_names_the_nearest_setting_of_the_plug_in(plugin: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r'\[instruments.source.max_voltage\].*did you mean "max_voltage_v"'):
        load_rig_file(rig_file(tmp_path, "max_voltage = 250"))


def test_wallbox_rig_rig_check_refuses_it_from_the_command_line(plugin: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(EXAMPLE), str(REPO_ROOT)])}
    good = subprocess.run([sys.executable, "-m", "cli.main", "rig", "check", str(rig_file(tmp_path, "max_voltage_v = 250"))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "ceiling-lx" in good.stdout
    bad = rig_file(tmp_path, "max_voltage_v = 1000")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "rig", "check", str(bad)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert f"{bad}: [instruments.source.max_voltage_v]: expected a number in [0, 310] V, found 1000" in proc.stderr


def test_the_plug_in_drives_the_virtual_lab_and_keeps_its_ceiling(plugin: Path, tmp_path: Path) -> None:
    with Rig.from_file(rig_file(tmp_path, "max_voltage_v = 250")) as rig:
        assert type(rig.source).__name__ == "CeilingLx"
        rig.energise(volts=240.0)
        assert rig.source.measure_voltage().value == pytest.approx(240.0, abs=1.0)
        with pytest.raises(InvalidValue, match="above this bench's ceiling of 250.0 V"):
            rig.source.set_voltage(260.0)
        with pytest.raises(InvalidValue, match="ceiling"):
            rig.source.set_phase_voltage(2, 255.0)
        assert rig.source.measure_voltage().value == pytest.approx(240.0, abs=1.0)

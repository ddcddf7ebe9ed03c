"""The wheel a lab installs: built from this repository, installed into a fresh virtual environment
outside the source tree, with every package and data file (profiles, limits, rig files, DBC, meter
maps). Issue 15: `pip install .` once missed `instruments.meter` and its maps."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from rig.config import REPO_ROOT

pytestmark = pytest.mark.timeout(900)


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WALLBOX_RIG")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (outside the tree) with the wheel built from the repo; returns its bin folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy, so that building leaves nothing in the working tree
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "out",
                                                                      "__pycache__"))
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(source)],
                 base)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    wheels = list((base / "dist").glob("wallbox_rig-*.whl"))
    assert len(wheels) == 1, wheels
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    install = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheels[0])], base)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    return bin_dir


def test_the_installed_package_imports_nothing_from_the_source_tree(installed: Path, tmp_path: Path) -> None:
    proc = _run([str(installed / "python"), "-c",
                 "import cli, conformance.limits, core, rig, rigs, instruments.meter.maps as m; "
                 "print(rig.__file__); print(m.__file__)"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert str(REPO_ROOT) not in proc.stdout and "site-packages" in proc.stdout


def test_wallbox_rig_help_and_rig_check_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    help_ = _run([str(installed / "wallbox-rig"), "--help"], tmp_path)
    assert help_.returncode == 0 and "exit codes: 0 everything passed" in help_.stdout, help_.stderr
    check = _run([str(installed / "wallbox-rig"), "rig", "check", str(REPO_ROOT / "rigs" / "lab-example.toml")],
                 tmp_path)
    assert check.returncode == 0 and "OK" in check.stdout, check.stderr
    models = _run([str(installed / "wallbox-rig"), "meter", "models"], tmp_path)
    assert models.returncode == 0 and "schneider-a9mem3150" in models.stdout, models.stderr


def test_a_short_suite_run_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _run([str(installed / "wallbox-rig"), "run", "--out", str(out), "--no-plots", "--workers", "1", "--", "-q",
                 "-k", "pwm_frequency"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed" in proc.stdout and (out / "matrix.html").exists() and (out / "junit.xml").exists()


def test_a_run_from_the_wheel_writes_under_the_current_folder_and_names_no_checkout(installed: Path,
                                                                                    tmp_path: Path) -> None:
    """No --out: the run folder is ./reports/out/<timestamp> where the user stands, never site-packages;
    the shipped rig file is in no repository, so the provenance says so instead of borrowing one."""
    import json
    proc = _run([str(installed / "wallbox-rig"), "run", "--no-plots", "--workers", "1", "--", "-q", "-k", "pwm_frequency"],
                tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = list((tmp_path / "reports" / "out").iterdir())
    assert len(runs) == 1
    site = installed.parent / "lib"
    assert not list(site.rglob("reports/out")), "a run wrote into the installed package"
    provenance = json.loads((runs[0] / "summary.json").read_text())["provenance"]
    assert provenance["git_commit"] == "none" and provenance["wallbox_rig_version"] == "0.1.0"

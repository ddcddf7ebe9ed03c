"""docs/python-api.md's worked example runs as a user would run it (issue 30: scripts outside the
runner are supported, not archaeology)."""

from __future__ import annotations

import re
import subprocess
import sys

from rig.config import REPO_ROOT

EXAMPLE = REPO_ROOT / "docs" / "examples" / "python-api" / "charge_and_measure.py"


def test_the_worked_example_charges_and_prints_what_the_instruments_saw() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cp, power, contactor = proc.stdout.splitlines()
    assert re.fullmatch(r"CP \+6\.\d\d V / -12\.\d\d V, 1000 Hz, duty 53\.\d\d %", cp), cp    # C2, 32 A offered
    assert re.fullmatch(r"L1 10\.0\d A at 23\d\.\d V; 11\d\.\d Wh in 60 s", power), power     # 10 A x 230 V x 60 s
    assert re.fullmatch(r"contactor closed \d\.\d{3} s after the vehicle asked", contactor), contactor


def test_the_guide_shows_the_example_and_the_calls_it_makes() -> None:
    guide = (REPO_ROOT / "docs" / "python-api.md").read_text()
    assert "examples/python-api/charge_and_measure.py" in guide
    for call in ("Rig.from_file", "rig.energise()", "rig.clock", "cp.read_edges()", "analyser.read()"):
        assert call in guide and (call.split(".")[-1].rstrip("()") in EXAMPLE.read_text() or call == "Rig.from_file")

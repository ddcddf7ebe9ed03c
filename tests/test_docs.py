"""The documentation's examples run as written, and its links lead somewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rig.config import REPO_ROOT

DOCS = sorted((REPO_ROOT / "docs").rglob("*.md")) + [REPO_ROOT / "README.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_getting_started_python_example_runs_on_the_virtual_lab() -> None:
    block = python_blocks(REPO_ROOT / "docs" / "getting-started.md")[0]
    proc = subprocess.run([sys.executable, "-c", block], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CpMeasurement(" in proc.stdout and "frequency_hz=1000" in proc.stdout


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(REPO_ROOT)) for p in DOCS])
def test_every_relative_link_of_the_docs_leads_to_a_file(path: Path) -> None:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        file = target.split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.relative_to(REPO_ROOT)}: broken link {target}"

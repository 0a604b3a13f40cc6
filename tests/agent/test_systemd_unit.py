"""The systemd unit template passes ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "metro-edge.service"


def test_unit_template_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    assert "Type=notify" in text
    assert "WatchdogSec=" in text
    # The template names the installed path; point it at an executable that exists here.
    unit = tmp_path / "metro-edge.service"
    unit.write_text(text.replace("/opt/metro-edge/venv/bin/metro-edge", sys.executable))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""

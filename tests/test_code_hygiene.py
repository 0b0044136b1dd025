"""The package keeps its shape: imports point down the layers, lint and format are clean, types check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_imports_point_down_the_layers():
    """setup.cfg's import-linter contracts: cli -> ops | airflow -> metadata | dbt -> core; a pure core."""
    done = run(str(BIN / "lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and done.stdout.count("KEPT") >= 3


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(command):
    done = run(str(BIN / "ruff"), *command)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_mypy():
    done = run(str(BIN / "mypy"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

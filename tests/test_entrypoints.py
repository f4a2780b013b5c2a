"""``train`` and ``serve`` stay algoport's when Ray, whose own ``serve`` is Ray Serve's, comes in.

These tests pip-install Ray into fresh virtual environments, so they run where .ci/run
has made the Ray environment (ALGOPORT_RAY_PYTHON) and pip's cache holds Ray already.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("ALGOPORT_RAY_PYTHON"),
        reason="ALGOPORT_RAY_PYTHON is unset: no Ray environment, so Ray is not installed here",
    ),
]


def fresh_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin"


def pip_install(bin_dir: Path, *requirements: str) -> None:
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", *requirements],
        check=True,
        timeout=1200,
    )


def runs_algoport(command: Path, tmp_path: Path) -> bool:
    """Whether ``command`` behaves as algoport's: it reports the missing plugin as algoport
    does."""
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path / "opt_ml")}
    done = subprocess.run(
        [str(command)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    # No algorithm is installed here: algoport's train and serve both stop with exit 3.
    return done.returncode == 3 and "No algorithm plugin is installed" in done.stderr


def test_installing_ray_after_algoport_is_found_and_repaired(tmp_path: Path) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    pip_install(bin_dir, str(ROOT))
    pip_install(bin_dir, f"{ROOT}[ray]")  # algoport is there already: only Ray is installed
    assert "ray.serve" in (bin_dir / "serve").read_text()  # Ray Serve's, as measured

    listed = subprocess.run(
        [str(bin_dir / "algoport"), "plugins"], capture_output=True, text=True, check=True
    )
    assert "`serve` in " in listed.stderr
    assert "is ray's (ray.serve.scripts:cli), not algoport's" in listed.stderr
    assert "run `algoport install-entrypoints`" in listed.stderr

    subprocess.run([str(bin_dir / "algoport"), "install-entrypoints"], check=True)

    assert runs_algoport(bin_dir / "serve", tmp_path)
    assert runs_algoport(bin_dir / "train", tmp_path)
    listed = subprocess.run(
        [str(bin_dir / "algoport"), "plugins"], capture_output=True, text=True, check=True
    )
    assert listed.stderr == ""


def test_one_pip_run_with_the_extra_then_install_entrypoints_leaves_algoports_commands(
    tmp_path: Path,
) -> None:
    bin_dir = fresh_venv(tmp_path / "venv")
    # Which of algoport and Ray pip writes `serve` for last is not fixed (seen both ways).
    pip_install(bin_dir, f"{ROOT}[ray]")

    subprocess.run([str(bin_dir / "algoport"), "install-entrypoints"], check=True)

    assert runs_algoport(bin_dir / "serve", tmp_path)
    assert runs_algoport(bin_dir / "train", tmp_path)
    listed = subprocess.run(
        [str(bin_dir / "algoport"), "plugins"], capture_output=True, text=True, check=True
    )
    assert listed.stderr == ""

"""``algoport-xgboost-demo``, what ``python3 dev.py demo`` runs: the README's first command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_trains_serves_transforms_and_scores(tmp_path: Path) -> None:
    demo = Path(sys.executable).with_name("algoport-xgboost-demo")
    result = subprocess.run(
        [str(demo), "--workdir", str(tmp_path)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "real-time, text/csv (200)" in result.stdout
    assert "real-time, application/json (200)" in result.stdout
    accuracy = re.search(r"test accuracy: ([\d.]+) on 86 held-out records", result.stdout)
    assert accuracy is not None, result.stdout
    assert float(accuracy.group(1)) > 0.9
    (run_dir,) = tmp_path.glob("demo-*")
    assert len((run_dir / "transform" / "test.csv.out").read_text().splitlines()) == 86

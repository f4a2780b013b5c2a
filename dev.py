#!/usr/bin/env python3
"""Set up a development environment and run the project's jobs, with only Python and pip.

python3 dev.py demo     # set up, then train XGBoost, serve it, predict, batch transform
python3 dev.py test     # set up, then lint, type-check and run every test
python3 dev.py setup    # only create .venv and install algoport, its plugins and tools
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# Editable installs: the core with its test tools, the reference plugins, and the
# fixture plugins the core's own tests select by name.
PACKAGES = [
    ".[test,fast,spec]",
    "plugins/sklearn",
    "plugins/xgboost",
    "plugins/protect",
    "tests/fixture_plugins/algoport-fixtures",
]
STAMP = VENV / ".algoport-installed"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def requirements_digest() -> str:
    digest = hashlib.sha256()
    for package in PACKAGES:
        directory = ROOT / package.split("[")[0]
        digest.update((directory / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def setup() -> None:
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = requirements_digest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    editable = [arg for package in PACKAGES for arg in ("-e", package)]
    run(BIN / "python", "-m", "pip", "install", "--quiet", *editable)
    STAMP.write_text(wanted)


def test(extra: list[str]) -> None:
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    run(BIN / "python", "-m", "pytest", *extra)


def main(argv: list[str]) -> int:
    job = argv[0] if argv else "help"
    if job not in ("setup", "test", "demo"):
        print(__doc__)
        return 0 if job == "help" else 2
    setup()
    try:
        if job == "test":
            test(argv[1:])
        elif job == "demo":
            run(BIN / "algoport-xgboost-demo", *argv[1:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

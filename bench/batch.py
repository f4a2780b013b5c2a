"""Offline batch: ``algoport batch`` in-process and on Ray (1 and 2 actors) against
``algoport local transform`` (serve + HTTP), on generated 30-feature CSV rows, XGBoost.

Each mode runs as its own process tree; peak memory is the largest sum of the tree's
proportional set sizes (PSS, so Ray's shared object store is not counted once per
process), sampled every 0.2 s. Every mode's output is checked equal to the in-process one.

    python bench/batch.py [--rows 1000000] [--ray-python .ci-ray-venv/bin/python]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from algoport.local.artifacts import pack_model
from algoport.testing import TrainingJobs, csv_text

FEATURES = 30


def generate(path: Path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w") as out:
        for start in range(0, rows, 100_000):
            block = rng.normal(size=(min(100_000, rows - start), FEATURES)).round(5)
            out.write(csv_text(block))


def train(root: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, FEATURES))
    y = (x[:, 0] - x[:, 1] + 0.5 * x[:, 2] > 0).astype(float)
    hyperparameters = {"num_round": 50, "max_depth": 6, "objective": "binary:logistic"}
    tree, result = TrainingJobs(root).train("xgboost", hyperparameters, {"train": csv_text(x, y)})
    if result.returncode != 0:
        raise SystemExit(f"training failed: {result.failure}")
    return pack_model(tree.model_dir, root / "model.tar.gz")


def tree_pss_kb(pid: int) -> int:
    """PSS of a process and all its descendants, in kB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak PSS (MB) of a command's process tree."""
    peak = 0
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, tree_pss_kb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    seconds = time.monotonic() - started
    stop.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {code}")
    return seconds, peak / 1024


def local_transform(model: Path, data: Path, output: Path, workdir: Path) -> list[str]:
    """serve in the background, transform, stop: one shell process tree to measure."""
    algoport = str(Path(sys.executable).with_name("algoport"))
    return [
        "sh",
        "-c",
        f"{algoport} local serve --model {model} --port 8089 --workdir {workdir} & s=$!; "
        f"for i in $(seq 600); do {algoport} local transform --endpoint http://127.0.0.1:8089 "
        f"--input {data} --output {output} --accept text/csv --max-payload-mb 1 >/dev/null 2>&1 "
        f"&& break; sleep 0.5; done; kill -TERM $s; wait $s; test -f {output}/{data.name}.out",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument(
        "--ray-python",
        default=os.environ.get("ALGOPORT_RAY_PYTHON"),
        help="a Python with algoport[ray] (default: ALGOPORT_RAY_PYTHON); else no Ray rows",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="algoport-bench-batch-"))
    model = train(root)
    data = root / "rows.csv"
    generate(data, args.rows, seed=1)
    batch = ["--model", str(model), "--input", str(data), "--format", "text/csv"]
    batch += ["--batch-size", str(args.batch_size)]
    modes: list[tuple[str, list[str]]] = [
        ("in-process", [sys.executable, "-m", "algoport", "batch", "--in-process"]),
    ]
    if args.ray_python:
        for actors in (1, 2):
            command = [args.ray_python, "-m", "algoport", "batch", "--concurrency", str(actors)]
            modes.append((f"ray, {actors} actor(s)", command))
    rows = []
    reference: bytes | None = None
    for name, command in modes:
        output = root / name.replace(" ", "_").replace(",", "")
        seconds, peak = measure([*command, *batch, "--output", str(output)])
        produced = (output / f"{data.name}.out").read_bytes()
        reference = reference if reference is not None else produced
        assert produced == reference, f"{name} wrote different bytes"
        rows.append((name, seconds, peak))
    output = root / "local-transform"
    seconds, peak = measure(local_transform(model, data, output, root / "local"))
    assert (output / f"{data.name}.out").read_bytes() == reference, "local transform differs"
    rows.append(("local transform (serve+HTTP)", seconds, peak))

    print(
        f"{args.rows} rows x {FEATURES} features, XGBoost 50 trees depth 6, {os.cpu_count()} CPUs"
    )
    print(f"{'mode':<30} {'seconds':>8} {'rows/s':>10} {'peak PSS MB':>12}")
    for name, seconds, peak in rows:
        print(f"{name:<30} {seconds:>8.1f} {args.rows / seconds:>10.0f} {peak:>12.0f}")


if __name__ == "__main__":
    main()

"""Multi-model endpoints: load time, invoke overhead, memory per model, LRU under a budget.

    python bench/multi_model.py [--models 100] [--requests 400] [--budget-models 10]

Trains algoport-sklearn's `kmeans` (k=3 on iris) once through the real `train`, copies the
model into ``--models`` directories, and runs the real `serve` with one worker:

1. loads every copy with ``POST /models`` and reports the load time and the growth of the
   worker's resident memory per model;
2. compares the latency of ``/models/<name>/invoke`` with ``/invocations`` of a single-model
   endpoint serving the same model (one keep-alive connection, sequential requests);
3. restarts with a budget of ``--budget-models`` models (each made to count 1 MB) and
   invokes twice as many models in turn, twice: each invoke past the budget unloads the
   least recently used model, and each of those loads again on its next invoke.

Prints one table. Timings depend on the machine and its load; compare runs on one machine.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sklearn.datasets import load_iris

from algoport.local.processes import ServeProcess
from algoport.testing import TrainingJobs, csv_text

BODY = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
HEADERS = {"Content-Type": "text/csv", "Accept": "application/json"}


def train_kmeans(root: Path) -> Path:
    features, _ = load_iris(return_X_y=True)
    tree, result = TrainingJobs(root).train(
        "kmeans", {"k": 3, "seed": 1}, {"train": csv_text(features)},
        content_type="text/csv;label_size=0",
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"training failed: {result.failure or result.stderr}")
    return tree.model_dir


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def latency_us(client: httpx.Client, path: str, requests: int) -> float:
    for _ in range(20):  # warm-up
        client.post(path, content=BODY, headers=HEADERS).raise_for_status()
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        client.post(path, content=BODY, headers=HEADERS).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def metric(client: httpx.Client, name: str) -> float:
    found = re.search(
        rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", client.get("/metrics").text, re.M
    )
    return float(found.group(1)) if found else 0.0


def mme(root: Path, **env: str) -> ServeProcess:
    return ServeProcess(
        root / "endpoint" / "model", workers=1, env={"SAGEMAKER_MULTI_MODEL": "true", **env}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--budget-models", type=int, default=10)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        model = train_kmeans(root / "jobs")
        copies = [shutil.copytree(model, root / "models" / f"m{i}") for i in range(args.models)]

        with mme(root) as server:
            assert server.process is not None
            client = server.client
            empty_mb = resident_mb(server.process.pid)
            loads = []
            for i, directory in enumerate(copies):
                started = time.perf_counter()
                reply = client.post("/models", json={"model_name": f"m{i}", "url": str(directory)})
                reply.raise_for_status()
                loads.append(time.perf_counter() - started)
            full_mb = resident_mb(server.process.pid)
            footprint = metric(client, "algoport_model_memory_bytes") / args.models
            mme_us = latency_us(client, "/models/m0/invoke", args.requests)
        rows += [
            ("first load (imports the algorithm), ms", f"{loads[0] * 1e3:.1f}"),
            ("later loads, median ms", f"{statistics.median(loads[1:]) * 1e3:.1f}"),
            ("later loads, max ms", f"{max(loads[1:]) * 1e3:.1f}"),
            (f"worker RSS empty -> {args.models} models, MB", f"{empty_mb:.0f} -> {full_mb:.0f}"),
            ("RSS growth per model (with the algorithm's imports), KB",
             f"{(full_mb - empty_mb) * 1024 / args.models:.0f}"),
            ("footprint counted per model, KB", f"{footprint / 1024:.0f}"),
        ]  # fmt: skip

        with ServeProcess(model) as single:
            single_us = latency_us(single.client, "/invocations", args.requests)
        rows += [
            ("single-model /invocations, median µs", f"{single_us:.0f}"),
            ("MME /models/<name>/invoke, median µs", f"{mme_us:.0f}"),
        ]

        # Budgets are whole MB: make each model count 1 MB (a sparse file, no disk used).
        names = [f"m{i}" for i in range(2 * args.budget_models)]
        for directory in copies[: len(names)]:
            with (directory / "padding.bin").open("wb") as handle:
                handle.truncate(2**20)
        budget_mb = args.budget_models + 1  # room for the models' own few KB
        with mme(root, ALGOPORT_MODEL_MEMORY_MB=str(budget_mb)) as server:
            client = server.client
            for name, directory in zip(names, copies, strict=False):
                client.post("/models", json={"model_name": name, "url": str(directory)})
            loads_before = metric(client, "algoport_model_load_seconds_count")
            started = time.perf_counter()
            for _ in range(2):
                for name in names:
                    client.post(f"/models/{name}/invoke", content=BODY, headers=HEADERS)
            cycle = (time.perf_counter() - started) / (2 * len(names))
            reloads = metric(client, "algoport_model_load_seconds_count") - loads_before
            held = metric(client, "algoport_loaded_models")
        rows += [
            (f"LRU: budget {budget_mb} MB, {len(names)} models invoked in turn x2", ""),
            ("  models held at the end", f"{held:.0f}"),
            ("  reloads (every invoke misses when cycling past the budget)",
             f"{reloads:.0f} of {2 * len(names)}"),
            ("  mean invoke incl. reload, ms", f"{cycle * 1e3:.1f}"),
        ]  # fmt: skip

    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


if __name__ == "__main__":
    main()

"""Trains in rounds, checkpointing each one, stopping on request and resuming after."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from algoport import TrainingJob, atomic_write, hookimpl, hp

PREFIX = "rounds"


@hookimpl
def hyperparameters() -> list[hp.HyperParameter]:
    return [
        hp.Integer(name="rounds", default=10, min=1),
        hp.Float(name="seconds_per_round", default=0.0, min=0.0),
        hp.Boolean(name="ignore_stop", default=False),
    ]


@hookimpl
def fit(job: TrainingJob) -> None:
    hps = job.hyperparameters
    latest = job.latest_checkpoint(PREFIX)
    state = json.loads(latest.path.read_text()) if latest else {"done": [], "resumed_at": []}
    start = latest.step + 1 if latest else 0
    if latest:
        state["resumed_at"].append(start)
    for number in range(start, hps["rounds"]):
        if job.stop_requested.is_set() and not hps["ignore_stop"]:
            return
        time.sleep(hps["seconds_per_round"])
        state["done"].append(number)
        job.save_checkpoint(PREFIX, number, json.dumps(state).encode())
        print(f"round {number} done", flush=True)
    with atomic_write(job.model_dir / "rounds.json") as out:
        out.write(json.dumps(state).encode())


@hookimpl
def load(model_dir: Path) -> Any:
    return json.loads((model_dir / "rounds.json").read_text())


@hookimpl
def predict(model: Any, data: Any) -> Any:
    return data[:, 0]

"""Reads a channel epoch after epoch, in File or Pipe mode, and records what it saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from algoport import Capabilities, ChannelSpec, TrainingJob, atomic_write, hookimpl, hp


@hookimpl
def hyperparameters() -> list[hp.HyperParameter]:
    return [
        hp.Integer(name="epochs", default=1, min=1),
        hp.Boolean(name="close_early", default=False),
        hp.Integer(name="chunk_bytes", default=1 << 20, min=1),
    ]


@hookimpl
def channels() -> list[ChannelSpec]:
    return [
        ChannelSpec(
            name="train",
            required=True,
            content_types=("text/csv",),
            input_modes=("File", "Pipe"),
        )
    ]


@hookimpl
def capabilities() -> Capabilities:
    # Each host records its own share, so sharded Pipe input on several hosts can be tested.
    return Capabilities(distributed_training=True)


@hookimpl
def fit(job: TrainingJob) -> None:
    hps = job.hyperparameters
    seen: list[dict[str, Any]] = []
    for epoch in job.channel("train").epochs():
        rows, label_sum, chunks = 0, 0.0, 0
        for chunk in epoch.chunks(hps["chunk_bytes"]):
            chunks += 1
            rows += len(chunk.features)
            label_sum += float(chunk.labels.sum()) if chunk.labels is not None else 0.0
            if hps["close_early"]:
                break
        seen.append({"epoch": epoch.number, "rows": rows, "label_sum": label_sum, "chunks": chunks})
        if len(seen) == hps["epochs"]:
            break
    with atomic_write(job.model_dir / "epochs.json") as out:
        out.write(json.dumps(seen).encode())


@hookimpl
def load(model_dir: Path) -> Any:
    return json.loads((model_dir / "epochs.json").read_text())


@hookimpl
def predict(model: Any, data: Any) -> Any:
    return data[:, 0]

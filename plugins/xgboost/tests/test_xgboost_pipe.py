"""Pipe and FastFile mode: channels streamed through real FIFOs (the core's feeder, in its own
process) into a QuantileDMatrix, against the File-mode model of the same data.

The stream is quantised from many chunks and File mode from one array; XGBoost's CPU sketch
gives the same bins either way (measured: identical predictions on continuous features), so
the models agree within ``TOLERANCE``, the float32 rounding of a sum taken in another order.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from algoport.formats.recordio_protobuf import encode_records_from_array
from algoport.testing import (
    PipeFeeder,
    SageMakerTree,
    TrainingJobs,
    command,
    find_free_port,
    run_train,
)
from algoport_xgboost import cluster

pytestmark = pytest.mark.e2e

TOLERANCE = 1e-6
HYPERPARAMETERS = {"num_round": 20, "max_depth": 4, "eta": 0.3, "seed": 7, "nthread": 1}
PASSES = re.compile(r"channel '(\w+)' streamed: (\d+) records on this host, in (\d+) passes")


def regression(rows: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 6))
    labels = features[:, 0] * 3 - features[:, 1] * features[:, 2] + rng.normal(size=rows) * 0.2
    return features, labels


def encoded(content_type: str, features: np.ndarray, labels: np.ndarray, formats: Any) -> bytes:
    if content_type == "text/csv":
        return str(formats.csv(features, labels)).encode()
    if content_type == "text/libsvm":
        return str(formats.libsvm(features, labels)).encode()
    return encode_records_from_array(features, labels)


def split_files(
    content_type: str, features: np.ndarray, labels: np.ndarray, formats: Any, parts: int
) -> dict[str, bytes]:
    """The channel as ``parts`` objects, each whole records."""
    pieces = np.array_split(np.arange(len(labels)), parts)
    return {
        f"part-{n}": encoded(content_type, features[rows], labels[rows], formats)
        for n, rows in enumerate(pieces)
    }


@contextlib.contextmanager
def streamed(
    tree: SageMakerTree,
    channels: Mapping[str, Mapping[str, bytes]],
    content_type: str,
    mode: str = "Pipe",
    distribution: str = "FullyReplicated",
) -> Iterator[None]:
    """Declare ``channels`` in ``mode``; in Pipe mode a feeder per channel writes its epochs."""
    with contextlib.ExitStack() as feeders:
        for name, files in channels.items():
            if mode != "Pipe":
                tree.channel(
                    name, files, content_type=content_type, input_mode=mode,
                    distribution=distribution,
                )  # fmt: skip
                continue
            source = tree.root.parent / "sources" / name
            source.mkdir(parents=True)
            paths = []
            for filename, body in files.items():
                (source / filename).write_bytes(body)
                paths.append(source / filename)
            tree.channel(
                name, {}, content_type=content_type, input_mode="Pipe", distribution=distribution
            )
            prefix = tree.paths.data_dir / name
            prefix.rmdir()  # Pipe mode has FIFOs <name>_0, <name>_1… and no directory
            feeders.enter_context(PipeFeeder(prefix, paths))
        yield


def predictions(model_dir: Path, features: np.ndarray) -> np.ndarray:
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.ubj"))
    return np.asarray(booster.predict(xgb.DMatrix(features)))


def passes(stderr: str) -> dict[str, tuple[int, int]]:
    return {name: (int(rows), int(n)) for name, rows, n in PASSES.findall(stderr)}


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    features, labels = regression(4000)
    return {
        "train": (features[:3000], labels[:3000]),
        "validation": (features[3000:], labels[3000:]),
    }


def file_mode_model(
    jobs: TrainingJobs, content_type: str, channels: dict[str, bytes], hps: dict[str, Any]
) -> SageMakerTree:
    tree, result = jobs.train("xgboost", hps, channels, content_type=content_type)
    assert result.returncode == 0, result.failure or result.stderr
    return tree


@pytest.mark.parametrize(
    ("content_type", "mode"),
    [
        ("text/csv", "Pipe"),
        ("text/libsvm", "Pipe"),
        ("application/x-recordio-protobuf", "Pipe"),
        ("text/csv", "FastFile"),
    ],
)
def test_a_streamed_channel_trains_the_file_mode_model(
    training_jobs: TrainingJobs,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    formats: Any,
    content_type: str,
    mode: str,
) -> None:
    hps = {**HYPERPARAMETERS, "eval_metric": "rmse", "early_stopping_rounds": 3}
    whole = {name: encoded(content_type, *pair, formats) for name, pair in data.items()}
    expected = file_mode_model(training_jobs, content_type, whole, hps)
    tree = training_jobs.lay_out(hps, {})
    parts = {name: split_files(content_type, *pair, formats, 3) for name, pair in data.items()}

    with streamed(tree, parts, content_type, mode):
        result = run_train(tree, "xgboost", timeout=180)

    assert result.returncode == 0, result.failure or result.stderr
    features = regression(500, seed=5)[0]
    np.testing.assert_allclose(
        predictions(tree.model_dir, features),
        predictions(expected.model_dir, features),
        atol=TOLERANCE,
        rtol=0,
    )
    # Each pass XGBoost makes is one epoch (a FIFO in Pipe mode), after one survey epoch.
    assert passes(result.stderr) == {"train": (3000, 3), "validation": (1000, 2)}
    facts = json.loads((tree.model_dir / "xgboost-metadata.json").read_text())
    assert facts == json.loads((expected.model_dir / "xgboost-metadata.json").read_text())


def test_query_groups_across_chunk_boundaries_rank_as_in_file_mode(
    training_jobs: TrainingJobs,
) -> None:
    """Over 4 MB of libsvm, so the core cuts it into chunks, some inside a query group."""
    rng = np.random.default_rng(2)
    rows = 60_000
    features = rng.normal(size=(rows, 4))
    relevance = (features[:, 0] + rng.normal(size=rows) > 0.5).astype(int)
    lines = [
        f"{relevance[i]} qid:{i // 30} " + " ".join(f"{j}:{v!r}" for j, v in enumerate(row))
        for i, row in enumerate(features.tolist())
    ]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 5 << 20
    hps = {**HYPERPARAMETERS, "num_round": 5, "objective": "rank:pairwise"}
    expected = file_mode_model(training_jobs, "text/libsvm", {"train": body}, hps)
    tree = training_jobs.lay_out(hps, {})

    with streamed(tree, {"train": {"part-0": body}}, "text/libsvm"):
        result = run_train(tree, "xgboost", timeout=180)

    assert result.returncode == 0, result.failure or result.stderr
    np.testing.assert_allclose(
        predictions(tree.model_dir, features[:2000]),
        predictions(expected.model_dir, features[:2000]),
        atol=TOLERANCE,
        rtol=0,
    )


def test_a_tree_method_that_needs_the_whole_data_is_refused_in_pipe_mode(
    training_jobs: TrainingJobs, data: dict[str, tuple[np.ndarray, np.ndarray]], formats: Any
) -> None:
    tree = training_jobs.lay_out({**HYPERPARAMETERS, "tree_method": "exact"}, {})
    channel = {"train": {"a.csv": encoded("text/csv", *data["train"], formats)}}
    with streamed(tree, channel, "text/csv"):
        result = run_train(tree, "xgboost", timeout=60)
    assert result.returncode == 2
    assert result.failure is not None
    assert result.failure.startswith("User error: tree_method=exact cannot train on a streamed")


def test_a_bad_record_late_in_the_stream_is_named(
    training_jobs: TrainingJobs, data: dict[str, tuple[np.ndarray, np.ndarray]], formats: Any
) -> None:
    good = encoded("text/csv", *data["train"], formats)
    tree = training_jobs.lay_out({**HYPERPARAMETERS, "objective": "reg:gamma"}, {})
    positive = encoded("text/csv", data["train"][0], np.abs(data["train"][1]) + 1, formats)
    with streamed(tree, {"train": {"a.csv": positive, "b.csv": good}}, "text/csv"):
        result = run_train(tree, "xgboost", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.failure is not None
    first_bad = 3000 + int(np.flatnonzero(data["train"][1] <= 0)[0]) + 1
    assert f"Channel 'train', record {first_bad} has label" in result.failure


def test_sigterm_while_boosting_checkpoints_and_a_restart_finishes(
    training_jobs: TrainingJobs,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    formats: Any,
    processes: Any,
    tmp_path: Path,
) -> None:
    hps = {**HYPERPARAMETERS, "num_round": 100}
    channel = {"train": {"a.csv": encoded("text/csv", *data["train"], formats)}}
    expected = file_mode_model(training_jobs, "text/csv", {"train": channel["train"]["a.csv"]}, hps)
    tree = training_jobs.lay_out(hps, {})
    with streamed(tree, channel, "text/csv"):
        with (tmp_path / "first.log").open("wb") as log:
            process = subprocess.Popen(
                command("train"), env=tree.env("xgboost"), stdout=subprocess.PIPE, stderr=log
            )
        processes.shrink_stdout_pipe(process)
        processes.read_until_step(process, 5)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0, (tmp_path / "first.log").read_text()
    assert tree.failure is None
    assert not (tree.model_dir / "xgboost-model.ubj").exists()
    checkpoints = sorted((tree.root / "checkpoints").iterdir())
    assert len(checkpoints) == 1

    # A restarted job's pipes start again at epoch 0.
    with PipeFeeder(tree.paths.data_dir / "train", [tree.root.parent / "sources/train/a.csv"]):
        resumed = run_train(tree, "xgboost", timeout=120)

    assert resumed.returncode == 0, resumed.failure or resumed.stderr
    assert "resuming from checkpoint" in resumed.stderr
    features = regression(300, seed=5)[0]
    np.testing.assert_allclose(
        predictions(tree.model_dir, features),
        predictions(expected.model_dir, features),
        atol=TOLERANCE,
        rtol=0,
    )


def test_sigterm_while_a_pipe_is_read_stops_before_the_next_epoch(
    training_jobs: TrainingJobs, data: dict[str, tuple[np.ndarray, np.ndarray]], formats: Any
) -> None:
    """The test writes epoch 0 itself and creates no train_1: a job that opened it would wait
    for it, then fail."""
    tree = training_jobs.lay_out(HYPERPARAMETERS, {})
    tree.channel("train", {}, content_type="text/csv", input_mode="Pipe")
    (tree.paths.data_dir / "train").rmdir()
    fifo = tree.paths.data_dir / "train_0"
    os.mkfifo(fifo)
    body = encoded("text/csv", *data["train"], formats)
    process = subprocess.Popen(
        command("train"),
        env=tree.env("xgboost", ALGOPORT_PIPE_WAIT_SECONDS="20"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(fifo, "wb") as writer:  # returns once train has opened epoch 0
        writer.write(body[: len(body) // 2])
        writer.flush()
        process.send_signal(signal.SIGTERM)
        writer.write(body[len(body) // 2 :])
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr
    assert tree.failure is None
    assert "training was stopped before boosting began; there is nothing to save" in stderr
    assert not (tree.model_dir / "xgboost-model.ubj").exists()


@pytest.mark.parametrize(
    ("distribution", "rows"),
    # FullyReplicated deals 4 MB chunks round-robin: this channel is one chunk.
    [("ShardedByS3Key", (800, 800)), ("FullyReplicated", (1600, 0))],
)
def test_two_hosts_stream_their_own_pipes_into_the_one_host_model(
    training_jobs: TrainingJobs,
    formats: Any,
    monkeypatch: pytest.MonkeyPatch,
    distribution: str,
    rows: tuple[int, int],
) -> None:
    """Features on a grid of fewer values than max_bin: each host's sketch gives the bins of
    one host's, so the two-host model equals the one-host model (see the distributed tests)."""
    rng = np.random.default_rng(1)
    features = rng.integers(0, 40, size=(1600, 5)) / 4.0
    labels = features[:, 0] - features[:, 1] * features[:, 2] / 10 + rng.normal(size=1600)
    files = {
        f"part-{n}.csv": encoded("text/csv", features[rows], labels[rows], formats)
        for n, rows in enumerate(np.array_split(np.arange(1600), 4))
    }
    expected = file_mode_model(
        training_jobs, "text/csv", {"train": b"".join(files.values())}, HYPERPARAMETERS
    )
    monkeypatch.setenv(cluster.TRACKER_PORT.name, str(find_free_port()))
    monkeypatch.setenv(cluster.TIMEOUT.name, "60")
    hosts = ("127.0.0.1", "127.0.0.2")
    names = sorted(files)
    trees = []
    with contextlib.ExitStack() as running:
        started = []
        for rank, host in enumerate(hosts):
            tree = training_jobs.lay_out(HYPERPARAMETERS, {})
            tree.resources(current_host=host, hosts=hosts)
            # SageMaker deals the objects of a sharded channel over the hosts.
            sharded = distribution == "ShardedByS3Key"
            shard = {name: files[name] for name in (names[rank::2] if sharded else names)}
            running.enter_context(
                streamed(tree, {"train": shard}, "text/csv", distribution=distribution)
            )
            started.append(
                subprocess.Popen(
                    command("train"),
                    env=tree.env("xgboost"),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            trees.append(tree)
        outputs = [process.communicate(timeout=240) for process in started]
    for process, (_, stderr), host_rows in zip(started, outputs, rows, strict=True):
        assert process.returncode == 0, stderr
        assert passes(stderr) == {"train": (host_rows, 3)}
    np.testing.assert_allclose(
        predictions(trees[0].model_dir, features),
        predictions(expected.model_dir, features),
        atol=1e-5,
        rtol=0,
    )
    assert not (trees[1].model_dir / "xgboost-model.ubj").exists()

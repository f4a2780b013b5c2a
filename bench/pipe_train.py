"""Training on a large channel, File mode against Pipe mode, CSV against recordio-protobuf.

    python bench/pipe_train.py [--size-mb 2048] [--algorithms linear,kmeans,xgboost]
                               [--modes File,Pipe] [--formats csv,recordio]

Writes a CSV channel of about --size-mb MB (the label first, 0 or 1, then 20 features) in
64 MB files, and the same records as recordio-protobuf (float32, as the SageMaker SDK
writes them). Each algorithm then trains one epoch on each form in File mode and in Pipe
mode (the core's feeder writes the files into FIFOs, as SageMaker does), with the real
``train`` process; the table gives its seconds, MB/s of the channel and peak RSS (the
process's VmHWM, from wait4). An algorithm whose plugin refuses Pipe mode or the format
is reported as skipped, with the plugin's reason.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algoport.contract import ContractPaths
from algoport.formats import recordio_protobuf
from algoport.local.layout import ChannelInput, lay_out_job
from algoport.local.processes import command
from algoport.testing import PipeFeeder

MB = 1 << 20
PART_MB = 64
FEATURES = 20
RECORDIO = "application/x-recordio-protobuf"

# One epoch each, with each algorithm's streaming settings.
HYPERPARAMETERS = {
    "linear": {
        "predictor_type": "binary_classifier",
        "solver": "streaming",
        "epochs": "1",
        "mini_batch_size": "1000",
    },
    "kmeans": {"k": "10", "solver": "streaming", "epochs": "1", "mini_batch_size": "5000"},
    "xgboost": {"objective": "binary:logistic", "num_round": "10"},
}


def make_parts(directory: Path, size_mb: int) -> tuple[list[Path], list[Path]]:
    """CSV parts of about PART_MB MB and their recordio-protobuf twins."""
    rng = np.random.default_rng(0)
    csv_dir, rec_dir = directory / "csv", directory / "recordio"
    csv_dir.mkdir(parents=True)
    rec_dir.mkdir(parents=True)
    csv_parts, rec_parts = [], []
    written = 0
    while written < size_mb * MB:
        rows = 50_000
        features = rng.normal(size=(rows, FEATURES)).astype(np.float32)
        labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(np.float32)
        text = "\n".join(
            ",".join(f"{v:.6g}" for v in (label, *row))
            for label, row in zip(labels, features, strict=True)
        )
        block = (text + "\n").encode()
        records = recordio_protobuf.encode_records_from_array(features, labels)
        copies = max(1, min(PART_MB * MB, size_mb * MB - written) // len(block))
        number = len(csv_parts)
        csv_path, rec_path = csv_dir / f"part-{number}.csv", rec_dir / f"part-{number}.rec"
        with open(csv_path, "wb") as csv_out, open(rec_path, "wb") as rec_out:
            for _ in range(copies):
                csv_out.write(block)
                rec_out.write(records)
        csv_parts.append(csv_path)
        rec_parts.append(rec_path)
        written += copies * len(block)
    return csv_parts, rec_parts


@dataclass
class Outcome:
    seconds: float
    peak_rss_mb: float
    failure: str | None


def train(root: Path, algorithm: str, files: list[Path], content_type: str, mode: str) -> Outcome:
    channel = ChannelInput(
        name="train", source=files[0].parent, content_type=content_type, input_mode=mode
    )
    paths = lay_out_job(root, [channel], HYPERPARAMETERS[algorithm], copy_data=mode != "Pipe")
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(root), "ALGOPORT_ALGORITHM": algorithm}
    feeder = PipeFeeder(paths.data_dir / "train", files) if mode == "Pipe" else None
    if feeder is not None:
        feeder.start()
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            command("train"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if feeder is not None:
            feeder.stop()
    failure = None
    if process.returncode != 0:
        failure_file = ContractPaths(root).failure_file
        failure = failure_file.read_text().splitlines()[0] if failure_file.exists() else "?"
    return Outcome(seconds, usage.ru_maxrss / 1024, failure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=2048, help="CSV size (default 2048)")
    parser.add_argument("--algorithms", default="linear,kmeans,xgboost")
    parser.add_argument("--modes", default="File,Pipe", help="File, Pipe or both")
    parser.add_argument("--formats", default="csv,recordio", help="csv, recordio or both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_parts, rec_parts = make_parts(work / "data", args.size_mb)
        sizes = {
            "csv": sum(p.stat().st_size for p in csv_parts) / MB,
            "recordio": sum(p.stat().st_size for p in rec_parts) / MB,
        }
        print(
            f"channel: {sizes['csv']:.0f} MB CSV in {len(csv_parts)} files; "
            f"{sizes['recordio']:.0f} MB recordio-protobuf; {FEATURES} features"
        )
        header = ("algorithm", "format", "mode", "seconds", "MB/s", "peak RSS MB")
        print("{:<9} {:<9} {:<5} {:>8} {:>7} {:>12}".format(*header))
        notes = []
        for algorithm in args.algorithms.split(","):
            for form, files, content_type in (
                ("csv", csv_parts, "text/csv"),
                ("recordio", rec_parts, RECORDIO),
            ):
                if form not in args.formats.split(","):
                    continue
                for mode in args.modes.split(","):
                    root = work / f"{algorithm}-{form}-{mode}"
                    outcome = train(root, algorithm, files, content_type, mode)
                    if outcome.failure is not None:
                        notes.append(f"{algorithm} {form} {mode}: skipped: {outcome.failure}")
                        print(f"{algorithm:<9} {form:<9} {mode:<5} {'skipped':>8}")
                        continue
                    rate = sizes[form] / outcome.seconds
                    print(
                        f"{algorithm:<9} {form:<9} {mode:<5} {outcome.seconds:8.1f} "
                        f"{rate:7.1f} {outcome.peak_rss_mb:12.0f}"
                    )
        for note in notes:
            print(note)


if __name__ == "__main__":
    main()

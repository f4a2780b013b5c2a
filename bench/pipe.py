"""Pipe-mode reading speed against `cat`, and recordio-protobuf decoding, side by side.

    python bench/pipe.py [--size-mb 1024]

A CSV channel of --size-mb MB (30 features, the label first) is written into a real FIFO
by `cat`, and read by: `cat FIFO > /dev/null`; algoport's Pipe-mode stream (what a plugin
reading raw bytes gets); and algoport's epoch.chunks() decoding every record of the CSV.
Then recordio-protobuf records made like the SageMaker SDK's are decoded from a FIFO.
Prints MB/s, records/s and the ratio to `cat`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from algoport import builtin_formats, pipe
from algoport.channels import Channel
from algoport.formats import recordio_protobuf
from algoport.media import MediaType

MB = 1 << 20
FORMATS = builtin_formats.registry()


def make_csv(path: Path, size_mb: int) -> int:
    """A CSV file of about size_mb MB; returns its record count."""
    rng = np.random.default_rng(0)
    block = np.column_stack([rng.integers(0, 2, 20000), rng.normal(size=(20000, 30))])
    text = "\n".join(",".join(f"{v:.6g}" for v in row) for row in block).encode() + b"\n"
    copies = max(1, size_mb * MB // len(text))
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(text)
    return copies * len(block)


def make_recordio(path: Path, records: int) -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(records, 30)).astype(np.float32)
    labels = rng.integers(0, 2, records).astype(np.float32)
    path.write_bytes(recordio_protobuf.encode_records_from_array(features, labels))


def through_fifo(source: Path, read: Callable[[Path], int]) -> tuple[float, int]:
    """Seconds for `read` to consume `source` written into a fresh FIFO by `cat`."""
    fifo = source.parent / "channel_0"
    os.mkfifo(fifo)
    try:
        writer = subprocess.Popen(f"cat {source} > {fifo}", shell=True)
        started = time.perf_counter()
        count = read(fifo)
        seconds = time.perf_counter() - started
        writer.wait()
    finally:
        fifo.unlink()
    return seconds, count


def read_with_cat(fifo: Path) -> int:
    subprocess.run(f"cat {fifo} > /dev/null", shell=True, check=True)
    return 0


def read_raw(fifo: Path) -> int:
    total = 0
    with pipe.open_epoch(fifo) as streams:
        for stream in streams:
            while block := stream.read(pipe.BUFFER_BYTES):
                total += len(block)
    return total


def read_records(content_type: str) -> Callable[[Path], int]:
    def read(fifo: Path) -> int:
        name = fifo.name.rsplit("_", 1)[0]
        media = MediaType.parse(content_type)
        channel = Channel(name, fifo.parent / name, media, "Pipe", formats=FORMATS)
        rows = 0
        with channel.open_epoch(0) as epoch:
            for chunk in epoch.chunks():
                rows += len(chunk.features)
        return rows

    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--recordio-records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="algoport-pipe-bench-") as tmp:
        directory = Path(tmp)
        csv_file = directory / "train.csv"
        records = make_csv(csv_file, args.size_mb)
        size = csv_file.stat().st_size / MB
        rows = []
        cat_seconds, _ = through_fifo(csv_file, read_with_cat)
        rows.append(("cat FIFO > /dev/null", cat_seconds, size, None))
        raw_seconds, _ = through_fifo(csv_file, read_raw)
        rows.append(("algoport Pipe stream (raw bytes)", raw_seconds, size, None))
        csv_seconds, decoded = through_fifo(csv_file, read_records("text/csv"))
        assert decoded == records
        rows.append(("algoport epoch.chunks(), text/csv", csv_seconds, size, records))

        rio_file = directory / "train.recordio"
        make_recordio(rio_file, args.recordio_records)
        rio_size = rio_file.stat().st_size / MB
        rio_cat, _ = through_fifo(rio_file, read_with_cat)
        rows.append(("cat FIFO > /dev/null (recordio-protobuf)", rio_cat, rio_size, None))
        kind = "application/x-recordio-protobuf"
        rio_seconds, rio_rows = through_fifo(rio_file, read_records(kind))
        assert rio_rows == args.recordio_records
        rows.append(("algoport epoch.chunks(), recordio-protobuf", rio_seconds, rio_size, rio_rows))

    print(f"\nPipe-mode reading: {size:.0f} MB CSV ({records} records), FIFO written by cat\n")
    print("| reader | MB | seconds | MB/s | records/s | vs cat |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, megabytes, count in rows:
        baseline = rio_cat if "recordio" in name else cat_seconds
        rate = f"{count / seconds:,.0f}" if count else "-"
        print(
            f"| {name} | {megabytes:.0f} | {seconds:.2f} | {megabytes / seconds:,.0f} | {rate} "
            f"| {baseline / seconds:.2f}x |"
        )


if __name__ == "__main__":
    main()

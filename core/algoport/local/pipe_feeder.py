"""A Pipe-mode emulator: feed a channel's files through FIFOs, epoch after epoch.

As SageMaker does, it creates ``<channel>_0``, writes every file into it (gzipped and
RecordIO-wrapped per file when asked), and once that epoch is written creates
``<channel>_1``, and so on, until it is stopped. A reader that closes an epoch early is
normal. Runs as its own process: ``python -m algoport.local.pipe_feeder SPEC_JSON``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def _write_file(out: BinaryIO, source: Path, record_wrapper: str, compression: str) -> None:
    if record_wrapper == "RecordIO":
        from algoport.formats.recordio import encode_record

        data = source.read_bytes()
        out.write(encode_record(gzip.compress(data) if compression == "Gzip" else data))
        return
    target: BinaryIO = gzip.GzipFile(fileobj=out, mode="wb") if compression == "Gzip" else out  # type: ignore[assignment]
    with open(source, "rb") as handle:
        while chunk := handle.read(CHUNK):
            target.write(chunk)
    if target is not out:
        target.close()


def feed(
    prefix: Path,
    files: Sequence[Path],
    *,
    record_wrapper: str = "None",
    compression: str = "None",
    epochs: int | None = None,
) -> None:
    """Feed ``files`` into ``<prefix>_0``, ``<prefix>_1``…; forever unless ``epochs`` is set."""
    epoch = 0
    while epochs is None or epoch < epochs:
        fifo = Path(f"{prefix}_{epoch}")
        os.mkfifo(fifo)
        try:
            with open(fifo, "wb", buffering=CHUNK) as out:
                for source in files:
                    _write_file(out, source, record_wrapper, compression)
        except BrokenPipeError:
            pass  # the reader closed this epoch early
        finally:
            with contextlib.suppress(FileNotFoundError):
                fifo.unlink()
        epoch += 1


class PipeFeeder:
    """The emulator in a background process, for one channel."""

    def __init__(
        self,
        prefix: Path,
        files: Sequence[Path],
        *,
        record_wrapper: str = "None",
        compression: str = "None",
        epochs: int | None = None,
    ) -> None:
        self.spec = {
            "prefix": str(prefix),
            "files": [str(f) for f in files],
            "record_wrapper": record_wrapper,
            "compression": compression,
            "epochs": epochs,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PipeFeeder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        argv = [sys.executable, "-m", "algoport.local.pipe_feeder", json.dumps(self.spec)]
        self.process = subprocess.Popen(argv)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    prefix = Path(spec["prefix"])
    try:
        feed(
            prefix,
            [Path(f) for f in spec["files"]],
            record_wrapper=spec["record_wrapper"],
            compression=spec["compression"],
            epochs=spec["epochs"],
        )
    finally:
        for leftover in prefix.parent.glob(f"{prefix.name}_*"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


if __name__ == "__main__":
    _main(sys.argv[1])

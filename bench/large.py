"""Large requests: seconds, rows/s and the worker's peak memory, streamed vs whole-body.

    python bench/large.py [--sizes-mb 10,100,1024] [--paths streamed,whole-body]

Trains algoport-sklearn's `linear` (a binary classifier, one prediction per row) on
algoport-xgboost's demo data (30 features) through the real `train`, writes CSV bodies of
the given sizes from its rows, and posts each once to a fresh `serve` with no SAGEMAKER_*
variable set (one worker per CPU): streamed (the default) and whole-body
(ALGOPORT_STREAM_CHUNK_MB=0). The client sends the file with a Content-Length and reads the
reply as it comes. Peak memory is VmHWM of the worker that answered, from /proc, so each
measurement gets its own server. Prints a table.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from algoport.local import runner
from algoport.local.artifacts import extract_model
from algoport.local.layout import ChannelInput
from algoport.local.processes import ServeProcess

MB = 1024 * 1024
PATHS = {"streamed": {}, "whole-body": {"ALGOPORT_STREAM_CHUNK_MB": "0"}}


def train_model(workdir: Path, data: Path) -> Path:
    outcome = runner.train(
        runner.new_job_dir(workdir, "bench"),
        "linear",
        [ChannelInput("train", data, "text/csv")],
        {"predictor_type": "binary_classifier"},
    )
    if outcome.model_tarball is None:
        sys.exit(f"training failed: {outcome.failure}")
    return extract_model(outcome.model_tarball, workdir / "serving" / "model")


def write_body(path: Path, data: Path, size_mb: int) -> int:
    """A CSV body of about ``size_mb`` MB from the features of ``data``; its row count."""
    features = "".join(line.split(",", 1)[1] + "\n" for line in data.read_text().splitlines())
    block = (features * (MB // len(features) + 1)).encode()
    rows_per_block = block.count(b"\n")
    blocks = max(1, round(size_mb * MB / len(block)))
    with path.open("wb") as out:
        for _ in range(blocks):
            out.write(block)
    return blocks * rows_per_block


def post_file(url: str, body: Path) -> tuple[float, int, int]:
    """Seconds to the reply's last byte, its status and its line count."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=3600, blocksize=MB)
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    started = time.perf_counter()
    with body.open("rb") as data:
        connection.request("POST", "/invocations", body=data, headers=headers)
        response = connection.getresponse()
        lines = 0
        while piece := response.read(MB):
            lines += piece.count(b"\n")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, response.status, lines


def peak_rss_mb(pid: int) -> float:
    """The largest VmHWM of the process's children (the workers), or its own without any."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    peaks = []
    for each in children or [str(pid)]:
        status = Path(f"/proc/{each}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)))  # type: ignore[union-attr]
    return max(peaks) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", default="10,100,1024", help="body sizes, in MB")
    parser.add_argument("--paths", default=",".join(PATHS), help="streamed, whole-body or both")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes_mb.split(",")]
    paths = {name: PATHS[name] for name in args.paths.split(",")}

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="algoport-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "train.csv"
        source = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
        data.write_text(source.read_text())
        model_dir = train_model(workdir, data)
        for size in sizes:
            body = workdir / f"body-{size}.csv"
            rows = write_body(body, data, size)
            for name, env in paths.items():
                server = ServeProcess(model_dir, env=env)
                del server.environ["SAGEMAKER_MODEL_SERVER_WORKERS"]  # one a CPU, the default
                with server:
                    assert server.process is not None
                    idle = peak_rss_mb(server.process.pid)
                    seconds, status, lines = post_file(server.url, body)
                    peak = peak_rss_mb(server.process.pid)
                ok = status == 200 and lines == rows
                shown = "" if ok else f" (status {status}, {lines} lines)"
                print(f"  {size} MB {name}: {seconds:.1f} s, {peak:.0f} MB{shown}", file=sys.stderr)
                rows_out.append((body.stat().st_size / MB, rows, name, seconds, idle, peak, ok))
            body.unlink()

    print(f"\nlarge requests: one request each, fresh server, {os.cpu_count()} CPU(s)\n")
    print(
        "| body MB | rows | path | seconds | rows/s | worker peak RSS MB "
        "| before the request | answered |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---|")
    for size_mb, rows, name, seconds, idle, peak, ok in rows_out:
        print(
            f"| {size_mb:.0f} | {rows} | {name} | {seconds:.1f} | {rows / seconds:,.0f} "
            f"| {peak:.0f} | {idle:.0f} | {'yes' if ok else 'no'} |"
        )


if __name__ == "__main__":
    main()

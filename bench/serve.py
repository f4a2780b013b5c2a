"""Serving speed: algoport's `serve` against a bare starlette app, side by side, with wrk.

    python bench/serve.py [--duration 5] [--rounds 3] [--rows 1,100,1000] [--connections 1,16]

Trains algoport-sklearn's `linear` (LogisticRegression) on algoport-xgboost's demo data
(breast cancer, 30 features) through the real `train`, serves it with one worker pinned to
CPU 0, and drives it with wrk pinned to CPU 1, side by side with `bench/bare_app.py` (the same
model file, np.loadtxt and an inline predict) on the same CPU. Before timing, every body is
sent to both servers and their replies must be byte for byte the same. Both servers run for
the whole benchmark and are measured in turn, round after round, so a noisy neighbour slows
both rather than one; each cell reports the median round. Prints requests/s and p50/p99 latency
per body size and connection count, the time from starting each server to its first 200
from /ping, and resident memory. Needs wrk (Debian package `wrk`) and taskset (util-linux).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

from algoport.local import runner
from algoport.local.artifacts import extract_model
from algoport.local.layout import ChannelInput
from algoport.local.processes import ServeProcess, find_free_port, ping

WRK_SCRIPT = """
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
wrk.headers["Accept"] = "text/csv"
"""


@dataclass(frozen=True)
class Measure:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") else argv


def milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, duration: int) -> Measure:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    out = subprocess.run(pinned(1, argv), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = milliseconds(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = milliseconds(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Measure(rps, p50, p99, int(bad.group(1)) if bad else 0)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        status = Path(f"/proc/{each}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def bodies(workdir: Path, data: Path, sizes: list[int]) -> dict[int, Path]:
    """A CSV body of each size, in a file, by row count."""
    features = [line.split(",", 1)[1] for line in data.read_text().splitlines()]
    result = {}
    for rows in sizes:
        lines = [features[i % len(features)] for i in range(rows)]
        body = workdir / f"body-{rows}.csv"
        body.write_text("\n".join(lines) + "\n")
        result[rows] = body
    return result


def wrk_scripts(bodies: dict[int, Path]) -> dict[int, Path]:
    scripts = {}
    for rows, body in bodies.items():
        script = body.with_suffix(".lua")
        script.write_text(WRK_SCRIPT.format(body=body))
        scripts[rows] = script
    return scripts


def check_same_replies(urls: dict[str, str], bodies: dict[int, Path]) -> None:
    """Exit unless every server answers every body with the same bytes."""
    headers = {"Content-Type": "text/csv", "Accept": "text/csv"}
    for rows, body in bodies.items():
        replies = {
            name: httpx.post(url + "/invocations", content=body.read_bytes(), headers=headers)
            for name, url in urls.items()
        }
        contents = {reply.content for reply in replies.values()}
        if len(contents) != 1 or any(reply.status_code != 200 for reply in replies.values()):
            shown = {name: (r.status_code, r.content[:80]) for name, r in replies.items()}
            sys.exit(f"the servers answer {rows} rows differently: {shown}")


def train_model(workdir: Path, data: Path) -> Path:
    outcome = runner.train(
        runner.new_job_dir(workdir, "bench"),
        "linear",
        [ChannelInput("train", data, "text/csv")],
        # A plain LogisticRegression, as the bare app serves: no scaling pipeline.
        {"predictor_type": "binary_classifier", "normalize_data": "false"},
    )
    if outcome.model_tarball is None:
        sys.exit(f"training failed: {outcome.failure}")
    return extract_model(outcome.model_tarball, workdir / "serving" / "model")


def measure_servers(
    urls: dict[str, str],
    scripts: dict[int, Path],
    connections: list[int],
    duration: int,
    rounds: int,
) -> dict[str, dict[tuple[int, int], Measure]]:
    """Each cell measured ``rounds`` times per server, servers alternating; the median round."""
    results: dict[str, dict[tuple[int, int], Measure]] = {name: {} for name in urls}
    for rows, script in scripts.items():
        for conns in connections:
            samples: dict[str, list[Measure]] = {name: [] for name in urls}
            for _ in range(rounds):
                for name, url in urls.items():
                    samples[name].append(run_wrk(url + "/invocations", script, conns, duration))
            for name, measures in samples.items():
                median = sorted(measures, key=lambda m: m.rps)[len(measures) // 2]
                results[name][(rows, conns)] = median
                shown = " ".join(f"{m.rps:.0f}" for m in measures)
                print(f"  {name:8} rows={rows:5} c={conns:3}: {shown} req/s", file=sys.stderr)
    return results


def start_bare(port: int, model_dir: Path) -> tuple[subprocess.Popen[bytes], float]:
    started = time.monotonic()
    argv = [sys.executable, str(Path(__file__).with_name("bare_app.py")), str(port), str(model_dir)]
    process = subprocess.Popen(pinned(0, argv), stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    while ping(url) != 200:
        if process.poll() is not None:
            sys.exit("bare app failed to start")
        time.sleep(0.02)
    return process, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell and server")
    parser.add_argument("--rows", default="1,100,1000")
    parser.add_argument("--connections", default="1,16")
    args = parser.parse_args()
    sizes = [int(r) for r in args.rows.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    with tempfile.TemporaryDirectory(prefix="algoport-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "train.csv"
        source = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
        data.write_text(source.read_text())
        model_dir = train_model(workdir, data)
        body_files = bodies(workdir, data, sizes)

        env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1", "SAGEMAKER_CONTAINER_LOG_LEVEL": "30"}
        server = ServeProcess(model_dir, env=env, wait_ready=False)
        # Pinned from the start, as taskset pins the bare app: threads started at import
        # (OpenBLAS's) inherit CPU 0 too, rather than only the main thread moving there.
        own_cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})
        try:
            server.start()
        finally:
            os.sched_setaffinity(0, own_cpus)
        assert server.process is not None
        ready = server.wait_until_ready()
        bare, bare_ready = start_bare(port := find_free_port(), model_dir)
        try:
            urls = {"algoport": server.url, "bare": f"http://127.0.0.1:{port}"}
            check_same_replies(urls, body_files)
            scripts = wrk_scripts(body_files)
            results = measure_servers(urls, scripts, connections, args.duration, args.rounds)
            ours_rss, bare_rss = rss_mb(server.process.pid), rss_mb(bare.pid)
        finally:
            server.stop()
            bare.terminate()
            bare.wait()

    ours, theirs = results["algoport"], results["bare"]
    print(
        f"\nserve benchmark: median of {args.rounds} rounds of {args.duration} s per cell, "
        "servers alternating; servers on CPU 0, wrk on CPU 1\n"
    )
    print(
        "| rows | conns | algoport req/s | bare req/s | ratio "
        "| algoport p50 / p99 ms | bare p50 / p99 ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for key in ours:
        a, b = ours[key], theirs[key]
        print(
            f"| {key[0]} | {key[1]} | {a.rps:.0f} | {b.rps:.0f} | {a.rps / b.rps:.2f}x "
            f"| {a.p50_ms:.2f} / {a.p99_ms:.2f} | {b.p50_ms:.2f} / {b.p99_ms:.2f} |"
        )
        if a.errors or b.errors:
            print(f"|   | non-2xx: algoport {a.errors}, bare {b.errors} |")
    print(f"\nstart to first /ping 200: algoport {ready:.2f} s, bare {bare_ready:.2f} s")
    print(f"resident memory after the run: algoport {ours_rss:.0f} MB, bare {bare_rss:.0f} MB")


if __name__ == "__main__":
    main()

"""``algoport-xgboost-demo``: train XGBoost on bundled data, serve it, predict, batch transform.

The demo does what a user would: it runs ``algoport local train``, ``serve`` and ``transform``
and sends requests over HTTP, so it goes through the real SageMaker contract and relies only
on algoport's command line, never on its internal modules.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

DATA = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": "60",
    "eta": "0.2",
    "max_depth": "4",
    "eval_metric": "auc",
    "seed": "7",
}
READY_TIMEOUT = 240.0  # SageMaker's start-up health check allows 4 minutes
STOP_TIMEOUT = 30.0  # SageMaker's grace period after SIGTERM


class DemoFailed(Exception):
    """A step failed; the message says which and where its output went."""


def algoport(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "algoport", *(str(arg) for arg in args)]


def split_data(run_dir: Path) -> tuple[Path, Path, Path, np.ndarray]:
    """Train, validation and test files from the bundled data; test without its labels."""
    lines = DATA.read_text().splitlines()
    order = np.random.default_rng(7).permutation(len(lines))
    shuffled = [lines[i] for i in order]
    n_train, n_valid = int(0.7 * len(lines)), int(0.15 * len(lines))
    data = run_dir / "data"
    for name, part in (
        ("train", shuffled[:n_train]),
        ("validation", shuffled[n_train : n_train + n_valid]),
    ):
        (data / name).mkdir(parents=True)
        (data / name / f"{name}.csv").write_text("\n".join(part) + "\n")
    test = shuffled[n_train + n_valid :]
    (data / "test").mkdir()
    (data / "test" / "test.csv").write_text("".join(line.split(",", 1)[1] + "\n" for line in test))
    labels = np.array([int(line.split(",", 1)[0]) for line in test])
    return data / "train", data / "validation", data / "test" / "test.csv", labels


def train(run_dir: Path, train_dir: Path, valid_dir: Path) -> Path:
    """``algoport local train`` in a fresh directory; the path of its model.tar.gz."""
    hyperparameters = [arg for k, v in HYPERPARAMETERS.items() for arg in ("--hp", f"{k}={v}")]
    command = algoport(
        "local", "train", "--algorithm", "xgboost",
        "--channel", f"train={train_dir}", "--channel", f"validation={valid_dir}",
        "--content-type", "text/csv", *hyperparameters, "--workdir", run_dir,
    )  # fmt: skip
    if subprocess.run(command, check=False).returncode != 0:
        raise DemoFailed("training failed; its failure reason is printed above")
    return next(run_dir.glob("training-*/output/model.tar.gz"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post(url: str, body: bytes, content_type: str, accept: str) -> tuple[int, bytes]:
    headers = {"Content-Type": content_type, "Accept": accept}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DemoFailed(f"serve exited with {server.returncode} before /ping answered")
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/ping", timeout=2):
            return
        time.sleep(0.1)
    raise DemoFailed(f"/ping did not answer 200 within {READY_TIMEOUT:.0f} s")


@contextlib.contextmanager
def serving(model: Path, run_dir: Path) -> Iterator[str]:
    """``algoport local serve`` of the model; its URL once /ping answers, stopped on exit."""
    port = free_port()
    server = subprocess.Popen(
        algoport("local", "serve", "--model", model, "--port", str(port), "--workdir", run_dir)
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(server, url)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def predicted_labels(jsonlines: bytes) -> np.ndarray:
    labels = []
    for line in jsonlines.decode().splitlines():
        record = json.loads(line)
        if "predicted_label" in record:
            labels.append(int(record["predicted_label"]))
        else:
            labels.append(int(float(record["score"]) > 0.5))
    return np.array(labels)


def run_demo(workdir: Path) -> None:
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="demo-", dir=workdir)).resolve()
    train_dir, valid_dir, test_file, test_labels = split_data(run_dir)
    model = train(run_dir, train_dir, valid_dir)
    output = run_dir / "transform"
    with serving(model, run_dir) as url:
        first = test_file.read_text().splitlines()[:3]
        csv_body = ("\n".join(first) + "\n").encode()
        csv_status, csv_reply = post(url + "/invocations", csv_body, "text/csv", "text/csv")
        rows = [[float(v) for v in line.split(",")] for line in first]
        json_body = json.dumps({"instances": rows}).encode()
        json_status, json_reply = post(
            url + "/invocations", json_body, "application/json", "application/json"
        )
        transform = algoport(
            "local", "transform", "--endpoint", url, "--input", test_file,
            "--output", output, "--accept", "application/jsonlines",
        )  # fmt: skip
        if subprocess.run(transform, check=False).returncode != 0:
            raise DemoFailed("batch transform failed; its error is printed above")
    predictions = output / f"{test_file.name}.out"
    accuracy = float(np.mean(predicted_labels(predictions.read_bytes()) == test_labels))
    print()
    print("algoport demo: XGBoost on the breast-cancer data, through train → model.tar.gz → serve")
    print(f"  real-time, text/csv ({csv_status}): {csv_reply.decode().strip().splitlines()}")
    print(f"  real-time, application/json ({json_status}): {json_reply.decode().strip()}")
    print(f"  batch transform: {len(test_labels)} records → {predictions}")
    print(f"  test accuracy: {accuracy:.3f} on {len(test_labels)} held-out records")
    print(f"  model: {model}")
    print(f"  demo directory: {run_dir}")
    print(f"  total time: {time.monotonic() - started:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="algoport-xgboost-demo",
        description="Train XGBoost on bundled data through the SageMaker contract, serve the "
        "model, predict in real time and by batch transform, print the test accuracy.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("algoport-demo"),
        help="each run gets a fresh directory in it (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        run_demo(args.workdir)
    except DemoFailed as failure:
        print(f"algoport-xgboost-demo: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

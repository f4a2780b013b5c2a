"""Speed of the data formats: ``PYTHONPATH=core taskset -c 1 python bench/formats.py``.

Prints per-call times (best of several rounds of CPU time, ``time.process_time``, which a
busy machine inflates less than wall time) and throughput for CSV decoding side by side
with ``np.loadtxt`` (rounds alternate, so machine noise hits both), for the response
encoders, for recordio-protobuf, and for one request's body in each format a client can
send. The allocator is tuned as `train`
and `serve` tune it (``algoport.allocator``), for both sides alike.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algoport.allocator import keep_freed_memory
from algoport.formats.csv import decode_csv, encode_csv
from algoport.formats.jsonformat import encode_json
from algoport.formats.npy import decode_npy
from algoport.formats.recordio_protobuf import (
    decode_records,
    encode_predictions,
    encode_records_from_array,
)

ROUNDS = 5
ROUND_SECONDS = 0.05
BREAST_CANCER = (
    Path(__file__).parents[1] / "plugins/xgboost/src/algoport_xgboost/demo_data/breast_cancer.csv"
)


def best_seconds(function: Callable[..., Any], *args: Any) -> float:
    """Best per-call time of ``function(*args)`` over ROUNDS rounds of ROUND_SECONDS or more."""
    return best_seconds_each([function], *args)[0]


def best_seconds_each(functions: Sequence[Callable[..., Any]], *args: Any) -> list[float]:
    """``best_seconds`` of each function, their rounds alternating."""
    calls = [calls_per_round(function, *args) for function in functions]
    best = [float("inf")] * len(functions)
    for _ in range(ROUNDS):
        for i, function in enumerate(functions):
            start = time.process_time()
            for _ in range(calls[i]):
                function(*args)
            best[i] = min(best[i], (time.process_time() - start) / calls[i])
    return best


def calls_per_round(function: Callable[..., Any], *args: Any) -> int:
    function(*args)
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            function(*args)
        if time.process_time() - start >= ROUND_SECONDS:
            return calls
        calls *= 2


def csv_body(rows: int, columns: int = 30, style: str = "6g", seed: int = 0) -> bytes:
    values = np.random.default_rng(seed).normal(size=(rows, columns)) * 100
    cell = {
        "6g": "{:.6g}".format,
        "int": "{:.0f}".format,
        "exp": "{:.5e}".format,
        "repr": repr,
        "missing": lambda v: "" if abs(v) < 40 else f"{v:.6g}",
        "spaces": " {:.6g} ".format,
    }[style]
    return ("\n".join(",".join(cell(float(v)) for v in row) for row in values) + "\n").encode()


def breast_cancer_body(rows: int) -> bytes:
    """``rows`` rows of the demo data's 30 feature columns (label dropped), repeated as needed."""
    lines = BREAST_CANCER.read_bytes().splitlines()
    return b"".join(lines[i % len(lines)].split(b",", 1)[1] + b"\n" for i in range(rows))


def loadtxt(body: bytes) -> Any:
    return np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for line in (header, ["-" * w for w in widths], *rows):
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def bench_csv_decode() -> None:
    rows = []
    for n_rows in (1, 100, 1000):
        body = breast_cancer_body(n_rows)
        ours, theirs = best_seconds_each([decode_csv, loadtxt], body)
        rows.append(
            [
                f"{n_rows}",
                f"{ours * 1e6:,.1f}",
                f"{theirs * 1e6:,.1f}",
                f"{theirs / ours:.2f}x",
                f"{len(body) / ours / 1e6:,.1f}",
            ]
        )
    table(
        "CSV decode, breast-cancer rows (30 columns as written by the dataset)",
        ["rows", "decode_csv µs", "np.loadtxt µs", "speed-up", "decode_csv MB/s"],
        rows,
    )


def bench_csv_styles() -> None:
    rows = []
    for style in ("6g", "int", "exp", "missing", "spaces", "repr"):
        for n_rows in (1, 100, 1000):
            body = csv_body(n_rows, style=style)
            row = [style, f"{n_rows}"]
            if style == "missing":  # np.loadtxt refuses empty fields
                row += [f"{best_seconds(decode_csv, body) * 1e6:,.1f}", "n/a", ""]
            else:
                ours, theirs = best_seconds_each([decode_csv, loadtxt], body)
                row += [f"{ours * 1e6:,.1f}", f"{theirs * 1e6:,.1f}", f"{theirs / ours:.2f}x"]
            rows.append(row)
    table(
        "CSV decode of 30 columns by value style (repr: doubles in full, up to 17 digits)",
        ["style", "rows", "decode_csv µs", "np.loadtxt µs", "speed-up"],
        rows,
    )


def prediction_columns(n_rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    probabilities = rng.random((n_rows, 2)).astype(np.float32)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return {
        "predicted_label": probabilities.argmax(axis=1),
        "probabilities": probabilities,
    }


def bench_encoders() -> None:
    encoders = {
        "encode_csv": encode_csv,
        "encode_json": encode_json,
        "encode_predictions (recordio-protobuf)": encode_predictions,
    }
    rows = []
    for n_rows in (1, 100, 1000):
        columns = prediction_columns(n_rows)
        for name, encoder in encoders.items():
            seconds = best_seconds(encoder, columns)
            size = len(encoder(columns))
            rows.append(
                [
                    f"{n_rows}",
                    name,
                    f"{seconds * 1e6:,.1f}",
                    f"{n_rows / seconds:,.0f}",
                    f"{size / seconds / 1e6:,.1f}",
                ]
            )
    table(
        "Encode {predicted_label, probabilities (2 × float32)}",
        ["rows", "encoder", "µs/call", "records/s", "MB/s out"],
        rows,
    )


def bench_recordio_protobuf() -> None:
    rng = np.random.default_rng(2)
    rows = []
    for n_records, dtype in ((1, np.float32), (1000, np.float32), (10_000, np.float32),
                             (10_000, np.float64)):  # fmt: skip
        features = rng.normal(size=(n_records, 30)).astype(dtype)
        labels = rng.integers(0, 2, n_records).astype(np.float32)
        body = encode_records_from_array(features, labels)
        decode = best_seconds(decode_records, body)
        encode = best_seconds(encode_records_from_array, features, labels)
        rows.append(
            [
                f"{n_records}",
                np.dtype(dtype).name,
                f"{decode * 1e6:,.1f}",
                f"{n_records / decode:,.0f}",
                f"{len(body) / decode / 1e6:,.1f}",
                f"{encode * 1e6:,.1f}",
            ]
        )
    table(
        "recordio-protobuf, 30 features + label per record",
        ["records", "dtype", "decode µs", "records/s", "MB/s", "encode µs"],
        rows,
    )


def npy_body(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)  # as the SageMaker SDK's NumpySerializer writes it
    return out.getvalue()


def bench_request_formats() -> None:
    """One request of breast-cancer rows in each format a client can send, decoded."""
    rows = []
    for n_rows in (1, 100, 1000):
        csv_text = breast_cancer_body(n_rows)
        features = decode_csv(csv_text)
        bodies: dict[str, tuple[Callable[[bytes], Any], bytes]] = {
            "text/csv": (decode_csv, csv_text),
            "application/x-npy float64": (decode_npy, npy_body(features)),
            "application/x-npy float32": (decode_npy, npy_body(features.astype(np.float32))),
            "x-recordio-protobuf float32": (
                decode_records,
                encode_records_from_array(features.astype(np.float32)),
            ),
            "x-recordio-protobuf float64": (decode_records, encode_records_from_array(features)),
        }
        timed = best_seconds_each(
            [functools.partial(decode, body) for decode, body in bodies.values()]
        )
        csv_seconds = timed[0]
        for (name, (_, body)), each in zip(bodies.items(), timed, strict=True):
            rows.append(
                [
                    f"{n_rows}",
                    name,
                    f"{len(body):,}",
                    f"{each * 1e6:,.1f}",
                    f"{csv_seconds / each:.1f}x",
                ]
            )
    table(
        "Request decode by content type, breast-cancer rows (30 features)",
        ["rows", "content type", "body bytes", "decode µs", "vs CSV"],
        rows,
    )


def main() -> None:
    print(f"allocator keeps freed memory: {keep_freed_memory()}")
    bench_csv_decode()
    bench_csv_styles()
    bench_encoders()
    bench_recordio_protobuf()
    bench_request_formats()


if __name__ == "__main__":
    main()

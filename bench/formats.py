"""Speed of the data formats: ``PYTHONPATH=core python bench/formats.py``.

Prints per-call times (best of several rounds, time.perf_counter) and throughput for CSV
decoding against numpy (and pandas / pyarrow when importable), for the response encoders
and for recordio-protobuf. The allocator is tuned as `train` and `serve` tune it
(``algoport.allocator``): without that, mapping fresh pages for numpy's temporaries can
double the CSV times.
"""

from __future__ import annotations

import importlib
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from algoport.allocator import keep_freed_memory
from algoport.formats.csv import decode_csv, encode_csv
from algoport.formats.jsonformat import encode_json
from algoport.formats.recordio_protobuf import (
    decode_records,
    encode_predictions,
    encode_records_from_array,
)

ROUNDS = 5
ROUND_SECONDS = 0.05


def best_seconds(function: Callable[..., Any], *args: Any) -> float:
    """Best per-call time of ``function(*args)`` over ROUNDS rounds of ROUND_SECONDS or more."""
    function(*args)
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function(*args)
        if time.perf_counter() - start >= ROUND_SECONDS:
            break
        calls *= 2
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(calls):
            function(*args)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


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


def optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def loadtxt(body: bytes) -> Any:
    return np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2)


def csv_decoders() -> dict[str, Callable[[bytes], Any]]:
    decoders: dict[str, Callable[[bytes], Any]] = {
        "decode_csv": decode_csv,
        "np.loadtxt": loadtxt,
        "np.genfromtxt": lambda body: np.genfromtxt(io.BytesIO(body), delimiter=","),
    }
    pandas = optional("pandas")
    if pandas is not None:
        decoders["pandas.read_csv"] = lambda body: pandas.read_csv(
            io.BytesIO(body), header=None
        ).to_numpy()
    pyarrow_csv = optional("pyarrow.csv")
    if pyarrow_csv is not None:
        options = pyarrow_csv.ReadOptions(autogenerate_column_names=True)
        decoders["pyarrow.csv"] = lambda body: pyarrow_csv.read_csv(
            io.BytesIO(body), read_options=options
        )
    return decoders


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    for line in (header, ["-" * w for w in widths], *rows):
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def bench_csv_decode() -> None:
    decoders = csv_decoders()
    rows = []
    for n_rows in (1, 100, 1000, 10_000):
        body = csv_body(n_rows)
        baseline = best_seconds(loadtxt, body)
        for name, decoder in decoders.items():
            seconds = best_seconds(decoder, body)
            rows.append(
                [
                    f"{n_rows}",
                    name,
                    f"{seconds * 1e6:,.1f}",
                    f"{len(body) / seconds / 1e6:,.1f}",
                    f"{baseline / seconds:.2f}x",
                ]
            )
    table(
        "CSV decode, 30 columns of ~6 significant digits",
        ["rows", "decoder", "µs/call", "MB/s", "vs loadtxt"],
        rows,
    )


def bench_csv_styles() -> None:
    rows = []
    for style in ("6g", "int", "exp", "missing", "spaces", "repr"):
        body = csv_body(1000, style=style)
        ours = best_seconds(decode_csv, body)
        row = [style, f"{len(body) / 1000:,.0f}", f"{ours * 1e6:,.0f}"]
        if style == "missing":
            row.append("n/a (empty fields)")
        else:
            theirs = best_seconds(loadtxt, body)
            row.append(f"{theirs * 1e6:,.0f} ({theirs / ours:.2f}x)")
        rows.append(row)
    table(
        "CSV decode of 1000 × 30 by value style (repr: doubles in full, up to 17 digits)",
        ["style", "KB", "decode_csv µs", "np.loadtxt µs (ratio)"],
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


def main() -> None:
    print(f"allocator keeps freed memory: {keep_freed_memory()}")
    bench_csv_decode()
    bench_csv_styles()
    bench_encoders()
    bench_recordio_protobuf()


if __name__ == "__main__":
    main()

"""Soak: a bounded mixed load of valid and hostile bodies against a real `serve`.

    python bench/soak.py [--duration 60] [--workers 2] [--concurrency 8] [--seed 0]

Trains algoport-sklearn's `linear` on algoport-xgboost's demo data through the real `train`
(as bench/serve.py does), serves it with --workers workers (SAGEMAKER_MODEL_SERVER_WORKERS)
and sends requests from --concurrency clients on loopback for --duration seconds: valid
bodies in every format the model reads, and the hostile ones of issue 11 (deep JSON, huge
JSON integers, .npy headers declaring absurd shapes, recordio records declaring huge
shapes, garbage and mutated bytes, empty bodies, wrong content types, refused Accept
headers, an oversized body). Then stops the server with SIGTERM.

Prints requests sent, the count of each status, per body kind and overall, the resident
memory (VmRSS) of the master and of each child at start and end with its peak (VmHWM),
and the server's exit code. Any 5xx or connection error, or a valid body not answered
200, or an invalid one not answered 4xx, is listed under FAILURES and makes the exit
status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import httpx
import numpy as np
from serve import train_model  # bench/serve.py, next to this script

from algoport.formats import recordio, recordio_protobuf
from algoport.local.processes import ServeProcess, ping

RECORDIO = "application/x-recordio-protobuf"
MB = 1024 * 1024
# Above serve's default payload limit of 6 MB: refused with 413 before decoding.
OVERSIZED = 7 * MB


@dataclass(frozen=True)
class Case:
    """One kind of request: its body (made afresh per request when random) and headers."""

    kind: str
    content_type: str
    make: Callable[[random.Random], bytes]
    expect: str  # "200", "4xx" or "200 or 4xx"
    accept: str | None = None
    weight: float = 1.0

    def expected(self, status: int) -> bool:
        ok = status == 200
        refused = 400 <= status < 500
        return {"200": ok, "4xx": refused, "200 or 4xx": ok or refused}[self.expect]


def fixed(body: bytes) -> Callable[[random.Random], bytes]:
    return lambda _rng: body


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def npy_with_header(header: str, data: bytes = b"") -> bytes:
    """A version 1.0 .npy file with ``header`` as written, padded as numpy pads it."""
    text = header.encode("latin1")
    text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def recordio_declaring(shape: list[int], keys: list[int], kind: str = "float32_tensor") -> bytes:
    """A recordio-protobuf record whose tensor declares ``shape`` but holds values at ``keys``."""
    record = recordio_protobuf.record_class()()
    tensor = getattr(record.features["values"], kind)
    tensor.shape.extend(shape)
    tensor.keys.extend(keys)
    tensor.values.extend([1.0] * len(keys))
    return recordio.encode_record(record.SerializeToString())


def garbage(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(1, 4096))


def mutated(body: bytes) -> Callable[[random.Random], bytes]:
    """``body`` with a few bytes replaced, inserted or cut, differently each request."""

    def make(rng: random.Random) -> bytes:
        data = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(data))
            data[at : at + rng.randint(0, 4)] = rng.randbytes(rng.randint(0, 8))
        return bytes(data)

    return make


def cases(features: np.ndarray) -> list[Case]:
    rows = features[:100]
    csv_rows = "".join(",".join(map(repr, row)) + "\n" for row in rows.tolist()).encode()
    csv_one = csv_rows.split(b"\n", 1)[0] + b"\n"
    json_body = json.dumps({"instances": rows[:10].tolist()}).encode()
    jsonlines = b"".join(json.dumps(row).encode() + b"\n" for row in rows[:10].tolist())
    npy_body = npy(rows[:10])
    recordio_body = recordio_protobuf.encode_records_from_array(rows[:10].astype(np.float32))
    valid = {
        "text/csv": csv_rows,
        "application/json": json_body,
        "application/jsonlines": jsonlines,
        "application/x-npy": npy_body,
        RECORDIO: recordio_body,
    }
    deep = b"[" * 100_000 + b"]" * 100_000
    huge_shape = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    short_data = "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 30), }"
    return [
        # Valid: one case per format, answered in several formats.
        Case("csv 1 row", "text/csv", fixed(csv_one), "200", "text/csv"),
        Case("csv 100 rows", "text/csv", fixed(csv_rows), "200", "application/json"),
        Case("csv, no Accept", "text/csv", fixed(csv_rows), "200"),
        Case("json instances", "application/json", fixed(json_body), "200", "application/json"),
        Case(
            "jsonlines", "application/jsonlines", fixed(jsonlines), "200", "application/jsonlines"
        ),
        Case("npy", "application/x-npy", fixed(npy_body), "200", "text/csv"),
        Case("recordio dense", RECORDIO, fixed(recordio_body), "200", RECORDIO),
        # Hostile bodies of issue 11.
        Case("json nested 100k deep", "application/json", fixed(deep), "4xx"),
        Case("jsonlines nested 100k deep", "application/jsonlines", fixed(deep), "4xx"),
        Case(
            "json nested 1000 deep",
            "application/json",
            fixed(b"[" * 1000 + b"1" + b"]" * 1000),
            "4xx",
        ),
        Case(
            "json 5000-digit integer",
            "application/json",
            fixed(b"[[" + b"9" * 5000 + b", 1.0" * 29 + b"]]"),
            "4xx",
        ),
        Case(
            "npy header unbalanced (",
            "application/x-npy",
            fixed(npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, }")),
            "4xx",
        ),
        Case(
            "npy header shape 10**12",
            "application/x-npy",
            fixed(npy_with_header(huge_shape)),
            "4xx",
        ),
        Case(
            "npy data shorter than shape",
            "application/x-npy",
            fixed(npy_with_header(short_data, rows[:1].tobytes())),
            "4xx",
        ),
        Case(
            "recordio 16 x float64 [10**7], no values",
            RECORDIO,
            fixed(b"".join(recordio_declaring([10**7], [], "float64_tensor") for _ in range(16))),
            "4xx",
        ),
        Case("recordio sparse [10**12]", RECORDIO, fixed(recordio_declaring([10**12], [0])), "4xx"),
        Case(
            "recordio sparse [2**40, 2**40]",
            RECORDIO,
            fixed(recordio_declaring([2**40, 2**40], [0])),
            "4xx",
        ),
        *(Case(f"garbage as {media}", media, garbage, "4xx") for media in valid),
        # A mutation can leave a body valid (a digit changed), hence "200 or 4xx".
        *(
            Case(f"mutated {media}", media, mutated(body), "200 or 4xx")
            for media, body in valid.items()
        ),
        # An empty body may decode to zero records, which the model answers with none.
        *(Case(f"empty {media}", media, fixed(b""), "200 or 4xx") for media in valid),
        Case("csv 29 features", "text/csv", fixed(b"1.0," * 28 + b"1.0\n"), "4xx"),
        # Linear computes in float64: 1e400 overflows to infinity, which no model can score.
        Case("csv 1e400", "text/csv", fixed(b"1e400," * 29 + b"1.0\n"), "4xx"),
        Case("csv nan", "text/csv", fixed(b"nan," * 29 + b"1.0\n"), "4xx"),
        Case("csv sent as application/json", "application/json", fixed(csv_rows), "4xx"),
        Case("json sent as text/csv", "text/csv", fixed(json_body), "4xx"),
        Case("Content-Type text/html", "text/html", fixed(csv_rows), "4xx"),
        Case("Accept text/html", "text/csv", fixed(csv_one), "4xx", "text/html"),
        Case("Accept */*;q=0", "text/csv", fixed(csv_one), "4xx", "*/*;q=0"),
        Case("7 MB body", "text/csv", fixed(b"1" * OVERSIZED), "4xx", weight=0.1),
    ]


@dataclass
class Tally:
    """What the clients saw: statuses per case, and every request that went wrong."""

    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], str] = field(default_factory=dict)

    def record(self, case: Case, status: str, failed: bool, detail: str) -> None:
        self.statuses[case.kind][status] += 1
        if failed:
            self.failures[(case.kind, status)] += 1
            self.examples.setdefault((case.kind, status), detail)


async def client(url: str, all_cases: list[Case], deadline: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    weights = [case.weight for case in all_cases]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < deadline:
            case = rng.choices(all_cases, weights)[0]
            headers = {"Content-Type": case.content_type}
            if case.accept is not None:
                headers["Accept"] = case.accept
            try:
                reply = await http.post("/invocations", content=case.make(rng), headers=headers)
            except httpx.TransportError as exc:
                tally.record(case, f"conn error: {type(exc).__name__}", True, repr(exc))
                continue
            status = reply.status_code
            failed = status >= 500 or not case.expected(status)
            tally.record(case, str(status), failed, reply.text[:300])


async def load(
    url: str, all_cases: list[Case], seconds: float, concurrency: int, seed: int
) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(client(url, all_cases, deadline, seed * 1000 + n, tally) for n in range(concurrency))
    )
    return tally


@dataclass(frozen=True)
class Memory:
    role: str
    rss_mb: float
    peak_mb: float


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/<pid>/task/*/children."""
    found = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            found += process_tree(int(child))
    return found


def memory(pids: list[int], master: int) -> dict[int, Memory]:
    result = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:  # ended between listing and reading
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        role = "master" if pid == master else "worker"
        if "resource_tracker" in cmdline:
            role = "resource tracker"
        result[pid] = Memory(
            role,
            int(fields["VmRSS"].split()[0]) / 1024,
            int(fields["VmHWM"].split()[0]) / 1024,
        )
    return result


def report(
    args: argparse.Namespace,
    all_cases: list[Case],
    tally: Tally,
    seconds: float,
    start: dict[int, Memory],
    end: dict[int, Memory],
    ping_after: int | None,
    exit_code: int,
) -> None:
    total = sum(sum(c.values()) for c in tally.statuses.values())
    overall: Counter[str] = Counter()
    for counts in tally.statuses.values():
        overall.update(counts)
    print(
        f"\nsoak: {args.duration} s, {args.workers} workers, {args.concurrency} clients, "
        f"seed {args.seed}\n"
    )
    print(f"requests sent: {total} ({total / seconds:.0f}/s over {seconds:.1f} s)\n")
    print("| status | count |\n|---|---:|")
    for status, count in sorted(overall.items()):
        print(f"| {status} | {count} |")
    print("\n| body kind | Content-Type | Accept | expected | sent | statuses |")
    print("|---|---|---|---|---:|---|")
    for case in all_cases:
        counts = tally.statuses.get(case.kind, Counter())
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        print(
            f"| {case.kind} | {case.content_type} | {case.accept or '-'} | {case.expect} "
            f"| {sum(counts.values())} | {shown} |"
        )
    print("\n| process | pid | RSS start MB | RSS end MB | peak (VmHWM) MB |")
    print("|---|---:|---:|---:|---:|")
    for pid in sorted(start.keys() | end.keys()):
        role = (end.get(pid) or start[pid]).role
        first = f"{start[pid].rss_mb:.0f}" if pid in start else "(new)"
        last = f"{end[pid].rss_mb:.0f}" if pid in end else "(gone)"
        peak = f"{end[pid].peak_mb:.0f}" if pid in end else "-"
        print(f"| {role} | {pid} | {first} | {last} | {peak} |")
    print(f"\n/ping after the load: {ping_after}")
    print(f"serve exit code after SIGTERM: {exit_code}")
    errors = sum(
        n for (_, status), n in tally.failures.items() if not status.isdigit() or status >= "500"
    )
    if not tally.failures and exit_code == 0:
        print("\nno 5xx, no connection errors, every body answered as expected")
        return
    print(
        f"\n{'!' * 72}\nFAILURES: {sum(tally.failures.values())} "
        f"({errors} 5xx or connection errors)"
    )
    for (kind, status), count in sorted(tally.failures.items()):
        print(f"  {count:6} x {status} for {kind!r}: {tally.examples[(kind, status)]}")
    if exit_code != 0:
        print(f"  serve exited {exit_code} after SIGTERM, expected 0")
    print("!" * 72)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="SAGEMAKER_MODEL_SERVER_WORKERS")
    parser.add_argument("--concurrency", type=int, default=8, help="clients sending at once")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clients' choices")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="algoport-soak-") as tmp:
        workdir = Path(tmp)
        data = workdir / "train.csv"
        source = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
        data.write_text(source.read_text())
        model_dir = train_model(workdir, data)
        all_cases = cases(np.loadtxt(data, delimiter=",")[:, 1:])

        env = {"SAGEMAKER_CONTAINER_LOG_LEVEL": "40"}
        server = ServeProcess(model_dir, env=env, workers=args.workers)
        server.start()
        try:
            assert server.process is not None
            master = server.process.pid
            start = memory(process_tree(master), master)
            began = time.monotonic()
            tally = asyncio.run(
                load(server.url, all_cases, args.duration, args.concurrency, args.seed)
            )
            seconds = time.monotonic() - began
            end = memory(process_tree(master), master)
            ping_after = ping(server.url)
            exit_code = server.terminate()
        except BaseException:
            print(server.logs()[-5000:], file=sys.stderr)
            raise
        finally:
            logs = server.logs()
            server.stop()

    report(args, all_cases, tally, seconds, start, end, ping_after, exit_code)
    if tally.failures or exit_code != 0:
        print(f"\nserve's last log lines:\n{logs[-3000:]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

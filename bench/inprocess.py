"""Serving cost without sockets: the ASGI apps called in-process, CPU time per request.

    taskset -c 0 python bench/inprocess.py [--rows 1,100,1000] [--connections 1,16]

Trains algoport-sklearn's `linear` as `bench/serve.py` does, then calls three apps directly
(no HTTP, no wrk): algoport's with adaptive batching (the default), algoport's with
``ALGOPORT_MAX_BATCH_SIZE=1``, and `bench/bare_app.py` on the same model file. ``c``
clients each send their next request as soon as the last is answered. Prints the CPU time
of this process per request (``time.process_time``: every thread, so predictions on a
prediction thread count) and the requests per ``predict`` call. CPU time is the figure a
busy machine disturbs least; it leaves out the sockets and the HTTP parsing every server
pays alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import bare_app
import serve

from algoport.plugins import selected_algorithm
from algoport.serving.app import ModelHost, create_app
from algoport.settings import Settings

HEADERS = [(b"content-type", b"text/csv"), (b"accept", b"text/csv")]
WARM_UP = 20


async def post(app: Any, body: bytes) -> bytes:
    """One POST /invocations through the ASGI app; the reply body (200 asserted)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "query_string": b"",
        "root_path": "",
        "headers": [*HEADERS, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8080),
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.Event().wait()  # the client never disconnects
        received = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def cpu_per_request(app: Any, body: bytes, clients: int, requests: int) -> float:
    async def client(count: int) -> None:
        for _ in range(count):
            await post(app, body)

    await asyncio.gather(*(client(WARM_UP) for _ in range(clients)))
    started = time.process_time()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return (time.process_time() - started) / (requests // clients * clients)


def algoport_app(model_dir: Path, batch_size: int) -> tuple[Any, Callable[[], int]]:
    """algoport's app on ``model_dir``, and a count of its predict calls so far."""
    settings = Settings.from_environ({"ALGOPORT_MAX_BATCH_SIZE": str(batch_size)})
    host = ModelHost(selected_algorithm("linear"), model_dir)
    host.load("text/csv")
    calls = 0
    predict = host.predict

    def counted(data: Any, invocation: Any) -> Any:
        nonlocal calls
        calls += 1
        return predict(data, invocation)

    host.predict = counted  # type: ignore[method-assign]
    return create_app(host, settings), lambda: calls


async def measure(model_dir: Path, bodies: dict[int, Path], connections: list[int]) -> None:
    batched, batched_calls = algoport_app(model_dir, 32)
    unbatched, _ = algoport_app(model_dir, 1)
    apps = {
        "algoport": batched,
        "algoport unbatched": unbatched,
        "bare": bare_app.build_app(bare_app.load(model_dir)),
    }
    print(
        "| rows | c | batched µs | unbatched µs | bare µs | bare ÷ batched | bare ÷ unbatched "
        "| requests/predict (batched) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows, path in bodies.items():
        body = path.read_bytes()
        replies = {name: await post(app, body) for name, app in apps.items()}
        assert len(set(replies.values())) == 1, f"the apps answer {rows} rows differently"
        requests = max(160, 16_000 // rows)
        for clients in connections:
            best: dict[str, float] = {}
            for _ in range(3):  # rounds alternate between the apps; the best round counts
                for name, app in apps.items():
                    calls_before = batched_calls()
                    seconds = await cpu_per_request(app, body, clients, requests)
                    if name == "algoport":
                        sent = requests // clients * clients + WARM_UP * clients
                        per_call = sent / max(1, batched_calls() - calls_before)
                    best[name] = min(best.get(name, float("inf")), seconds)
            ours, unbatched_s, bare = best["algoport"], best["algoport unbatched"], best["bare"]
            print(
                f"| {rows} | {clients} | {ours * 1e6:.0f} | {unbatched_s * 1e6:.0f} "
                f"| {bare * 1e6:.0f} | {bare / ours:.2f}x | {bare / unbatched_s:.2f}x "
                f"| {per_call:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1,100,1000")
    parser.add_argument("--connections", default="1,16")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="algoport-bench-") as tmp:
        workdir = Path(tmp)
        data = workdir / "train.csv"
        source = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
        data.write_text(source.read_text())
        model_dir = serve.train_model(workdir, data)
        bodies = serve.bodies(workdir, data, [int(r) for r in args.rows.split(",")])
        connections = [int(c) for c in args.connections.split(",")]
        print("\nin-process serving cost: CPU time per request, best of 3 rounds\n")
        asyncio.run(measure(model_dir, bodies, connections))


if __name__ == "__main__":
    main()

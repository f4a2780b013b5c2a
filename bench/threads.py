"""BLAS/OpenMP oversubscription with several serving workers: ``python bench/threads.py``.

    python bench/threads.py [--workers 2] [--rows 1000,10000]

Starts ``--workers`` processes at once, as ``serve`` does with
``SAGEMAKER_MODEL_SERVER_WORKERS``; each predicts with a LogisticRegression (30 features)
and computes a k-means-like distance product (rows × 30 @ 30 × 10) in a loop, first with
the native thread pools as the libraries start them (a thread per CPU in every process),
then capped as ``serve`` caps them (``ALGOPORT_NATIVE_THREADS``: CPUs ÷ workers). Prints
the CPU time (all threads) and wall time per step of each process. CPU time is the
figure to trust on a shared machine: threads that wait on each other burn it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from multiprocessing.queues import Queue

import numpy as np

from algoport.serving.native_threads import limit_native_threads

STEP_BUDGET_ROWS = 2_000_000  # rows per process and run: fewer steps for larger requests


def worker(threads: int, rows: int, results: Queue[tuple[float, float]]) -> None:
    if threads:
        limit_native_threads(threads)
    from sklearn.linear_model import LogisticRegression  # after the cap, as serve loads it

    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 30))
    model = LogisticRegression().fit(train, train[:, 0] > 0)
    features = rng.normal(size=(rows, 30))
    centers = rng.normal(size=(10, 30))

    def step() -> None:
        model.predict_proba(features)
        features @ centers.T

    for _ in range(10):
        step()
    steps = max(20, STEP_BUDGET_ROWS // rows)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(steps):
        step()
    results.put(((time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps))


def run(workers: int, threads: int, rows: int) -> list[tuple[float, float]]:
    context = multiprocessing.get_context("spawn")  # as serve starts its workers
    results: Queue[tuple[float, float]] = context.Queue()
    processes = [
        context.Process(target=worker, args=(threads, rows, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    measured = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", default="1000,10000")
    args = parser.parse_args()
    capped = max(1, (os.cpu_count() or 1) // args.workers)
    print(f"{args.workers} processes at once on {os.cpu_count()} CPUs\n")
    print("| rows | native threads | CPU ms per step, each process | wall ms per step |")
    print("|---:|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        for threads, shown in ((0, "as the libraries start them"), (capped, f"capped at {capped}")):
            measured = run(args.workers, threads, rows)
            cpu = " / ".join(f"{c * 1e3:.2f}" for c, _ in measured)
            wall = " / ".join(f"{w * 1e3:.2f}" for _, w in measured)
            print(f"| {rows} | {shown} | {cpu} | {wall} |")


if __name__ == "__main__":
    main()

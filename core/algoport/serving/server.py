"""The ``serve`` process: bind at once, run hypercorn workers, drain on SIGTERM.

The listening socket is bound before anything slow happens, so SageMaker's connection
check passes within its 250 ms; each worker then imports the algorithm and loads the
model in the background while ``/ping`` answers 503. A worker whose model fails to load
stops the whole server with a non-zero exit.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from algoport.allocator import keep_freed_memory
from algoport.contract import ContractPaths
from algoport.errors import AlgoportError
from algoport.logs import setup_logging
from algoport.manifest import Manifest
from algoport.plugins import ALGORITHMS_GROUP, discover, select_algorithm
from algoport.plugins import selected_algorithm as load_selected
from algoport.serving.app import ModelHost, create_app
from algoport.serving.dispatch import PREDICT_THREAD_PREFIX
from algoport.settings import Settings

log = logging.getLogger("algoport.serve")


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def hypercorn_config(sock: socket.socket, settings: Settings) -> Config:
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.graceful_timeout = settings.graceful_seconds
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    # SageMaker's front end reuses connections; don't make it reconnect every 5 s.
    config.keep_alive_timeout = 75
    config.keep_alive_max_requests = 1_000_000
    return config


def serve_worker(sock: socket.socket, settings: Settings, model_dir: Path) -> int:
    """Run one worker on an already-listening socket until SIGTERM; return its exit code."""
    keep_freed_memory()
    try:
        algorithm = load_selected(settings.algorithm, model_dir)
    except AlgoportError as exc:
        log.error("cannot serve: %s: %s", exc.kind, exc)
        return exc.exit_code
    host = ModelHost(algorithm, model_dir)
    failures: list[BaseException] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def on_fatal(exc: BaseException) -> None:
            failures.append(exc)
            loop.call_soon_threadsafe(stop.set)

        # hypercorn's ASGI type is narrower than Starlette's signature; the app is ASGI 3.
        app: Any = create_app(host, settings, on_fatal)
        await serve(app, hypercorn_config(sock, settings), shutdown_trigger=stop.wait)

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(main())
    code = 0
    if failures:
        error = failures[0]
        code = error.exit_code if isinstance(error, AlgoportError) else 1
    unfinished = _running_prediction_threads()
    if unfinished:
        # Interpreter exit would join them: past SageMaker's stop window, or forever if hung.
        log.warning("worker %d exits with %d prediction(s) unfinished", os.getpid(), unfinished)
        logging.shutdown()
        os._exit(code)
    if not failures:
        log.info("worker %d stopped", os.getpid())
    return code


def _running_prediction_threads(grace: float = 1.0) -> int:
    """Prediction threads still running after ``grace`` seconds (idle ones end at once)."""
    deadline = time.monotonic() + grace
    threads = [t for t in threading.enumerate() if t.name.startswith(PREDICT_THREAD_PREFIX)]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in threads)


def _worker_process(sock: socket.socket, settings: Settings, model_dir: Path) -> None:
    setup_logging(settings.log_level)
    raise SystemExit(serve_worker(sock, settings, model_dir))


def _check_selection(settings: Settings, model_dir: Path) -> None:
    """Fail before spawning workers if no algorithm can serve this model (imports nothing)."""
    select_algorithm(discover(ALGORITHMS_GROUP), settings.algorithm, Manifest.read(model_dir))


def run_server(settings: Settings) -> int:
    model_dir = ContractPaths(settings.base_dir).model_dir
    sock = bind_socket(settings.bind_host, settings.port)
    log.info(
        "listening on %s:%d with %d worker(s); model %s",
        settings.bind_host,
        sock.getsockname()[1],
        settings.workers,
        model_dir,
    )
    _check_selection(settings, model_dir)
    if settings.workers == 1:
        return serve_worker(sock, settings, model_dir)
    return _supervise(sock, settings, model_dir)


def _supervise(sock: socket.socket, settings: Settings, model_dir: Path) -> int:
    context = multiprocessing.get_context("spawn")
    workers: list[Any] = []
    for _ in range(settings.workers):
        process = context.Process(target=_worker_process, args=(sock, settings, model_dir))
        process.start()
        workers.append(process)
    stop_deadline: float | None = None

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop_deadline
        if stop_deadline is None:
            stop_deadline = time.monotonic() + settings.graceful_seconds + 3
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exit_code = 0
    while any(p.is_alive() for p in workers):
        wait([p.sentinel for p in workers if p.is_alive()], timeout=1.0)
        failed = [p for p in workers if p.exitcode not in (None, 0)]
        if failed and stop_deadline is None:
            exit_code = failed[0].exitcode if failed[0].exitcode > 0 else 1
            log.error("a worker exited with code %s; stopping the server", failed[0].exitcode)
            on_signal(signal.SIGTERM, None)
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            break
    for process in workers:
        if process.is_alive():
            log.warning("worker %s did not stop in time; killing it", process.pid)
            process.kill()
        process.join()
    sock.close()
    return exit_code

"""The ``serve`` process: bind at once, run hypercorn workers, replace the ones that die.

The listening socket is bound before anything slow happens, so SageMaker's connection
check passes within its 250 ms; each worker then imports the algorithm and loads the
model in the background while ``/ping`` answers 503. With one worker, ``serve`` is that
worker. With more, ``serve`` supervises them (see :class:`Supervisor`): the socket is
shared, so the kernel hands each connection to a worker that is accepting, and a worker
that dies is replaced while the others keep serving.

On SIGTERM the server stops listening (new connections are refused, not queued and reset
later), drains the requests in flight for up to 25 s, and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from algoport.allocator import keep_freed_memory
from algoport.contract import ContractPaths
from algoport.errors import AlgoportError, PlatformError
from algoport.logs import setup_logging
from algoport.manifest import Manifest
from algoport.plugins import ALGORITHMS_GROUP, discover, select_algorithm
from algoport.plugins import selected_algorithm as load_selected
from algoport.serving.app import ModelHost, create_app, freeze_start_up
from algoport.serving.dispatch import PREDICT_THREAD_PREFIX
from algoport.serving.native_threads import limit_native_threads
from algoport.serving.telemetry import share_between_workers, worker_exited
from algoport.settings import Settings

log = logging.getLogger("algoport.serve")

# After SIGTERM, how long the supervisor lets its workers close their own copies of the
# listener before it stops the listening for all: a plain asyncio server still watching a
# shut listener retries accept() in a loop. Connections arriving meanwhile are reset at once.
LISTENER_CLOSE_DELAY = 0.2


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, or a PlatformError naming the address when it can't be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PlatformError(
                f"port {port} is already in use; something else listens on it. Stop it, or "
                "set SAGEMAKER_BIND_TO_PORT to a free port."
            ) from None
        raise PlatformError(
            f"cannot listen on {host}:{port}: {exc.strerror}. Check ALGOPORT_BIND_HOST and "
            "SAGEMAKER_BIND_TO_PORT."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def stop_listening(sock: socket.socket) -> None:
    """Refuse new connections on ``sock`` in every process that shares it.

    Closing only drops this process's reference; ``shutdown`` ends the listening itself,
    so the kernel refuses connections instead of queueing them for nobody.
    """
    with contextlib.suppress(OSError):  # already shut
        sock.shutdown(socket.SHUT_RD)


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


def _exit_code(error: BaseException) -> int:
    return error.exit_code if isinstance(error, AlgoportError) else 1


def serve_worker(
    sock: socket.socket,
    settings: Settings,
    model_dir: Path,
    *,
    load_first: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run one worker on an already-listening socket until SIGTERM; return its exit code.

    ``load_first``: load the model before accepting connections, so a replacement worker
    never answers /ping 503 next to workers that answer 200. ``on_ready`` is called once
    the model is loaded.
    """
    keep_freed_memory()
    if settings.native_threads:
        limit_native_threads(settings.native_threads)
    make_app: Callable[[Callable[[BaseException], None]], Any]
    if settings.multi_model:
        # Imported here: a single-model worker's start-up needs none of it.
        from algoport.serving.model_registry import ModelRegistry
        from algoport.serving.multi_model import create_multi_model_app

        if on_ready is not None:
            on_ready()  # ready to load models

        def make_app(on_fatal: Callable[[BaseException], None]) -> Any:
            return create_multi_model_app(ModelRegistry(model_dir), settings, on_fatal)

    else:
        try:
            algorithm = load_selected(settings.algorithm, model_dir)
        except AlgoportError as exc:
            log.error("cannot serve: %s: %s", exc.kind, exc)
            return exc.exit_code
        host = ModelHost(algorithm, model_dir)
        if load_first:
            try:
                host.load()
                freeze_start_up()
            except BaseException as exc:
                log.error("loading the model failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
                return _exit_code(exc)
        if on_ready is not None:
            _call_when_set(host.ready, on_ready)

        def make_app(on_fatal: Callable[[BaseException], None]) -> Any:
            return create_app(host, settings, on_fatal)

    failures: list[BaseException] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # Stopping closes this process's listener; alone, it thereby stops the listening.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def on_fatal(exc: BaseException) -> None:
            failures.append(exc)
            loop.call_soon_threadsafe(stop.set)

        # hypercorn's ASGI type is narrower than Starlette's signature; the app is ASGI 3.
        app: Any = make_app(on_fatal)
        await serve(app, hypercorn_config(sock, settings), shutdown_trigger=stop.wait)

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(main())
    code = _exit_code(failures[0]) if failures else 0
    unfinished = _running_prediction_threads()
    if unfinished:
        # Interpreter exit would join them: past SageMaker's stop window, or forever if hung.
        log.warning("worker %d exits with %d prediction(s) unfinished", os.getpid(), unfinished)
        logging.shutdown()
        os._exit(code)
    if not failures:
        log.info("worker %d stopped", os.getpid())
    return code


def _call_when_set(event: threading.Event, callback: Callable[[], None]) -> None:
    def waiter() -> None:
        event.wait()
        callback()

    threading.Thread(target=waiter, name="announce-ready", daemon=True).start()


def _running_prediction_threads(grace: float = 1.0) -> int:
    """Prediction threads still running after ``grace`` seconds (idle ones end at once)."""
    deadline = time.monotonic() + grace
    threads = [t for t in threading.enumerate() if t.name.startswith(PREDICT_THREAD_PREFIX)]
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return sum(thread.is_alive() for thread in threads)


def _die_with_master(master_pid: int) -> None:
    """Have the kernel send SIGTERM to this worker when the master dies, even by SIGKILL.

    Otherwise a killed master leaves its workers serving, orphaned (Linux only: other
    platforms have no such request, and containers run Linux).
    """
    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != master_pid:  # it died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_process(
    sock: socket.socket,
    settings: Settings,
    model_dir: Path,
    load_first: bool,
    announce: Connection,
    master_pid: int,
) -> None:
    _die_with_master(master_pid)
    setup_logging(settings.log_level)
    code = serve_worker(
        sock,
        settings,
        model_dir,
        load_first=load_first,
        on_ready=lambda: announce.send_bytes(b"ready"),
    )
    raise SystemExit(code)


def _check_selection(settings: Settings, model_dir: Path) -> None:
    """Fail before spawning workers if no algorithm can serve this model (imports nothing)."""
    select_algorithm(discover(ALGORITHMS_GROUP), settings.algorithm, Manifest.read(model_dir))


def run_server(settings: Settings) -> int:
    with contextlib.ExitStack() as stack:
        if settings.workers > 1:
            # One worker keeps its metrics in memory: the files of prometheus-client's
            # multi-process mode tripled the cost of each observation.
            metrics_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="algoport-metrics-")
            )
            share_between_workers(Path(metrics_dir))
        if not settings.multi_model:
            model_dir = ContractPaths(settings.base_dir).model_dir
            return _run_workers(settings, model_dir, f"model {model_dir}")
        from algoport.serving.model_registry import ModelRegistry

        registry = ModelRegistry.temporary()
        try:
            return _run_workers(settings, registry.directory, "no model (multi-model endpoint)")
        finally:
            registry.remove_all()


def _run_workers(settings: Settings, model_dir: Path, serving: str) -> int:
    """Serve ``model_dir``: the model, or a multi-model endpoint's registry of models."""
    sock = bind_socket(settings.bind_host, settings.port)
    log.info(
        "listening on %s:%d with %d worker(s); %s",
        settings.bind_host,
        sock.getsockname()[1],
        settings.workers,
        serving,
    )
    if not settings.multi_model:
        _check_selection(settings, model_dir)
    if settings.workers == 1:
        return serve_worker(sock, settings, model_dir)
    return Supervisor(sock, settings, model_dir).run()


@dataclass
class _Worker:
    process: BaseProcess
    announcements: Connection  # the read end of the worker's "model loaded" pipe
    ready: bool = False


def _how_it_ended(exitcode: int) -> str:
    if exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-exitcode).name}"
        return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class Supervisor:
    """Runs ``settings.workers`` workers and replaces the ones that die.

    The rules:

    - A worker that dies after its model loaded (a signal, a crash, the OOM killer, or it
      stopped itself because its predictions hang) is replaced at once. The replacement
      loads the model before it accepts connections, so /ping stays 200 meanwhile.
    - A worker that dies before its model loaded stops the server with its exit code (1
      for a signal): loading is what failed, and a replacement would fail the same way
      (no restart storm). SageMaker then reports the endpoint as failed or replaces it.
    - On SIGTERM or SIGINT, every worker drains and stops; the server exits 0. Workers
      still running after the drain are killed.
    - Workers get SIGTERM from the kernel when the master dies (Linux).
    """

    def __init__(self, sock: socket.socket, settings: Settings, model_dir: Path) -> None:
        self.sock = sock
        self.settings = settings
        self.model_dir = model_dir
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.stop_deadline: float | None = None
        self.exit_code = 0

    def run(self) -> int:
        for _ in range(self.settings.workers):
            self._start_worker(load_first=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        while self.workers:
            if self.stop_deadline is not None and time.monotonic() > self.stop_deadline:
                break
            waitables: list[Any] = [worker.process.sentinel for worker in self.workers]
            waitables += [w.announcements for w in self.workers if not w.ready]
            wait(waitables, timeout=1.0)
            for worker in list(self.workers):
                self._check(worker)
        for worker in self.workers:
            if worker.process.is_alive():
                log.warning("worker %s did not stop in time; killing it", worker.process.pid)
                worker.process.kill()
            worker.process.join()
        self.sock.close()
        return self.exit_code

    def _start_worker(self, load_first: bool) -> None:
        announcements, announce = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_worker_process,
            args=(self.sock, self.settings, self.model_dir, load_first, announce, os.getpid()),
        )
        process.start()
        announce.close()  # so the read end sees EOF when the worker dies
        self.workers.append(_Worker(process, announcements))

    def _check(self, worker: _Worker) -> None:
        if not worker.ready and worker.announcements.poll():
            with contextlib.suppress(EOFError):
                worker.announcements.recv_bytes()
                worker.ready = True
                log.info("worker %s is ready", worker.process.pid)
        exitcode = worker.process.exitcode
        if exitcode is None:
            return
        self.workers.remove(worker)
        worker.announcements.close()
        if worker.process.pid is not None:
            worker_exited(worker.process.pid)
        if self.stop_deadline is not None:
            return
        pid = worker.process.pid
        if worker.ready:
            log.warning("worker %s %s; starting a replacement", pid, _how_it_ended(exitcode))
            self._start_worker(load_first=True)
            return
        log.error(
            "worker %s %s before its model was loaded; stopping the server",
            pid,
            _how_it_ended(exitcode),
        )
        self.exit_code = exitcode if exitcode > 0 else 1
        self._stop()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_deadline is None:
            threading.Timer(LISTENER_CLOSE_DELAY, stop_listening, [self.sock]).start()
        self._stop()

    def _stop(self) -> None:
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self.settings.graceful_seconds + 3
        for worker in self.workers:
            if worker.process.is_alive() and worker.process.pid is not None:
                os.kill(worker.process.pid, signal.SIGTERM)

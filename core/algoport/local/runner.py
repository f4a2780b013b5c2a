"""The stages of a local run: train → model.tar.gz → serve → batch transform."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TextIO

from algoport.contract import ContractPaths
from algoport.errors import AlgoportError, PlatformError, UserError
from algoport.local.artifacts import ArchiveLimits, extract_model, pack_model
from algoport.local.layout import ChannelInput, lay_out_job, loopback_hosts
from algoport.local.pipe_feeder import PipeFeeder
from algoport.local.processes import ServeProcess, command, port_is_free
from algoport.settings import VARIABLES


def progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def new_job_dir(workdir: Path, prefix: str) -> Path:
    """A fresh directory per job, named like a SageMaker job, never reusing an old one."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        candidate = (
            workdir / f"{prefix}-{stamp}" if suffix == 0 else workdir / f"{prefix}-{stamp}-{suffix}"
        )
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise UserError(f"Could not make a new job directory in {workdir}.")


@dataclass(frozen=True)
class HostRun:
    """One host's ``train`` process: its tree, exit code and failure file."""

    host: str
    paths: ContractPaths
    returncode: int
    failure: str | None
    # Wall-clock time of a failure, to tell which host failed first.
    ended: float = 0.0


@dataclass(frozen=True)
class TrainOutcome:
    job_dir: Path
    paths: ContractPaths
    returncode: int
    model_tarball: Path | None
    failure: str | None
    seconds: float
    hosts: tuple[HostRun, ...] = ()


# After one host fails: how long the others may take to end on their own, and then to
# stop on SIGTERM before SIGKILL.
OTHERS_GRACE_SECONDS = 5.0
STOP_OTHERS_SECONDS = 30.0


def train(
    job_dir: Path,
    algorithm: str | None,
    channels: Sequence[ChannelInput],
    hyperparameters: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    *,
    hosts: int = 1,
) -> TrainOutcome:
    """Run ``train`` on fresh SageMaker-shaped trees, one process per host; pack the model.

    With several hosts, each is a loopback address with its own tree under
    ``<job_dir>/hosts/<host>/opt_ml``; the first host's model becomes ``model.tar.gz``.
    """
    environ = dict(os.environ)
    environ.update(env or {})
    environ["TRAINING_JOB_NAME"] = job_dir.name
    if algorithm:
        environ["ALGOPORT_ALGORITHM"] = algorithm
    started = time.monotonic()
    with contextlib.ExitStack() as feeders:
        if hosts == 1:
            paths = lay_out_job(job_dir / "opt_ml", channels, hyperparameters)
            progress(f"training job {job_dir.name} in {paths.root}")
            for feeder in pipe_feeders(paths, channels, 0, 1):
                feeders.enter_context(feeder)
            environ["SAGEMAKER_BASE_DIR"] = str(paths.root)
            returncode = subprocess.run(command("train"), env=environ, check=False).returncode
            runs: tuple[HostRun, ...] = (HostRun("algo-1", paths, returncode, _failure(paths)),)
        else:
            names = loopback_hosts(hosts)
            trees = {
                name: lay_out_job(
                    job_dir / "hosts" / name / "opt_ml",
                    channels,
                    hyperparameters,
                    hosts=names,
                    current_host=name,
                )
                for name in names
            }
            for index, paths in enumerate(trees.values()):
                for feeder in pipe_feeders(paths, channels, index, hosts):
                    feeders.enter_context(feeder)
            progress(f"training job {job_dir.name} on {hosts} hosts, {names[0]} … {names[-1]}")
            runs = _run_hosts(trees, environ)
    return _outcome(job_dir, runs, time.monotonic() - started)


def pipe_feeders(
    paths: ContractPaths, channels: Sequence[ChannelInput], host_index: int, host_count: int
) -> list[PipeFeeder]:
    """A feeder per Pipe channel: its files (this host's share) through ``<channel>_<n>``,
    epoch after epoch, as SageMaker streams them from S3."""
    return [
        PipeFeeder(
            paths.data_dir / channel.name,
            [channel.root / f for f in channel.files_for(host_index, host_count)],
        )
        for channel in channels
        if channel.input_mode == "Pipe"
    ]


def _failure(paths: ContractPaths) -> str | None:
    return paths.failure_file.read_text() if paths.failure_file.exists() else None


def _outcome(job_dir: Path, runs: tuple[HostRun, ...], seconds: float) -> TrainOutcome:
    first = runs[0]
    failed = sorted((run for run in runs if run.returncode != 0), key=lambda run: run.ended)
    if failed:
        failure = first.failure if len(runs) == 1 else _hosts_failure(failed)
        # A host ended by a signal has a negative code; a process exits with 1 for it.
        returncode = failed[0].returncode if failed[0].returncode > 0 else 1
        return TrainOutcome(job_dir, first.paths, returncode, None, failure, seconds, runs)
    for run in runs[1:]:
        written = sorted(p.name for p in run.paths.model_dir.iterdir())
        if written:
            progress(
                f"warning: host {run.host} wrote {', '.join(written)} into its model directory; "
                "SageMaker merges every host's /opt/ml/model into model.tar.gz (same names "
                f"clash), while this local run packs {first.host}'s only"
            )
    tarball = pack_model(first.paths.model_dir, job_dir / "output" / "model.tar.gz")
    if any(first.paths.output_data_dir.iterdir()):
        pack_model(first.paths.output_data_dir, job_dir / "output" / "output.tar.gz")
    progress(f"model packed into {tarball} ({tarball.stat().st_size} bytes, {seconds:.1f} s)")
    return TrainOutcome(job_dir, first.paths, 0, tarball, None, seconds, runs)


def _hosts_failure(failed: Sequence[HostRun]) -> str:
    """Each failed host, the first to fail first: its reason is most likely the cause."""
    lines = []
    for run in failed:
        reason = (run.failure or "").strip() or "(no failure file was written)"
        how = (
            f"exited with {run.returncode}"
            if run.returncode > 0
            else f"was ended by signal {-run.returncode}"
        )
        lines.append(
            f"host {run.host} {how}; {run.paths.failure_file}:\n"
            + "\n".join(f"  {line}" for line in reason.splitlines())
        )
    return "\n".join(lines) + "\n"


def _run_hosts(
    trees: Mapping[str, ContractPaths], environ: Mapping[str, str]
) -> tuple[HostRun, ...]:
    """Start one ``train`` per host, print their output with a host prefix, wait for all.

    When a host fails the others are stopped (SIGTERM, then SIGKILL), as a SageMaker job
    ends when one of its hosts fails.
    """
    processes: dict[str, subprocess.Popen[bytes]] = {}
    forwarders: list[threading.Thread] = []
    ended: dict[str, float] = {}
    try:
        for host, paths in trees.items():
            process = subprocess.Popen(
                command("train"),
                env={**environ, "SAGEMAKER_BASE_DIR": str(paths.root)},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            processes[host] = process
            assert process.stdout is not None and process.stderr is not None
            forwarders += [
                _forward(process.stdout, sys.stdout, host),
                _forward(process.stderr, sys.stderr, host),
            ]
        _wait_all(processes, ended)
    except KeyboardInterrupt:
        _stop(processes.values())
        raise
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for forwarder in forwarders:
            forwarder.join(timeout=5)
    return tuple(
        HostRun(
            host,
            paths,
            processes[host].returncode,
            _failure(paths),
            _failed_at(paths, ended.get(host, 0.0)),
        )
        for host, paths in trees.items()
    )


def _failed_at(paths: ContractPaths, exited: float) -> float:
    """When a host failed: its failure file is written just before it exits, so its time
    orders hosts that exit within one poll of each other."""
    try:
        return paths.failure_file.stat().st_mtime
    except FileNotFoundError:
        return exited


def _wait_all(processes: Mapping[str, subprocess.Popen[bytes]], ended: dict[str, float]) -> None:
    """Wait for every host; once one fails, the others get a moment to end on their own
    (they usually notice the lost peer), then SIGTERM, then SIGKILL."""
    first_failure: float | None = None
    terminated = False
    while len(ended) < len(processes):
        for host, process in processes.items():
            if host in ended or process.poll() is None:
                continue
            ended[host] = time.time()
            if process.returncode != 0 and first_failure is None:
                progress(f"host {host} failed (exit {process.returncode})")
                first_failure = time.monotonic()
        since = None if first_failure is None else time.monotonic() - first_failure
        running = [p for h, p in processes.items() if h not in ended and p.poll() is None]
        if since is not None and since > OTHERS_GRACE_SECONDS and not terminated:
            if running:
                progress(f"stopping the {len(running)} host(s) still running")
            for process in running:
                process.send_signal(signal.SIGTERM)
            terminated = True
        if since is not None and since > OTHERS_GRACE_SECONDS + STOP_OTHERS_SECONDS:
            for process in running:
                process.kill()
        time.sleep(0.05)


def _stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_OTHERS_SECONDS
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def _forward(stream: IO[bytes], out: TextIO, host: str) -> threading.Thread:
    """Copy a host's output line by line, each line led by ``[host]``, as docker compose does."""

    def copy() -> None:
        for line in iter(stream.readline, b""):
            print(f"[{host}] {line.decode(errors='replace')}", end="", file=out, flush=True)
        stream.close()

    thread = threading.Thread(target=copy, name=f"output of {host}", daemon=True)
    thread.start()
    return thread


def prepare_model(model: Path, serve_dir: Path, limits: ArchiveLimits) -> Path:
    """A fresh ``opt_ml/model`` for serving: a tarball extracted safely, or a directory copied."""
    model_dir = serve_dir / "opt_ml" / "model"
    if model.is_dir():
        shutil.copytree(model, model_dir)
    elif model.is_file():
        extract_model(model, model_dir, limits)
    else:
        raise UserError(f"Model {model} does not exist; give a model.tar.gz or a model directory.")
    return model_dir


def start_server(
    model_dir: Path,
    algorithm: str | None,
    *,
    port: int | None = None,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    capture_logs: bool = True,
) -> ServeProcess:
    server = ServeProcess(
        model_dir,
        algorithm,
        port=port,
        workers=workers,
        env=env,
        wait_ready=False,
        capture_logs=capture_logs,
        startup_timeout=240,
    )
    host = VARIABLES["bind_host"].read(server.environ)
    # Checked before starting: /ping would be answered by whatever holds the port.
    if not port_is_free(host, server.port):
        raise PlatformError(
            f"Port {server.port} is already in use on {host}; stop what listens there, or "
            "serve on another port with --port."
        )
    progress(f"serving {model_dir} on {server.url}")
    server.start()
    try:
        ready = server.wait_until_ready()
    except RuntimeError:
        # wait_until_ready raises it when serve ended before /ping answered.
        assert server.process is not None
        where = f"its output:\n{server.logs()}" if capture_logs else "its output is above."
        server.stop()
        # Its own failure kind is in its output; this one only says it ended.
        raise AlgoportError(
            f"serve exited with {server.process.returncode} before answering /ping; {where}"
        ) from None
    progress(f"/ping answered 200 after {ready:.2f} s")
    return server

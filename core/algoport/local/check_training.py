"""The training checks of ``algoport check``: hyperparameters, ``train``, the archive, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from algoport.contract import ContractPaths
from algoport.errors import AlgoportError
from algoport.hyperparameters import Float, HyperParameter, Integer
from algoport.local import runner
from algoport.local.artifacts import ArchiveLimits, pack_model
from algoport.local.check_result import FAILED, PASSED, SKIPPED, Check, CheckResult
from algoport.local.layout import ChannelInput, lay_out_job
from algoport.local.processes import command
from algoport.manifest import MANIFEST_NAME
from algoport.plugins import Algorithm
from algoport.settings import VARIABLES

UNKNOWN_KEY = "algoport_check_unknown"
RUN_SECONDS = 120.0  # for a job that should end at once: refused, or stopped
TRAIN_SECONDS = 3600.0
STOP_EXIT_MARGIN = 10.0
IGNORED_STOP_EXIT = 143  # train's exit when fit outlives the stop grace period


@dataclass
class TrainRun:
    """A ``train`` process on a tree of its own, its output in ``<job>/train.log``."""

    paths: ContractPaths
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    @classmethod
    def start(
        cls,
        job_dir: Path,
        algorithm: str,
        channels: Sequence[ChannelInput],
        hyperparameters: Mapping[str, str],
        env: Mapping[str, str] | None = None,
    ) -> TrainRun:
        paths = lay_out_job(job_dir / "opt_ml", channels, hyperparameters)
        log = job_dir / "train.log"
        environ = {
            **os.environ,
            "SAGEMAKER_BASE_DIR": str(paths.root),
            VARIABLES["algorithm"].name: algorithm,
            "TRAINING_JOB_NAME": job_dir.name,
            **(env or {}),
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                command("train"), env=environ, stdout=out, stderr=subprocess.STDOUT
            )
        return cls(paths, process, log, time.monotonic())

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

    @property
    def failure_line(self) -> str:
        try:
            text = self.paths.failure_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        return text.splitlines()[0] if text else ""


def _bad_values(declared: Sequence[HyperParameter]) -> dict[str, tuple[str, str]]:
    """Check name → (key, value): an unknown key, and a wrong type and range when declared."""
    bad = {"hyperparameters: an unknown name is refused": (UNKNOWN_KEY, "1")}
    numeric = [spec for spec in declared if isinstance(spec, Integer | Float)]
    if numeric:
        bad["hyperparameters: a wrong type is refused"] = (numeric[0].name, "not-a-number")
    for spec in numeric:
        step = 1 if isinstance(spec, Integer) else 1.0
        if spec.min is not None:
            value = spec.min - step
        elif spec.max is not None:
            value = spec.max + step
        else:
            continue
        bad["hyperparameters: out of range is refused"] = (spec.name, str(value))
        break
    return bad


def check_training(
    result: CheckResult,
    algorithm: Algorithm,
    channels: Sequence[ChannelInput],
    hyperparameters: Mapping[str, str],
    workdir: Path,
    stop_seconds: float,
) -> Path | None:
    """Every training check; the extracted model directory when there is a model to serve.

    The jobs run side by side, each ``train`` on its own tree: the real one, one per bad
    hyperparameter, and one stopped by SIGTERM once fit has begun.
    """
    result.record(
        "hyperparameters: SageMaker's spellings", _spellings_problem(algorithm, hyperparameters)
    )
    bad = _bad_values(list(algorithm.hyperparameters.declared.values()))
    bad_runs = [
        TrainRun.start(
            workdir / f"bad-{number}", algorithm.name, channels, {**hyperparameters, key: value}
        )
        for number, (key, value) in enumerate(bad.values(), start=1)
    ]
    training = TrainRun.start(workdir / "training", algorithm.name, channels, hyperparameters)
    grace = {VARIABLES["stop_grace_seconds"].name: str(stop_seconds)}
    stopped = TrainRun.start(workdir / "stopped", algorithm.name, channels, hyperparameters, grace)
    stop_check = _stop(stopped, algorithm.name, stop_seconds)
    for (check, (key, value)), run in zip(bad.items(), bad_runs, strict=True):
        code = run.wait(RUN_SECONDS)
        first = run.failure_line
        problem = None
        if code != 2 or f"'{key}'" not in first:
            problem = (
                f"{key}={value!r}: exit {code}, expected 2 with a failure file naming "
                f"{key!r}; its first line: {first or '(no failure file)'}"
            )
        result.record(check, problem, f"exit 2: {first}")
    tarball = _check_train(result, training, workdir / "training")
    result.checks.append(stop_check)
    if tarball is None:
        return None
    return _check_archive(result, tarball, workdir / "endpoint")


def _spellings_problem(algorithm: Algorithm, raw: Mapping[str, str]) -> str | None:
    """A value that reads differently as ``str(v)`` and ``json.dumps(v)``, or a bad one."""
    schema = algorithm.hyperparameters
    try:
        values = schema.coerce(raw)
        given = {name: values[name] for name in schema.given(raw)}
        for spell in (str, json.dumps):
            again = schema.coerce({name: spell(value) for name, value in given.items()})
            for name, value in given.items():
                if again[name] != value:
                    return (
                        f"{name}={spell(value)!r} reads as {again[name]!r}, not {value!r}; "
                        "each value must read the same as str(v) and json.dumps(v)."
                    )
    except AlgoportError as exc:
        return str(exc)
    return None


def _check_train(result: CheckResult, run: TrainRun, job_dir: Path) -> Path | None:
    """The real job exits 0 with model files; they are packed into ``model.tar.gz``."""
    code = run.wait(TRAIN_SECONDS)
    seconds = time.monotonic() - run.started
    if not result.record(
        "train: exits 0",
        f"exit {code}: {run.failure_line or 'no failure file'} (log: {run.log})" if code else None,
        f"{seconds:.1f} s",
    ):
        return None
    model_dir = run.paths.model_dir
    written = sorted(
        str(p.relative_to(model_dir))
        for p in model_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    )
    result.record(
        "train: writes the model into /opt/ml/model",
        None if written else f"fit wrote nothing into the model directory besides {MANIFEST_NAME}",
        ", ".join(written[:5]) + (" …" if len(written) > 5 else ""),
    )
    return pack_model(model_dir, job_dir / "output" / "model.tar.gz")


def _check_archive(result: CheckResult, tarball: Path, serve_dir: Path) -> Path | None:
    """Extract ``model.tar.gz`` safely into a fresh tree; it must hold what fit wrote."""
    try:
        model_dir = runner.prepare_model(tarball, serve_dir, ArchiveLimits())
    except AlgoportError as exc:
        result.record("model.tar.gz: packed and extracted", str(exc))
        return None
    count = sum(1 for p in model_dir.rglob("*") if p.is_file())
    result.record("model.tar.gz: packed and extracted", None, f"{count} files")
    return model_dir


def _stop(run: TrainRun, algorithm: str, stop_seconds: float) -> Check:
    """SIGTERM once fit has begun: the job must end within the grace period, by itself."""
    name = "train: SIGTERM stops the job"
    began = f"with algorithm '{algorithm}'"
    deadline = time.monotonic() + RUN_SECONDS
    while began not in run.log.read_text(errors="replace"):
        if run.process.poll() is not None or time.monotonic() > deadline:
            run.wait(0)
            return Check(name, SKIPPED, f"train ended (exit {run.process.returncode}) before fit")
        time.sleep(0.02)
    run.process.send_signal(signal.SIGTERM)
    code = run.wait(stop_seconds + STOP_EXIT_MARGIN)
    finished = (run.paths.model_dir / MANIFEST_NAME).exists()
    if code is None:
        return Check(
            name,
            FAILED,
            f"train still ran {stop_seconds + STOP_EXIT_MARGIN:g} s after SIGTERM; killed",
        )
    if code == IGNORED_STOP_EXIT:
        return Check(
            name,
            FAILED,
            f"fit ignored the stop request (job.stop_requested) for {stop_seconds:g} s; "
            f"{run.failure_line}",
        )
    # Python restores the default handler while it exits, so a job that has just finished
    # may end by the signal itself.
    if code != 0 and not run.failure_line and not (code == -signal.SIGTERM and finished):
        return Check(name, FAILED, f"exit {code} after SIGTERM with no failure file")
    if finished:
        return Check(name, PASSED, "fit completed before the signal took effect")
    return Check(name, PASSED, f"exit {code}: " + (run.failure_line or "stopped on request"))

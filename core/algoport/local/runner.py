"""The stages of a local run: train → model.tar.gz → serve → batch transform."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from algoport.contract import ContractPaths
from algoport.errors import UserError
from algoport.local.artifacts import extract_model, pack_model
from algoport.local.layout import ChannelInput, lay_out_job
from algoport.local.processes import ServeProcess, command


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
class TrainOutcome:
    job_dir: Path
    paths: ContractPaths
    returncode: int
    model_tarball: Path | None
    failure: str | None
    seconds: float


def train(
    job_dir: Path,
    algorithm: str | None,
    channels: Sequence[ChannelInput],
    hyperparameters: Mapping[str, str],
    env: Mapping[str, str] | None = None,
) -> TrainOutcome:
    """Run ``train`` as its own process on a fresh SageMaker-shaped tree; pack the model."""
    paths = lay_out_job(job_dir / "opt_ml", channels, hyperparameters)
    environ = dict(os.environ)
    environ.update(env or {})
    environ["SAGEMAKER_BASE_DIR"] = str(paths.root)
    environ["TRAINING_JOB_NAME"] = job_dir.name
    if algorithm:
        environ["ALGOPORT_ALGORITHM"] = algorithm
    progress(f"training job {job_dir.name} in {paths.root}")
    started = time.monotonic()
    returncode = subprocess.run(command("train"), env=environ, check=False).returncode
    seconds = time.monotonic() - started
    if returncode != 0:
        failure = paths.failure_file.read_text() if paths.failure_file.exists() else None
        return TrainOutcome(job_dir, paths, returncode, None, failure, seconds)
    tarball = pack_model(paths.model_dir, job_dir / "output" / "model.tar.gz")
    if any(paths.output_data_dir.iterdir()):
        pack_model(paths.output_data_dir, job_dir / "output" / "output.tar.gz")
    progress(f"model packed into {tarball} ({tarball.stat().st_size} bytes, {seconds:.1f} s)")
    return TrainOutcome(job_dir, paths, 0, tarball, None, seconds)


def prepare_model(model: Path, serve_dir: Path) -> Path:
    """A fresh ``opt_ml/model`` for serving: a tarball extracted safely, or a directory copied."""
    model_dir = serve_dir / "opt_ml" / "model"
    if model.is_dir():
        shutil.copytree(model, model_dir)
    elif model.is_file():
        extract_model(model, model_dir)
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
    progress(f"serving {model_dir} on {server.url}")
    server.start()
    ready = server.wait_until_ready()
    progress(f"/ping answered 200 after {ready:.2f} s")
    return server

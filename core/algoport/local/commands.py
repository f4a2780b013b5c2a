"""``algoport local train|serve|transform|run``: argument parsing and the summaries printed."""

from __future__ import annotations

import argparse
import shutil
import signal
from pathlib import Path
from typing import Any

from algoport.errors import UserError
from algoport.local import runner
from algoport.local.artifacts import ArchiveLimits
from algoport.local.layout import (
    DISTRIBUTIONS,
    INPUT_MODES,
    ChannelInput,
    parse_hyperparameters,
)
from algoport.local.transform import TransformResult, TransformSettings, run_transform
from algoport.settings import MB

DEFAULT_WORKDIR = Path("algoport-local")


def _key_values(pairs: list[str], flag: str) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise UserError(f"{flag} {pair!r} is malformed; expected NAME=VALUE.")
        values[key] = value
    return values


def _per_channel(
    args: argparse.Namespace, every: str | None, one: list[str], flag: str
) -> dict[str, str]:
    """A value for every channel (``every``), overridden per channel by ``NAME=VALUE``."""
    values = {name: every for name in _key_values(args.channel, "--channel") if every}
    values.update(_key_values(one, flag))
    return values


def channel_inputs(
    args: argparse.Namespace,
    distributions: dict[str, str] | None = None,
    input_modes: dict[str, str] | None = None,
) -> list[ChannelInput]:
    """The channels of :func:`add_job_arguments`, with each one's S3DistributionType and
    TrainingInputMode."""
    types = _per_channel(
        args, args.content_type, args.channel_content_type, "--channel-content-type"
    )
    return [ChannelInput.parse(text, types, distributions, input_modes) for text in args.channel]


def _channels(args: argparse.Namespace) -> list[ChannelInput]:
    distributions = _per_channel(
        args, args.distribution, args.channel_distribution, "--channel-distribution"
    )
    modes = _per_channel(args, args.input_mode, args.channel_input_mode, "--channel-input-mode")
    return channel_inputs(args, distributions, modes)


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """A training job's data and hyperparameters: ``--channel``, ``--content-type``,
    ``--channel-content-type`` and ``--hp`` (``algoport local`` and ``algoport check``)."""
    parser.add_argument(
        "--channel",
        "-c",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a channel's data, a file or a directory (repeatable), e.g. train=data/train.csv",
    )
    parser.add_argument("--content-type", help="ContentType of every channel, e.g. text/csv")
    parser.add_argument(
        "--channel-content-type",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help="ContentType of one channel (repeatable)",
    )
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter, passed as the string SageMaker would pass (repeatable)",
    )


def _add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--algorithm", "-a", help="algorithm name (default: the only one installed)"
    )
    add_job_arguments(parser)
    parser.add_argument(
        "--distribution",
        choices=DISTRIBUTIONS,
        help="S3DistributionType of every channel (default FullyReplicated); with --hosts, "
        "ShardedByS3Key deals a channel's files round-robin over the hosts",
    )
    parser.add_argument(
        "--channel-distribution",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help="S3DistributionType of one channel (repeatable)",
    )
    parser.add_argument(
        "--input-mode",
        choices=INPUT_MODES,
        help="TrainingInputMode of every channel (default File); Pipe feeds each channel's "
        "files through the FIFOs <channel>_0, <channel>_1, … one epoch after another",
    )
    parser.add_argument(
        "--channel-input-mode",
        action="append",
        default=[],
        metavar="NAME=MODE",
        help="TrainingInputMode of one channel (repeatable)",
    )
    parser.add_argument(
        "--hosts",
        type=int,
        default=1,
        metavar="N",
        help="train on N hosts: N train processes on this machine, each with its own tree "
        "and resourceconfig.json, named by loopback addresses 127.0.0.1 … 127.0.0.N (all of "
        "127.0.0.0/8 is loopback on Linux, so no /etc/hosts edits; on macOS add each with "
        "`sudo ifconfig lo0 alias 127.0.0.2`); the model of 127.0.0.1 is packed",
    )
    parser.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="where jobs are laid out"
    )


def _add_transform_arguments(parser: argparse.ArgumentParser, *, inputs_flag: str) -> None:
    parser.add_argument(
        inputs_flag,
        dest="inputs",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a file or directory to transform (repeatable); one <file>.out per input file",
    )
    parser.add_argument("--transform-content-type", default="text/csv", help="request Content-Type")
    parser.add_argument("--accept", help="request Accept (default: the container's)")
    parser.add_argument(
        "--max-payload-mb",
        type=int,
        help="MaxPayloadInMB (default: the container's); 0 sends each file as one request in "
        "chunked transfer encoding, as SageMaker does, which serve streams for an algorithm "
        "with independent rows",
    )
    parser.add_argument(
        "--strategy", choices=("MultiRecord", "SingleRecord"), default="MultiRecord"
    )
    parser.add_argument("--max-concurrent", type=int, help="MaxConcurrentTransforms")


def _add_archive_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ArchiveLimits()
    parser.add_argument(
        "--max-model-mb",
        type=int,
        default=defaults.max_bytes // MB,
        metavar="MB",
        help="refuse a model.tar.gz whose files unpack to more (default: %(default)s)",
    )
    parser.add_argument(
        "--max-model-files",
        type=int,
        default=defaults.max_entries,
        metavar="N",
        help="refuse a model.tar.gz of more entries, files and directories (default: %(default)s)",
    )


def _archive_limits(args: argparse.Namespace) -> ArchiveLimits:
    return ArchiveLimits(max_bytes=args.max_model_mb * MB, max_entries=args.max_model_files)


def _transform_settings(args: argparse.Namespace) -> TransformSettings:
    return TransformSettings(
        content_type=args.transform_content_type,
        accept=args.accept,
        max_payload_mb=args.max_payload_mb,
        strategy=args.strategy,
        max_concurrent=args.max_concurrent,
    )


def _report_transform(results: list[TransformResult]) -> int:
    failed = [r for r in results if r.error]
    for result in results:
        if result.error:
            print(f"transform failed: {result.input}: {result.error}")
        else:
            counts = f"{result.records} records, {result.batches} requests"
            print(f"transform output: {result.output} ({counts})")
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> runner.TrainOutcome:
    job_dir = runner.new_job_dir(args.workdir, args.job_prefix)
    outcome = runner.train(
        job_dir,
        args.algorithm,
        _channels(args),
        parse_hyperparameters(args.hp),
        hosts=args.hosts,
    )
    if outcome.returncode != 0:
        reason = (outcome.failure or "no failure file was written").strip()
        print(f"training failed (exit {outcome.returncode}): {reason}")
    else:
        print(f"model: {outcome.model_tarball}")
    print(f"job directory: {outcome.job_dir}")
    return outcome


def cmd_train(args: argparse.Namespace) -> int:
    return _train(args).returncode


def cmd_serve(args: argparse.Namespace) -> int:
    serve_dir = runner.new_job_dir(args.workdir, "endpoint")
    env = {}
    if args.multi_model is not None:
        if not args.multi_model.is_dir():
            shutil.rmtree(serve_dir)
            raise UserError(
                f"{args.multi_model} is not a directory; give the directory holding the "
                "endpoint's *.tar.gz models."
            )
        # No model: the endpoint loads each archive on the first invoke naming it.
        model_dir = serve_dir / "opt_ml" / "model"
        env = {
            "SAGEMAKER_MULTI_MODEL": "true",
            "ALGOPORT_MODEL_ARCHIVES": str(args.multi_model.resolve()),
        }
    else:
        try:
            model_dir = runner.prepare_model(args.model, serve_dir, _archive_limits(args))
        except UserError:
            shutil.rmtree(serve_dir)
            raise
    server = runner.start_server(
        model_dir,
        args.algorithm,
        port=args.port,
        workers=args.workers,
        env=env,
        capture_logs=False,
    )
    process = server.process
    assert process is not None
    # Only pass SIGTERM on: waiting in the handler would deadlock with the wait below.
    # Installed before the endpoint is announced, so a SIGTERM right after it is passed on.
    signal.signal(signal.SIGTERM, lambda *_: process.send_signal(signal.SIGTERM))
    print(f"endpoint: {server.url} (Ctrl-C stops it)", flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        return server.terminate()
    finally:
        server.stop()


def cmd_transform(args: argparse.Namespace) -> int:
    if not args.inputs:
        raise UserError("Nothing to transform; give --input PATH.")
    return _report_transform(
        run_transform(args.endpoint, args.inputs, args.output, _transform_settings(args))
    )


def cmd_run(args: argparse.Namespace) -> int:
    outcome = _train(args)
    if outcome.model_tarball is None:
        return outcome.returncode
    model_dir = runner.prepare_model(
        outcome.model_tarball, outcome.job_dir / "endpoint", _archive_limits(args)
    )
    server = runner.start_server(model_dir, args.algorithm)
    try:
        if not args.inputs:
            print(f"endpoint was ready at {server.url}; no --transform-input given")
            return 0
        output = args.output or outcome.job_dir / "transform"
        results = run_transform(server.url, args.inputs, output, _transform_settings(args))
    finally:
        code = server.terminate()
        server.stop()
    runner.progress(f"endpoint stopped (exit {code})")
    return _report_transform(results) or (1 if code else 0)


def add_local_commands(commands: Any) -> None:
    local = commands.add_parser(
        "local", help="run the SageMaker workflow on this machine: train, serve, transform"
    )
    stages = local.add_subparsers(dest="stage", required=True, metavar="STAGE")

    train = stages.add_parser("train", help="lay out a training job, run train, pack model.tar.gz")
    _add_training_arguments(train)
    train.set_defaults(func=cmd_train, job_prefix="training")

    serve = stages.add_parser(
        "serve", help="extract a model.tar.gz and run serve in the foreground"
    )
    model = serve.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", "-m", type=Path, help="model.tar.gz or a model directory")
    model.add_argument(
        "--multi-model",
        type=Path,
        metavar="DIR",
        help="serve a multi-model endpoint of the *.tar.gz models in DIR (as its S3 prefix "
        "holds them): invoke one with TargetModel=<its path in DIR>; it is extracted and "
        "loaded on its first invoke",
    )
    serve.add_argument("--algorithm", "-a")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    _add_archive_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    transform = stages.add_parser(
        "transform", help="batch transform files against a running endpoint"
    )
    transform.add_argument("--endpoint", default="http://127.0.0.1:8080")
    transform.add_argument("--output", "-o", type=Path, default=Path("transform-output"))
    _add_transform_arguments(transform, inputs_flag="--input")
    transform.set_defaults(func=cmd_transform)

    run = stages.add_parser("run", help="train, then serve the model and batch transform inputs")
    _add_training_arguments(run)
    _add_transform_arguments(run, inputs_flag="--transform-input")
    run.add_argument("--output", "-o", type=Path, help="transform output (default: in the job dir)")
    _add_archive_arguments(run)
    run.set_defaults(func=cmd_run, job_prefix="training")


__all__ = ["add_job_arguments", "add_local_commands", "channel_inputs"]

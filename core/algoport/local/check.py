"""``algoport check``: a conformance run of one algorithm through every door, without Docker.

The same run backs the command and :func:`algoport.testing.check_algorithm`: hyperparameters
as SageMaker writes them (and bad ones refused), the real ``train``, ``model.tar.gz`` packed
and extracted into a fresh tree, the real ``serve`` over HTTP with every declared request
and response type, bad requests, a batch transform as Marketplace validation sends it, and
SIGTERM while training and while serving. Each check passes, fails with its reason, or is
skipped when an earlier stage left nothing to check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from algoport.errors import UserError
from algoport.local import check_serving, check_training, runner
from algoport.local.check_result import CheckResult
from algoport.local.commands import add_job_arguments, channel_inputs
from algoport.local.layout import ChannelInput, parse_hyperparameters
from algoport.local.samples import channel_features
from algoport.media import MediaType
from algoport.plugins import Algorithm, selected_algorithm

DEFAULT_STOP_SECONDS = 10.0


def check_algorithm(
    algorithm: str,
    channels: Mapping[str, str | os.PathLike[str]],
    hyperparameters: Mapping[str, object] | None = None,
    *,
    content_types: Mapping[str, str] | None = None,
    inputs: Mapping[str, str | os.PathLike[str]] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    stop_seconds: float = DEFAULT_STOP_SECONDS,
) -> CheckResult:
    """Run every check of ``algorithm`` and return the result; it never raises for a failed check.

    ``channels`` maps a channel name to a file or directory of training data;
    ``content_types`` gives a channel's ContentType (default: the algorithm's first
    declared one). ``hyperparameters`` are written as SageMaker writes them, ``str(v)``.
    ``inputs`` maps a request content type to a sample file, for a type the core cannot
    encode from the channel's features (a plugin's own format). ``workdir`` keeps the jobs
    (default: a temporary directory, removed). ``stop_seconds`` is how long ``fit`` may take
    to stop after SIGTERM.
    """
    types = dict(content_types or {})
    given = [ChannelInput.parse(f"{name}={path}", types) for name, path in channels.items()]
    strings = {key: str(value) for key, value in (hyperparameters or {}).items()}
    samples = {kind: Path(path) for kind, path in (inputs or {}).items()}
    with _workdir(workdir) as root:
        return run_checks(algorithm, given, strings, samples, root, stop_seconds)


@contextmanager
def _workdir(workdir: str | os.PathLike[str] | None) -> Iterator[Path]:
    if workdir is not None:
        yield Path(workdir)
        return
    root = Path(tempfile.mkdtemp(prefix="algoport-check-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_checks(
    name: str,
    channels: Sequence[ChannelInput],
    hyperparameters: Mapping[str, str],
    inputs: Mapping[str, Path],
    workdir: Path,
    stop_seconds: float,
) -> CheckResult:
    """Every check, its jobs and servers in a new directory under ``workdir``."""
    if not channels:
        raise UserError("Nothing to train on; give the training data with --channel NAME=PATH.")
    samples = {MediaType.parse(kind).essence: path for kind, path in inputs.items()}
    workdir = runner.new_job_dir(workdir, "check")
    algorithm = selected_algorithm(name)
    result = CheckResult(algorithm.name)
    registry = algorithm.formats()
    source = next((c for c in channels if c.name == "train"), channels[0])
    features = channel_features(registry, source.source, _content_type(algorithm, source))
    model_dir = check_training.check_training(
        result, algorithm, channels, hyperparameters, workdir, stop_seconds
    )
    check_serving.check_serving(result, algorithm, registry, model_dir, features, samples, workdir)
    return result


def _content_type(algorithm: Algorithm, channel: ChannelInput) -> str:
    """The channel's ContentType, or the default the core gives a job that names none."""
    if channel.content_type:
        return channel.content_type
    declared = {spec.name: spec for spec in algorithm.channels or ()}
    spec = declared.get(channel.name)
    if spec is not None and spec.content_types:
        return spec.content_types[0]
    raise UserError(f"Channel {channel.name!r} has no content type; give it with --content-type.")


def cmd_check(args: argparse.Namespace) -> int:
    inputs = {}
    for pair in args.input:
        kind, eq, path = pair.partition("=")
        if not eq or not kind or not path:
            raise UserError(f"--input {pair!r} is malformed; expected TYPE=PATH.")
        inputs[kind] = Path(path)
    with _workdir(args.workdir) as workdir:
        result = run_checks(
            args.algorithm,
            channel_inputs(args),
            parse_hyperparameters(args.hp),
            inputs,
            workdir,
            args.stop_seconds,
        )
    print(result.report())
    return 1 if result.failed else 0


def add_check_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = commands.add_parser(
        "check",
        help="check an algorithm against the SageMaker contract: train, serve, batch, SIGTERM",
        description="Train, pack, serve and batch-transform an algorithm as SageMaker and "
        "Marketplace validation would, on this machine, and print a table of every check.",
    )
    check.add_argument("algorithm", help="the algorithm's name (`algoport plugins` lists them)")
    add_job_arguments(check)
    check.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="TYPE=PATH",
        help="a request sample for a content type the core cannot write from the channel's "
        "features, e.g. text/libsvm=sample.libsvm (repeatable)",
    )
    check.add_argument(
        "--stop-seconds",
        type=float,
        default=DEFAULT_STOP_SECONDS,
        metavar="S",
        help="how long fit may take to stop after SIGTERM (default: %(default)s; SageMaker "
        "allows 120)",
    )
    check.add_argument(
        "--workdir", type=Path, help="keep the jobs here (default: a temporary directory)"
    )
    check.set_defaults(func=cmd_check)


__all__ = ["add_check_command", "check_algorithm"]

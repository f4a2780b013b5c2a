"""``algoport …`` and the ``train`` / ``serve`` console scripts SageMaker runs."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from algoport.errors import AlgoportError, PlatformError
from algoport.logs import setup_logging
from algoport.version import __version__

if TYPE_CHECKING:
    from algoport.plugins import PluginInfo

Command = Callable[[argparse.Namespace], int]


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging()
    try:
        from algoport.allocator import keep_freed_memory
        from algoport.settings import Settings
        from algoport.training import run_training
    except Exception as exc:
        # A broken installation must still leave SageMaker a failure reason.
        _fail_before_training(
            PlatformError(f"algoport failed to start: {type(exc).__name__}: {exc}")
        )
        raise
    try:
        settings = Settings.from_environ()
    except PlatformError as exc:
        return _fail_before_training(exc)
    setup_logging(settings.log_level)
    keep_freed_memory()
    return run_training(settings)


def _fail_before_training(error: PlatformError) -> int:
    """Leave the failure file when ``train`` cannot even start its job."""
    from algoport.contract import ContractPaths
    from algoport.failure import clear_failure, write_failure
    from algoport.settings import base_dir

    paths = ContractPaths(base_dir())
    clear_failure(paths)
    write_failure(paths, error)
    print(f"algoport: {error.kind}: {error}", file=sys.stderr)
    return error.exit_code


def cmd_serve(args: argparse.Namespace) -> int:
    from algoport.serving.server import run_server
    from algoport.settings import Settings

    setup_logging()
    settings = Settings.from_environ()
    setup_logging(settings.log_level)
    return run_server(settings)


def cmd_install_entrypoints(args: argparse.Namespace) -> int:
    from algoport.entrypoints import install, scripts_dir

    written = install()
    where = scripts_dir()
    if written:
        print(f"wrote algoport's {' and '.join(written)} into {where}")
    else:
        print(f"train and serve in {where} are algoport's already")
    return 0


def _plugin_row(info: PluginInfo, kind: str) -> dict[str, str | None]:
    return {
        "name": info.name,
        "kind": kind,
        "distribution": info.distribution,
        "version": info.version,
        "entry_point": info.value,
    }


def cmd_plugins(args: argparse.Namespace) -> int:
    from algoport.entrypoints import warning
    from algoport.plugins import ALGORITHMS_GROUP, EXTENSIONS_GROUP, discover

    problem = warning()
    if problem:
        print(f"algoport: warning: {problem}", file=sys.stderr)
    rows = [_plugin_row(i, "algorithm") for i in discover(ALGORITHMS_GROUP).values()]
    rows += [_plugin_row(i, "extension") for i in discover(EXTENSIONS_GROUP).values()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(
            "No algoport plugins are installed. Install one with pip: a package that declares "
            "an `algoport.algorithms` entry point."
        )
        return 0
    headers = ("name", "kind", "distribution", "version", "entry_point")
    table = [headers, *[tuple(str(row[h] or "-") for h in headers) for row in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    from algoport.local.layout import parse_hyperparameters
    from algoport.plugins import selected_algorithm
    from algoport.service_model import input_shape
    from algoport.settings import VARIABLES
    from algoport.spec import SpecOptions, create_algorithm_request, render, validation_inputs

    input_shape("CreateAlgorithm")  # without botocore, say so before importing a plugin
    algorithm = selected_algorithm(args.algorithm or VARIABLES["algorithm"].read(os.environ))
    instance_types = {
        f"{kind}_instance_types": getattr(args, f"{kind}_instance_type")
        for kind in ("training", "inference", "transform")
        if getattr(args, f"{kind}_instance_type")
    }
    options = SpecOptions(
        training_image=args.training_image,
        name=args.name,
        inference_image=args.inference_image,
        training_image_digest=args.training_image_digest,
        inference_image_digest=args.inference_image_digest,
        validation=validation_inputs(
            role=args.validation_role,
            train=args.validation_train,
            transform_input=args.validation_transform_input,
            output=args.validation_output,
            hyperparameters=parse_hyperparameters(args.hp),
        ),
        **instance_types,
    )
    print(render(create_algorithm_request(algorithm, options), args.format))
    return 0


def _add_spec_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    spec = commands.add_parser(
        "spec",
        help="print the SageMaker CreateAlgorithm request built from the algorithm's hooks",
        description="Print the CreateAlgorithm request for an algorithm, built from its "
        "plugin's declarations and checked against botocore's SageMaker service model.",
    )
    spec.add_argument(
        "--algorithm", "-a", help="default: ALGOPORT_ALGORITHM, else the only one installed"
    )
    spec.add_argument("--name", help="AlgorithmName (default: the algorithm's name)")
    spec.add_argument("--training-image", required=True, metavar="URI")
    spec.add_argument("--inference-image", metavar="URI", help="default: the training image")
    spec.add_argument("--training-image-digest", metavar="sha256:HEX")
    spec.add_argument("--inference-image-digest", metavar="sha256:HEX")
    for kind in ("training", "inference", "transform"):
        spec.add_argument(
            f"--{kind}-instance-type",
            action="append",
            metavar="TYPE",
            help="repeatable; default: ml.m5.xlarge",
        )
    spec.add_argument("--validation-role", metavar="ARN")
    spec.add_argument("--validation-train", metavar="S3URI", help="the training channel's data")
    spec.add_argument("--validation-transform-input", metavar="S3URI")
    spec.add_argument("--validation-output", metavar="S3URI")
    spec.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a validation training job hyperparameter (repeatable)",
    )
    spec.add_argument("--format", choices=("json", "python"), default="json")
    spec.set_defaults(func=cmd_spec)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="algoport",
        description="Run SageMaker algorithm containers whose algorithms are plugins.",
    )
    parser.add_argument("--version", action="version", version=f"algoport {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="run the training job under /opt/ml")
    train.set_defaults(func=cmd_train)

    serve = commands.add_parser("serve", help="serve the model in /opt/ml/model over HTTP")
    serve.set_defaults(func=cmd_serve)

    plugins = commands.add_parser(
        "plugins", help="list installed algorithms and extensions (imports none of them)"
    )
    plugins.add_argument("--json", action="store_true", help="print JSON for machines")
    plugins.set_defaults(func=cmd_plugins)

    _add_spec_command(commands)

    from algoport.local.check import add_check_command

    add_check_command(commands)

    install_entrypoints = commands.add_parser(
        "install-entrypoints",
        help="write algoport's train and serve scripts again (e.g. after installing Ray, "
        "whose own `serve` replaces algoport's)",
    )
    install_entrypoints.set_defaults(func=cmd_install_entrypoints)

    from algoport.batch.commands import add_batch_command
    from algoport.local.commands import add_local_commands

    add_local_commands(commands)
    add_batch_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _run(args.func, args)


def _run(func: Command, args: argparse.Namespace) -> int:
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe is reported here, not at interpreter exit
        return code
    except AlgoportError as exc:
        print(f"algoport: {exc.kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`algoport plugins | head`): stop quietly, as `cat` does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


# The console scripts SageMaker runs skip the parser: building it imports every command's
# module, which added a tenth of a second to each start.
def train_entrypoint() -> None:
    sys.exit(_run(cmd_train, argparse.Namespace()))


def serve_entrypoint() -> None:
    sys.exit(_run(cmd_serve, argparse.Namespace()))


if __name__ == "__main__":
    sys.exit(main())

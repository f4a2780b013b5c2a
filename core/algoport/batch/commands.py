"""``algoport batch``: predict files offline, on Ray when it is installed, else in-process."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from algoport.batch.alignment import EXTRA_HINT, OutputFiles, Run, content_type_of, input_files
from algoport.batch.inprocess import predict_in_process
from algoport.batch.onray import predict_on_ray, ray_available
from algoport.batch.predictor import LinePredictor
from algoport.batch.progress import Progress
from algoport.entrypoints import warning as entrypoints_warning
from algoport.errors import UserError
from algoport.local.artifacts import ArchiveLimits, pack_model
from algoport.settings import VARIABLES

DEFAULT_BATCH_SIZE = 4096


def model_bytes(model: Path) -> bytes:
    """The model as model.tar.gz bytes, so that actors on any machine can extract it."""
    if model.is_file():
        return model.read_bytes()
    if not model.is_dir():
        raise UserError(f"Model {model} does not exist; give a model.tar.gz or a model directory.")
    with tempfile.TemporaryDirectory(prefix="algoport-batch-") as scratch:
        return pack_model(model, Path(scratch) / "model.tar.gz").read_bytes()


def cmd_batch(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.concurrency < 1:
        raise UserError("--batch-size and --concurrency must be at least 1.")
    files = input_files(args.input)
    content_type = content_type_of(files, args.content_type)
    options: dict[str, Any] = {
        "algorithm": args.algorithm or VARIABLES["algorithm"].read(os.environ),
        "content_type": content_type if "parquet" not in content_type else None,
        "accept": args.format,
        "limits": ArchiveLimits(),
    }
    on_ray = not args.in_process and ray_available()
    progress = Progress()
    problem = entrypoints_warning()
    if problem:
        progress.note(f"warning: {problem}")
    runs: Iterator[Run]
    if on_ray:
        runs = predict_on_ray(
            {"model": model_bytes(args.model), **options},
            files,
            content_type,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            address=args.address,
            progress=progress,
        )
    else:
        if args.address is not None:
            raise UserError(f"--address needs Ray, which is not installed; {EXTRA_HINT}.")
        if not args.in_process:
            progress.note(
                f"Ray is not installed, so this runs in one process; {EXTRA_HINT} to spread "
                "the work over CPUs and machines."
            )
        predictor = LinePredictor(args.model, **options)
        runs = predict_in_process(predictor, files, content_type, args.batch_size, progress)
    with OutputFiles(args.output, files) as outputs:
        for run in runs:
            outputs.write(run)
    progress.done(len(files), str(args.output))
    return 0


def add_batch_command(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="predict files offline with a model, on Ray when installed (else in-process)",
        description="Predict every record of CSV, JSON Lines or Parquet files with a model. "
        "Output is aligned as batch transform's AssembleWith=Line: one <input name>.out per "
        "input file, one line per input line, in input order.",
    )
    batch.add_argument(
        "--model", "-m", type=Path, required=True, help="model.tar.gz or a model directory"
    )
    batch.add_argument(
        "--input",
        "-i",
        action="append",
        required=True,
        metavar="PATH",
        help="a file, directory or glob (quoted), local or a URI Ray reads, e.g. s3://b/x/*.csv "
        "(repeatable); .csv, .jsonl/.jsonlines/.ndjson or .parquet",
    )
    batch.add_argument("--output", "-o", type=Path, required=True, help="the output directory")
    batch.add_argument(
        "--format",
        metavar="TYPE",
        help="output media type, one the algorithm produces and line-based "
        "(default: the first such, e.g. text/csv)",
    )
    batch.add_argument(
        "--content-type",
        metavar="TYPE",
        help="how input lines decode (default: by file ending), e.g. text/csv;label_size=1",
    )
    batch.add_argument("--algorithm", "-a", help="default: the model's, as serve chooses")
    batch.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="records per predict call (default: %(default)s)",
    )
    batch.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="Ray actors, each loading the model once (default: %(default)s)",
    )
    batch.add_argument(
        "--address",
        help="Ray cluster to join: auto for the running one, or ray://HOST:PORT "
        "(default: a local Ray started for the run)",
    )
    batch.add_argument(
        "--in-process",
        action="store_true",
        help="predict in this process even when Ray is installed",
    )
    batch.set_defaults(func=cmd_batch)

"""Inputs and outputs of ``algoport batch``, aligned as batch transform's ``AssembleWith=Line``.

Every input file becomes rows of ``path``, ``line`` (from 1) and either ``record`` (the
line's bytes, for CSV and JSON Lines, split as batch transform's ``SplitType=Line`` splits)
or ``features`` (a Parquet row's values). Predictions come back as runs of consecutive
lines of one file, each run's encoded body, and :class:`OutputFiles` writes them into
``<input name>.out``, checking that every file's lines arrive once and in order.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from algoport.errors import PlatformError, UserError
from algoport.files import atomic_write, atomic_write_text
from algoport.local.transform import split_lines

PATH, LINE, RECORD, FEATURES = "path", "line", "record", "features"
PARQUET = "application/vnd.apache.parquet"
# Input kinds by file name ending; a line-based kind names the format its lines decode with.
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".jsonl": "application/jsonlines",
    ".jsonlines": "application/jsonlines",
    ".ndjson": "application/jsonlines",
    ".parquet": PARQUET,
}
GLOB_CHARACTERS = "*?["
EXTRA_HINT = "pip install 'algoport[ray]'"


def is_uri(location: str) -> bool:
    return "://" in location


def content_type_of(files: Sequence[str], given: str | None) -> str:
    """The one input kind of a run: ``given``, else told by the files' endings."""
    if given:
        return given
    kinds = {CONTENT_TYPES.get(Path(name).suffix.lower()) for name in files}
    if None in kinds:
        unknown = next(name for name in files if Path(name).suffix.lower() not in CONTENT_TYPES)
        raise UserError(
            f"Input {unknown} has no known ending; expected one of "
            f"{', '.join(CONTENT_TYPES)}, or give --content-type."
        )
    if len(kinds) > 1:
        raise UserError(
            f"The inputs mix {', '.join(sorted(str(k) for k in kinds))}; run one kind at a time."
        )
    return str(kinds.pop())


def input_files(patterns: Sequence[str]) -> list[str]:
    """Files named by paths, directories (their files, sorted) or globs; URIs need pyarrow."""
    files: list[str] = []
    for pattern in patterns:
        found = _uri_files(pattern) if is_uri(pattern) else _local_files(pattern)
        if not found:
            raise UserError(f"Input {pattern} matches no file; give files, directories or globs.")
        files += found
    names: dict[str, str] = {}
    for name in files:
        held = names.setdefault(Path(name).name, name)
        if held != name:
            raise UserError(
                f"Inputs {held} and {name} would both write {Path(name).name}.out; "
                "run them into different --output directories."
            )
    return files


def _local_files(pattern: str) -> list[str]:
    if any(c in pattern for c in GLOB_CHARACTERS):
        return sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    path = Path(pattern)
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [pattern] if path.is_file() else []


def _uri_files(pattern: str) -> list[str]:
    try:
        from pyarrow import fs
    except ImportError:
        raise UserError(
            f"Input {pattern} is a URI, which needs pyarrow's file systems; {EXTRA_HINT}."
        ) from None
    scheme, _, rest = pattern.partition("://")
    directory, _, leaf = rest.rpartition("/")
    if any(c in leaf for c in GLOB_CHARACTERS):
        filesystem, root = fs.FileSystem.from_uri(f"{scheme}://{directory}")
        infos = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
        return sorted(
            f"{scheme}://{directory}/{info.base_name}"
            for info in infos
            if info.type == fs.FileType.File and fnmatch.fnmatchcase(info.base_name, leaf)
        )
    filesystem, root = fs.FileSystem.from_uri(pattern)
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        return [pattern]
    if info.type != fs.FileType.Directory:
        return []
    selector = fs.FileSelector(root, recursive=True)
    return sorted(
        f"{scheme}://{rest.rstrip('/')}/{found.path[len(root.rstrip('/')) + 1 :]}"
        for found in filesystem.get_file_info(selector)
        if found.type == fs.FileType.File and not found.base_name.startswith(".")
    )


def read_bytes(location: str) -> bytes:
    if not is_uri(location):
        return Path(location).read_bytes()
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(location)
    with filesystem.open_input_stream(path) as stream:
        return bytes(stream.read())


def records(location: str, data: bytes, content_type: str) -> dict[str, np.ndarray]:
    """One file's rows: its records (lines or Parquet rows), each with its file and line."""
    if content_type == PARQUET:
        values = {FEATURES: parquet_features(location, data)}
    else:
        values = {RECORD: np.array(list(split_lines(io.BytesIO(data))), dtype=object)}
    count = len(next(iter(values.values())))
    return {
        PATH: np.full(count, location, dtype=object),
        LINE: np.arange(1, count + 1, dtype=np.int64),
        **values,
    }


def parquet_features(location: str, data: bytes) -> np.ndarray:
    """A Parquet file's rows as a 2-D float array, columns in the file's order."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError(
            f"Input {location} is Parquet, which needs pyarrow; {EXTRA_HINT}."
        ) from None
    table = pq.read_table(io.BytesIO(data))
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            columns.append(column.to_numpy().astype(np.float64))
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"{location}: column {name!r} ({column.type}) is not numeric: {exc}; every "
                "column of a Parquet input is a feature."
            ) from None
    return np.column_stack(columns) if columns else np.empty((table.num_rows, 0))


@dataclass(frozen=True)
class Run:
    """Consecutive lines of one input file and their encoded predictions."""

    path: str
    first_line: int
    rows: int
    body: bytes


def runs(batch: dict[str, Any]) -> Iterator[tuple[str, int, slice]]:
    """The batch's rows cut where the file changes: (path, first line, row slice)."""
    paths = batch[PATH]
    lines = batch[LINE]
    start = 0
    for end in range(1, len(paths) + 1):
        if end == len(paths) or paths[end] != paths[start]:
            yield str(paths[start]), int(lines[start]), slice(start, end)
            start = end


def output_name(location: str) -> str:
    return f"{Path(location).name}.out"


class OutputFiles:
    """``<input name>.out`` per input file, each written atomically once its lines are in.

    Files come back one after another in input order; a file is complete, and renamed into
    place, when the next one starts (or the run ends). A failed run leaves the files
    completed before the failure and nothing of the one being written.
    """

    def __init__(self, output_dir: Path, inputs: Sequence[str]) -> None:
        self.output_dir = output_dir
        self.next_line = dict.fromkeys(inputs, 1)
        self.records = 0
        self._done: set[str] = set()
        self._current: tuple[str, contextlib.ExitStack, IO[bytes]] | None = None

    def __enter__(self) -> OutputFiles:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        return self

    def write(self, run: Run) -> None:
        expected = self.next_line.get(run.path)
        if expected is None:
            raise PlatformError(f"Predictions came back for {run.path}, which is not an input.")
        if run.first_line != expected or run.path in self._done:
            raise PlatformError(
                f"Predictions for {run.path} came back from line {run.first_line} out of "
                "order; the output would not line up with the input."
            )
        if self._current is None or self._current[0] != run.path:
            self._finish()
            stack = contextlib.ExitStack()
            out = stack.enter_context(atomic_write(self.output_dir / output_name(run.path)))
            self._current = (run.path, stack, out)
        self._current[2].write(run.body)
        self.next_line[run.path] = expected + run.rows
        self.records += run.rows

    def _finish(self) -> None:
        if self._current is not None:
            path, stack, _ = self._current
            self._current = None
            stack.close()
            self._done.add(path)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            if self._current is not None:
                self._current[1].__exit__(kind, error, traceback)
            return
        self._finish()
        for path in self.next_line:  # an empty input gets an empty output
            if path not in self._done:
                atomic_write_text(self.output_dir / output_name(path), "")

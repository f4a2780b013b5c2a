"""``text/libsvm``: ``label[:weight] [qid:q] index:value index:value … [# comment]``.

The fast path splits each line into label, qid and features in Python, checks the shape
of all feature tokens at once (counts and one pattern over the joined body) and reads every
number with numpy's C number parser (``numpy.loadtxt``). Only when something is wrong does
a line-by-line pass run, to name the first bad line and token; so errors are exact and the
common path stays fast. Numbers follow CSV's grammar (``1_000`` and ``0x1`` are not
numbers).

Indices are kept as written. Whether they count from 0 or 1 is decided over a whole data
set, as XGBoost does (``data.agreed_index_base``), and applied by :meth:`LibsvmRows.to_csr`.
:data:`FORMATS` makes ``text/libsvm`` a format of the algorithm, so that requests decode
and ``channel.read()`` reads it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse

from algoport import DataError, Dataset, Format, MediaType

_COLON: Final = ord(":")
_SPACE: Final = ord(" ")
_LARGEST_INTEGER: Final = 2**53
_SHOWN_CHARS: Final = 40
_CSV_HINT: Final = " This looks like CSV: set the channel's ContentType to text/csv."
MEDIA_TYPES: Final = ("text/libsvm", "text/x-libsvm")


@dataclass(frozen=True)
class LibsvmRows:
    """Parsed records with indices as written; ``lines`` maps each row to its line number."""

    labels: npt.NDArray[np.float64] | None
    weights: npt.NDArray[np.float64] | None
    qid: npt.NDArray[np.int64] | None
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    lines: npt.NDArray[np.int64]
    source: str

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def min_index(self) -> int | None:
        return int(self.indices.min()) if self.indices.size else None

    @property
    def max_index(self) -> int | None:
        return int(self.indices.max()) if self.indices.size else None

    def rows(self, start: int, stop: int) -> LibsvmRows:
        """Rows ``start`` to ``stop`` (exclusive), as parsed."""
        first, last = int(self.indptr[start]), int(self.indptr[stop])
        return replace(
            self,
            labels=None if self.labels is None else self.labels[start:stop],
            weights=None if self.weights is None else self.weights[start:stop],
            qid=None if self.qid is None else self.qid[start:stop],
            indptr=self.indptr[start : stop + 1] - first,
            indices=self.indices[first:last],
            values=self.values[first:last],
            lines=self.lines[start:stop],
        )

    def to_csr(self, base: int, n_features: int) -> scipy.sparse.csr_matrix:
        """The rows as a CSR matrix of ``n_features`` columns, indices shifted by ``base``."""
        columns = self.indices - base
        if columns.size and columns.min() < 0:
            row = int(np.searchsorted(self.indptr, int(np.argmin(columns)), side="right")) - 1
            raise DataError(
                f"{self.source}, line {self.lines[row]} has feature index "
                f"{int(columns.min()) + base}, but indices count from {base} here. Indices "
                "must all count from 0 or all from 1."
            )
        matrix = scipy.sparse.csr_matrix(
            (self.values, columns, self.indptr), shape=(self.n_rows, n_features)
        )
        if not matrix.has_canonical_format:
            matrix.sort_indices()
            self._check_no_repeats(matrix, base)
        return matrix

    def _check_no_repeats(self, matrix: scipy.sparse.csr_matrix, base: int) -> None:
        repeated = np.flatnonzero(np.diff(matrix.indices) == 0)
        starts = set(matrix.indptr[1:-1].tolist())
        for position in repeated:
            if int(position) + 1 not in starts:
                row = int(np.searchsorted(matrix.indptr, int(position), side="right")) - 1
                raise DataError(
                    f"{self.source}, line {self.lines[row]} repeats feature index "
                    f"{int(matrix.indices[position]) + base}; each index may appear once per "
                    "line."
                )


def parse(
    body: bytes, source: str, *, labelled: bool, blank_lines: bool = True, first_line: int = 1
) -> LibsvmRows:
    """Parse a libsvm body. ``labelled``: every line starts with a label (training data).

    ``first_line`` numbers the body's first line, for a body cut from a longer stream.

    Request lines may omit the label: a first token without ``:`` is a label and ignored.
    ``blank_lines=False`` refuses blank and comment-only lines before the last record, so
    that batch transform output lines stay aligned with input lines.
    Raises :class:`algoport.DataError` naming ``source`` and the line.
    """
    text = body.removeprefix(b"\xef\xbb\xbf")
    if not blank_lines:
        text = text.rstrip()
    labels: list[bytes] = []
    qids: list[bytes] = []
    features: list[bytes] = []
    counts: list[int] = []
    lines: list[int] = []
    has_comments = b"#" in text
    for number, raw in enumerate(text.split(b"\n"), first_line):
        line = (raw.split(b"#", 1)[0] if has_comments else raw).strip()
        if not line:
            if blank_lines:
                continue
            raise _error(
                source,
                number,
                "is blank; send one record per line, so that output lines match input lines.",
            )
        head, _, rest = line.partition(b" ")
        if b"\t" in head:
            head, rest = _split_first(line)
        rest = rest.lstrip()
        if labelled:
            labels.append(head)
        elif b":" in head:
            rest = line
        if rest.startswith(b"qid:"):
            qid, rest = _split_first(rest)
            if labelled:  # a request's query ids change nothing
                qids.append(qid[4:])
        features.append(rest)
        counts.append(rest.count(b":"))
        lines.append(number)
    if qids and len(qids) != len(lines):
        raise DataError(
            f"{source}: {len(qids)} of {len(lines)} lines have a qid; give every line a "
            "qid (ranking data) or none."
        )
    pairs = _feature_numbers(features, sum(counts))
    heads = _labels(labels) if labelled else (None, None)
    qid_array = _integers(_numbers(qids)) if qids else None
    if pairs is None or heads is None or (qids and qid_array is None):
        _raise_first_problem(text, source, labelled, first_line)
        raise DataError(f"{source} is not in libsvm format; expected `label index:value …`.")
    indices, values = pairs
    label_array, weight_array = heads
    return LibsvmRows(
        labels=label_array,
        weights=weight_array,
        qid=qid_array,
        indptr=np.concatenate(([0], np.cumsum(counts, dtype=np.int64))).astype(np.int64),
        indices=indices,
        values=values,
        lines=np.array(lines, dtype=np.int64),
        source=source,
    )


def _feature_numbers(
    features: list[bytes], n_pairs: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
    """Every index and value of the body, or None when any token is malformed.

    Checks the token shape with counts over the whole body (one colon per token, none at a
    token's edge) and reads every number with the core's CSV number parser, one per line.
    """
    joined = b" ".join(f for f in features if f)
    if b"\t" in joined or b"  " in joined:
        joined = b" ".join(joined.split())
    if not joined:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    if not _one_colon_per_token(joined, n_pairs):
        return None
    numbers = _read_numbers(joined.replace(b":", b"\n").replace(b" ", b"\n"))
    if numbers is None or numbers.size != 2 * n_pairs:
        return None
    indices = _integers(numbers[0::2])
    if indices is None or (indices.size and indices.min() < 0):
        return None
    return indices, numbers[1::2]


def _one_colon_per_token(joined: bytes, n_pairs: int) -> bool:
    """Whether every space-separated token is ``a:b`` with a and b non-empty (vectorised)."""
    raw = np.frombuffer(joined, dtype=np.uint8)
    colons = np.flatnonzero(raw == _COLON)
    spaces = np.flatnonzero(raw == _SPACE)
    if len(colons) != n_pairs or len(spaces) + 1 != n_pairs:
        return False
    # Colon i must sit in token i: exactly i spaces before it.
    if not np.array_equal(np.searchsorted(spaces, colons), np.arange(n_pairs)):
        return False
    if colons[0] == 0 or colons[-1] == len(raw) - 1:
        return False
    return not (np.any(raw[colons - 1] == _SPACE) or np.any(raw[colons + 1] == _SPACE))


def _labels(
    heads: list[bytes],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None] | None:
    """Labels, and weights when any label is written ``label:weight``; None if malformed."""
    if not any(b":" in head for head in heads):
        labels = _numbers(heads)
        return None if labels is None else (labels, None)
    split = [head.partition(b":") for head in heads]
    labels = _numbers([label for label, _, _ in split])
    weights = _numbers([weight if colon else b"1" for _, colon, weight in split])
    if labels is None or weights is None:
        return None
    return labels, weights


def _numbers(tokens: list[bytes]) -> npt.NDArray[np.float64] | None:
    return _read_numbers(b"\n".join(tokens)) if tokens else np.zeros(0, np.float64)


def _read_numbers(body: bytes) -> npt.NDArray[np.float64] | None:
    """One number per line, or None when any line is not a number (or is empty)."""
    if not body or body.startswith(b"\n") or body.endswith(b"\n") or b"\n\n" in body:
        return None
    if b"," in body:  # the CSV parser would read it as several columns
        return None
    try:
        numbers = np.loadtxt(
            io.BytesIO(body), dtype=np.float64, delimiter=",", comments=None, ndmin=1
        )
    except ValueError:
        return None
    return numbers.reshape(-1)


def _integers(numbers: npt.NDArray[np.float64] | None) -> npt.NDArray[np.int64] | None:
    if numbers is None:
        return None
    if numbers.size and (
        not np.all(np.isfinite(numbers))
        or np.any(numbers != np.floor(numbers))
        or np.abs(numbers).max() >= _LARGEST_INTEGER
    ):
        return None
    return numbers.astype(np.int64)


def _split_first(line: bytes) -> tuple[bytes, bytes]:
    parts = line.split(None, 1)
    return parts[0], parts[1] if len(parts) > 1 else b""


def _show(token: bytes) -> str:
    shown = token.decode("utf-8", "backslashreplace")
    return repr(shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "...")


def _error(source: str, line: int, problem: str) -> DataError:
    return DataError(f"{source}, line {line} {problem}")


def _raise_first_problem(text: bytes, source: str, labelled: bool, first_line: int) -> None:
    """The slow pass: walk the lines again and raise for the first malformed token."""
    for number, raw in enumerate(text.split(b"\n"), first_line):
        tokens = raw.split(b"#", 1)[0].split()
        for position, token in enumerate(tokens):
            problem = _token_problem(
                token, is_label=position == 0 and (labelled or b":" not in token)
            )
            if problem:
                if b"," in token:
                    problem += _CSV_HINT
                raise _error(source, number, problem)


def _token_problem(token: bytes, is_label: bool) -> str | None:
    parts = token.split(b":")
    if is_label:
        if len(parts) > 2:
            return f"has label {_show(token)}; expected a number, or label:weight."
        checks = [(parts[0], False, "a label (number)")]
        checks += [(p, False, "a weight (number)") for p in parts[1:]]
    elif parts[0] == b"qid" and len(parts) == 2:
        checks = [(parts[1], True, "a qid (integer)")]
    elif len(parts) != 2 or not parts[0] or not parts[1]:
        return f"has token {_show(token)}; expected index:value, e.g. 3:0.5."
    else:
        checks = [(parts[0], True, "an index (integer ≥ 0)"), (parts[1], False, "a value")]
    for part, integer, what in checks:
        value = _numbers([part])
        number = _integers(value) if integer else value
        if number is None or (what.startswith("an index") and number[0] < 0):
            return f"has {_show(part)} where {what} belongs, in {_show(token)}."
    return None


def decode_request(body: bytes, media_type: MediaType) -> LibsvmRows:
    """A ``text/libsvm`` request; each line's label, when present, is ignored."""
    return parse(body, "The libsvm request", labelled=False, blank_lines=False)


def read_dataset(body: bytes, media_type: MediaType) -> Dataset:
    """Labelled training records for ``channel.read()``: a CSR matrix and the labels.

    Column ``j`` holds index ``j`` as written (1-based data leaves column 0 empty), so the
    files and chunks of a channel line up; weights and qid are not part of a Dataset.
    """
    rows = parse(body, "libsvm text", labelled=True)
    width = rows.max_index + 1 if rows.max_index is not None else 0
    return Dataset(rows.to_csr(0, width), rows.labels)


FORMATS: Final = tuple(
    Format(t, decode=decode_request, read=read_dataset, line_based=True) for t in MEDIA_TYPES
)

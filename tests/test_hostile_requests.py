"""Hostile request bodies against a real `serve`: each is a 4xx with a JSON error, never a
500; no body costs a worker more memory than the decoded-size budget; the worker keeps
serving. Also the two negotiation doors a client or a platform can get wrong."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algoport.formats import recordio, recordio_protobuf
from algoport.testing import ServeProcess

pytestmark = pytest.mark.e2e

CSV_BODY = b"1.0,2.0\n0.5,-1.0\n"
RECORDIO = "application/x-recordio-protobuf"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(model_dir) as process:
        yield process


def npy_with_header(header: str, data: bytes = b"") -> bytes:
    """A version 1.0 .npy file with ``header`` as written, padded as numpy pads it."""
    text = header.encode("latin1")
    padding = -(10 + len(text) + 1) % 64
    text += b" " * padding + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def recordio_record(shape: list[int], keys: list[int], kind: str = "float32_tensor") -> bytes:
    record = recordio_protobuf.record_class()()
    tensor = getattr(record.features["values"], kind)
    tensor.shape.extend(shape)
    tensor.keys.extend(keys)
    tensor.values.extend([1.0] * len(keys))
    return record.SerializeToString()


# The 448-byte body of issue 11: 16 float64 records declaring shape [10**7], no values.
DECLARED_ONLY = recordio.encode_records(
    [recordio_record([10**7], [], "float64_tensor") for _ in range(16)]
)

BAD_BODIES = {
    "json-nested-deep": ("application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    "json-nested-1000": ("application/json", b"[" * 1000 + b"1" + b"]" * 1000, 400),
    "jsonlines-nested-deep": ("application/jsonlines", b"[" * 100_000 + b"]" * 100_000, 400),
    "json-huge-integer": ("application/json", b"[[" + b"9" * 5000 + b", 1]]", 400),
    "npy-unbalanced-parenthesis": (
        "application/x-npy",
        npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, }"),
        400,
    ),
    "npy-huge-shape": (
        "application/x-npy",
        npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"),
        400,
    ),
    "recordio-sparse-10**12": (
        RECORDIO,
        recordio.encode_records([recordio_record([10**12], [0])]),
        413,
    ),
    "recordio-sparse-2**62": (
        RECORDIO,
        recordio.encode_records([recordio_record([2**62], [0])]),
        413,
    ),
    "recordio-sparse-2**40x2**40": (
        RECORDIO,
        recordio.encode_records([recordio_record([2**40, 2**40], [0])]),
        413,
    ),
    "recordio-16-records-declaring-10**7": (RECORDIO, DECLARED_ONLY, 413),
}


@pytest.mark.parametrize(("content_type", "body", "status"), BAD_BODIES.values(), ids=BAD_BODIES)
def test_a_hostile_body_is_a_4xx_with_a_json_error(
    server: ServeProcess, content_type: str, body: bytes, status: int
) -> None:
    reply = server.client.post("/invocations", content=body, headers={"Content-Type": content_type})

    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    if status == 413:
        assert "ALGOPORT_MAX_DECODED_MB" in error
    assert server.client.get("/ping").status_code == 200


def test_the_448_byte_body_costs_the_worker_no_gigabytes(model_dir: Path) -> None:
    assert len(DECLARED_ONLY) == 448
    with ServeProcess(model_dir) as server:  # one worker: the serve process itself
        for _ in range(5):
            reply = server.client.post(
                "/invocations", content=DECLARED_ONLY, headers={"Content-Type": RECORDIO}
            )
            assert reply.status_code == 413, reply.text
        assert server.process is not None
        peak = peak_rss_bytes(server.process.pid)
        good = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert good.status_code == 200, good.text

    # A loaded worker takes ~50 MB and the decoded-size limit adds at most 96 MB; this body
    # took 1.3 GB before the limit existed.
    assert peak < 300 * MB, f"worker peaked at {peak / MB:.0f} MB"


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def test_a_smaller_decoded_size_limit_refuses_smaller_decodes(model_dir: Path) -> None:
    body = recordio.encode_records([recordio_record([300_000], [0], "float64_tensor")])
    with ServeProcess(model_dir, env={"ALGOPORT_MAX_DECODED_MB": "2"}) as server:
        reply = server.client.post("/invocations", content=body, headers={"Content-Type": RECORDIO})

    assert reply.status_code == 413
    assert reply.json()["error"] == (
        "The request body decodes into more than 2 MB (2097152 bytes, ALGOPORT_MAX_DECODED_MB): "
        "RecordIO-protobuf record 1 features tensor declares shape [300000], 2400000 bytes as "
        "float64. Send fewer records per request, or raise ALGOPORT_MAX_DECODED_MB."
    )


def test_accept_that_refuses_everything_is_406(server: ServeProcess) -> None:
    reply = server.client.post(
        "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv", "Accept": "*/*;q=0"}
    )

    assert reply.status_code == 406
    assert "application/json" in reply.json()["error"]


def test_a_default_accept_the_algorithm_does_not_produce_stops_start_up(model_dir: Path) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/html"}
    server = ServeProcess(model_dir, env=env)
    code, logs = server.run_until_exit()

    assert code == 3, logs
    assert "platform error" in logs
    assert (
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT is 'text/html', which algorithm 'fixture-linear' "
        "does not produce; it produces application/json, text/csv, application/jsonlines, "
        "application/x-npy, application/x-recordio-protobuf."
    ) in logs


def test_a_worker_keeps_serving_after_every_hostile_body(server: ServeProcess) -> None:
    started = time.monotonic()
    for content_type, body, _status in BAD_BODIES.values():
        server.client.post("/invocations", content=body, headers={"Content-Type": content_type})
    good = server.client.post(
        "/invocations",
        content=json.dumps([[1.0, 2.0]]),
        headers={"Content-Type": "application/json"},
    )

    assert good.status_code == 200, good.text
    assert time.monotonic() - started < 30


VALID_BODIES = {
    "text/csv": CSV_BODY,
    "application/json": b'{"instances": [[1.0, 2.0], [0.5, -1.0]]}',
    "application/jsonlines": b"[1.0, 2.0]\n[0.5, -1.0]\n",
    "application/x-npy": npy_with_header(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
        np.array([1.0, 2.0]).tobytes(),
    ),
    RECORDIO: recordio_protobuf.encode_records_from_array(np.array([[1.0, 2.0]], np.float32)),
}


@st.composite
def mutated_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid body of one type, a few bytes changed, sent as that type or another."""
    media = draw(st.sampled_from(sorted(VALID_BODIES)))
    body = bytearray(VALID_BODIES[media])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        body[at : at + draw(st.integers(0, 4))] = draw(st.binary(max_size=8))
    return draw(st.sampled_from([media, *VALID_BODIES])), bytes(body)


@settings(max_examples=60, deadline=None)
@given(request=mutated_requests())
def test_no_mutated_request_is_a_5xx(server: ServeProcess, request: tuple[str, bytes]) -> None:
    content_type, body = request
    reply = server.client.post("/invocations", content=body, headers={"Content-Type": content_type})

    assert reply.status_code < 500, reply.text
    if reply.status_code >= 400:
        assert reply.json()["error"]

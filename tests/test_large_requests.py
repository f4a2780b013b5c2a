"""Large requests through the real ``serve``: accepted by default, streamed chunk by chunk
with the reply of the whole-body path, a late error detectable, the limit kept when set."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from algoport.formats import recordio_protobuf
from algoport.local.processes import ServeProcess
from algoport.local.transform import TransformResult, TransformSettings, run_transform

MB = 1024 * 1024
STREAMED = {"ALGOPORT_STREAM_CHUNK_MB": "1"}
WHOLE_BODY = {"ALGOPORT_STREAM_CHUNK_MB": "0"}


def csv_body(rows: int, bad_row: int | None = None) -> bytes:
    """Two features a row (fixture-linear's), about 40 bytes a row; row ``bad_row`` (from 1)
    holds a value that is not a number."""
    features = np.random.default_rng(7).normal(size=(rows, 2))
    lines = [f"{a!r},{b!r}" for a, b in features.tolist()]
    if bad_row is not None:
        lines[bad_row - 1] = "0.5,oops"
    return ("\n".join(lines) + "\n").encode()


def jsonlines_body(rows: int) -> bytes:
    features = np.random.default_rng(8).normal(size=(rows, 2))
    return "".join(json.dumps({"features": row}) + "\n" for row in features.tolist()).encode()


def recordio_body(rows: int) -> bytes:
    features = np.random.default_rng(9).normal(size=(rows, 2)).astype(np.float32)
    return recordio_protobuf.encode_records_from_array(features)


def pieces(body: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    """The body sent without a Content-Length (chunked transfer encoding)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.fixture
def serve(serve_process: type[ServeProcess], model_dir: Path):
    def start(env: dict[str, str]) -> ServeProcess:
        server = serve_process(model_dir, "fixture-linear", env=env)
        server.start()
        return server

    return start


def post(
    server: ServeProcess, body: bytes, content_type: str = "text/csv", accept: str = "text/csv"
) -> httpx.Response:
    return server.client.post(
        "/invocations", content=body, headers={"Content-Type": content_type, "Accept": accept}
    )


@pytest.mark.parametrize("env", [STREAMED, WHOLE_BODY], ids=["streamed", "whole-body"])
def test_a_body_over_the_real_time_6_mb_is_answered_with_no_variable_set(serve, env) -> None:
    body = csv_body(200_000)  # about 8 MB
    assert len(body) > 6 * MB
    server = serve(env)
    reply = post(server, body)
    assert reply.status_code == 200, reply.text
    assert reply.content.count(b"\n") == 200_000
    parameters = server.client.get("/execution-parameters").json()
    assert parameters["MaxPayloadInMB"] == 6  # what batch transform assumes by default


@pytest.mark.parametrize(
    ("content_type", "accept", "body"),
    [
        ("text/csv", "text/csv", csv_body(120_000)),
        ("application/jsonlines", "application/jsonlines", jsonlines_body(60_000)),
        ("text/csv", "application/jsonlines", csv_body(120_000)),
        (
            "application/x-recordio-protobuf",
            "application/x-recordio-protobuf",
            recordio_body(100_000),
        ),
    ],
    ids=["csv", "jsonlines", "csv-to-jsonlines", "recordio-protobuf"],
)
def test_a_streamed_reply_equals_the_whole_body_reply_byte_for_byte(
    serve, content_type: str, accept: str, body: bytes
) -> None:
    assert len(body) > 2 * MB  # several 1 MB chunks
    whole = post(serve(WHOLE_BODY), body, content_type, accept)
    streamer = serve(STREAMED)
    streamed = post(streamer, body, content_type, accept)
    without_length = streamer.client.post(
        "/invocations",
        content=pieces(body),
        headers={"Content-Type": content_type, "Accept": accept},
    )
    assert whole.status_code == 200, whole.text
    assert "content-length" not in streamed.headers  # it was streamed
    assert streamed.content == whole.content
    assert without_length.content == whole.content


def test_a_bad_row_deep_in_a_large_body_ends_the_reply_detectably_and_is_logged(serve) -> None:
    bad_row = 150_000
    server = serve(STREAMED)
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        server.client.stream(
            "POST",
            "/invocations",
            content=csv_body(200_000, bad_row),
            headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        ) as reply,
    ):
        assert reply.status_code == 200
        for piece in reply.iter_raw():
            received += piece
    lines = received.decode().splitlines()
    assert lines[-1].startswith("ERROR: CSV row ")
    # Every line before the error is a prediction, of the records before the bad row's chunk.
    assert all(re.fullmatch(r"-?[0-9.e+-]+", line) for line in lines[:-1])
    assert len(lines) - 1 < bad_row
    logged = re.search(
        r"POST /invocations 400 after the reply began, in the chunk that starts at record "
        r"(\d+), byte \d+: CSV row (\d+), column 2: 'oops' is not a number",
        server.logs(),
    )
    assert logged, server.logs()
    assert int(logged[1]) + int(logged[2]) - 1 == bad_row


def test_a_bad_row_in_the_first_chunk_is_an_ordinary_400(serve) -> None:
    reply = post(serve(STREAMED), csv_body(200_000, bad_row=10))
    assert reply.status_code == 400
    assert reply.json()["error"] == "CSV row 10, column 2: 'oops' is not a number."


def test_the_payload_limit_applies_when_set_to_a_body_of_no_declared_length(serve) -> None:
    server = serve({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1", **STREAMED})
    reply = server.client.post(
        "/invocations",
        content=pieces(csv_body(60_000)),  # about 2.4 MB
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert reply.status_code == 413
    assert "the limit is 1 MB" in reply.json()["error"]
    assert server.client.get("/execution-parameters").json()["MaxPayloadInMB"] == 1


def test_local_transform_sends_a_file_whole_with_max_payload_0_and_gets_the_batched_output(
    serve, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "good.csv").write_bytes(csv_body(100_000))  # about 4 MB
    (inputs / "bad.csv").write_bytes(csv_body(100_000, bad_row=90_000))
    server = serve(STREAMED)

    def transform(max_payload_mb: int, output: str) -> list[TransformResult]:
        settings = TransformSettings(accept="text/csv", max_payload_mb=max_payload_mb)
        return run_transform(server.url, [inputs], tmp_path / output, settings)

    bad, good = transform(0, "whole")
    batched = transform(1, "batched")[1]
    assert (good.records, good.batches) == (100_000, 1)
    assert good.output is not None and batched.output is not None
    assert good.output.read_bytes() == batched.output.read_bytes()
    assert bad.output is None and not (tmp_path / "whole" / "bad.csv.out").exists()
    assert bad.error is not None
    assert bad.error.startswith("the request of bad.csv failed with 200: the reply broke off (")
    assert "'oops' is not a number" in bad.error

"""`serve` as a real process driven over HTTP (contract §2 and §3)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from algoport.formats import recordio_protobuf
from algoport.testing import ServeProcess

pytestmark = pytest.mark.e2e

ROWS = [[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]]
EXPECTED = [3 + 2 * a - b for a, b in ROWS]
CSV_BODY = "".join(f"{a},{b}\n" for a, b in ROWS).encode()


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[ServeProcess]:
    with ServeProcess(model_dir) as process:
        yield process


def csv_values(text: str) -> list[float]:
    return [float(line) for line in text.splitlines()]


def test_ping_is_200_with_an_empty_body(server: ServeProcess) -> None:
    reply = server.client.get("/ping")
    assert reply.status_code == 200
    assert reply.content == b""


def test_csv_in_csv_out(server: ServeProcess) -> None:
    reply = server.client.post(
        "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv", "Accept": "text/csv"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    assert csv_values(reply.text) == pytest.approx(EXPECTED)


@pytest.mark.parametrize(
    "content_type",
    ["text/csv; charset=utf-8", "text/csv;label_size=0", "TEXT/CSV"],
)
def test_content_type_parameters_and_case_are_tolerated(
    server: ServeProcess, content_type: str
) -> None:
    reply = server.client.post(
        "/invocations",
        content=CSV_BODY,
        headers={"Content-Type": content_type, "Accept": "text/csv"},
    )
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    "body",
    [
        {"instances": ROWS},
        {"instances": [{"features": row} for row in ROWS]},
        {"instances": [{"data": {"features": {"values": row}}} for row in ROWS]},
        ROWS,
    ],
    ids=["instances", "features", "data-features-values", "plain-array"],
)
def test_json_request_forms(server: ServeProcess, body: object) -> None:
    reply = server.client.post("/invocations", json=body, headers={"Accept": "application/json"})
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    assert [p["score"] for p in predictions] == pytest.approx(EXPECTED)


def test_jsonlines_round_trip(server: ServeProcess) -> None:
    body = "".join(json.dumps(row) + "\n" for row in ROWS)
    reply = server.client.post(
        "/invocations",
        content=body,
        headers={"Content-Type": "application/jsonlines", "Accept": "application/jsonlines"},
    )
    assert reply.status_code == 200, reply.text
    lines = [json.loads(line) for line in reply.text.splitlines()]
    assert [line["score"] for line in lines] == pytest.approx(EXPECTED)


def test_npy_round_trip(server: ServeProcess) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array(ROWS, dtype=np.float32))
    reply = server.client.post(
        "/invocations",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/x-npy", "Accept": "application/x-npy"},
    )
    assert reply.status_code == 200, reply.text
    result = np.load(io.BytesIO(reply.content), allow_pickle=False)
    assert result.ravel().tolist() == pytest.approx(EXPECTED, rel=1e-6)


def test_recordio_protobuf_round_trip(server: ServeProcess) -> None:
    body = recordio_protobuf.encode_records_from_array(np.array(ROWS, dtype=np.float32))
    kind = "application/x-recordio-protobuf"
    reply = server.client.post(
        "/invocations", content=body, headers={"Content-Type": kind, "Accept": kind}
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == kind
    scores = recordio_protobuf.decode_label_columns(reply.content)["score"]
    assert scores.ravel().tolist() == pytest.approx(EXPECTED, rel=1e-6)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/csv, application/json", "text/csv"),
        ("application/json;q=0.5, text/csv;q=0.9", "text/csv"),
        ("text/*", "text/csv"),
        ("image/png, application/jsonlines;q=0.1", "application/jsonlines"),
        ("*/*;q=0.1, application/x-npy", "application/x-npy"),
    ],
)
def test_accept_negotiation(server: ServeProcess, accept: str | None, expected: str) -> None:
    headers = {"Content-Type": "text/csv"}
    if accept is not None:
        headers["Accept"] = accept
    reply = server.client.post("/invocations", content=CSV_BODY, headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].split(";")[0] == expected


def test_unsatisfiable_accept_is_406_listing_what_is_produced(server: ServeProcess) -> None:
    reply = server.client.post(
        "/invocations",
        content=CSV_BODY,
        headers={"Content-Type": "text/csv", "Accept": "image/png"},
    )
    assert reply.status_code == 406
    error = reply.json()["error"]
    assert "'image/png'" in error and "text/csv" in error and "application/json" in error


def test_unsupported_content_type_is_415_listing_what_is_accepted(server: ServeProcess) -> None:
    reply = server.client.post(
        "/invocations", content=b"x", headers={"Content-Type": "application/x-parquet"}
    )
    assert reply.status_code == 415
    error = reply.json()["error"]
    assert "'application/x-parquet' is not supported" in error and "text/csv" in error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1,2\n3,abc\n", "CSV row 2, column 2"),
        (b"1,2\n3\n", "CSV row 2 has 1 column"),
        (b"1,2,3\n", "Each record needs 2 features; got 3."),
    ],
)
def test_malformed_or_wrong_shape_is_400_naming_the_place(
    server: ServeProcess, body: bytes, expected: str
) -> None:
    reply = server.client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == "application/json"
    assert expected in reply.json()["error"]
    assert "Traceback" not in reply.text


def test_empty_body_is_400(server: ServeProcess) -> None:
    reply = server.client.post("/invocations", content=b"", headers={"Content-Type": "text/csv"})
    assert reply.status_code == 400
    assert "empty" in reply.json()["error"]


def test_custom_attributes_reach_the_plugin_and_come_back(server: ServeProcess) -> None:
    reply = server.client.post(
        "/invocations",
        content=CSV_BODY,
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "trace=42"},
    )
    assert reply.status_code == 200
    assert reply.headers["x-amzn-sagemaker-custom-attributes"] == "echo=trace=42"


def test_execution_parameters(server: ServeProcess) -> None:
    reply = server.client.get("/execution-parameters")
    assert reply.status_code == 200
    assert reply.json() == {
        "MaxConcurrentTransforms": 1,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 6,
    }


def test_payload_over_the_limit_is_413(model_dir: Path) -> None:
    with ServeProcess(model_dir, env={"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}) as server:
        body = b"1.0,2.0\n" * (1024 * 1024 // 8 + 1)
        reply = server.client.post(
            "/invocations", content=body, headers={"Content-Type": "text/csv"}
        )
        assert reply.status_code == 413
        assert "limit is 1 MB" in reply.json()["error"]
        small = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert small.status_code == 200


def test_default_accept_from_the_environment(model_dir: Path) -> None:
    env = {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}
    with ServeProcess(model_dir, env=env) as server:
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert reply.headers["content-type"].startswith("text/csv")


def test_batch_mode_one_output_line_per_input_line_in_order(model_dir: Path) -> None:
    env = {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "4",
    }
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(5000, 2))
    body = "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in rows).encode()
    with ServeProcess(model_dir, env=env) as server:
        params = server.client.get("/execution-parameters").json()
        assert params == {
            "MaxConcurrentTransforms": 4,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": 20,
        }
        reply = server.client.post(
            "/invocations", content=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"}
        )
    assert reply.status_code == 200
    values = csv_values(reply.text)
    assert len(values) == len(rows)
    assert values == pytest.approx((3 + 2 * rows[:, 0] - rows[:, 1]).tolist())


def test_algorithm_fault_is_500_without_traceback(tmp_path: Path) -> None:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    with ServeProcess(model, "fixture-predict-raises") as server:
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert reply.status_code == 500
        assert reply.json() == {
            "error": "Algorithm 'fixture-predict-raises' failed in predict: "
            "RuntimeError: predict blew up"
        }
        logs = server.logs()
    assert "POST /invocations 500" in logs
    assert "Traceback" in logs


def test_slow_predict_past_the_timeout_is_504(train_linear: Callable[..., Path]) -> None:
    model = train_linear(sleep_seconds=3)
    with ServeProcess(model, env={"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}) as server:
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert reply.status_code == 504
        assert "SAGEMAKER_MODEL_SERVER_TIMEOUT" in reply.json()["error"]


def test_ping_answers_while_16_slow_predictions_run(train_linear: Callable[..., Path]) -> None:
    model = train_linear(sleep_seconds=2)
    finished: list[int] = []
    # Sleeping predictions wait rather than compute: threads let them overlap.
    with ServeProcess(model, env={"ALGOPORT_PREDICT_THREADS": "16"}) as server:

        def predict() -> None:
            reply = httpx.post(
                server.url + "/invocations",
                content=CSV_BODY,
                headers={"Content-Type": "text/csv"},
                timeout=60,
            )
            finished.append(reply.status_code)

        threads = [threading.Thread(target=predict) for _ in range(16)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        pings = [server.client.get("/ping").status_code for _ in range(5)]
        in_flight_while_pinging = 16 - len(finished)
        for thread in threads:
            thread.join()
    assert pings == [200] * 5
    assert in_flight_while_pinging == 16
    assert finished == [200] * 16


def test_sigterm_does_not_wait_for_a_prediction_past_the_drain(
    train_linear: Callable[..., Path],
) -> None:
    model = train_linear(sleep_seconds=60)
    server = ServeProcess(model, workers=1)
    server.start()
    try:
        thread = threading.Thread(
            target=lambda: httpx.post(
                server.url + "/invocations",
                content=CSV_BODY,
                headers={"Content-Type": "text/csv"},
                timeout=90,
            )
        )
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        code = server.terminate(timeout=40)
        stopped_after = time.monotonic() - started
        logs = server.logs()
    finally:
        server.stop()
    thread.join()
    assert code == 0
    assert stopped_after < 30  # SageMaker's stop window; the predict had 59 s to go
    assert "exits with 1 prediction(s) unfinished" in logs


def test_ping_is_503_until_the_model_is_loaded(tmp_path: Path) -> None:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    server = ServeProcess(
        model, "fixture-slow-load", env={"FIXTURE_LOAD_SECONDS": "3"}, wait_ready=False
    )
    server.start()
    try:
        statuses = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 200 not in statuses:
            with contextlib.suppress(httpx.TransportError):
                statuses.append(httpx.get(server.url + "/ping", timeout=2).status_code)
            time.sleep(0.1)
    finally:
        server.stop()
    assert statuses[0] == 503
    assert statuses[-1] == 200


@pytest.mark.parametrize("workers", [1, 2])
def test_load_failure_exits_non_zero_with_the_cause_logged(tmp_path: Path, workers: int) -> None:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    server = ServeProcess(
        model,
        "fixture-slow-load",
        env={"FIXTURE_LOAD_FAILS": "1"},
        workers=workers,
    )
    code, logs = server.run_until_exit()
    assert code != 0
    assert "loading the model failed: FileNotFoundError: no model file in" in logs


def test_a_lone_worker_whose_predictions_hang_exits_so_it_is_replaced(
    train_linear: Callable[..., Path],
) -> None:
    model = train_linear(sleep_seconds=60)
    env = {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    server = ServeProcess(model, env=env, workers=1)
    server.start()
    try:
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        assert server.process is not None
        code = server.process.wait(30)  # far sooner than the 60 s predict
        logs = server.logs()
    finally:
        server.stop()
    assert reply.status_code == 504
    assert code == 1
    assert "prediction thread(s) are still running requests that passed the 1 s timeout" in logs


def test_a_worker_whose_predictions_hang_is_replaced_while_serve_runs_on(
    train_linear: Callable[..., Path],
) -> None:
    model = train_linear(sleep_seconds=60)
    env = {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with ServeProcess(model, env=env, workers=2) as server:
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        deadline = time.monotonic() + 30  # far sooner than the 60 s predict
        while "starting a replacement" not in server.logs() and time.monotonic() < deadline:
            time.sleep(0.1)
        ping = server.client.get("/ping").status_code
        logs = server.logs()
        code = server.terminate(timeout=30)
    assert reply.status_code == 504
    assert "prediction thread(s) are still running requests that passed the 1 s timeout" in logs
    assert "exited with code 1; starting a replacement" in logs
    assert ping == 200
    assert code == 0


def test_two_workers_serve(model_dir: Path) -> None:
    with ServeProcess(model_dir, workers=2) as server:
        for _ in range(8):
            reply = server.client.post(
                "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
            )
            assert reply.status_code == 200
        assert server.terminate() == 0


def test_model_of_another_algorithm_is_a_clear_error(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ml" / "model"
    shutil.copytree(model_dir, copy)
    server = ServeProcess(copy, "fixture-serve-only")
    code, logs = server.run_until_exit()
    assert code != 0
    assert (
        "The model was trained by algorithm 'fixture-linear' but ALGOPORT_ALGORITHM is "
        "'fixture-serve-only'"
    ) in logs


def test_ping_is_not_logged_at_info(server: ServeProcess) -> None:
    for _ in range(3):
        server.client.get("/ping")
    assert "/ping" not in server.logs()


def test_a_slow_prediction_after_fast_ones_never_blocks_ping_again(model_dir: Path) -> None:
    # Fast predictions may run inline on the event loop; one slow one must end that.
    with ServeProcess(model_dir) as server:
        headers = {"Content-Type": "text/csv"}
        for _ in range(30):
            assert server.client.post("/invocations", content=CSV_BODY, headers=headers).is_success
        slow = {**headers, "X-Amzn-SageMaker-Custom-Attributes": "sleep=0.05"}
        assert server.client.post("/invocations", content=CSV_BODY, headers=slow).is_success
        finished: list[int] = []
        very_slow = {**headers, "X-Amzn-SageMaker-Custom-Attributes": "sleep=2"}

        def predict() -> None:
            reply = httpx.post(
                server.url + "/invocations", content=CSV_BODY, headers=very_slow, timeout=60
            )
            finished.append(reply.status_code)

        threads = [threading.Thread(target=predict) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        ping = server.client.get("/ping").status_code
        in_flight = 4 - len(finished)
        for thread in threads:
            thread.join()
    assert ping == 200 and in_flight == 4
    assert finished == [200] * 4

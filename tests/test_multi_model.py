"""A multi-model endpoint through its real doors: SageMaker's /models API over HTTP, on
several workers, with the status codes the platform acts on."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from algoport.manifest import MANIFEST_NAME
from algoport.testing import ServeProcess

pytestmark = pytest.mark.e2e

CSV_BODY = b"1.0,2.0\n0.5,-1.0\n"
WORKERS = 2
# Enough requests that each worker serves some: the kernel hands connections to any.
ROUNDS = 12


def mme_server(tmp_path: Path, workers: int = WORKERS, **env: str) -> ServeProcess:
    return ServeProcess(
        tmp_path / "endpoint" / "model",  # no model: the endpoint starts empty
        workers=workers,
        env={"SAGEMAKER_MULTI_MODEL": "true", **env},
    )


def copy_model(model_dir: Path, where: Path, *, algorithm: str | None = None) -> Path:
    """A copy of the fixture-linear model, its manifest naming ``algorithm`` if given."""
    shutil.copytree(model_dir, where)
    if algorithm is not None:
        manifest = json.loads((where / MANIFEST_NAME).read_text())
        (where / MANIFEST_NAME).write_text(json.dumps({**manifest, "algorithm": algorithm}))
    return where


def pad(model: Path, megabytes: int) -> Path:
    """Make the model count as ``megabytes`` larger (a sparse file: no disk is used)."""
    with (model / "padding.bin").open("wb") as handle:
        handle.truncate(megabytes * 1024 * 1024)
    return model


def load(client: httpx.Client, name: str, url: Path | str) -> httpx.Response:
    return client.post("/models", json={"model_name": name, "url": str(url)})


def invoke(client: httpx.Client, name: str) -> httpx.Response:
    return client.post(
        f"/models/{name}/invoke",
        content=CSV_BODY,
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )


def fresh(server: ServeProcess) -> httpx.Client:
    """A client on a new connection, so the kernel may give it to any worker."""
    return httpx.Client(base_url=server.url, timeout=60, headers={"Connection": "close"})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    with mme_server(tmp_path) as running:
        yield running


def test_starts_empty_and_ready(server: ServeProcess) -> None:
    assert server.client.get("/ping").status_code == 200
    assert server.client.get("/models").json() == {"models": []}


def test_every_worker_serves_a_model_once_loaded(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    with ServeProcess(model_dir) as single:
        expected = single.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        ).json()

    assert load(server.client, "linear", model_dir).status_code == 200

    with fresh(server) as client:
        replies = [invoke(client, "linear") for _ in range(ROUNDS)]
    assert [r.status_code for r in replies] == [200] * ROUNDS, replies[-1].text
    assert all(r.json() == expected for r in replies)
    assert "target model" not in server.logs()


def test_load_status_codes(server: ServeProcess, model_dir: Path, tmp_path: Path) -> None:
    client = server.client
    assert load(client, "linear", model_dir).status_code == 200

    again = load(client, "linear", model_dir)
    assert again.status_code == 409
    assert "already loaded" in again.json()["error"]
    assert load(client, "missing", tmp_path / "nowhere").status_code == 404
    for forbidden in ("/proc/self", "/sys", "/dev/../dev/shm"):
        refused = load(client, "forbidden", forbidden)
        assert refused.status_code == 400, forbidden
        assert "refused" in refused.json()["error"]
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert load(client, "file", not_a_dir).status_code == 400
    assert client.post("/models", content=b"{").status_code == 400
    assert client.post("/models", json={"url": str(model_dir)}).status_code == 400
    assert client.get("/models").json()["models"] == [
        {"modelName": "linear", "modelUrl": str(model_dir)}
    ]


def test_an_algorithm_not_installed_is_a_400_naming_it(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    orphan = copy_model(model_dir, tmp_path / "orphan", algorithm="deep-forest")

    reply = load(server.client, "orphan", orphan)

    assert reply.status_code == 400
    assert "'deep-forest'" in reply.json()["error"]
    assert "not installed" in reply.json()["error"]


def test_a_model_that_fails_to_load_leaves_the_others_serving(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    assert load(server.client, "good", model_dir).status_code == 200
    broken = copy_model(model_dir, tmp_path / "broken", algorithm="fixture-broken-import")

    reply = load(server.client, "broken", broken)

    assert reply.status_code == 400
    assert "failed to import" in reply.json()["error"]
    assert server.client.get("/models/broken").status_code == 404
    with fresh(server) as client:
        assert [invoke(client, "good").status_code for _ in range(ROUNDS)] == [200] * ROUNDS


def test_algorithm_setting_restricts_loads(model_dir: Path, tmp_path: Path) -> None:
    with mme_server(tmp_path, workers=1, ALGOPORT_ALGORITHM="fixture-epochs") as server:
        reply = load(server.client, "linear", model_dir)

    assert reply.status_code == 400
    assert "ALGOPORT_ALGORITHM" in reply.json()["error"]


def test_describe_list_pages_and_delete(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    client = server.client
    names = ["m1", "m2", "m3"]
    for name in names:
        assert load(client, name, model_dir).status_code == 200

    described = client.get("/models/m2")
    assert described.json() == {
        "modelName": "m2",
        "modelUrl": str(model_dir),
        "algorithm": "fixture-linear",
    }
    assert client.get("/models/nope").status_code == 404
    first = client.get("/models", params={"limit": 2}).json()
    second = client.get(
        "/models", params={"limit": 2, "next_page_token": first["nextPageToken"]}
    ).json()
    assert [m["modelName"] for m in first["models"]] == ["m1", "m2"]
    assert second == {"models": [{"modelName": "m3", "modelUrl": str(model_dir)}]}
    assert client.get("/models", params={"limit": 0}).status_code == 400

    assert client.delete("/models/m2").status_code == 200
    assert client.delete("/models/m2").status_code == 404
    with fresh(server) as other:
        # The delete holds on every worker, and leaves the other models alone.
        assert [invoke(other, "m2").status_code for _ in range(ROUNDS)] == [404] * ROUNDS
        assert [invoke(other, "m1").status_code for _ in range(ROUNDS)] == [200] * ROUNDS
    assert invoke(client, "never-loaded").status_code == 404


def test_a_model_loaded_again_under_its_name_is_the_new_one(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    retrained = copy_model(model_dir, tmp_path / "retrained")
    with fresh(server) as client:
        assert load(client, "m", model_dir).status_code == 200
        assert all(invoke(client, "m").status_code == 200 for _ in range(ROUNDS))
        assert client.delete("/models/m").status_code == 200
        assert load(client, "m", retrained).status_code == 200
        assert client.get("/models/m").json()["modelUrl"] == str(retrained)
        assert all(invoke(client, "m").status_code == 200 for _ in range(ROUNDS))


def test_invoke_has_the_invocations_codecs_and_errors(
    server: ServeProcess, model_dir: Path
) -> None:
    assert load(server.client, "linear", model_dir).status_code == 200

    unacceptable = server.client.post(
        "/models/linear/invoke",
        content=CSV_BODY,
        headers={"Content-Type": "text/csv", "Accept": "image/png"},
    )
    empty = server.client.post("/models/linear/invoke", headers={"Content-Type": "text/csv"})
    logged = server.client.post(
        "/models/linear/invoke",
        content=CSV_BODY,
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Model": "a/linear.tar.gz"},
    )

    assert unacceptable.status_code == 406
    assert empty.status_code == 400
    assert logged.status_code == 200
    assert "target model a/linear.tar.gz" in server.logs()


def test_least_recently_used_models_make_room(model_dir: Path, tmp_path: Path) -> None:
    models = {name: pad(copy_model(model_dir, tmp_path / name), 40) for name in "abc"}
    with mme_server(tmp_path, workers=1, ALGOPORT_MODEL_MEMORY_MB="100") as server:
        client = server.client
        assert load(client, "a", models["a"]).status_code == 200
        assert load(client, "b", models["b"]).status_code == 200
        assert invoke(client, "a").status_code == 200  # b is now the least recently used

        assert load(client, "c", models["c"]).status_code == 200

        assert "make room: ['b']" in server.logs()
        # Unloaded, not deleted: b still answers, loaded again (making room in turn).
        assert [m["modelName"] for m in client.get("/models").json()["models"]] == list("abc")
        assert invoke(client, "b").status_code == 200
        assert "make room: ['a']" in server.logs()


def test_a_model_larger_than_the_budget_is_a_507(model_dir: Path, tmp_path: Path) -> None:
    huge = pad(copy_model(model_dir, tmp_path / "huge"), 300)
    with mme_server(tmp_path, ALGOPORT_MODEL_MEMORY_MB="400") as server:
        assert load(server.client, "small", model_dir).status_code == 200

        reply = load(server.client, "huge", huge)

        assert reply.status_code == 507
        assert "ALGOPORT_MODEL_MEMORY_MB" in reply.json()["error"]
        assert server.client.get("/models/huge").status_code == 404
        assert invoke(server.client, "small").status_code == 200


def test_single_model_endpoint_answers_the_boto3_path(model_dir: Path) -> None:
    with ServeProcess(model_dir) as server:
        direct = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        via_endpoint = server.client.post(
            "/endpoints/any-name/invocations",
            content=CSV_BODY,
            headers={"Content-Type": "text/csv"},
        )

    assert via_endpoint.status_code == 200
    assert via_endpoint.content == direct.content


def metric(exposition: str, series: str) -> float:
    """The value of one series (name and labels as printed) in a /metrics answer."""
    for line in exposition.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    raise AssertionError(f"{series} is not in:\n{exposition}")


def test_metrics_show_each_model_across_workers(
    server: ServeProcess, model_dir: Path, tmp_path: Path
) -> None:
    assert load(server.client, "m1", model_dir).status_code == 200
    assert load(server.client, "m2", model_dir).status_code == 200
    with fresh(server) as client:
        assert [invoke(client, "m1").status_code for _ in range(ROUNDS)] == [200] * ROUNDS
        empty = client.post("/models/m2/invoke", headers={"Content-Type": "text/csv"})
        assert empty.status_code == 400
        assert client.delete("/models/m2").status_code == 200

        time.sleep(2)  # each worker frees a deleted model within a second

        scraped = client.get("/metrics")

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    m1 = 'algorithm="fixture-linear",model="m1"'
    assert metric(text, f'algoport_requests_total{{{m1},status="2xx"}}') == ROUNDS
    assert metric(text, 'algoport_requests_total{algorithm="fixture-linear",model="m2",'
                  'status="4xx"}') == 1  # fmt: skip
    for phase in ("decode", "predict", "encode"):
        count = f'algoport_request_phase_seconds_count{{{m1},phase="{phase}"}}'
        assert metric(text, count) == ROUNDS
    # Two loads by POST; the other worker loads a model on its first invoke, if it had one.
    loads = metric(text, 'algoport_model_load_seconds_count{algorithm="fixture-linear"}')
    assert 2 <= loads <= 2 * WORKERS
    # m2 was freed wherever it was held: only copies of m1 remain.
    assert 1 <= metric(text, "algoport_loaded_models") <= WORKERS
    assert metric(text, 'algoport_model_unload_seconds_count{algorithm="fixture-linear"}') >= 1
    assert metric(text, "algoport_model_memory_budget_bytes") > 0
    assert metric(text, "algoport_model_memory_bytes") > 0


def test_single_model_endpoint_has_metrics(model_dir: Path) -> None:
    with ServeProcess(model_dir, workers=2) as server:
        for _ in range(3):
            server.client.post(
                "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
            )
        text = server.client.get("/metrics").text

    series = 'algoport_requests_total{algorithm="fixture-linear",model="",status="2xx"}'
    assert metric(text, series) == 3

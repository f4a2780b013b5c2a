"""Models of three algorithms on one multi-model endpoint, invoked at once: over the /models
API on several workers, and by an unchanged boto3 client through `algoport local serve
--multi-model` on a directory of model.tar.gz archives, as SageMaker's S3 prefix holds them."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from algoport.local.artifacts import pack_model
from algoport.local.processes import command, find_free_port, ping
from algoport.testing import ServeProcess, TrainingJobs, csv_text

pytest.importorskip("algoport_xgboost")
pytest.importorskip("algoport_sklearn")
datasets = pytest.importorskip("sklearn.datasets")
boto3 = pytest.importorskip("boto3")

pytestmark = pytest.mark.e2e

MODELS = {
    # name: (algorithm, hyperparameters, labelled)
    "xgboost": ("xgboost", {"num_round": 5, "max_depth": 3, "objective": "multi:softprob",
                            "num_class": 3, "nthread": 1}, True),
    "forest": ("random-forest", {"num_trees": 5, "max_depth": 4, "seed": 3,
                                 "predictor_type": "multiclass_classifier"}, True),
    "kmeans": ("kmeans", {"k": 3, "seed": 11}, False),
}  # fmt: skip


@dataclass(frozen=True)
class Trained:
    model_dirs: dict[str, Path]
    archives: Path  # <name>.tar.gz for each model
    request: bytes


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    features, labels = datasets.load_iris(return_X_y=True)
    jobs = TrainingJobs(tmp_path_factory.mktemp("jobs"))
    archives = tmp_path_factory.mktemp("archives")
    model_dirs = {}
    for name, (algorithm, hyperparameters, labelled) in MODELS.items():
        data = csv_text(features, labels) if labelled else csv_text(features)
        content_type = "text/csv" if labelled else "text/csv;label_size=0"
        tree, result = jobs.train(
            algorithm, hyperparameters, {"train": data}, content_type=content_type
        )
        assert result.returncode == 0, result.failure or result.stderr
        model_dirs[name] = tree.model_dir
        pack_model(tree.model_dir, archives / f"{name}.tar.gz")
    return Trained(model_dirs, archives, csv_text(features[::10]).encode())


def predictions(server_url: str, name: str, body: bytes) -> tuple[int, Any]:
    import httpx

    reply = httpx.post(
        f"{server_url}/models/{name}/invoke",
        content=body,
        headers={"Content-Type": "text/csv", "Accept": "application/json", "Connection": "close"},
        timeout=120,
    )
    return reply.status_code, reply.json()


def test_three_algorithms_side_by_side_invoked_concurrently(
    trained: Trained, tmp_path: Path
) -> None:
    with ServeProcess(
        tmp_path / "endpoint" / "model", workers=2, env={"SAGEMAKER_MULTI_MODEL": "true"}
    ) as server:
        for name, model_dir in trained.model_dirs.items():
            reply = server.client.post("/models", json={"model_name": name, "url": str(model_dir)})
            assert reply.status_code == 200, reply.text
        expected = {name: predictions(server.url, name, trained.request) for name in MODELS}
        calls = [name for name in MODELS for _ in range(10)]

        with ThreadPoolExecutor(6) as pool:
            replies = list(
                pool.map(lambda name: predictions(server.url, name, trained.request), calls)
            )
        algorithms = {
            name: server.client.get(f"/models/{name}").json()["algorithm"] for name in MODELS
        }

    assert [status for status, _ in replies] == [200] * len(calls)
    assert all(reply == expected[name] for name, reply in zip(calls, replies, strict=True))
    assert algorithms == {name: spec[0] for name, spec in MODELS.items()}
    records = {name: expected[name][1]["predictions"][0] for name in MODELS}
    assert len(records["xgboost"]["probabilities"]) == 3
    assert records["forest"]["predicted_label"] in (0, 1, 2)
    assert records["kmeans"]["closest_cluster"] in (0, 1, 2)


@pytest.fixture
def local_endpoint(trained: Trained, tmp_path: Path) -> Iterator[str]:
    port = find_free_port()
    process = subprocess.Popen(
        [
            *command("algoport"),
            "local",
            "serve",
            "--multi-model",
            str(trained.archives),
            "--port",
            str(port),
            "--workers",
            "2",
            "--workdir",
            str(tmp_path / "work"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while ping(url) != 200:
            assert process.poll() is None, "algoport local serve exited"
            assert time.monotonic() < deadline, "algoport local serve did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(60)


def test_unchanged_boto3_invokes_three_models_of_a_local_multi_model_endpoint(
    trained: Trained, local_endpoint: str
) -> None:
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=local_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )

    def invoke(target: str) -> Any:
        reply = runtime.invoke_endpoint(
            EndpointName="local-mme",
            TargetModel=target,
            Body=trained.request,
            ContentType="text/csv",
            Accept="application/json",
        )
        return reply["Body"].read()

    targets = [f"{name}.tar.gz" for name in MODELS for _ in range(4)]
    with ThreadPoolExecutor(6) as pool:  # first invokes of one archive race to load it
        answers = list(pool.map(invoke, targets))

    assert all(answer.startswith(b'{"predictions"') for answer in answers)
    assert len(set(answers)) == len(MODELS)  # one answer per model, whichever worker
    with pytest.raises(runtime.exceptions.ClientError) as missing:
        invoke("nothing-here.tar.gz")
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

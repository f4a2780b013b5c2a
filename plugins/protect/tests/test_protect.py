"""algoport-protect through the public doors: the real ``train`` (through ``algoport local``,
which packs the real model.tar.gz) and ``serve`` processes, with and without a key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import algoport_xgboost
from algoport.local.artifacts import extract_model
from algoport.testing import ServeProcess, TrainingJobs, command, csv_text, run_train
from algoport_protect.key import KEY_FILE, KEY_SIZE

pytestmark = pytest.mark.e2e

KEY = KEY_FILE.name
XGBOOST_DATA = Path(algoport_xgboost.__file__).parent / "demo_data" / "breast_cancer.csv"
XGBOOST_FILES = ["xgboost-metadata.json", "xgboost-model.ubj"]
READABLE = ["algoport-manifest.json", "algoport-protect.json"]
SEALED_HEADER = b"ALGOPRT1"


@pytest.fixture(autouse=True)
def no_key_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY, raising=False)


def new_key(directory: Path, name: str = "model.key") -> Path:
    path = directory / name
    path.write_bytes(os.urandom(KEY_SIZE))
    return path


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_key(tmp_path_factory.mktemp("key"))


def local_train_xgboost(workdir: Path, key: Path | None) -> Path:
    """``algoport local train`` on XGBoost's demo data; the model.tar.gz it packed."""
    env = {k: v for k, v in os.environ.items() if k != KEY}
    if key is not None:
        env[KEY] = str(key)
    result = subprocess.run(
        [*command("algoport"), "local", "train", "--algorithm", "xgboost",
         "--channel", f"train={XGBOOST_DATA}", "--content-type", "text/csv",
         "--hp", "objective=binary:logistic", "--hp", "num_round=10",
         "--workdir", str(workdir)],
        env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return Path(result.stdout.split("model: ")[1].splitlines()[0])


@pytest.fixture(scope="module")
def xgboost_archives(tmp_path_factory: pytest.TempPathFactory, key_file: Path) -> dict[str, Path]:
    """The same XGBoost job's model.tar.gz trained with the key ("protected") and without."""
    return {
        "protected": local_train_xgboost(tmp_path_factory.mktemp("protected"), key_file),
        "plain": local_train_xgboost(tmp_path_factory.mktemp("plain"), None),
    }


def archive_files(tarball: Path) -> dict[str, bytes]:
    """What a buyer finds opening model.tar.gz from their S3 bucket."""
    with tarfile.open(tarball) as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive
            if member.isfile()
        }


def extracted(tarball: Path, directory: Path) -> Path:
    """The archive extracted as SageMaker extracts it before ``serve``."""
    return extract_model(tarball, directory / "model")


def serve_failure(model_dir: Path, env: dict[str, str] | None = None) -> str:
    """The log of a ``serve`` that must fail to load its model."""
    with pytest.raises(RuntimeError, match="serve exited") as failed:
        ServeProcess(model_dir, env=env, startup_timeout=60).start()
    return str(failed.value)


def demo_features(rows: int = 40) -> str:
    data = np.loadtxt(XGBOOST_DATA, delimiter=",", max_rows=rows)
    return csv_text(data[:, 1:])


def predictions(server: ServeProcess, body: str) -> Any:
    reply = server.client.post(
        "/invocations",
        content=body,
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def protect_views() -> set[str]:
    return {path.name for path in Path("/dev/shm").glob("algoport-protect-*")}


def test_protected_model_archive_holds_no_plaintext_model(
    xgboost_archives: dict[str, Path],
) -> None:
    files = archive_files(xgboost_archives["protected"])
    plain = archive_files(xgboost_archives["plain"])

    assert sorted(files) == sorted(READABLE + XGBOOST_FILES)
    assert json.loads(files["algoport-manifest.json"])["algorithm"] == "xgboost"
    assert json.loads(files["algoport-protect.json"])["files"] == XGBOOST_FILES
    # The unprotected model shows what must not be there: a UBJ booster and its JSON text.
    assert plain["xgboost-model.ubj"].startswith(b"{L") and b"learner" in plain["xgboost-model.ubj"]
    assert plain["xgboost-metadata.json"].startswith(b"{")
    for name in XGBOOST_FILES:
        assert files[name].startswith(SEALED_HEADER)
        assert b"learner" not in files[name] and b"objective" not in files[name]


def test_protected_model_serves_the_same_predictions(
    xgboost_archives: dict[str, Path], key_file: Path, tmp_path: Path
) -> None:
    body = demo_features()
    views_before = protect_views()
    # An image built with --model-key always has the key: unprotected models serve there too.
    with_key = {KEY: str(key_file)}
    plain_dir = extracted(xgboost_archives["plain"], tmp_path / "plain")
    protected_dir = extracted(xgboost_archives["protected"], tmp_path / "protected")

    with ServeProcess(plain_dir, env=with_key) as plain:
        expected = predictions(plain, body)
    with ServeProcess(protected_dir, env=with_key, workers=2) as protected:
        protected.wait_until_ready()
        answers = [predictions(protected, body) for _ in range(4)]
        views_while_serving = protect_views()

    assert len(expected["predictions"]) == 40
    assert answers == [expected] * 4
    assert views_while_serving == views_before, "the decrypted files outlived load"


def test_installed_without_a_key_changes_nothing(
    xgboost_archives: dict[str, Path], tmp_path: Path
) -> None:
    files = archive_files(xgboost_archives["plain"])
    assert sorted(files) == ["algoport-manifest.json", *XGBOOST_FILES]

    with ServeProcess(extracted(xgboost_archives["plain"], tmp_path)) as server:
        assert len(predictions(server, demo_features(5))["predictions"]) == 5


def test_an_encrypted_model_served_without_the_key_says_so(
    xgboost_archives: dict[str, Path], tmp_path: Path
) -> None:
    log = serve_failure(extracted(xgboost_archives["protected"], tmp_path))

    assert "cannot serve: platform error: The model in" in log
    assert f"is encrypted (algoport-protect.json) and {KEY} is not set" in log


def test_a_wrong_key_is_refused(xgboost_archives: dict[str, Path], tmp_path: Path) -> None:
    other = new_key(tmp_path, "other.key")

    log = serve_failure(extracted(xgboost_archives["protected"], tmp_path), {KEY: str(other)})

    assert "cannot serve: platform error: The model was protected with the key whose id" in log
    assert f"{KEY} ({other}) holds key id" in log
    assert "wrong key" in log


def flip_a_byte(model_dir: Path) -> None:
    path = model_dir / "xgboost-model.ubj"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def swap_files(model_dir: Path) -> None:
    model, metadata = (model_dir / name for name in ("xgboost-model.ubj", "xgboost-metadata.json"))
    model_bytes = model.read_bytes()
    model.write_bytes(metadata.read_bytes())
    metadata.write_bytes(model_bytes)


def drop_a_file_and_its_entry(model_dir: Path) -> None:
    (model_dir / "xgboost-metadata.json").unlink()
    marker = model_dir / "algoport-protect.json"
    record = json.loads(marker.read_text())
    record["files"].remove("xgboost-metadata.json")
    marker.write_text(json.dumps(record))


def add_a_file(model_dir: Path) -> None:
    (model_dir / "extra.bin").write_bytes(b"planted")


@pytest.mark.parametrize(
    ("modify", "message"),
    [
        (flip_a_byte, "Model file xgboost-model.ubj does not decrypt"),
        # Each file's path is authenticated: a file under another name does not open.
        (swap_files, "Model file xgboost-metadata.json does not decrypt"),
        (drop_a_file_and_its_entry, "The list of files in algoport-protect.json does not match"),
        (add_a_file, "was modified after training: extra.bin is not sealed"),
    ],
)
def test_a_modified_model_is_refused_naming_the_file(
    xgboost_archives: dict[str, Path],
    key_file: Path,
    tmp_path: Path,
    modify: Callable[[Path], None],
    message: str,
) -> None:
    model_dir = extracted(xgboost_archives["protected"], tmp_path)
    modify(model_dir)

    log = serve_failure(model_dir, {KEY: str(key_file)})

    assert "cannot serve: platform error: " in log
    assert message in log
    if modify is not add_a_file:
        assert "wrong key or modified file" in log


def test_a_bad_key_file_stops_training_before_it_starts(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(os.urandom(16))
    tree = TrainingJobs(tmp_path).lay_out(
        {"objective": "binary:logistic", "num_round": 2}, {"train": XGBOOST_DATA.read_text()}
    )

    result = run_train(tree, "xgboost", **{KEY: str(short)})

    assert result.returncode == 3
    assert result.failure is not None
    assert result.failure.startswith(
        f"Platform error: {KEY} names {short}, which holds 16 bytes; expected exactly 32"
    )
    assert list(tree.model_dir.iterdir()) == []


def test_a_model_saved_on_stop_is_encrypted_too(key_file: Path, tmp_path: Path) -> None:
    tree = TrainingJobs(tmp_path).lay_out(
        {"objective": "binary:logistic", "num_round": 100_000, "save_model_on_termination": True},
        {"train": XGBOOST_DATA.read_text()},
    )
    log = tmp_path / "train.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command("train"), env=tree.env("xgboost", **{KEY: str(key_file)}), stdout=out
        )
    deadline = time.monotonic() + 60
    while b"#metric" not in log.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)

    assert process.wait(60) == 0
    assert not (tree.model_dir / "algoport-manifest.json").exists()  # stopped: no manifest
    assert (tree.model_dir / "xgboost-model.ubj").read_bytes().startswith(SEALED_HEADER)
    marker = json.loads((tree.model_dir / "algoport-protect.json").read_text())
    assert "xgboost-model.ubj" in marker["files"]


def labelled_rows(seed: int, rows: int = 200) -> tuple[np.ndarray, np.ndarray]:
    features = np.random.default_rng(seed).normal(size=(rows, 4))
    return features, (features[:, 0] - features[:, 2] > 0).astype(float)


SKLEARN_CASES = {
    "random-forest": ({"predictor_type": "binary_classifier", "num_trees": 5, "seed": 3}, True),
    "linear": ({"predictor_type": "binary_classifier"}, True),
    "kmeans": ({"k": 3, "seed": 1}, False),
}


@pytest.mark.parametrize("algorithm", list(SKLEARN_CASES))
def test_sklearn_models_are_protected_and_serve_the_same_predictions(
    algorithm: str, key_file: Path, tmp_path: Path
) -> None:
    hyperparameters, supervised = SKLEARN_CASES[algorithm]
    features, labels = labelled_rows(seed=7)
    data = csv_text(features, labels if supervised else None)
    content_type = "text/csv" if supervised else "text/csv;label_size=0"
    jobs = TrainingJobs(tmp_path)
    trees = {}
    for name, env in (("plain", {}), ("protected", {KEY: str(key_file)})):
        trees[name] = jobs.lay_out(hyperparameters, {"train": data}, content_type=content_type)
        result = run_train(trees[name], algorithm, **env)
        assert result.returncode == 0, result.failure or result.stderr

    plain_file = (trees["plain"].model_dir / "model.skops").read_bytes()
    protected_file = (trees["protected"].model_dir / "model.skops").read_bytes()
    assert plain_file.startswith(b"PK\x03\x04")  # skops writes a zip archive
    assert protected_file.startswith(SEALED_HEADER) and b"PK\x03\x04" not in protected_file

    body = csv_text(labelled_rows(seed=8, rows=20)[0])
    replies = []
    for name in ("plain", "protected"):
        with ServeProcess(trees[name].model_dir, env={KEY: str(key_file)}) as server:
            replies.append(predictions(server, body))
    assert len(replies[0]["predictions"]) == 20
    assert replies[1] == replies[0]

"""recordio-protobuf written by the SageMaker Python SDK itself reads back exactly.

The SDK's dependencies (protobuf<7, packaging<25, …) clash with algoport's, so it lives in
a virtual environment of its own: .ci/run makes one and sets ALGOPORT_SDK_PYTHON. Without
it these tests are skipped and say why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from algoport import builtin_formats
from algoport.channels import Channel
from algoport.formats import recordio_protobuf
from algoport.media import MediaType

SDK_PYTHON = os.environ.get("ALGOPORT_SDK_PYTHON")
pytestmark = pytest.mark.skipif(
    not SDK_PYTHON, reason="ALGOPORT_SDK_PYTHON names no Python with the SageMaker SDK"
)


@pytest.fixture(scope="module")
def sdk_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdk")
    script = Path(__file__).with_name("write_with_sdk.py")
    subprocess.run([str(SDK_PYTHON), str(script), str(out)], check=True)
    return out


@pytest.mark.parametrize("case", ["dense-float32", "dense-float64", "dense-int", "sparse"])
def test_sdk_records_decode_to_the_same_arrays(sdk_files: Path, case: str) -> None:
    features, labels = recordio_protobuf.decode_records((sdk_files / f"{case}.rec").read_bytes())
    np.testing.assert_array_equal(features, np.load(sdk_files / f"{case}-features.npy"))
    assert labels is not None
    np.testing.assert_array_equal(labels, np.load(sdk_files / f"{case}-labels.npy"))


def test_sdk_records_without_labels(sdk_files: Path) -> None:
    features, labels = recordio_protobuf.decode_records(
        (sdk_files / "dense-nolabel.rec").read_bytes()
    )
    np.testing.assert_array_equal(features, np.load(sdk_files / "dense-nolabel-features.npy"))
    assert labels is None


def test_algoport_writes_the_sdks_bytes(sdk_files: Path) -> None:
    for dtype in ("float32", "float64", "int"):
        features = np.load(sdk_files / f"dense-{dtype}-features.npy")
        labels = np.load(sdk_files / f"dense-{dtype}-labels.npy")
        written = recordio_protobuf.encode_records_from_array(features, labels)
        assert written == (sdk_files / f"dense-{dtype}.rec").read_bytes()


def test_sdk_file_streams_through_a_channel(sdk_files: Path) -> None:
    channel_dir = sdk_files / "channel" / "train"
    channel_dir.mkdir(parents=True)
    (channel_dir / "part.rec").write_bytes((sdk_files / "dense-float64.rec").read_bytes())
    media = MediaType.parse("application/x-recordio-protobuf")
    channel = Channel("train", channel_dir, media, "File", formats=builtin_formats.registry())
    with channel.open_epoch(0) as epoch:
        chunks = list(epoch.chunks(chunk_bytes=1024))
    features = np.concatenate([c.features for c in chunks])
    np.testing.assert_array_equal(features, np.load(sdk_files / "dense-float64-features.npy"))

"""Run with a Python that has the SageMaker Python SDK: writes recordio-protobuf files.

    SDK_PYTHON write_with_sdk.py OUTDIR

Each case is written by the SDK's own `write_numpy_to_dense_tensor` or
`write_spmatrix_to_sparse_tensor`, with the arrays beside it as .npy for the comparison.
"""

import sys
from pathlib import Path

import numpy as np
import scipy.sparse
from sagemaker.amazon.common import write_numpy_to_dense_tensor, write_spmatrix_to_sparse_tensor


def main(out: Path) -> None:
    rng = np.random.default_rng(11)
    dense = {
        "float32": rng.normal(size=(300, 7)).astype(np.float32),
        "float64": rng.normal(size=(200, 5)),
        "int": rng.integers(-50, 50, size=(100, 4)).astype(int),  # the SDK narrows to int32
    }
    for name, array in dense.items():
        labels = rng.integers(0, 3, size=len(array)).astype(array.dtype)
        with open(out / f"dense-{name}.rec", "wb") as handle:
            write_numpy_to_dense_tensor(handle, array, labels)
        np.save(out / f"dense-{name}-features.npy", array)
        np.save(out / f"dense-{name}-labels.npy", labels)
    with open(out / "dense-nolabel.rec", "wb") as handle:
        write_numpy_to_dense_tensor(handle, dense["float32"])
    np.save(out / "dense-nolabel-features.npy", dense["float32"])
    sparse = scipy.sparse.random(
        150, 40, density=0.1, format="csr", random_state=3, dtype=np.float32
    )
    labels = rng.integers(0, 2, size=150).astype(np.float32)
    with open(out / "sparse.rec", "wb") as handle:
        write_spmatrix_to_sparse_tensor(handle, sparse, labels)
    np.save(out / "sparse-features.npy", sparse.toarray())
    np.save(out / "sparse-labels.npy", labels)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""A serving worker's BLAS and OpenMP pools, capped before the algorithm loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# numpy's BLAS is loaded before the cap, scikit-learn's OpenMP after it; both are read on
# a new thread, as a prediction thread would see them.
PROBE = """
import json, threading
import numpy
from algoport.serving.native_threads import limit_native_threads
limit_native_threads(1)
import sklearn.linear_model
from threadpoolctl import threadpool_info
seen = []
thread = threading.Thread(target=lambda: seen.extend(threadpool_info()))
thread.start()
thread.join()
print(json.dumps([[pool["internal_api"], pool["num_threads"]] for pool in seen]))
"""


def test_pools_loaded_before_and_after_the_cap_run_one_thread_on_every_thread() -> None:
    pytest.importorskip("sklearn")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    pools = json.loads(out)
    assert {api for api, _ in pools} >= {"openmp", "openblas"}, pools
    assert {threads for _, threads in pools} == {1}, pools

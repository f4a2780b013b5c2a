"""Each serving worker's share of the CPUs for native thread pools: BLAS and OpenMP.

numpy's OpenBLAS, scipy's, scikit-learn's OpenMP and the like each start a thread per
CPU. With several workers on the same CPUs, a large prediction in each worker runs
workers × CPUs threads that wait on one another: with 2 workers on 2 CPUs, a
10,000-row matrix product took ten times the CPU time (``bench/threads.py``). So each
worker caps its pools at its share of the CPUs (``ALGOPORT_NATIVE_THREADS``).
"""

from __future__ import annotations

import os
from typing import Final

from threadpoolctl import threadpool_limits

# Read by each library once, when it loads; OpenMP's is also per thread, so the variable,
# not a call made on this thread, is what reaches the prediction threads.
POOL_VARIABLES: Final = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_native_threads(threads: int) -> None:
    """Cap this process's BLAS and OpenMP pools at ``threads``: those loaded and to come.

    Call it before the algorithm is imported: libraries loaded later read the variables;
    those already loaded (numpy's BLAS) are capped through threadpoolctl.
    """
    for name in POOL_VARIABLES:
        os.environ[name] = str(threads)
    threadpool_limits(threads)

"""`train` and `serve` keep freed memory, so repeated numpy work stops page-faulting."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="the allocator is tuned on glibc only"
)

# Page faults per 1000-row CSV decode, after warm-up, in a fresh interpreter.
FAULTS_PER_DECODE = """
import resource, sys
from algoport.allocator import keep_freed_memory
from algoport.formats.csv import decode_csv

kept = keep_freed_memory() if sys.argv[1] == "keep" else False
row = ",".join(f"{i * 1.37:.4f}" for i in range(30))
body = ("\\n".join([row] * 1000) + "\\n").encode()
for _ in range(5):
    decode_csv(body)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    decode_csv(body)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(kept, faults / 50)
"""


def faults_per_decode(mode: str, **env: str) -> tuple[str, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    out = subprocess.run(
        [sys.executable, "-c", FAULTS_PER_DECODE, mode],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], float(out[1])


def test_kept_memory_makes_repeated_decodes_fault_free() -> None:
    kept, faults = faults_per_decode("keep")

    assert kept == "True"
    assert faults < 20  # without: hundreds per decode, each a trip into the kernel


def test_an_allocator_tuned_through_the_environment_is_left_alone() -> None:
    kept, _ = faults_per_decode("keep", MALLOC_TRIM_THRESHOLD_="1048576")

    assert kept == "False"

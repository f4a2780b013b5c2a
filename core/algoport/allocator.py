"""Keep freed memory in the process, so per-request numpy temporaries don't page-fault.

glibc returns the top of the heap to the kernel as soon as more than 256 KB of it is free.
A request's decode-predict-encode allocates and frees a few MB of numpy temporaries, so
every request maps those pages again: a 1000-row CSV decode took ~850 page faults and
twice its fault-free time (see bench/serve.py). Keeping a pad of freed memory at the top of
the heap removes nearly all of them, for at most the pad in resident memory.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
from typing import Final

log = logging.getLogger("algoport")

M_TOP_PAD: Final = -2  # glibc's mallopt parameter number
DEFAULT_PAD_BYTES: Final = 16 * 1024 * 1024
# Variables glibc reads itself: whoever set one has tuned the allocator on purpose.
GLIBC_VARIABLES: Final = (
    "MALLOC_TOP_PAD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "GLIBC_TUNABLES",
)


def keep_freed_memory(pad_bytes: int = DEFAULT_PAD_BYTES) -> bool:
    """Ask glibc to keep ``pad_bytes`` of freed heap; True if it now does.

    Does nothing (False) on other C libraries, or when the environment already tunes glibc.
    """
    if platform.libc_ver()[0] != "glibc" or any(name in os.environ for name in GLIBC_VARIABLES):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    if mallopt(M_TOP_PAD, pad_bytes) != 1:
        log.debug("mallopt(M_TOP_PAD, %d) was refused", pad_bytes)
        return False
    return True

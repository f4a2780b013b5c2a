"""How much memory the container may use, and how much this process holds."""

from __future__ import annotations

import os
from pathlib import Path

# cgroup v2, then v1: the limit the kernel enforces on the container.
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)
# What models may take of the container's memory; the rest is for Python, the server,
# requests in flight, and the copy of a model being loaded before an old one is freed.
MODEL_SHARE = 0.75


def container_memory_bytes() -> int:
    """The container's memory limit, else the machine's RAM."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return min(int(text), ram)  # v1 shows an unlimited cgroup as a huge number
    return ram


def default_model_memory_bytes() -> int:
    return int(container_memory_bytes() * MODEL_SHARE)


def resident_bytes() -> int:
    """This process's resident memory (0 where /proc is missing)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def directory_bytes(directory: Path) -> int:
    """The size of the files under ``directory``."""
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())

"""Resource faults: what a model needed exceeded what this run had (memory, time, a child).

Such a failure is neither the model's content nor our bug: the model is re-queued for a bounded
number of nights (`ranker.pipeline.MAX_RESOURCE_NIGHTS`) and then stored as permanent, with the
figure measured here in its message ("needs more than 12.0 GiB"), so the owner reads a number,
not "unreadable weights". Torch-free: the pickle converter's parent uses it too.
"""

from __future__ import annotations

import os

from ranker.errors import ModelFailure, Reason


def available_memory() -> int | None:
    """Bytes of memory this machine could still give (Linux `MemAvailable`), else its total."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def gib(n: int | None) -> str:
    return "an unknown amount" if n is None else f"{n / 2**30:.1f} GiB"


def out_of_memory(what: str, available: int | None = None) -> ModelFailure:
    """The resource failure for `what` running out of memory, with the memory the run had."""
    have = available if available is not None else available_memory()
    return ModelFailure(
        f"{what}: out of memory; needs more than {gib(have)} (what this run had available)",
        Reason.OUT_OF_MEMORY,
    )

"""ONNX Runtime intra-op thread counts: a whole number, or "auto" for one core less than the machine has.

Inference is not the agent's only work: capture decoding, motion detection,
letterboxing, post-processing, encoding and MQTT run beside it. With an intra-op thread
on every core, that work preempts inference threads, so "auto" leaves one core free for
it. docs/benchmarks.md ("Edge throughput") has the measurements behind this choice.
"""

from __future__ import annotations

import os
from typing import Final, Literal

AUTO: Final = "auto"
MAX_THREADS: Final = 16

ThreadCount = int | Literal["auto"]


def usable_cpu_count() -> int:
    """Return the number of CPU cores this process may run on (its affinity mask, where the OS has one)."""
    # NOTE: a cgroup CPU quota (docker --cpus) is not seen here, only the cores in the affinity mask.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parse_thread_count(value: object) -> ThreadCount:
    """Return ``value`` as "auto" or an int from 1 to ``MAX_THREADS``; raise ValueError naming the bad value.

    Strings of digits are accepted, because environment variables arrive as strings.
    """
    count = value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == AUTO:
            return AUTO
        if text.isdigit():
            count = int(text)
    if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= MAX_THREADS:
        return count
    raise ValueError(
        f"invalid ONNX Runtime thread count {value!r}: use 'auto' (one thread per CPU core, less one) "
        f"or a whole number from 1 to {MAX_THREADS}"
    )


def resolve_thread_count(value: object) -> int:
    """Return the intra-op thread count for ``value``: "auto" gives max(1, usable cores - 1)."""
    # NOTE: the count is per detector and the agent builds one detector per camera, so
    # several cameras with "auto" run more inference threads than there are cores.
    count = parse_thread_count(value)
    if isinstance(count, str):
        return max(1, usable_cpu_count() - 1)
    return count

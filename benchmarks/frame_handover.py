"""Time handing 1080p frames from a spawned process to its parent: pickled pipe versus shared memory.

Usage: .venv/bin/python benchmarks/frame_handover.py [frames]
Prints milliseconds per 1920x1080x3 frame for each method, including the copy the
agent makes on receipt. The capture process (edge_agent/capture) uses shared memory.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from multiprocessing import shared_memory
from multiprocessing.connection import Connection

import numpy as np

SHAPE = (1080, 1920, 3)


def frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, SHAPE, dtype=np.uint8)


def send_pickled(conn: Connection, count: int) -> None:
    image = frame()
    for index in range(count):
        conn.send((index, image))
    conn.close()


def send_shared(conn: Connection, count: int, name: str) -> None:
    memory = shared_memory.SharedMemory(name=name)
    target = np.ndarray(SHAPE, np.uint8, buffer=memory.buf)
    image = frame()
    for index in range(count):
        target[...] = image
        conn.send(index)
    conn.close()
    del target
    memory.close()


def time_pickled(count: int) -> float:
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=send_pickled, args=(writer, count))
    process.start()
    writer.close()
    started = time.perf_counter()
    for _ in range(count):
        reader.recv()
    elapsed = time.perf_counter() - started
    process.join()
    return elapsed / count * 1000


def time_shared(count: int) -> float:
    context = multiprocessing.get_context("spawn")
    memory = shared_memory.SharedMemory(create=True, size=int(np.prod(SHAPE)))
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=send_shared, args=(writer, count, memory.name))
    process.start()
    writer.close()
    view = np.ndarray(SHAPE, np.uint8, buffer=memory.buf)
    started = time.perf_counter()
    for _ in range(count):
        reader.recv()
        view.copy()
    elapsed = time.perf_counter() - started
    process.join()
    del view
    memory.close()
    memory.unlink()
    return elapsed / count * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"pickled through a pipe: {time_pickled(count):.1f} ms per frame")
    print(f"shared memory + copy:   {time_shared(count):.1f} ms per frame")


if __name__ == "__main__":
    main()

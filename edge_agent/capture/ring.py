"""Shared-memory slots that carry frames from the capture process to the agent.

Sending a 1080p frame through a pipe costs a pickle and two kernel copies: 57-85 ms per
frame on the 2-core development machine, against about 6 ms through shared memory
(``benchmarks/frame_handover.py``, 100 frames of 1920x1080x3). The capture process writes each frame into a
free slot and sends only the slot number. The agent copies the frame out and returns the
slot over a second pipe, so a slot is never rewritten while the agent reads it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import shared_memory
from multiprocessing.connection import Connection

import numpy as np

from edge_agent.capture.sources import Frame

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RingReady:
    """A new slot ring exists (first frame, or frames grew larger); later frames use it."""

    name: str
    slots: int
    slot_bytes: int


@dataclass(frozen=True, slots=True)
class SlotFrame:
    """A frame waiting in slot ``slot`` of ring ``ring``."""

    ring: str
    slot: int
    index: int
    mono_s: float
    main_shape: Shape
    lores_shape: Shape | None
    dropped_total: int
    placeholder_total: int


class SlotRing:
    """Capture-process side of a ring: the shared memory and the list of free slots."""

    def __init__(self, slots: int, slot_bytes: int) -> None:
        self.slots = slots
        self.slot_bytes = slot_bytes
        # The agent unlinks the segment as soon as it has attached (see RingReader). Until
        # then, the resource tracker that spawned processes share with the agent would
        # unlink it when the agent exits.
        self._memory = shared_memory.SharedMemory(create=True, size=slots * slot_bytes)
        self.name = self._memory.name
        self.free: deque[int] = deque(range(slots))

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.slot_bytes

    def collect_releases(self, releases: Connection) -> None:
        """Take back the slots the agent has finished copying; raise EOFError when the agent is gone."""
        while releases.poll(0):
            name, slot = releases.recv()
            if name == self.name:
                self.free.append(slot)

    def acquire(self, releases: Connection, wait: bool, stopped: Callable[[], bool]) -> int | None:
        """Return a free slot; without ``wait``, None when all are in use (the frame is then dropped)."""
        self.collect_releases(releases)
        while not self.free:
            if not wait or stopped():
                return None
            if releases.poll(0.5):
                self.collect_releases(releases)
        return self.free.popleft()

    def write(self, slot: int, main: Frame, lores: Frame | None) -> None:
        offset = slot * self.slot_bytes
        target = np.ndarray(main.shape, np.uint8, buffer=self._memory.buf, offset=offset)
        target[...] = main
        if lores is not None:
            target = np.ndarray(lores.shape, np.uint8, buffer=self._memory.buf, offset=offset + main.nbytes)
            target[...] = lores
        del target

    def close(self) -> None:
        self._memory.close()


class RingReader:
    """Agent side of a ring, which copies frames out of the capture process's shared memory."""

    def __init__(self, ready: RingReady) -> None:
        self.name = ready.name
        self.slot_bytes = ready.slot_bytes
        self._memory = shared_memory.SharedMemory(name=ready.name)
        # Remove the name at once: the mapping stays valid for both processes, and a capture
        # process that crashes later cannot leave the segment behind in /dev/shm.
        self._memory.unlink()

    def read(self, frame: SlotFrame) -> tuple[Frame, Frame | None]:
        offset = frame.slot * self.slot_bytes
        main = np.ndarray(frame.main_shape, np.uint8, buffer=self._memory.buf, offset=offset).copy()
        lores = None
        if frame.lores_shape is not None:
            lores_offset = offset + main.nbytes
            lores = np.ndarray(frame.lores_shape, np.uint8, buffer=self._memory.buf, offset=lores_offset).copy()
        return main, lores

    def close(self) -> None:
        self._memory.close()

"""Run one camera's source in a child process and hand its frames to the agent.

A decoder that crashes (a segfault or an abort inside FFmpeg) or hangs takes only this
child with it. The child writes each frame into a shared-memory slot (see ``ring``) and
queues a small message in a buffer that drops the oldest frame when analysis falls
behind. A sender thread writes the messages to a one-way pipe. The agent closes its
copy of the pipe's write end, so a child that dies in the middle of a message shows up
as ``EOFError`` on the next read instead of a blocked read.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from edge_agent.capture.placeholder import FrameVerdict, PlaceholderFilter
from edge_agent.capture.ring import RingReader, RingReady, SlotFrame, SlotRing
from edge_agent.capture.sources import EndOfStream, Frame, FrameSource, SourceError, make_source
from edge_agent.config import SourceConfig, SourceKind, mask_urls_in_text

logger = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """A live frame with the child's running counters."""

    index: int
    mono_s: float
    main: Frame
    lores: Frame | None
    dropped_total: int
    placeholder_total: int


@dataclass(frozen=True, slots=True)
class CaptureEnded:
    """The file source reached its end (only without ``loop``)."""


@dataclass(frozen=True, slots=True)
class CaptureFailed:
    """The source failed; ``error`` is log-safe (credentials masked)."""

    error: str


@dataclass(frozen=True, slots=True)
class PlaceholderSeen:
    """The source delivered frames that are not a live picture (sent at most once a second)."""

    verdict: str
    placeholder_total: int


CaptureMessage = CapturedFrame | CaptureEnded | CaptureFailed | PlaceholderSeen
# Messages in the pipe: frames stay in shared memory and only their slot is sent.
_WireMessage = SlotFrame | RingReady | CaptureEnded | CaptureFailed | PlaceholderSeen
# Slots beyond the buffer: one message in the pipe and one frame being copied by the agent.
_EXTRA_SLOTS = 2


class CaptureExited(RuntimeError):
    """The capture process is gone; ``exitcode`` is negative for a signal (-6 is SIGABRT)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"capture process exited with code {exitcode}")
        self.exitcode = exitcode


class _FrameBuffer:
    """Bounded hand-over between the reader loop and the sender thread."""

    def __init__(self, size: int, drop_oldest: bool) -> None:
        self._messages: deque[_WireMessage] = deque()
        self._size = size
        self._drop_oldest = drop_oldest
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def _frames(self) -> int:
        return sum(1 for message in self._messages if isinstance(message, SlotFrame))

    def put(self, message: _WireMessage) -> SlotFrame | None:
        """Queue ``message``; return the oldest frame it pushed out, whose slot is free again."""
        evicted = None
        with self._cond:
            if isinstance(message, SlotFrame):
                while self._frames() >= self._size and not self._drop_oldest and not self.closed:
                    self._cond.wait(0.5)
                if self._frames() >= self._size:
                    evicted = next(m for m in self._messages if isinstance(m, SlotFrame))
                    self._messages.remove(evicted)
                    self.dropped += 1
            self._messages.append(message)
            self._cond.notify_all()
        return evicted

    def get(self) -> _WireMessage | None:
        with self._cond:
            while not self._messages and not self.closed:
                self._cond.wait(0.5)
            if not self._messages:
                return None
            message = self._messages.popleft()
            self._cond.notify_all()
            return message

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def _sender(buffer: _FrameBuffer, conn: Connection) -> None:
    try:
        while (message := buffer.get()) is not None:
            conn.send(message)
    except (BrokenPipeError, OSError):
        # The agent closed its end: it is stopping this capture.
        buffer.close()


class _FrameWriter:
    """Writer of live frames into shared-memory slots and of their messages into the buffer."""

    def __init__(self, buffer: _FrameBuffer, releases: Connection, slots: int, wait_for_slot: bool) -> None:
        self._buffer = buffer
        self._releases = releases
        self._slots = slots
        self._wait = wait_for_slot
        self.ring: SlotRing | None = None

    def write(self, frame: CapturedFrame) -> None:
        nbytes = frame.main.nbytes + (frame.lores.nbytes if frame.lores is not None else 0)
        if self.ring is None or not self.ring.fits(nbytes):
            # Older messages still name the old ring; the agent finishes them before switching.
            if self.ring is not None:
                self.ring.close()
            self.ring = SlotRing(self._slots, nbytes)
            self._buffer.put(RingReady(self.ring.name, self.ring.slots, self.ring.slot_bytes))
        ring = self.ring
        slot = ring.acquire(self._releases, self._wait, lambda: self._buffer.closed)
        if slot is None:
            self._buffer.dropped += 1
            return
        ring.write(slot, frame.main, frame.lores)
        message = SlotFrame(
            ring.name, slot, frame.index, frame.mono_s, frame.main.shape,
            None if frame.lores is None else frame.lores.shape, self._buffer.dropped, frame.placeholder_total,
        )
        evicted = self._buffer.put(message)
        if evicted is not None and evicted.ring == ring.name:
            ring.free.append(evicted.slot)

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()


def _read_frames(reader: FrameSource, buffer: _FrameBuffer, writer: _FrameWriter) -> None:
    """Pass live frames on until the buffer closes; withhold placeholder frames."""
    placeholders = PlaceholderFilter()
    placeholder_total = 0
    last_placeholder_note = -1.0
    index = 0
    while not buffer.closed:
        raw = reader.read()
        verdict = placeholders.classify(raw.lores if raw.lores is not None else raw.main)
        if verdict is not FrameVerdict.LIVE:
            placeholder_total += 1
            if raw.mono_s - last_placeholder_note >= 1.0:
                last_placeholder_note = raw.mono_s
                buffer.put(PlaceholderSeen(verdict.value, placeholder_total))
            continue
        writer.write(CapturedFrame(index, raw.mono_s, raw.main, raw.lores, buffer.dropped, placeholder_total))
        index += 1


def capture_main(
    camera_id: str, source: SourceConfig, conn: Connection, releases: Connection, queue_size: int, log_level: int
) -> None:
    """Entry point of the child process: read frames until the source fails or ends."""
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s capture[{camera_id}] %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # File replay without pacing must not lose frames, so it waits for analysis instead.
    drop_oldest = not (source.kind is SourceKind.FILE and not source.realtime)
    buffer = _FrameBuffer(queue_size, drop_oldest)
    sender = threading.Thread(target=_sender, args=(buffer, conn), name="capture-sender", daemon=True)
    sender.start()

    writer = _FrameWriter(buffer, releases, queue_size + _EXTRA_SLOTS, wait_for_slot=not drop_oldest)
    reader = make_source(source)
    final: _WireMessage
    try:
        reader.open()
        logger.info("capture started: %s", source.describe())
        _read_frames(reader, buffer, writer)
        final = CaptureEnded()
    except EOFError:
        # The release pipe closed: the agent is gone or stopping this capture.
        final = CaptureEnded()
    except EndOfStream:
        logger.info("capture reached the end of %s", source.describe())
        final = CaptureEnded()
    except SourceError as exc:
        final = CaptureFailed(mask_urls_in_text(str(exc)))
    except Exception as exc:  # noqa: BLE001 - report any reader failure to the agent instead of a bare traceback
        final = CaptureFailed(mask_urls_in_text(f"{type(exc).__name__}: {exc}"))
    finally:
        try:
            reader.close()
        except Exception as exc:  # noqa: BLE001 - closing a broken device must not hide the first error
            logger.debug("closing the source failed: %s", mask_urls_in_text(str(exc)))

    buffer.put(final)
    buffer.close()
    sender.join(timeout=5.0)
    writer.close()
    conn.close()


class CaptureProcess:
    """The agent-side handle of one capture child process."""

    def __init__(self, camera_id: str, source: SourceConfig, queue_size: int) -> None:
        self.camera_id = camera_id
        self._source = source
        self._queue_size = queue_size
        self._process: Any = None
        self._conn: Connection | None = None
        self._releases: Connection | None = None
        self._ring: RingReader | None = None

    def start(self) -> None:
        reader, writer = _SPAWN.Pipe(duplex=False)
        release_reader, release_writer = _SPAWN.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        process = _SPAWN.Process(
            target=capture_main,
            args=(self.camera_id, self._source, writer, release_reader, self._queue_size, level),
            name=f"capture-{self.camera_id}",
            daemon=True,
        )
        process.start()
        # Only the child may hold the write end, or a dead child would never show EOF.
        writer.close()
        release_reader.close()
        self._process = process
        self._conn = reader
        self._releases = release_writer

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    @property
    def exitcode(self) -> int | None:
        return None if self._process is None else self._process.exitcode

    def receive(self, timeout_s: float) -> CaptureMessage | None:
        """Return the next message, or None after ``timeout_s``; raise CaptureExited when the child is gone."""
        conn = self._conn
        if conn is None:
            raise CaptureExited(None)
        try:
            if not conn.poll(timeout_s):
                if not self._process.is_alive():
                    self._process.join(timeout=1.0)
                    raise CaptureExited(self._process.exitcode)
                return None
            message: _WireMessage = conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=2.0)
            raise CaptureExited(self._process.exitcode) from None
        if isinstance(message, RingReady):
            self._close_ring()
            self._ring = RingReader(message)
            return None
        if isinstance(message, SlotFrame):
            return self._take_frame(message)
        return message

    def _take_frame(self, message: SlotFrame) -> CapturedFrame:
        if self._ring is None or self._ring.name != message.ring:
            logger.error("%s: frame %d names unknown shared-memory ring %s; restarting capture",
                         self.camera_id, message.index, message.ring)
            raise CaptureExited(self.exitcode)
        main, lores = self._ring.read(message)
        if self._releases is not None:
            # A child that is gone cannot take the slot back; the next receive() reports it.
            with contextlib.suppress(OSError):
                self._releases.send((message.ring, message.slot))
        return CapturedFrame(message.index, message.mono_s, main, lores, message.dropped_total, message.placeholder_total)

    def _close_ring(self) -> None:
        ring, self._ring = self._ring, None
        if ring is not None:
            ring.close()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop the child: SIGTERM, then SIGKILL if it does not exit within ``timeout_s``."""
        process, self._process = self._process, None
        for name in ("_conn", "_releases"):
            conn = getattr(self, name)
            setattr(self, name, None)
            if conn is not None:
                conn.close()
        self._close_ring()
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(timeout=timeout_s)
        if process.is_alive():
            logger.warning("capture process of %s ignored SIGTERM; killing it", self.camera_id)
            process.kill()
            process.join(timeout=timeout_s)

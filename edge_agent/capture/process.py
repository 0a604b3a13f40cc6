"""Run one camera's source in a child process and hand its frames to the agent.

A decoder that crashes (a segfault or an abort inside FFmpeg) or hangs takes only this
child with it. The child reads frames into a small buffer that drops the oldest frame
when analysis falls behind, and a sender thread writes them to a one-way pipe. The
agent closes its copy of the pipe's write end, so a child that dies in the middle of a
message shows up as ``EOFError`` on the next read instead of a blocked read.
"""

from __future__ import annotations

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


class CaptureExited(RuntimeError):
    """The capture process is gone; ``exitcode`` is negative for a signal (-6 is SIGABRT)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"capture process exited with code {exitcode}")
        self.exitcode = exitcode


class _FrameBuffer:
    """Bounded hand-over between the reader loop and the sender thread."""

    def __init__(self, size: int, drop_oldest: bool) -> None:
        self._frames: deque[CaptureMessage] = deque()
        self._size = size
        self._drop_oldest = drop_oldest
        self._cond = threading.Condition()
        self.dropped = 0
        self.closed = False

    def put(self, message: CaptureMessage) -> None:
        with self._cond:
            if isinstance(message, CapturedFrame):
                while len(self._frames) >= self._size and not self._drop_oldest and not self.closed:
                    self._cond.wait(0.5)
                if len(self._frames) >= self._size:
                    self._frames.popleft()
                    self.dropped += 1
            self._frames.append(message)
            self._cond.notify_all()

    def get(self) -> CaptureMessage | None:
        with self._cond:
            while not self._frames and not self.closed:
                self._cond.wait(0.5)
            if not self._frames:
                return None
            message = self._frames.popleft()
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


def _read_frames(reader: FrameSource, buffer: _FrameBuffer) -> None:
    """Pass live frames to the buffer until it closes; withhold placeholder frames."""
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
        buffer.put(CapturedFrame(index, raw.mono_s, raw.main, raw.lores, buffer.dropped, placeholder_total))
        index += 1


def capture_main(camera_id: str, source: SourceConfig, conn: Connection, queue_size: int, log_level: int) -> None:
    """Entry point of the child process: read frames until the source fails or ends."""
    logging.basicConfig(level=log_level, format=f"%(asctime)s %(levelname)s capture[{camera_id}] %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # File replay without pacing must not lose frames, so it waits for analysis instead.
    drop_oldest = not (source.kind is SourceKind.FILE and not source.realtime)
    buffer = _FrameBuffer(queue_size, drop_oldest)
    sender = threading.Thread(target=_sender, args=(buffer, conn), name="capture-sender", daemon=True)
    sender.start()

    reader = make_source(source)
    final: CaptureMessage
    try:
        reader.open()
        logger.info("capture started: %s", source.describe())
        _read_frames(reader, buffer)
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
    conn.close()


class CaptureProcess:
    """The agent-side handle of one capture child process."""

    def __init__(self, camera_id: str, source: SourceConfig, queue_size: int) -> None:
        self.camera_id = camera_id
        self._source = source
        self._queue_size = queue_size
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self) -> None:
        reader, writer = _SPAWN.Pipe(duplex=False)
        process = _SPAWN.Process(
            target=capture_main,
            args=(self.camera_id, self._source, writer, self._queue_size, logging.getLogger().getEffectiveLevel()),
            name=f"capture-{self.camera_id}",
            daemon=True,
        )
        process.start()
        # Only the child may hold the write end, or a dead child would never show EOF.
        writer.close()
        self._process = process
        self._conn = reader

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
            message: CaptureMessage = conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=2.0)
            raise CaptureExited(self._process.exitcode) from None
        return message

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop the child: SIGTERM, then SIGKILL if it does not exit within ``timeout_s``."""
        process, self._process = self._process, None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            process.join(timeout=timeout_s)
        if process.is_alive():
            logger.warning("capture process of %s ignored SIGTERM; killing it", self.camera_id)
            process.kill()
            process.join(timeout=timeout_s)

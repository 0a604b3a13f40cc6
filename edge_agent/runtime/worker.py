"""One camera's worker: capture process -> analyzer -> outbox -> MQTT, plus stats and commands.

The worker runs in its own thread of the agent process. Its capture runs in a child
process (see ``edge_agent.capture.process``); analysis, message building and command
handling run here. An exception inside this camera's loop is logged and the loop
starts again after a delay, so it never reaches the other cameras.
"""

from __future__ import annotations

import logging
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import numpy as np
import numpy.typing as npt

from edge_agent.capture.process import (
    CapturedFrame,
    CaptureEnded,
    CaptureExited,
    CaptureFailed,
    CaptureProcess,
    PlaceholderSeen,
)
from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.mqtt_client import CameraLink
from edge_agent.outbox import Outbox, Priority
from edge_agent.runtime.backoff import Backoff
from edge_agent.runtime.clock import ClockSync
from edge_agent.runtime.emit import CountAggregator, EventClock, build_counts_message, build_event_message
from edge_agent.runtime.host import cpu_temperature_c, disk_free_bytes
from metro_common import __version__
from metro_common.messages import (
    CameraState,
    CommandMessage,
    CommandName,
    CommandResultMessage,
    ContractError,
    EndReason,
    EventKind,
    EventMessage,
    MediaMessage,
    MediaRef,
    StatsMessage,
    StatusMessage,
    decode,
    encode,
    utc_now,
)
from metro_common.topics import TopicKind, topic

logger = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]
FrameHook = Callable[[Frame, float], None]
_RECEIVE_TIMEOUT_S = 0.2
_LOOP_RESTART_S = 5.0
_INFERENCE_WINDOW = 200


class Analyzer(Protocol):
    """Part of perception's CameraAnalyzer that the worker calls."""

    def process(self, frame_bgr: Frame, mono_s: float) -> Any: ...

    def end_all(self, reason: EndReason, mono_s: float) -> list[Any]: ...


class MediaHooks(Protocol):
    """Part of the media pipeline (``edge_agent.media.pipeline.CameraMedia``) that the worker calls."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def on_frame(self, frame_bgr: Frame, mono_s: float) -> None: ...

    def on_update(self, update: Any, now: datetime | None = None) -> Any: ...

    def take_snapshot(self, frame_bgr: Frame, now: datetime | None = None) -> Any: ...

    def live_start(self, command: CommandMessage) -> float: ...

    def live_stop(self) -> None: ...

    def stats(self) -> dict[str, int]: ...


AnalyzerFactory = Callable[[CameraConfig], Analyzer]
MediaFactory = Callable[[CameraConfig, Callable[[str, MediaRef], None]], MediaHooks | None]
ConfigReloader = Callable[[str], CameraConfig]


@dataclass
class WorkerCounters:
    """Running totals of one camera, reported in its stats heartbeat."""

    frames_total: int = 0
    frames_dropped: int = 0
    detector_calls: int = 0
    placeholder_frames: int = 0
    capture_restarts: int = 0
    analyzer_errors: int = 0
    hook_errors: int = 0
    inference_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_INFERENCE_WINDOW))
    frames_since_stats: int = 0


class CameraWorker:
    """Worker of one camera, running until ``stop()``; several run side by side."""

    def __init__(
        self,
        agent: AgentConfig,
        camera: CameraConfig,
        analyzer_factory: AnalyzerFactory,
        clock: ClockSync,
        media_factory: MediaFactory | None = None,
        reload_camera: ConfigReloader | None = None,
    ) -> None:
        self.agent = agent
        self.camera = camera
        self.camera_id = camera.camera_id
        self._analyzer_factory = analyzer_factory
        self._media_factory = media_factory
        self._reload_camera = reload_camera
        self._clock = clock
        self.counters = WorkerCounters()
        self.frame_hooks: list[FrameHook] = []
        self.outbox = Outbox(agent.outbox_dir() / f"{camera.camera_id}.sqlite", agent.outbox_max_messages)
        mqtt = agent.mqtt
        if camera.mqtt_password_file is not None:
            mqtt = mqtt.model_copy(update={"password_file": camera.mqtt_password_file})
        self.link = CameraLink(camera.camera_id, mqtt, self.outbox, self._status, self._enqueue_command, self._on_connected)
        self._commands: queue.Queue[CommandMessage] = queue.Queue(maxsize=32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_mono = time.monotonic()
        self._capture: CaptureProcess | None = None
        self._capture_backoff = Backoff(camera.restart_initial_s, camera.restart_max_s)
        self._next_capture_start = 0.0
        self._capture_started_at = 0.0
        self._capture_dropped_base = 0
        self._source_ended = False
        self.online = False
        self._online_since = 0.0
        self.last_frame_mono = 0.0
        self.loop_heartbeat = time.monotonic()
        self._last_frame: Frame | None = None
        self._frame_mono = 0.0
        self._analysed_shape: tuple[int, ...] | None = None
        self._event_clock = EventClock()
        self._analyzer: Analyzer | None = None
        self.media: MediaHooks | None = None
        self._counts: CountAggregator | None = None
        self._next_counts = 0.0
        self._next_stats = 0.0
        self._stats_requested = threading.Event()
        self._last_stats_mono = time.monotonic()

    # ----- lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        self._analyzer = self._analyzer_factory(self.camera)
        if self._media_factory is not None:
            try:
                self.media = self._media_factory(self.camera, self._publish_media)
                if self.media is not None:
                    self.media.start()
                    self.frame_hooks.append(self.media.on_frame)
            except Exception:
                logger.exception("%s: media pipeline failed to start; events continue without media", self.camera_id)
                self.media = None
        self._end_orphaned_events()
        self._counts = CountAggregator(tuple(line.name for line in self.camera.analysis.lines), utc_now())
        self._next_counts = time.monotonic() + self.agent.counts_interval_s
        self._next_stats = time.monotonic() + min(5.0, self.agent.stats_interval_s)
        self.link.start()
        self._thread = threading.Thread(target=self._run_forever, name=f"camera-{self.camera_id}", daemon=True)
        self._thread.start()
        logger.info("%s: started (%s)", self.camera_id, self.camera.source.describe())

    def stop(self, flush_timeout_s: float) -> bool:
        """End open events (reason shutdown), deliver what the broker accepts in time, publish ``stopped``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        self._stop_capture()
        self._end_events(EndReason.SHUTDOWN)
        if self._counts is not None:
            self._flush_counts()
        if self.media is not None:
            try:
                self.media.stop()
            except Exception:
                logger.exception("%s: media pipeline failed to stop cleanly", self.camera_id)
        flushed = self.link.stop(flush_timeout_s, self._status(CameraState.STOPPED.value, "agent stopped"))
        depth = self.outbox.depth()
        if flushed:
            logger.info("%s: stopped, outbox delivered", self.camera_id)
        else:
            logger.warning("%s: stopped with %d messages still in the outbox; they are sent after the next start",
                           self.camera_id, depth)
        self.outbox.close()
        return flushed

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----- main loop --------------------------------------------------------------

    def _run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._loop()
            except Exception:
                logger.exception("%s: camera loop failed; restarting it in %.0f s", self.camera_id, _LOOP_RESTART_S)
                self._stop_capture()
                self._go_offline("camera loop failed")
                self._stop.wait(_LOOP_RESTART_S)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            self.loop_heartbeat = now
            self._handle_commands()
            self._tick_periodic(now)
            if self._capture is None:
                if self._source_ended:
                    self._stop.wait(_RECEIVE_TIMEOUT_S)
                    continue
                if now < self._next_capture_start:
                    self._stop.wait(min(_RECEIVE_TIMEOUT_S, self._next_capture_start - now))
                    continue
                self._start_capture()
                continue
            try:
                message = self._capture.receive(_RECEIVE_TIMEOUT_S)
            except CaptureExited as exc:
                self._capture_lost(f"capture process exited with code {exc.exitcode}")
                continue
            if message is None:
                self._check_stall(time.monotonic())
            elif isinstance(message, CapturedFrame):
                self._on_frame(message)
            elif isinstance(message, PlaceholderSeen):
                self._on_placeholder(message)
            elif isinstance(message, CaptureFailed):
                self._capture_lost(message.error)
            elif isinstance(message, CaptureEnded):
                logger.info("%s: source ended", self.camera_id)
                self._stop_capture()
                self._go_offline("source ended")
                self._source_ended = True

    # ----- capture ------------------------------------------------------------------

    def _start_capture(self) -> None:
        capture = CaptureProcess(self.camera_id, self.camera.source, self.camera.frame_queue_size)
        capture.start()
        self._capture = capture
        self._capture_started_at = time.monotonic()
        self._capture_dropped_base = self.counters.frames_dropped
        logger.debug("%s: capture process %s started", self.camera_id, capture.pid)

    def _stop_capture(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.stop()

    def _capture_lost(self, reason: str) -> None:
        self._stop_capture()
        self.counters.capture_restarts += 1
        if self.online and time.monotonic() - self._online_since >= self.camera.stall_timeout_s:
            self._capture_backoff.reset()
        delay = self._capture_backoff.next_delay()
        self._next_capture_start = time.monotonic() + delay
        logger.warning("%s: %s; restarting capture in %.1f s (restart %d)",
                       self.camera_id, reason, delay, self.counters.capture_restarts)
        self._go_offline(reason)

    def _check_stall(self, now: float) -> None:
        reference = self.last_frame_mono if self.online else self._capture_started_at
        if now - reference >= self.camera.stall_timeout_s:
            what = "no new frame" if self.online else "no frame since capture started"
            self._capture_lost(f"{what} for {now - reference:.0f} s (stall timeout)")

    def _on_placeholder(self, message: PlaceholderSeen) -> None:
        self.counters.placeholder_frames = max(self.counters.placeholder_frames, message.placeholder_total)
        logger.debug("%s: source sends %s frames (not counted as live)", self.camera_id, message.verdict)
        self._check_stall(time.monotonic())

    def _on_frame(self, frame: CapturedFrame) -> None:
        self._mark_progress(time.monotonic())
        self.counters.frames_dropped = self._capture_dropped_base + frame.dropped_total
        self.counters.frames_total += 1
        self.counters.frames_since_stats += 1
        self._frame_mono = frame.mono_s
        self._last_frame = frame.main
        self._run_frame_hooks(frame)
        self._analyse(frame)

    def _mark_progress(self, now: float) -> None:
        self.last_frame_mono = now
        if not self.online:
            self.online = True
            self._online_since = now
            logger.info("%s: camera online", self.camera_id)
            self._stats_requested.set()
        elif now - self._online_since >= self.camera.stall_timeout_s:
            self._capture_backoff.reset()

    def _run_frame_hooks(self, frame: CapturedFrame) -> None:
        for hook in self.frame_hooks:
            try:
                hook(frame.main, frame.mono_s)
            except Exception:
                self.counters.hook_errors += 1
                if self.counters.hook_errors <= 3 or self.counters.hook_errors % 100 == 0:
                    logger.exception("%s: frame hook %r failed (%d failures so far)",
                                     self.camera_id, hook, self.counters.hook_errors)

    def _analyse(self, frame: CapturedFrame) -> None:
        analysed = frame.lores if frame.lores is not None else frame.main
        if self._analysed_shape is not None and analysed.shape != self._analysed_shape:
            self._restart_analysis(self._analysed_shape, analysed.shape)
        self._analysed_shape = analysed.shape
        assert self._analyzer is not None
        try:
            result = self._analyzer.process(analysed, frame.mono_s)
        except Exception:
            self.counters.analyzer_errors += 1
            if self.counters.analyzer_errors <= 3 or self.counters.analyzer_errors % 100 == 0:
                logger.exception("%s: analysis of frame %d failed (%d failures so far)",
                                 self.camera_id, frame.index, self.counters.analyzer_errors)
            return
        if result.detector_ran:
            self.counters.detector_calls += 1
            if result.inference_ms is not None:
                self.counters.inference_ms.append(float(result.inference_ms))
        for update in result.updates:
            self._emit_update(update)
        for crossing in result.crossings:
            if self._counts is not None and crossing.line in self._counts.lines:
                self._counts.add(crossing.line, crossing.label, crossing.direction)

    def _restart_analysis(self, old: tuple[int, ...], new: tuple[int, ...]) -> None:
        """Start a fresh analyzer, because its zones, lines and tracks are tied to one frame size."""
        logger.warning("%s: frame size changed from %dx%d to %dx%d; ending open events and restarting analysis",
                       self.camera_id, old[1], old[0], new[1], new[0])
        self._end_events(EndReason.CAMERA_OFFLINE)
        self._analyzer = self._analyzer_factory(self.camera)

    def _go_offline(self, reason: str) -> None:
        if self.online:
            logger.warning("%s: camera offline (%s)", self.camera_id, reason)
            self.online = False
            self._stats_requested.set()
        self._end_events(EndReason.CAMERA_OFFLINE)

    def _end_events(self, reason: EndReason) -> None:
        if self._analyzer is None:
            return
        try:
            updates = self._analyzer.end_all(reason, self._frame_mono)
        except Exception:
            logger.exception("%s: ending open events failed", self.camera_id)
            return
        for update in updates:
            self._emit_update(update)

    # ----- messages -----------------------------------------------------------------

    def _status(self, state: str, reason: str | None) -> StatusMessage:
        return StatusMessage(
            camera_id=self.camera_id, state=CameraState(state), ts=utc_now(), clock_synced=self._clock.synced(),
            agent_version=__version__, reason=reason,
        )

    def _emit_update(self, update: Any) -> None:
        snapshot = annotated = None
        if self.media is not None:
            try:
                refs = self.media.on_update(update)
                snapshot, annotated = refs.snapshot, refs.snapshot_annotated
            except Exception:
                logger.exception("%s: media hook failed for event %s", self.camera_id, update.event_id)
        now_wall = utc_now()
        synced = self._clock.synced()
        start_ts = self._event_clock.start_ts(update.event_id, float(update.start_mono), now_wall, self._frame_mono)
        kind = EventKind(getattr(update.kind, "value", update.kind))
        priority = Priority.EVENT_UPDATE if kind is EventKind.UPDATE else Priority.EVENT_LIFECYCLE

        def build(seq: int) -> bytes:
            return encode(build_event_message(
                self.camera_id, update, seq=seq, now_wall=now_wall, now_mono=self._frame_mono, start_ts=start_ts,
                clock_synced=synced, snapshot=snapshot, snapshot_annotated=annotated,
            ))

        stored = self.outbox.append(
            priority, topic(self.camera_id, TopicKind.EVENT), build, event=(str(update.event_id), kind is not EventKind.END)
        )
        if kind is EventKind.END:
            self._event_clock.forget(update.event_id)
        if stored is None:
            logger.warning("%s: outbox full, dropped %s of event %s", self.camera_id, kind.value, update.event_id)
        self.link.wake()

    def _end_orphaned_events(self) -> None:
        """End events that a crash (SIGKILL, power cut) left open, at the time of their last message."""
        orphans = self.outbox.orphaned_events()
        for payload in orphans:
            try:
                last = decode(TopicKind.EVENT, payload, self.camera_id)
            except ContractError as exc:
                logger.warning("%s: cannot end an event left open by the last run: %s", self.camera_id, exc)
                continue
            assert isinstance(last, EventMessage)
            fields = last.model_dump() | {
                "kind": EventKind.END, "ts": utc_now(), "end_ts": last.ts, "end_reason": EndReason.SHUTDOWN,
            }

            def build(seq: int, fields: dict[str, Any] = fields) -> bytes:
                return encode(EventMessage(**(fields | {"seq": seq})))

            self.outbox.append(
                Priority.EVENT_LIFECYCLE, topic(self.camera_id, TopicKind.EVENT), build, event=(str(last.event_id), False)
            )
        if orphans:
            logger.warning("%s: ended %d event(s) left open by the previous run (reason shutdown)",
                           self.camera_id, len(orphans))

    def _publish_media(self, event_id: str, media: MediaRef) -> None:
        """Announce media for an event (called by the media pipeline, from any thread)."""

        def build(seq: int) -> bytes:
            return encode(MediaMessage(camera_id=self.camera_id, seq=seq, event_id=UUID(event_id), ts=utc_now(), media=media))

        self.outbox.append(Priority.MEDIA, topic(self.camera_id, TopicKind.MEDIA), build)
        self.link.wake()

    def _flush_counts(self) -> None:
        assert self._counts is not None
        synced = self._clock.synced()
        for line, start, end, items in self._counts.close_period(utc_now()):

            def build(seq: int, line: str = line, start: datetime = start, end: datetime = end, items: Any = items) -> bytes:
                return encode(build_counts_message(self.camera_id, seq, line, start, end, items, synced))

            self.outbox.append(Priority.COUNTS, topic(self.camera_id, TopicKind.COUNTS), build)
        self.link.wake()

    def _tick_periodic(self, now: float) -> None:
        if self._counts is not None and self._counts.lines and now >= self._next_counts:
            self._next_counts = now + self.agent.counts_interval_s
            self._flush_counts()
        if now >= self._next_stats or self._stats_requested.is_set():
            self._stats_requested.clear()
            self._next_stats = now + self.agent.stats_interval_s
            self._publish_stats(now)

    def build_stats(self, now: float) -> StatsMessage:
        elapsed = max(1e-3, now - self._last_stats_mono)
        fps = self.counters.frames_since_stats / elapsed
        self._last_stats_mono = now
        self.counters.frames_since_stats = 0
        samples = list(self.counters.inference_ms)
        media_stats = {}
        if self.media is not None:
            try:
                media_stats = self.media.stats()
            except Exception:
                logger.exception("%s: media stats failed", self.camera_id)
        return StatsMessage(
            camera_id=self.camera_id,
            ts=utc_now(),
            clock_synced=self._clock.synced(),
            camera_online=self.online,
            fps=round(fps, 2),
            inference_ms=round(statistics.median(samples), 2) if samples else 0.0,
            detector_calls=self.counters.detector_calls,
            frames_total=self.counters.frames_total,
            frames_dropped=self.counters.frames_dropped,
            outbox_depth=self.outbox.depth(),
            outbox_dropped=self.outbox.dropped_total,
            uptime_s=round(now - self._started_mono, 1),
            cpu_temp_c=cpu_temperature_c(),
            disk_free_bytes=disk_free_bytes(self.agent.data_dir),
            media_pressure_deletions=int(media_stats.get("media_pressure_deletions", 0)),
        )

    def _publish_stats(self, now: float) -> None:
        stats = self.build_stats(now)
        # Stats are a latest-value heartbeat (QoS 0), so they are never stored while offline.
        self.link.publish_now(TopicKind.STATS, encode(stats), qos=0)

    def _on_connected(self) -> None:
        """Republish current state after every (re)connect; runs on the MQTT thread."""
        self._stats_requested.set()

    # ----- commands -----------------------------------------------------------------

    def _enqueue_command(self, command: CommandMessage) -> None:
        try:
            self._commands.put_nowait(command)
        except queue.Full:
            logger.warning("%s: command queue full; ignoring command %s", self.camera_id, command.command_id)

    def _handle_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if command.is_expired(utc_now()):
                logger.info("%s: ignoring command %s (%s): expired at %s",
                            self.camera_id, command.command_id, command.name.value, command.expires_at.isoformat())
                continue
            ok, detail, media = self._run_command(command)
            logger.info("%s: command %s (%s): %s", self.camera_id, command.command_id, command.name.value, detail)
            self._publish_result(command, ok, detail, media)

    def _run_command(self, command: CommandMessage) -> tuple[bool, str, MediaRef | None]:
        name = command.name
        try:
            if name is CommandName.RELOAD_CONFIG:
                return self._reload_config()
            if name is CommandName.SNAPSHOT:
                if self.media is None:
                    return False, "snapshot not available: the media pipeline is off", None
                if self._last_frame is None:
                    return False, "snapshot not available: no frame received yet", None
                refs = self.media.take_snapshot(self._last_frame)
                if refs.snapshot is None:
                    return False, "snapshot could not be stored", None
                return True, "snapshot stored", refs.snapshot
            if name is CommandName.LIVE_START:
                if self.media is None:
                    return False, "live view not available", None
                seconds = self.media.live_start(command)
                return True, f"live view for {seconds:.0f} s", None
            if name is CommandName.LIVE_STOP:
                if self.media is None:
                    return False, "live view not available", None
                self.media.live_stop()
                return True, "live view stopped", None
        except PermissionError as exc:
            return False, str(exc)[:400], None
        except Exception as exc:
            logger.exception("%s: command %s failed", self.camera_id, name.value)
            return False, f"{name.value} failed: {type(exc).__name__}: {exc}"[:400], None
        return False, f"unknown command {name.value}", None

    def _reload_config(self) -> tuple[bool, str, MediaRef | None]:
        if self._reload_camera is None:
            return False, "reload not available: the agent was started without a config file", None
        new = self._reload_camera(self.camera_id)
        old = self.camera
        changed = []
        if new.analysis != old.analysis:
            # NOTE: the contract has no "reconfigured" end reason, so open events end as shutdown.
            self._end_events(EndReason.SHUTDOWN)
            self._analyzer = self._analyzer_factory(new)
            self._counts = CountAggregator(tuple(line.name for line in new.analysis.lines), utc_now())
            changed.append("analysis")
        self.camera = new
        if (new.source, new.stall_timeout_s, new.frame_queue_size) != (old.source, old.stall_timeout_s, old.frame_queue_size):
            self._stop_capture()
            self._go_offline("source reconfigured")
            self._source_ended = False
            self._next_capture_start = 0.0
            changed.append("source")
        restart_needed = [
            name for name in ("media", "live", "privacy_masks", "name", "lat", "lon", "address")
            if getattr(new, name) != getattr(old, name)
        ]
        detail = "reloaded: " + (", ".join(changed) + " applied" if changed else "no analysis or source change")
        if restart_needed:
            detail += "; restart the agent to apply " + ", ".join(restart_needed)
        return True, detail, None

    def _publish_result(self, command: CommandMessage, ok: bool, detail: str, media: MediaRef | None) -> None:
        def build(_seq: int) -> bytes:
            return encode(CommandResultMessage(
                camera_id=self.camera_id, command_id=command.command_id, ts=utc_now(), ok=ok, detail=detail[:500], media=media,
            ))

        self.outbox.append(Priority.COMMAND_RESULT, topic(self.camera_id, TopicKind.COMMAND_RESULT), build, uses_seq=False)
        self.link.wake()

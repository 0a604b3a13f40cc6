"""The agent supervisor: starts one worker per camera, talks to systemd, stops cleanly on SIGTERM.

A camera whose worker cannot start (missing model, unwritable outbox) is retried every
``_START_RETRY_S`` while the other cameras run. The systemd watchdog is fed only while
every started camera loop is making progress: each loop either handles frames or is
waiting out a capture restart delay. A loop stuck for ``_STUCK_S`` stops the feed, and
systemd restarts the service.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from edge_agent.config import AgentConfig, CameraConfig, ConfigError, load_config
from edge_agent.runtime.clock import ClockSync
from edge_agent.runtime.sdnotify import Notifier
from edge_agent.runtime.worker import AnalyzerFactory, CameraWorker, MediaFactory, MediaHooks
from metro_common.messages import MediaRef

logger = logging.getLogger(__name__)

_START_RETRY_S = 30.0
_STUCK_S = 30.0
_TICK_S = 1.0


def default_analyzer_factory(config: AgentConfig) -> AnalyzerFactory:
    """Build analyzers with their own ONNX detector each (a Detector is not thread-safe)."""
    from edge_agent.analysis import CameraAnalyzer
    from edge_agent.detector import DEFAULT_SPEC, Detector

    def make(camera: CameraConfig) -> CameraAnalyzer:
        detector = Detector.from_spec_file(config.model_spec or DEFAULT_SPEC, config.model_path, config.onnx_threads)
        return CameraAnalyzer(camera.camera_id, camera.analysis, detector)

    return make


def default_media_factory(config: AgentConfig) -> MediaFactory:
    """Build each camera's media pipeline (snapshots, clips, uploads, live view)."""

    def make(camera: CameraConfig, publish_media: Callable[[str, MediaRef], None]) -> MediaHooks:
        from edge_agent.media.pipeline import CameraMedia

        token = None
        if config.hub.device_token_file is not None:
            lines = config.hub.device_token_file.read_text(encoding="utf-8").splitlines()
            token = lines[0].strip() if lines else None
        return CameraMedia(
            camera.camera_id, camera.name, config.media_dir(), camera.media, camera.live, camera.privacy_masks,
            hub_url=config.hub.base_url, device_token=token, publish_media=publish_media,
        )

    return make


class Agent:
    """Supervisor of every enabled camera in one config; runs until ``request_stop()`` or SIGTERM."""

    def __init__(
        self,
        config: AgentConfig,
        config_path: Path | None = None,
        *,
        analyzer_factory: AnalyzerFactory | None = None,
        media_factory: MediaFactory | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self._analyzer_factory = analyzer_factory or default_analyzer_factory(config)
        self._media_factory = media_factory if media_factory is not None else default_media_factory(config)
        self._notifier = notifier or Notifier.from_environment()
        self._clock = ClockSync()
        self._stop = threading.Event()
        self.workers: dict[str, CameraWorker] = {}
        self._pending: dict[str, float] = {c.camera_id: 0.0 for c in config.cameras if c.enabled}

    def request_stop(self) -> None:
        self._stop.set()

    def _handle_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._handle_signal)
        signal.signal(signal.SIGINT, self._handle_signal)

    def _reload_camera(self, camera_id: str) -> CameraConfig:
        if self.config_path is None:
            raise ConfigError(Path("-"), ["the agent was started without a config file"])
        fresh = load_config(self.config_path)
        for camera in fresh.cameras:
            if camera.camera_id == camera_id:
                return camera
        raise ConfigError(self.config_path, [f"cameras: camera {camera_id!r} is no longer in the file; restart the agent"])

    def _start_pending(self, now: float) -> None:
        cameras = {c.camera_id: c for c in self.config.cameras}
        for camera_id, due in list(self._pending.items()):
            if now < due:
                continue
            worker: CameraWorker | None = None
            try:
                worker = CameraWorker(
                    self.config, cameras[camera_id], self._analyzer_factory, self._clock,
                    media_factory=self._media_factory, reload_camera=self._reload_camera,
                )
                worker.start()
            except Exception:
                logger.exception("%s: cannot start; retrying in %.0f s", camera_id, _START_RETRY_S)
                if worker is not None:
                    worker.outbox.close()
                self._pending[camera_id] = now + _START_RETRY_S
                continue
            self.workers[camera_id] = worker
            del self._pending[camera_id]

    def _healthy(self, now: float) -> bool:
        return all(w.alive and now - w.loop_heartbeat < _STUCK_S for w in self.workers.values())

    def _status_line(self) -> str:
        parts = []
        for camera_id, worker in self.workers.items():
            state = "online" if worker.online else "offline"
            parts.append(f"{camera_id}: camera {state}, mqtt {worker.link.state.value}, outbox {worker.outbox.depth()}")
        parts.extend(f"{camera_id} not started" for camera_id in self._pending)
        return "; ".join(parts)[:200]

    def run(self) -> int:
        """Run until stopped; return the process exit code (0 after a clean stop)."""
        enabled = [c.camera_id for c in self.config.cameras if c.enabled]
        logger.info("agent %s starting %d camera(s): %s", self.config.device_id, len(enabled), ", ".join(enabled))
        self._start_pending(time.monotonic())
        self._notifier.ready(self._status_line())
        last_status = ""
        was_healthy = True
        while not self._stop.wait(_TICK_S):
            now = time.monotonic()
            if self._pending:
                self._start_pending(now)
            healthy = self._healthy(now)
            if healthy:
                self._notifier.watchdog()
            elif was_healthy:
                stuck = [cid for cid, w in self.workers.items() if not (w.alive and now - w.loop_heartbeat < _STUCK_S)]
                logger.error("camera loop stuck for %.0f s: %s; no longer feeding the systemd watchdog",
                             _STUCK_S, ", ".join(stuck))
            was_healthy = healthy
            status = self._status_line()
            if status != last_status:
                self._notifier.status(status)
                last_status = status
        return self.shutdown()

    def shutdown(self) -> int:
        """End open events, flush outboxes in parallel within the configured time, publish ``stopped``."""
        self._notifier.stopping()
        logger.info("stopping %d camera(s); flushing outboxes for up to %.0f s",
                    len(self.workers), self.config.shutdown_flush_s)
        results: dict[str, bool] = {}

        def stop_one(worker: CameraWorker) -> None:
            try:
                results[worker.camera_id] = worker.stop(self.config.shutdown_flush_s)
            except Exception:
                logger.exception("%s: stopping failed", worker.camera_id)
                results[worker.camera_id] = False

        threads = [threading.Thread(target=stop_one, args=(w,), name=f"stop-{w.camera_id}") for w in self.workers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=self.config.shutdown_flush_s + 20.0)
        undelivered = sorted(cid for cid, ok in results.items() if not ok)
        if undelivered:
            logger.warning("stopped; outbox not fully delivered for %s", ", ".join(undelivered))
        else:
            logger.info("stopped cleanly")
        return 0

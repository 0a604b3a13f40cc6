"""One camera's media pipeline, the single object the agent runtime wires into its hooks.

Hooks: ``on_frame`` (every captured frame), ``on_update`` (every event update from
perception, returning the snapshot references for the EventMessage), ``take_snapshot``
(snapshot command), ``live_start`` / ``live_stop`` (commands) and ``stats`` (heartbeat). Clips finish after the event's end message was
published, so their references leave through ``publish_media`` as MediaMessages.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_agent.media.clips import Frame
from edge_agent.media.config import LiveConfig, MediaConfig, PrivacyMask
from edge_agent.media.live import LivePusher, lease_seconds
from edge_agent.media.privacy import PrivacyMasker
from edge_agent.media.recorder import ClipRecorder
from edge_agent.media.snapshot import BoxAnnotation, annotate, encode_jpeg
from edge_agent.media.store import MediaStore, StoredMedia
from edge_agent.media.uploader import MediaUploader
from metro_common.messages import CommandMessage, MediaKind, MediaRef

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class SnapshotRefs:
    """References of the clean and annotated snapshot for one event update."""

    snapshot: MediaRef | None
    snapshot_annotated: MediaRef | None


def _kind_value(kind: Any) -> str:
    return str(getattr(kind, "value", kind))


def _box_of(update: Any) -> tuple[float, float, float, float]:
    for name in ("box_xyxy", "xyxy", "box"):
        value = getattr(update, name, None)
        if value is None:
            continue
        if hasattr(value, "x1"):
            return (float(value.x1), float(value.y1), float(value.x2), float(value.y2))
        x1, y1, x2, y2 = value
        return (float(x1), float(y1), float(x2), float(y2))
    raise AttributeError(f"event update {type(update).__name__} has no box (box_xyxy, xyxy or box)")


class CameraMedia:
    """Masks, snapshots, clips, storage, upload and live view of one camera."""

    def __init__(
        self,
        camera_id: str,
        camera_name: str,
        media_root: Path,
        media: MediaConfig,
        live: LiveConfig,
        masks: Sequence[PrivacyMask],
        *,
        hub_url: str | None,
        device_token: str | None,
        publish_media: Callable[[str, MediaRef], None],
        encoder: str | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.camera_name = camera_name
        self.config = media
        self.masker = PrivacyMasker(masks)
        self.store = MediaStore(media_root, camera_id, media)
        self.publish_media = publish_media
        self._last_retention = float("-inf")
        self.recorder = ClipRecorder(self.store, media, self.masker, self._clip_finished, encoder=encoder) if media.clips_enabled else None
        can_upload = bool(hub_url and device_token)
        self.uploader = MediaUploader(self.store, hub_url or "", device_token or "", media.upload_retry) if can_upload else None
        self.live = LivePusher(camera_id, hub_url or "", device_token or "", live, self.masker) if can_upload else None
        if not can_upload:
            log.warning("Camera %s has no hub URL or device token: media stays on disk and live view is off", camera_id)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        for part in (self.recorder, self.uploader, self.live):
            if part is not None:
                part.start()

    def stop(self) -> None:
        for part in (self.live, self.recorder, self.uploader):
            if part is not None:
                part.stop()

    # -- hooks ---------------------------------------------------------------------------

    def on_frame(self, frame_bgr: Frame, mono_s: float) -> None:
        """Hand a captured frame to the clip recorder and the live pusher without waiting for any encoding."""
        if self.recorder is not None:
            self.recorder.submit_frame(frame_bgr, mono_s)
        if self.live is not None:
            self.live.offer_frame(frame_bgr)

    def on_update(self, update: Any, now: datetime | None = None) -> SnapshotRefs:
        """Track the event for clips and store a new best snapshot when the update carries one.

        ``update`` is perception's EventUpdate: event_id, kind (new/update/end), label,
        score, box, start_mono, end_mono and snapshot_frame (None unless a new best one).

        Costs two JPEG encodes and two fsynced writes when ``snapshot_frame`` is set,
        which perception does only for a new best snapshot.
        """
        event_id = str(update.event_id)
        kind = _kind_value(update.kind)
        if self.recorder is not None:
            self.recorder.submit_event(event_id, kind == "end", float(update.start_mono), getattr(update, "end_mono", None))
        frame = getattr(update, "snapshot_frame", None)
        if frame is None:
            return SnapshotRefs(None, None)
        # The snapshot's own box and score describe the object in that frame; the update's
        # box is the latest position, which can be a later frame.
        snapshot_box = getattr(update, "snapshot_box", None)
        box = _box_of(update) if snapshot_box is None else tuple(float(v) for v in snapshot_box)
        snapshot_score = getattr(update, "snapshot_score", None)
        score = float(update.score if snapshot_score is None else snapshot_score)
        boxes = [BoxAnnotation((box[0], box[1], box[2], box[3]), str(update.label), score)]
        return self._store_snapshot([event_id], frame, boxes, now or datetime.now(UTC))

    def take_snapshot(self, frame_bgr: Frame, now: datetime | None = None) -> SnapshotRefs:
        """Store a snapshot for the snapshot command under a fresh id; returns clean and annotated refs."""
        return self._store_snapshot([str(uuid.uuid4())], frame_bgr, [], now or datetime.now(UTC))

    def live_start(self, command: CommandMessage) -> float:
        """Start or renew live view for a live_start command; return the lease in seconds."""
        if self.live is None:
            raise PermissionError(f"camera {self.camera_id} has no hub URL or device token for live view")
        seconds = lease_seconds(command.issued_at, command.expires_at, command.args, self.live.config.default_lease_s)
        self.live.start_lease(seconds)
        return seconds

    def live_stop(self) -> None:
        if self.live is not None:
            self.live.stop_lease()

    def stats(self) -> dict[str, int]:
        """Counters for logs and the StatsMessage (``media_pressure_deletions``).

        Also applies the retention policy, at most once per ``RETENTION_INTERVAL_S``: the
        runtime calls this every heartbeat, so old media goes even while no new media is written.
        """
        now = time.monotonic()
        if now - self._last_retention >= RETENTION_INTERVAL_S:
            self._last_retention = now
            try:
                self.store.enforce_retention()
            except OSError as exc:
                log.error("Retention of camera %s media failed: %s", self.camera_id, exc)
        values = {
            "media_pressure_deletions": self.store.pressure_deletions,
            "media_quota_rejections": self.store.quota_rejections,
            "media_pending": len(self.store.pending()),
        }
        if self.recorder is not None:
            values["clip_frames_dropped"] = self.recorder.stats.frames_dropped
            values["clips_written"] = self.recorder.stats.clips_written
        if self.uploader is not None:
            values["media_uploaded"] = self.uploader.stats.uploaded
        return values

    # -- internals -----------------------------------------------------------------------

    def _store_snapshot(self, event_ids: list[str], frame: Frame, boxes: list[BoxAnnotation], now: datetime) -> SnapshotRefs:
        masked = self.masker.apply(frame)
        clean = self._save(event_ids, MediaKind.SNAPSHOT, encode_jpeg(masked, self.config.jpeg_quality))
        annotated = None
        if self.config.snapshot_annotated:
            drawn = annotate(masked, boxes, self.camera_name, now)
            annotated = self._save(event_ids, MediaKind.SNAPSHOT_ANNOTATED, encode_jpeg(drawn, self.config.jpeg_quality))
        if self.uploader is not None:
            self.uploader.wake()
        return SnapshotRefs(clean.ref() if clean else None, annotated.ref() if annotated else None)

    def _save(self, event_ids: list[str], kind: MediaKind, data: bytes) -> StoredMedia | None:
        started = time.monotonic()
        item = self.store.save_bytes(event_ids, kind, data, "image/jpeg")
        log.debug("Stored %s for %s in %.1f ms", kind.value, ",".join(event_ids), (time.monotonic() - started) * 1000)
        return item

    def _clip_finished(self, item: StoredMedia) -> None:
        for event_id in item.event_ids:
            try:
                self.publish_media(event_id, item.ref())
            except Exception:  # a failing runtime hook must not stop the recorder thread
                log.exception("Publishing the clip reference of event %s failed", event_id)
        if self.uploader is not None:
            self.uploader.wake()

"""CameraMedia as the runtime drives it: perception's EventUpdates and footage frames in, media out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np

from edge_agent.core.lifecycle import EventUpdate
from edge_agent.media.clips import SOFTWARE_ENCODER
from edge_agent.media.config import LiveConfig, MaskMode, MediaConfig, PrivacyMask
from edge_agent.media.pipeline import CameraMedia
from metro_common.messages import EndReason, EventKind, MediaKind, MediaRef

GREEN_MASK = PrivacyMask(points=((0.7, 0.7), (1.0, 0.7), (1.0, 1.0), (0.7, 1.0)), mode=MaskMode.FILL, fill_bgr=(0, 255, 0))


def update(event_id: uuid.UUID, kind: EventKind, start: float, frame: np.ndarray | None = None, end: float | None = None) -> EventUpdate:
    return EventUpdate(
        event_id=event_id, kind=kind, track_id=1, label="person", score=0.8, box=(100.0, 100.0, 180.0, 300.0),
        frame_width=768, frame_height=576, zones=(), start_mono=start, end_mono=end,
        end_reason=EndReason.LEFT_VIEW if kind is EventKind.END else None,
        snapshot_frame=frame, snapshot_box=(100.0, 100.0, 180.0, 300.0) if frame is not None else None,
        snapshot_score=0.8 if frame is not None else None,
    )


def test_updates_give_masked_snapshots_and_a_clip(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    published: list[tuple[str, MediaRef]] = []
    media = CameraMedia(
        "cam-pipe", "Simpang Tugu", tmp_path, MediaConfig(pre_roll_s=2, post_roll_s=2, encoder_queue_frames=400),
        LiveConfig(), [GREEN_MASK], hub_url=None, device_token=None,
        publish_media=lambda event_id, ref: published.append((event_id, ref)), encoder=SOFTWARE_ENCODER,
    )
    media.start()
    event_id = uuid.uuid4()
    refs = None
    for index, frame in enumerate(vtest_frames[:120]):
        mono = index / 10.0
        media.on_frame(frame, mono)
        if index == 50:
            refs = media.on_update(update(event_id, EventKind.NEW, 5.0, frame.copy()), datetime(2026, 12, 4, tzinfo=UTC))
        if index == 70:
            media.on_update(update(event_id, EventKind.END, 5.0, end=7.0))
    assert media.recorder is not None
    assert media.recorder.wait_idle(60)
    media.stop()

    assert refs is not None
    assert refs.snapshot is not None
    assert refs.snapshot_annotated is not None
    items = {item.kind: item for item in media.store.all_items()}
    snapshot = cv2.imdecode(np.frombuffer(media.store.read(items[MediaKind.SNAPSHOT]), np.uint8), cv2.IMREAD_COLOR)
    corner = snapshot[576 - 150 : 576 - 10, 768 - 200 : 768 - 10].astype(int)
    assert corner[..., 1].mean() > 240
    assert corner[..., 0].mean() < 15
    assert corner[..., 2].mean() < 15
    annotated = cv2.imdecode(np.frombuffer(media.store.read(items[MediaKind.SNAPSHOT_ANNOTATED]), np.uint8), cv2.IMREAD_COLOR)
    assert annotated[576 - 150 : 576 - 60, 768 - 200 : 768 - 10, 1].mean() > 240
    assert not np.array_equal(annotated, snapshot)

    # The clip (3.0 s .. 9.0 s) is announced for the event once the post-roll ended.
    assert [(e, r.kind) for e, r in published] == [(str(event_id), MediaKind.CLIP)]
    clip_path = media.store.path_of(items[MediaKind.CLIP])
    with av.open(str(clip_path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert 58 <= len(frames) <= 62
    assert frames[30][576 - 150 : 576 - 10, 768 - 200 : 768 - 10, 1].mean() > 235
    assert media.stats()["media_pending"] == 3


def test_snapshot_command_stores_under_fresh_id(tmp_path: Path, vtest_frames: list[np.ndarray]) -> None:
    media = CameraMedia(
        "cam-snap", "Simpang Tugu", tmp_path, MediaConfig(clips_enabled=False), LiveConfig(), [],
        hub_url=None, device_token=None, publish_media=lambda e, r: None,
    )
    started = time.monotonic()
    refs = media.take_snapshot(vtest_frames[0])
    assert time.monotonic() - started < 2
    assert refs.snapshot is not None
    assert refs.snapshot.content_type == "image/jpeg"
    assert len(media.store.pending()) == 2

"""Durable media store: writes, upload state, recovery after a crash, quota and disk pressure."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge_agent.media.config import MediaConfig
from edge_agent.media.store import PENDING, UPLOADED, MediaStore
from metro_common.messages import MediaKind

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 996


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_store(tmp_path: Path, free: list[int] | None = None, clock: Clock | None = None, **config) -> MediaStore:  # type: ignore[no-untyped-def]
    free_box = free if free is not None else [10**12]
    return MediaStore(
        tmp_path, "cam-store", MediaConfig(**config), clock=clock or Clock(1_000_000.0), free_disk_bytes=lambda path: free_box[0]
    )


def test_save_then_mark_uploaded(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    item = store.save_bytes(["e1"], MediaKind.SNAPSHOT, JPEG, "image/jpeg")
    assert item is not None
    assert store.path_of(item).parent.name == PENDING
    assert store.read(item) == JPEG
    assert item.ref().size_bytes == len(JPEG)
    assert [i.stem for i in store.pending()] == [item.stem]
    done = store.mark_uploaded(item, "e1")
    assert done is not None
    assert done.folder == UPLOADED
    assert store.path_of(done).is_file()
    assert not (tmp_path / "cam-store" / PENDING / item.filename).exists()
    assert store.pending() == []


def test_shared_clip_waits_for_every_event(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    item = store.save_bytes(["a", "b"], MediaKind.CLIP, b"\x00\x00\x00\x18ftypisom" + b"y" * 100, "video/mp4")
    assert item is not None
    after_a = store.mark_uploaded(item, "a")
    assert after_a is not None
    assert after_a.folder == PENDING
    assert after_a.events_to_upload == ("b",)
    after_b = store.mark_uploaded(item, "b")
    assert after_b is not None
    assert after_b.folder == UPLOADED


def test_state_survives_restart(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    first = store.save_bytes(["e1"], MediaKind.SNAPSHOT, JPEG, "image/jpeg")
    second = store.save_bytes(["e2"], MediaKind.SNAPSHOT, JPEG + b"2", "image/jpeg")
    assert first is not None and second is not None
    store.mark_uploaded(first, "e1")
    reopened = make_store(tmp_path)
    assert [i.stem for i in reopened.pending()] == [second.stem]
    assert len(reopened.all_items()) == 2


def test_rescan_repairs_interrupted_move(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    item = store.save_bytes(["e1"], MediaKind.SNAPSHOT, JPEG, "image/jpeg")
    assert item is not None
    base = tmp_path / "cam-store"
    # Crash after the media file was renamed into uploaded/ but before its marker moved.
    os.replace(base / PENDING / item.filename, base / UPLOADED / item.filename)
    reopened = make_store(tmp_path)
    items = reopened.all_items()
    assert len(items) == 1
    assert items[0].folder == UPLOADED
    assert (base / UPLOADED / f"{item.stem}.json").is_file()
    assert not (base / PENDING / f"{item.stem}.json").exists()


def test_rescan_removes_orphans_and_partial_writes(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    base = tmp_path / "cam-store"
    (base / PENDING / "0000000000001-snapshot-ab-cd.jpg").write_bytes(JPEG)  # file without marker
    (base / "tmp" / ".x.part").write_bytes(b"half")
    marker_only = {"camera_id": "cam-store", "event_ids": ["e"], "kind": "snapshot", "sha256": "0" * 64,
                   "size_bytes": 1, "content_type": "image/jpeg", "created_at": 1.0}
    (base / PENDING / "0000000000002-snapshot-ef-gh.json").write_text(json.dumps(marker_only))
    reopened = make_store(tmp_path)
    assert reopened.all_items() == []
    assert list((base / PENDING).iterdir()) == []
    assert list((base / "tmp").iterdir()) == []
    del store


def test_quota_rejects_when_full_of_pending(tmp_path: Path) -> None:
    store = make_store(tmp_path, quota_bytes=2500)
    results = [store.save_bytes([f"e{i}"], MediaKind.SNAPSHOT, JPEG + bytes([i]), "image/jpeg") for i in range(4)]
    # 3 x 1001 bytes fit (usage stays below the quota before each write); the 4th is rejected.
    assert [r is not None for r in results] == [True, True, True, False]
    assert store.quota_rejections == 1
    assert store.usage_bytes() <= 2500 + len(JPEG) + 1


def test_quota_deletes_uploaded_first(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    store = make_store(tmp_path, clock=clock, quota_bytes=2500)
    first = store.save_bytes(["e0"], MediaKind.SNAPSHOT, JPEG + b"0", "image/jpeg")
    assert first is not None
    store.mark_uploaded(first, "e0")
    for i in range(1, 4):
        clock.now += 1
        assert store.save_bytes([f"e{i}"], MediaKind.SNAPSHOT, JPEG + bytes([i]), "image/jpeg") is not None
    stems = [i.stem for i in store.all_items()]
    assert first.stem not in stems
    assert len(store.pending()) == 3
    assert store.pressure_deletions == 0


def test_disk_pressure_deletes_pending_and_counts(tmp_path: Path) -> None:
    free = [10**9]
    clock = Clock(1_000_000.0)
    store = make_store(tmp_path, free=free, clock=clock, critical_free_bytes=5000)
    for i in range(3):
        clock.now += 1
        store.save_bytes([f"e{i}"], MediaKind.SNAPSHOT, JPEG + bytes([i]), "image/jpeg")
    free[0] = 3500  # the disk filled up from elsewhere
    plan = store.enforce_retention()
    assert plan.pressure_deletions == 2
    assert store.pressure_deletions == 2
    assert len(store.pending()) == 1


def test_max_age_spares_pending(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    store = make_store(tmp_path, clock=clock, max_age_days=1)
    uploaded = store.save_bytes(["up"], MediaKind.SNAPSHOT, JPEG + b"u", "image/jpeg")
    pending = store.save_bytes(["p"], MediaKind.SNAPSHOT, JPEG + b"p", "image/jpeg")
    assert uploaded is not None and pending is not None
    store.mark_uploaded(uploaded, "up")
    clock.now += 2 * 86400
    store.enforce_retention()
    assert [i.stem for i in store.all_items()] == [pending.stem]


def test_quota_full_of_uploaded_admits_new(tmp_path: Path) -> None:
    """A Pi restarted with its quota full of media the hub has must still store new media."""
    roomy = make_store(tmp_path, quota_bytes=10**9)
    for i in range(5):
        item = roomy.save_bytes([f"old{i}"], MediaKind.SNAPSHOT, JPEG + bytes([i]), "image/jpeg")
        assert item is not None
        roomy.mark_uploaded(item, f"old{i}")
    store = make_store(tmp_path, quota_bytes=2500)
    new = store.save_bytes(["new"], MediaKind.SNAPSHOT, JPEG + b"n", "image/jpeg")
    assert new is not None, "uploaded media must make room for new media"
    assert store.quota_rejections == 0
    assert store.usage_bytes() <= 2500
    assert [i.stem for i in store.pending()] == [new.stem]

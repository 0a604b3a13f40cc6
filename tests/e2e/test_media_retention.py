"""Hub media retention: the pure policy as tables and properties, then the periodic task in a running hub app."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from hub.cameras.registry import CameraCreate, create_camera
from hub.db import session_scope
from hub.ingest.store import store_event
from hub.media.models import EventMedia, MediaObject
from hub.media.retention import DeletionReason, HubRetentionPolicy, MediaItem, plan_retention
from metro_common.messages import EventKind
from tests.hub.conftest import make_test_settings
from tests.hub.factories import event

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
AGES = {"snapshot": 90 * DAY, "snapshot_annotated": 90 * DAY, "clip": 30 * DAY}


def item(name: str, age_days: float, size: int = 100, kinds: tuple[str, ...] = ("snapshot",),
         protected: bool = False) -> MediaItem:
    return MediaItem(name * 64, frozenset(kinds), size, NOW - timedelta(days=age_days), protected)


def deleted(items: list[MediaItem], quota: int | None = None) -> list[tuple[str, DeletionReason]]:
    plan = plan_retention(items, HubRetentionPolicy(AGES, quota), NOW)
    return [(d.sha256[0], d.reason) for d in plan]


@pytest.mark.parametrize(
    ("items", "quota", "expected"),
    [
        ([item("a", 10), item("b", 91)], None, [("b", DeletionReason.MAX_AGE)]),
        ([item("a", 31, kinds=("clip",)), item("b", 31)], None, [("a", DeletionReason.MAX_AGE)]),
        # A file linked as snapshot and clip lives as long as the snapshot.
        ([item("a", 60, kinds=("clip", "snapshot"))], None, []),
        ([item("a", 200, protected=True)], None, []),
        ([item("a", 3), item("b", 2), item("c", 1)], 250, [("a", DeletionReason.QUOTA)]),
        ([item("a", 3), item("b", 2), item("c", 1)], 100, [("a", DeletionReason.QUOTA), ("b", DeletionReason.QUOTA)]),
        ([item("a", 3, protected=True), item("b", 2), item("c", 1)], 150,
         [("b", DeletionReason.QUOTA), ("c", DeletionReason.QUOTA)]),
        ([item("a", 100), item("b", 2), item("c", 1)], 150, [("a", DeletionReason.MAX_AGE), ("b", DeletionReason.QUOTA)]),
        ([item("a", 2), item("b", 1)], 200, []),
        # An event media kind the policy does not name gets the longest age.
        ([item("a", 60, kinds=("thermal",))], None, []),
        ([], 10, []),
    ],
)
def test_policy_table(items: list[MediaItem], quota: int | None, expected: list[tuple[str, DeletionReason]]) -> None:
    assert deleted(items, quota) == expected


@pytest.mark.parametrize(
    ("max_age", "quota", "message"),
    [
        ({"snapshot": DAY, "clip": DAY}, None, "snapshot_annotated"),
        ({**AGES, "clip": timedelta(0)}, None, "'clip'"),
        (AGES, 0, "quota_bytes 0"),
    ],
)
def test_policy_rejects_bad_limits(max_age: dict[str, timedelta], quota: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HubRetentionPolicy(max_age, quota)


item_strategy = st.builds(
    MediaItem,
    sha256=st.uuids().map(lambda u: hashlib.sha256(u.bytes).hexdigest()),
    kinds=st.frozensets(st.sampled_from(sorted(AGES)), min_size=1),
    size_bytes=st.integers(1, 10_000),
    stored_at=st.integers(0, 200 * 24).map(lambda hours: NOW - timedelta(hours=hours)),
    protected=st.booleans(),
)


@given(st.lists(item_strategy, max_size=30), st.one_of(st.none(), st.integers(1, 100_000)))
def test_policy_properties(items: list[MediaItem], quota: int | None) -> None:
    policy = HubRetentionPolicy(AGES, quota)
    plan = plan_retention(items, policy, NOW)
    deleted_hashes = {d.sha256 for d in plan}
    left = [i for i in items if i.sha256 not in deleted_hashes]

    assert len(deleted_hashes) == len(plan)
    assert not any(i.protected for i in items if i.sha256 in deleted_hashes)
    assert all(i.protected or NOW - i.stored_at <= policy.max_age_of(i.kinds) for i in left)
    if quota is not None:
        unprotected_left = [i for i in left if not i.protected]
        assert sum(i.size_bytes for i in left) <= quota or not unprotected_left
        # Quota deletions take the oldest: nothing left unprotected is older than a file deleted for quota.
        quota_deleted = [i for i in items if i.sha256 in {d.sha256 for d in plan if d.reason is DeletionReason.QUOTA}]
        if quota_deleted and unprotected_left:
            assert max(i.stored_at for i in quota_deleted) <= min(i.stored_at for i in unprotected_left)


def upload(client: TestClient, token: str, camera_id: str, event_id: uuid.UUID, data: bytes) -> str:
    sha256 = hashlib.sha256(data).hexdigest()
    response = client.post(
        f"/api/v1/media/{event_id}", content=data,
        headers={"Authorization": f"Bearer {token}", "X-Camera-Id": camera_id, "X-Media-Kind": "snapshot",
                 "X-Content-SHA256": sha256, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code in (200, 201), response.text
    return sha256


def jpeg(size: int, marker: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + bytes([marker]) * (size - 4)


def test_hub_deletes_media_periodically(tmp_path: Path) -> None:
    from hub.app import create_app
    from hub.migrate import upgrade

    settings = make_test_settings(
        tmp_path, broker_port=0, media_retention_interval_s=0.3, media_quota_bytes=25_000, media_snapshot_max_age_days=7,
    )
    upgrade(settings.resolved_database_url)
    app = create_app(settings)
    camera_id = f"ret-{uuid.uuid4().hex[:8]}"
    with session_scope(app.state.session_factory) as session:
        _, token = create_camera(session, CameraCreate(id=camera_id, name="Retensi", lat=-5.1, lon=105.3,
                                                        source_kind="file"), NOW)
    ended, active, recent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with session_scope(app.state.session_factory) as session:
        for message in (event(camera_id, ended, 1), event(camera_id, ended, 2, EventKind.END), event(camera_id, active, 3),
                        event(camera_id, recent, 4), event(camera_id, recent, 5, EventKind.END)):
            store_event(session, message, NOW)

    def stored() -> set[str]:
        with app.state.session_factory() as session:
            return set(session.scalars(select(MediaObject.sha256)))

    with TestClient(app) as client:
        old_ended = upload(client, token, camera_id, ended, jpeg(10_000, 1))
        old_active = upload(client, token, camera_id, active, jpeg(10_000, 2))
        new_first = upload(client, token, camera_id, recent, jpeg(10_000, 3))
        new_second = upload(client, token, camera_id, recent, jpeg(10_000, 4))
        now = datetime.now(UTC)
        ages = {old_ended: 10 * DAY, old_active: 10 * DAY, new_first: timedelta(hours=2), new_second: timedelta(hours=1)}
        with session_scope(app.state.session_factory) as session:
            paths = {sha: settings.media_dir / session.scalar(select(MediaObject.path).where(MediaObject.sha256 == sha))
                     for sha in ages}
            # Age the first two past the 7-day limit, and order the recent two by time.
            for sha256, age in ages.items():
                session.execute(update(MediaObject).where(MediaObject.sha256 == sha256).values(stored_at=now - age))
        assert all(path.is_file() for path in paths.values())

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and stored() != {old_active, new_second}:
            time.sleep(0.2)

    # The expired file of the ended event goes, and the active event's file stays however old it is.
    # The remaining 30,000 bytes exceed the 25,000-byte quota, so the oldest unprotected file goes.
    assert stored() == {old_active, new_second}
    assert not paths[old_ended].exists()
    assert not paths[new_first].exists()
    assert paths[old_active].is_file()
    assert paths[new_second].is_file()
    with app.state.session_factory() as session:
        links = set(session.scalars(select(EventMedia.sha256)))
    assert links == {old_active, new_second}
    app.state.engine.dispose()

"""Event retention: the pure expiry rule, its SQL twin, and a purge on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.conference.models import Conference
from hub.db import session_scope
from hub.event_retention import expired_clause, is_expired, purge_expired_events, retention_cutoff
from hub.media.models import EventMedia, MediaObject
from hub.migrate import upgrade
from hub.models import Camera, Event, EventZone
from tests.hub.factories import add_camera, sha

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)
OLD = CUTOFF - timedelta(days=1)
RECENT = CUTOFF + timedelta(days=1)


@pytest.mark.parametrize(
    ("state", "start", "end", "last", "expected"),
    [
        ("ended", OLD, OLD, OLD, True),
        ("ended", OLD, None, OLD, True),  # no end time: the last message decides
        ("ended", OLD, RECENT, RECENT, False),  # started long ago, ended recently
        ("ended", OLD, OLD, RECENT, True),  # a late duplicate does not extend the end
        ("ended", RECENT, RECENT, RECENT, False),
        ("ended", CUTOFF, CUTOFF, CUTOFF, False),  # exactly at the cutoff is kept
        ("active", OLD, None, OLD, True),  # stale: the agent never sent the end
        ("active", OLD, None, RECENT, False),
        ("active", RECENT, None, RECENT, False),
        ("ended", RECENT, OLD, OLD, False),  # start after the cutoff (clock jump) is kept
    ],
)
def test_is_expired_table(state: str, start: datetime, end: datetime | None, last: datetime, expected: bool) -> None:
    assert is_expired(state, start, end, last, CUTOFF) is expected


def test_retention_cutoff_rejects_zero_days() -> None:
    with pytest.raises(ValueError, match="METRO_HUB_EVENT_RETENTION_DAYS"):
        retention_cutoff(NOW, 0)
    assert retention_cutoff(NOW, 30) == CUTOFF


def _event(camera_id: str, state: str, start: datetime, end: datetime | None, last: datetime, **fields: object) -> Event:
    return Event(
        id=str(uuid.uuid4()), camera_id=camera_id, last_seq=3, state=state, label="person", score=0.7,
        start_ts=start, end_ts=end, last_ts=last, end_reason="left_view" if state == "ended" else None,
        clock_synced=True, box={}, zones=[], received_at=last, updated_at=last, **fields,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = request.getfixturevalue("throwaway_postgres") if request.param == "postgres" else f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)
    return str(url)


@pytest.fixture()
def factory(database_url: str):  # type: ignore[no-untyped-def]
    from hub.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_sql_clause_matches_rule(factory) -> None:  # type: ignore[no-untyped-def]
    times = (OLD, CUTOFF, RECENT)
    expected: dict[str, bool] = {}
    with session_scope(factory) as session:
        add_camera(session, "cam-rule")
        for state, start, end, last in itertools.product(("ended", "active"), times, (None, *times), times):
            row = _event("cam-rule", state, start, end, last)
            session.add(row)
            expected[row.id] = is_expired(state, start, end, last, CUTOFF)
    with session_scope(factory) as session:
        selected = set(session.scalars(select(Event.id).where(expired_clause(CUTOFF))))
    assert selected == {event_id for event_id, expired in expected.items() if expired}
    assert 0 < len(selected) < len(expected)


def _store_file(session, media_dir: Path, camera_id: str, sha256: str) -> Path:  # type: ignore[no-untyped-def]
    relative = f"{sha256[:2]}/{sha256}.jpg"
    path = media_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8fake")
    session.add(MediaObject(sha256=sha256, content_type="image/jpeg", size_bytes=6, path=relative, camera_id=camera_id, stored_at=OLD))
    return path


def test_purge_deletes_expired_events_and_media(factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    media_dir = tmp_path / "media"
    with session_scope(factory) as session:
        add_camera(session, "cam-ret")
        expired = _event("cam-ret", "ended", OLD, OLD, OLD, snapshot_sha256=sha("a"))
        stale = _event("cam-ret", "active", OLD, None, OLD)
        kept = _event("cam-ret", "ended", OLD, RECENT, RECENT, snapshot_sha256=sha("c"))
        session.add_all([expired, stale, kept])
        session.flush()
        session.add(EventZone(event_id=expired.id, zone="jalan"))
        own_file = _store_file(session, media_dir, "cam-ret", sha("a"))
        clip_file = _store_file(session, media_dir, "cam-ret", sha("b"))
        shared_file = _store_file(session, media_dir, "cam-ret", sha("c"))
        for event_id, kind, sha256 in [
            (expired.id, "snapshot", sha("a")), (expired.id, "clip", sha("b")),
            (stale.id, "snapshot", sha("c")), (kept.id, "snapshot", sha("c")),
        ]:
            session.add(EventMedia(event_id=event_id, camera_id="cam-ret", kind=kind, sha256=sha256, uploaded_at=OLD))
        camera = session.get(Camera, "cam-ret")
        camera.last_snapshot_sha256, camera.last_snapshot_event_id, camera.last_snapshot_ts = sha("a"), expired.id, OLD
        session.add(Conference(
            id=str(uuid.uuid4()), room="a" * 28, backend="jitsi", subject_kind="event", event_id=expired.id, title="Kejadian",
            scheduled_start=OLD, expires_at=OLD + timedelta(hours=1), lobby=True, recording=False, created_at=OLD,
        ))
        kept_id = kept.id

    result = purge_expired_events(factory, media_dir, NOW, 30, batch_size=1)

    assert (result.events, result.media_links, result.media_files) == (2, 3, 2)
    with session_scope(factory) as session:
        assert set(session.scalars(select(Event.id))) == {kept_id}
        assert session.scalars(select(EventZone)).all() == []
        assert set(session.scalars(select(EventMedia.event_id))) == {kept_id}
        assert set(session.scalars(select(MediaObject.sha256))) == {sha("c")}
        camera = session.get(Camera, "cam-ret")
        assert camera.last_snapshot_sha256 is None
        assert camera.last_snapshot_event_id is None
        assert session.scalars(select(Conference.event_id)).one() is None
    assert not own_file.exists()
    assert not clip_file.exists()
    assert shared_file.exists(), "a file another event links must stay"

    again = purge_expired_events(factory, media_dir, NOW, 30)
    assert again.events == 0

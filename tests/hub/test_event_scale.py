"""The event list with 100,000 rows: every filter walks an index, and pages stay fast."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from hub.api.events import EventFilter, build_query, encode_cursor, list_events_page
from hub.db import make_engine, make_session_factory
from hub.migrate import upgrade
from hub.models import Camera, Event, EventZone
from tests.hub.factories import BOX, T0

ROWS = 100_000
CAMERAS = 50
LABELS = ("person", "car", "motorcycle", "bus", "truck")


def _fill(engine: Engine) -> None:
    cameras = [
        {"id": f"cam-{i:03d}", "name": f"Camera {i}", "lat": 0.0, "lon": 0.0, "address": "", "source_kind": "file",
         "created_at": T0, "updated_at": T0, "state": "online"}
        for i in range(CAMERAS)
    ]
    events = []
    zones = []
    for i in range(ROWS):
        start = T0 + timedelta(seconds=i * 7)
        event_id = str(uuid.UUID(int=i + 1))
        events.append({
            "id": event_id, "camera_id": f"cam-{i % CAMERAS:03d}", "last_seq": 1, "state": "ended",
            "label": LABELS[i % len(LABELS)], "score": 0.8, "start_ts": start, "end_ts": start, "last_ts": start,
            "end_reason": "left_view", "clock_synced": True, "box": BOX.model_dump(), "zones": [],
            "received_at": start, "updated_at": start,
        })
        if i % 10 == 0:
            zones.append({"event_id": event_id, "zone": "gate"})
    with engine.begin() as connection:
        connection.execute(insert(Camera), cameras)
        for chunk in range(0, ROWS, 10_000):
            connection.execute(insert(Event), events[chunk:chunk + 10_000])
        connection.execute(insert(EventZone), zones)
        connection.execute(text("ANALYZE"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def big_engine(request, tmp_path_factory) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'scale.db'}"
        cleanup = None
    else:
        from tests.hub.conftest import create_throwaway_database

        url, cleanup = create_throwaway_database(request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = make_engine(url)
    _fill(engine)
    yield engine
    engine.dispose()
    if cleanup:
        cleanup()


def _plan(engine: Engine, filters: EventFilter) -> str:
    """Return the database's plan for one page after a cursor."""
    cursor = (T0 + timedelta(days=3), str(uuid.UUID(int=5)))
    compiled = build_query(filters, cursor, 51).compile(engine)
    params = compiled.construct_params()
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            values = tuple(params[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), values).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN " + str(compiled), params).all()
    return "\n".join(" ".join(str(column) for column in row) for row in rows)


FILTERS = {
    "none": EventFilter(),
    "camera": EventFilter(camera_id="cam-007"),
    "label": EventFilter(label="bus"),
    "zone": EventFilter(zone="gate"),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_event_list_fast_with_100k(big_engine: Engine, name: str) -> None:
    factory = make_session_factory(big_engine)
    timings = []
    with factory() as session:
        page = list_events_page(session, FILTERS[name], None, 50)
        assert len(page.items) == 50
        for _ in range(5):
            started = time.perf_counter()
            page = list_events_page(session, FILTERS[name], page.next_cursor, 50)
            timings.append(time.perf_counter() - started)
            assert len(page.items) == 50
    worst_ms = max(timings) * 1000
    print(f"{big_engine.dialect.name} filter={name}: worst page {worst_ms:.1f} ms")
    # Generous bound for a shared 2-core test machine; a full scan plus sort of 100k rows takes far longer.
    assert worst_ms < 250


@pytest.mark.parametrize("name", ["none", "camera", "label"])
def test_event_list_uses_index(big_engine: Engine, name: str) -> None:
    plan = _plan(big_engine, FILTERS[name])
    assert "ix_events_" in plan, f"no events index in the plan:\n{plan}"
    if big_engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, f"the sort is not served by an index:\n{plan}"
    else:
        assert "Sort" not in plan, f"the sort is not served by an index:\n{plan}"


def test_cursor_roundtrip() -> None:
    from hub.api.events import decode_cursor

    stamp = T0 + timedelta(microseconds=123)
    assert decode_cursor(encode_cursor(stamp, "abc")) == (stamp, "abc")

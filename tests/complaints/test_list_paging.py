"""Keyset pages of the complaint queue on SQLite and PostgreSQL: complete, in order, indexed, confidential."""

from __future__ import annotations

import base64
import html
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, text
from sqlalchemy.engine import Engine

from hub.complaints import service, workflow
from hub.complaints.cursor import NEWEST_FIRST, OLDEST_FIRST, decode_cursor, encode_cursor
from hub.complaints.models import Complaint, OpdMember
from hub.db import make_engine, make_session_factory
from hub.migrate import upgrade
from tests.complaints.conftest import make_app
from tests.hub.conftest import add_user, login

ROWS = 3_000
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
OPDS = ("putr", "dishub", "dlh")
CATEGORIES = ("jalan-rusak", "lampu-jalan", "sampah", "drainase")
STATUSES = ("belum_terverifikasi", "terverifikasi", "didisposisikan", "dalam_proses", "selesai")
STAFF = service.Viewer("staff", 1, None, "verifikator")


def _complaint_rows(rows: int) -> list[dict[str, Any]]:
    """Build rows where every three share one created_at, so the id decides their order."""
    items = []
    for index in range(rows):
        created = NOW - timedelta(minutes=index // 3 * 30)
        status = STATUSES[index % len(STATUSES)]
        items.append({
            "id": index + 1, "tracking_code": f"T{index:09d}", "open311_token": uuid.uuid4().hex,
            "classification": "pengaduan", "category_code": CATEGORIES[index % len(CATEGORIES)],
            "opd_code": OPDS[index % len(OPDS)] if status != "belum_terverifikasi" else None, "status": status,
            "version": 1, "lat": -5.11, "lon": 105.30, "address": "Jl. Jenderal Sudirman",
            "description": f"Laporan nomor {index}", "contact_name": f"Pelapor Rahasia {index}",
            "contact_phone": "081234567890", "contact_email": None, "anonymous": index % 2 == 0,
            "confidential": index % 5 == 0, "source": "web", "created_at": created, "updated_at": created,
            "verify_due_at": created + timedelta(days=3),
            "follow_up_due_at": created + timedelta(days=5) if status == "didisposisikan" else None,
        })
    return items


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def queue_engine(request, tmp_path_factory) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('queue') / 'queue.db'}"
        cleanup = None
    else:
        from tests.hub.conftest import create_throwaway_database

        url, cleanup = create_throwaway_database(request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(Complaint), _complaint_rows(ROWS))
        connection.execute(text("ANALYZE"))
    yield engine
    engine.dispose()
    if cleanup:
        cleanup()


def _expected(overdue: bool = False, rows_seeded: int = ROWS, **where: str) -> list[int]:
    """Return the ids in queue order, computed in Python from the seeded rows."""
    rows = [row for row in _complaint_rows(rows_seeded) if all(row[key] == value for key, value in where.items())]
    if overdue:
        rows = [
            row for row in rows
            if (row["status"] == "belum_terverifikasi" and row["verify_due_at"] < NOW)
            or (row["status"] == "didisposisikan" and row["follow_up_due_at"] < NOW)
        ]
        return [row["id"] for row in sorted(rows, key=lambda row: (row["created_at"], row["id"]))]
    return [row["id"] for row in sorted(rows, key=lambda row: (row["created_at"], row["id"]), reverse=True)]


def _walk(engine: Engine, viewer: service.Viewer, limit: int, **filters: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    with make_session_factory(engine)() as session:
        for _ in range(ROWS):
            page = service.queue_page(session, viewer=viewer, now=NOW, limit=limit, cursor=cursor, **filters)
            seen.extend(row.id for row in page.rows)
            if page.next_cursor is None:
                return seen
            assert len(page.rows) == limit
            cursor = page.next_cursor
    raise AssertionError("the cursor walk did not end")


FILTERS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "none": ({}, {}),
    "status": ({"status": workflow.Status.SELESAI}, {"status": "selesai"}),
    "category": ({"category": "sampah"}, {"category_code": "sampah"}),
    "opd": ({"opd": "dlh"}, {"opd_code": "dlh"}),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_cursor_walk_matches_full_order(queue_engine: Engine, name: str) -> None:
    filters, where = FILTERS[name]
    assert _walk(queue_engine, STAFF, 97, **filters) == _expected(**where)


def test_overdue_walk_oldest_first(queue_engine: Engine) -> None:
    expected = _expected(overdue=True)
    assert len(expected) > 100
    assert _walk(queue_engine, STAFF, 41, overdue=True) == expected


def test_opd_viewer_pages_only_own_opd(queue_engine: Engine) -> None:
    officer = service.Viewer("opd", 2, "dishub", "petugas")
    assert _walk(queue_engine, officer, 113) == _expected(opd_code="dishub")


def test_public_viewer_lists_nothing(queue_engine: Engine) -> None:
    with make_session_factory(queue_engine)() as session:
        page = service.queue_page(session, viewer=service.PUBLIC, now=NOW, limit=10)
    assert page.rows == []
    assert page.next_cursor is None


def test_offset_still_pages(queue_engine: Engine) -> None:
    with make_session_factory(queue_engine)() as session:
        page = service.queue_page(session, viewer=STAFF, now=NOW, limit=10, offset=25)
    assert [row.id for row in page.rows] == _expected()[25:35]
    assert page.next_cursor is not None


def _plans(engine: Engine, viewer: service.Viewer, **filters: Any) -> list[str]:
    """Run one page after a cursor and return the database's plan of each statement it sent."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    order = OLDEST_FIRST if filters.get("overdue") else NEWEST_FIRST
    cursor = encode_cursor(NOW - timedelta(days=2), 1500, order)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with make_session_factory(engine)() as session:
            service.queue_page(session, viewer=viewer, now=NOW, limit=50, cursor=cursor, **filters)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    with engine.connect() as connection:
        for statement, parameters in statements:
            if "FROM complaints" in statement:
                rows = connection.exec_driver_sql(prefix + statement, parameters).all()
                plans.append("\n".join(" ".join(str(column) for column in row) for row in rows))
    return plans


@pytest.mark.parametrize("name", ["none", "status", "category", "opd", "officer", "overdue"])
def test_queue_page_uses_index_without_sort(queue_engine: Engine, name: str) -> None:
    viewer = service.Viewer("opd", 2, "dishub", "petugas") if name == "officer" else STAFF
    filters = {"overdue": True} if name == "overdue" else FILTERS.get(name, ({}, {}))[0]
    plans = _plans(queue_engine, viewer, **filters)
    assert len(plans) == 1, plans
    plan = plans[0]
    assert "ix_complaints_" in plan, f"no complaints index in the plan:\n{plan}"
    if name == "overdue":
        # PostgreSQL may fetch a small overdue set through the status index and sort it,
        # which is as cheap as an ordered scan; only the use of an index is required here.
        return
    if queue_engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, f"the sort is not served by an index:\n{plan}"
    else:
        assert "Sort" not in plan, f"the sort is not served by an index:\n{plan}"


def _raw(text_value: str) -> str:
    return base64.urlsafe_b64encode(text_value.encode()).decode().rstrip("=")


def test_cursor_roundtrip() -> None:
    stamp = NOW + timedelta(microseconds=17)
    assert decode_cursor(encode_cursor(stamp, 42, NEWEST_FIRST), NEWEST_FIRST) == (stamp, 42)
    assert decode_cursor(encode_cursor(stamp, 42, OLDEST_FIRST), OLDEST_FIRST) == (stamp, 42)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 !",
        encode_cursor(NOW, 42, OLDEST_FIRST),  # made for the other sort order
        _raw("n|2026-06-01T03:00:00|42"),  # no UTC offset
        _raw("n|2026-06-01T03:00:00+00:00|x"),
        _raw("n|2026-06-01T03:00:00+00:00|0"),
        _raw("n|2026-06-01T03:00:00+00:00"),
        _raw("n|yesterday|42"),
    ],
)
def test_invalid_cursor_rejected(cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid complaint cursor"):
        decode_cursor(cursor, NEWEST_FIRST)


# ------------------------------------------------------------------------ HTTP


@pytest.fixture()
def queue_client(tmp_path, complaint_settings) -> Iterator[tuple[Any, TestClient]]:  # type: ignore[no-untyped-def]
    app = make_app(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, complaint_settings)
    with app.state.engine.begin() as connection:
        connection.execute(insert(Complaint), _complaint_rows(60))
    with TestClient(app) as client:
        yield app, client
    app.state.engine.dispose()


def test_api_walks_pages_by_next_cursor(queue_client: tuple[Any, TestClient]) -> None:
    app, client = queue_client
    add_user(app, "verifikator", "operator")
    login(client, "verifikator")
    ids: list[int] = []
    url = "/api/v1/complaints?limit=7"
    body = client.get(url).json()
    ids.extend(item["id"] for item in body["items"])
    while body["next_cursor"] is not None:
        body = client.get(f"{url}&cursor={body['next_cursor']}").json()
        ids.extend(item["id"] for item in body["items"])
    assert ids == _expected(rows_seeded=60)
    listed = client.get("/api/v1/complaints?limit=500").text
    assert "Pelapor Rahasia" not in listed
    assert "081234567890" not in listed


def test_api_rejects_bad_cursor(queue_client: tuple[Any, TestClient]) -> None:
    app, client = queue_client
    add_user(app, "verifikator", "operator")
    login(client, "verifikator")
    bad = client.get("/api/v1/complaints?cursor=zzz")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "bad_cursor"
    newest_cursor = client.get("/api/v1/complaints?limit=5").json()["next_cursor"]
    assert client.get(f"/api/v1/complaints?overdue=true&cursor={newest_cursor}").status_code == 400
    both = client.get(f"/api/v1/complaints?offset=5&cursor={newest_cursor}")
    assert both.status_code == 422
    assert both.json()["error"]["code"] == "cursor_with_offset"


def test_api_officer_pages_own_opd(queue_client: tuple[Any, TestClient]) -> None:
    app, client = queue_client
    add_user(app, "petugas-dlh", "operator")
    with app.state.session_factory() as session:
        user_id = session.execute(text("SELECT id FROM users WHERE username = 'petugas-dlh'")).scalar_one()
        session.add(OpdMember(user_id=user_id, opd_code="dlh"))
        session.commit()
    login(client, "petugas-dlh")
    body = client.get("/api/v1/complaints?limit=4").json()
    opds = {item["opd"] for item in body["items"]}
    while body["next_cursor"] is not None:
        body = client.get(f"/api/v1/complaints?limit=4&cursor={body['next_cursor']}").json()
        opds |= {item["opd"] for item in body["items"]}
    assert opds == {"dlh"}


def test_queue_page_links_next_page(queue_client: tuple[Any, TestClient]) -> None:
    app, client = queue_client
    with app.state.engine.begin() as connection:
        connection.execute(insert(Complaint), [row | {"id": row["id"] + 60, "tracking_code": f"U{row['id']:09d}"} for row in _complaint_rows(400)])
    add_user(app, "verifikator", "operator")
    login(client, "verifikator")
    first = client.get("/operator/laporan?category=sampah")
    assert first.status_code == 200
    match = re.search(r'href="(/operator/laporan\?[^"]*cursor=[^"]+)" rel="next"', first.text)
    assert match is not None, "no next-page link on a full page"
    next_url = html.unescape(match.group(1))
    assert "category=sampah" in next_url
    second = client.get(next_url)
    assert second.status_code == 200
    assert 'rel="next"' not in second.text
    first_ids = set(re.findall(r'href="/operator/laporan/(\d+)"', first.text))
    second_ids = set(re.findall(r'href="/operator/laporan/(\d+)"', second.text))
    assert len(first_ids) == 100
    assert len(second_ids) == 15  # 115 complaints of the category in all
    assert not first_ids & second_ids
    assert "Pelapor Rahasia" not in first.text + second.text
    stale = client.get("/operator/laporan?cursor=zzz")
    assert stale.status_code == 200
    assert len(set(re.findall(r'href="/operator/laporan/(\d+)"', stale.text))) == 100

"""Dashboard pages render, require login, and escape device- and user-supplied text."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.db import session_scope
from hub.ingest import store
from hub.media.models import EventMedia
from hub.models import Command
from metro_common.messages import CameraState, CommandResultMessage, EventKind, StatusMessage
from tests.hub.conftest import add_user, login
from tests.hub.factories import T0, add_camera, event, sha, stats

HOSTILE_NAME = '<script>alert("name")</script>'
HOSTILE_ADDRESS = "<img src=x onerror=alert(1)>"
HOSTILE_REASON = "</dd><script>alert('reason')</script>"
HOSTILE_ZONE = '"><svg onload=alert(1)>'
HOSTILE_DETAIL = "<iframe src=javascript:alert(1)>"


@pytest.fixture()
def seeded(hub_app):  # type: ignore[no-untyped-def]
    event_id = uuid.uuid4()
    command_id = uuid.uuid4()
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-x", name=HOSTILE_NAME, address=HOSTILE_ADDRESS)
        store.store_status(
            session,
            StatusMessage(camera_id="cam-x", state=CameraState.STOPPED, ts=T0, clock_synced=False,
                          agent_version="0.1", reason=HOSTILE_REASON),
            T0,
        )
        store.store_stats(session, stats("cam-x", T0), T0)
        store.store_event(session, event("cam-x", event_id, 1, zones=(HOSTILE_ZONE,), snapshot=sha("f")), T0)
        session.add(Command(id=str(command_id), camera_id="cam-x", name="snapshot", args={}, issued_at=T0,
                            expires_at=T0 + timedelta(minutes=1)))
        session.flush()
        store.store_command_result(
            session, CommandResultMessage(camera_id="cam-x", command_id=command_id, ts=T0, ok=False, detail=HOSTILE_DETAIL), T0
        )
    add_user(hub_app, "ops", "operator")
    return hub_app, str(event_id)


def _assert_escaped(html: str) -> None:
    for raw in (HOSTILE_NAME, HOSTILE_ADDRESS, HOSTILE_REASON, HOSTILE_ZONE, HOSTILE_DETAIL):
        assert raw not in html, f"unescaped hostile text {raw!r}"
    assert "<script>alert" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")


def test_pages_escape_hostile_text(seeded) -> None:  # type: ignore[no-untyped-def]
    app, event_id = seeded
    with TestClient(app) as client:
        login(client, "ops")
        pages = {
            "/": client.get("/"),
            "/events": client.get("/events"),
            f"/events/{event_id}": client.get(f"/events/{event_id}"),
            "/cameras/cam-x": client.get("/cameras/cam-x"),
            "/map": client.get("/map"),
        }
    for path, response in pages.items():
        assert response.status_code == 200, path
        _assert_escaped(response.text)
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in pages["/"].text
    assert "&lt;iframe src=javascript:alert(1)&gt;" in pages["/cameras/cam-x"].text
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in pages[f"/events/{event_id}"].text


def test_pages_show_snapshot_and_feed(seeded) -> None:  # type: ignore[no-untyped-def]
    app, event_id = seeded
    with TestClient(app) as client:
        login(client, "ops")
        dashboard = client.get("/").text
        detail = client.get(f"/events/{event_id}").text
    assert f'data-event-id="{event_id}"' in dashboard
    assert 'href="/konferensi"' in dashboard, "navigation must reach the conference pages"
    assert f"/media/{sha('f')}" in dashboard
    assert f'src="/media/{sha("f")}"' in detail


def test_pages_redirect_to_login(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        response = client.get("/events?label=car", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fevents%3Flabel%3Dcar"


def test_pages_english_switch(seeded) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded
    with TestClient(app) as client:
        login(client, "ops")
        indonesian = client.get("/cameras/cam-x").text
        english = client.get("/cameras/cam-x?lang=en").text
    assert "Riwayat kesehatan" in indonesian
    assert "Berhenti" in indonesian
    assert "Health history" in english
    assert "Stopped" in english


def test_camera_command_form(seeded) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded
    with TestClient(app) as client:
        token = login(client, "ops")
        response = client.post("/cameras/cam-x/commands", data={"name": "snapshot", "csrf_token": token},
                               follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/cameras/cam-x?sent=1"
        page = client.get(response.headers["location"] + "&lang=en").text
    assert "Command sent." in page
    assert 'snapshot · <span data-role="status">pending</span>' in page


def test_viewer_cannot_command(seeded) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded
    add_user(app, "watch", "viewer")
    with TestClient(app) as client:
        token = login(client, "watch")
        assert "cmd_snapshot" not in client.get("/cameras/cam-x").text
        response = client.post("/cameras/cam-x/commands", data={"name": "snapshot", "csrf_token": token})
        assert response.status_code == 403


def test_missing_camera_page_is_html(seeded) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded
    with TestClient(app) as client:
        login(client, "ops")
        response = client.get("/cameras/cam-nope?lang=en")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Camera cam-nope not found." in response.text


def test_event_page_folds_replaced_snapshots(seeded) -> None:  # type: ignore[no-untyped-def]
    app, event_id = seeded
    with session_scope(app.state.session_factory) as session:
        store.store_event(session, event("cam-x", uuid.UUID(event_id), 2, EventKind.UPDATE, snapshot=sha("e")), T0)
        for char in "fe":
            session.add(EventMedia(event_id=event_id, camera_id="cam-x", kind="snapshot", sha256=sha(char), uploaded_at=T0))
    with TestClient(app) as client:
        login(client, "ops")
        detail = client.get(f"/events/{event_id}").text
    current, _, folded = detail.partition('class="earlier-snapshots"')
    assert f'src="/media/{sha("e")}"' in current, "the newest best snapshot is shown first"
    assert f'src="/media/{sha("f")}"' not in current
    assert f'src="/media/{sha("f")}"' in folded, "the replaced snapshot stays reachable"
    assert "Cuplikan sebelumnya (1)" in folded

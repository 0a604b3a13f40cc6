"""Pages that several features share: conference panels, navigation and page errors."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from hub.db import session_scope
from hub.ingest import store
from tests.complaints.conftest import submit
from tests.hub.conftest import add_user, login
from tests.hub.factories import add_camera, event, sha


@pytest.fixture()
def event_id(hub_app) -> str:  # type: ignore[no-untyped-def]
    """One active event on a new camera, with a snapshot reference."""
    new_id = uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-int", name="Simpang Tugu")
        store.store_event(session, event("cam-int", new_id, 1, at=now, snapshot=sha("a")), now)
    add_user(hub_app, "oki", "operator")
    add_user(hub_app, "vera", "viewer")
    return str(new_id)


def complaint_id_of(app, tracking_code: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from hub.complaints.models import Complaint

    with session_scope(app.state.session_factory) as session:
        return int(session.scalar(select(Complaint.id).where(Complaint.tracking_code == tracking_code)))


def nav_hrefs(html: str) -> list[str]:
    """Return the link targets of the top navigation, in order."""
    match = re.search(r"<nav [^>]*>(.*?)</nav>", html, re.S)
    assert match, "page has no <nav>"
    return re.findall(r'href="([^"]+)"', match.group(1))


def test_event_page_starts_conference(hub_app, event_id: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        token = login(client, "oki")
        page = client.get(f"/events/{event_id}")
        assert page.status_code == 200
        assert "Mulai telekonferensi" in page.text
        assert f'name="event_id" value="{event_id}"' in page.text

        started = client.post(
            "/konferensi/baru", data={"csrf_token": token, "subject_kind": "event", "event_id": event_id},
            follow_redirects=False,
        )
        assert started.status_code == 303, started.text
        assert started.headers["location"].startswith("/konferensi/")

        after = client.get(f"/events/{event_id}").text
        english = client.get(f"/events/{event_id}?lang=en").text
    assert "oki memulai telekonferensi" in after, "the timeline must list the new conference"
    assert "Start teleconference" in english


def test_event_page_hides_start_from_viewer(hub_app, event_id: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        login(client, "vera")
        page = client.get(f"/events/{event_id}").text
    assert "Telekonferensi" in page
    assert 'action="/konferensi/baru"' not in page


def test_complaint_page_shows_conference_panel(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "oki", "operator")
    with TestClient(hub_app) as client:
        token = login(client, "oki")
        created = submit(client, token)
        assert created.status_code == 201, created.text
        complaint_id = complaint_id_of(hub_app, created.json()["tracking_code"])
        page = client.get(f"/operator/laporan/{complaint_id}")
        assert page.status_code == 200
        assert 'class="card conference-panel"' in page.text
        assert f'name="complaint_id" value="{complaint_id}"' in page.text

        started = client.post(
            "/konferensi/baru", data={"csrf_token": token, "subject_kind": "complaint", "complaint_id": str(complaint_id)},
            follow_redirects=False,
        )
        assert started.status_code == 303, started.text
        after = client.get(f"/operator/laporan/{complaint_id}").text
    assert "oki memulai telekonferensi" in after


@pytest.mark.parametrize("path", ["/", "/live", "/operator/laporan", "/konferensi", "/events"])
def test_navigation_lists_each_link_once(hub_app, path: str) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "vera", "viewer")
    with TestClient(hub_app) as client:
        login(client, "vera")
        page = client.get(path)
    assert page.status_code == 200, path
    links = nav_hrefs(page.text)
    assert links == ["/", "/events", "/map", "/live", "/operator/laporan", "/konferensi"]

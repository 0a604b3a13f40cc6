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


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/events?label=car", "/events?label=car"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("events", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/ /evil.example", "/"),
    ],
)
def test_safe_next_path_table(value: str | None, expected: str) -> None:
    from hub.errors import safe_next_path

    assert safe_next_path(value) == expected


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/events", True), ("/konferensi/x", True), ("/lapor", True), ("/docs", True),
        ("/api/v1/events", False), ("/open311/v2/services.json", False), ("/media/abc", False),
        ("/healthz", False), ("/readyz", False), ("/metrics", False), ("/openapi.json", False),
        ("/static/css/app.css", False),
    ],
)
def test_is_page_path_table(path: str, page: bool) -> None:
    from hub.errors import is_page_path

    assert is_page_path(path) is page


def test_unknown_page_is_html_in_both_languages(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        indonesian = client.get("/tidak-ada")
        english = client.get("/tidak-ada?lang=en")
        api = client.get("/api/v1/tidak-ada")
        open311 = client.get("/open311/tidak-ada")
    assert indonesian.status_code == 404
    assert indonesian.headers["content-type"].startswith("text/html")
    assert "Tidak ditemukan." in indonesian.text
    assert '<html lang="id">' in indonesian.text
    assert "Not found." in english.text
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    assert open311.headers["content-type"].startswith("application/json")


def test_machine_paths_keep_json(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        health = client.post("/healthz", headers={"Authorization": "Bearer x"})
        openapi = client.get("/openapi.json")
        docs = client.get("/docs")
        unauthorised = client.get("/api/v1/events")
    assert health.status_code == 405
    assert health.json()["error"]["code"] == "method_not_allowed"
    assert openapi.status_code == 200
    assert openapi.json()["info"]["title"] == "Metro Command Center hub"
    assert docs.status_code == 404, "Swagger UI needs a CDN and inline scripts; the hub must not serve it"
    assert unauthorised.status_code == 401
    assert unauthorised.json()["error"]["code"] == "unauthorized"


def test_page_401_redirects_to_login(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        page = client.get("/konferensi?lang=en", headers={"Accept": "*/*"}, follow_redirects=False)
        form = client.post("/konferensi/baru", data={"subject_kind": "meeting"}, headers={"Authorization": "Bearer x"},
                           follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fkonferensi%3Flang%3Den"
    assert form.status_code == 303
    assert form.headers["location"] == "/login?next=%2Fkonferensi%2Fbaru"


def test_login_ignores_foreign_next(hub_app) -> None:  # type: ignore[no-untyped-def]
    from tests.hub.conftest import TEST_PASSWORD, csrf_from

    add_user(hub_app, "oki", "operator")
    with TestClient(hub_app) as client:
        token = csrf_from(client)
        response = client.post(
            "/login", data={"username": "oki", "password": TEST_PASSWORD, "csrf_token": token, "next": "/\t/evil.example"},
            follow_redirects=False,
        )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_page_403_and_422_are_html(hub_app, event_id: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        viewer_token = login(client, "vera")
        forbidden = client.post("/konferensi/baru", data={"csrf_token": viewer_token, "subject_kind": "meeting"})
        client.cookies.clear()
        operator_token = login(client, "oki")
        invalid = client.post("/cameras/cam-int/commands?lang=en", data={"csrf_token": operator_token, "name": "reboot"})
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert "Anda tidak berhak melakukan tindakan ini." in forbidden.text
    assert invalid.status_code == 422
    assert "Invalid data: name" in invalid.text
    assert "<nav" in invalid.text


def test_page_csrf_failure_is_html(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "oki", "operator")
    with TestClient(hub_app) as client:
        login(client, "oki")
        page = client.post("/konferensi/baru", data={"csrf_token": "stale", "subject_kind": "meeting"})
        api = client.post("/api/conferences", json={"subject_kind": "meeting"})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>403</h1>" in page.text
    assert "Formulir kedaluwarsa" in page.text
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "csrf_failed"


def test_page_500_is_html(hub_app) -> None:  # type: ignore[no-untyped-def]
    def explode() -> None:
        raise RuntimeError("test failure")

    hub_app.add_api_route("/rusak", explode)
    hub_app.add_api_route("/api/v1/rusak", explode)
    with TestClient(hub_app, raise_server_exceptions=False) as client:
        page = client.get("/rusak")
        api = client.get("/api/v1/rusak")
    assert page.status_code == 500
    assert "Terjadi kesalahan pada server." in page.text
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "internal_error"


def test_unknown_page_keeps_navigation(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "oki", "operator")
    with TestClient(hub_app) as client:
        login(client, "oki")
        page = client.get("/tidak-ada")
    assert page.status_code == 404
    assert nav_hrefs(page.text)[:3] == ["/", "/events", "/map"]
    assert "Masuk sebagai oki" in page.text


def test_object_labels_translated(hub_app, event_id: str) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        login(client, "oki")
        indonesian = client.get(f"/events/{event_id}").text
        english = client.get(f"/events/{event_id}?lang=en").text
        dashboard = client.get("/?lang=id").text
    assert "Kejadian orang di Simpang Tugu" in indonesian
    assert "Event: person at Simpang Tugu" in english
    assert "Simpang Tugu · orang" in dashboard
    assert '"object.person": "orang"' in dashboard, "the live feed script needs the label names"


def test_label_helpers_fall_back() -> None:
    from hub.web.texts import end_reason_text, object_label

    assert object_label("car", "id") == "mobil"
    assert object_label("car", "en") == "car"
    assert object_label("forklift", "id") == "forklift"
    assert end_reason_text("left_view", "id") == "objek keluar dari pandangan"
    assert end_reason_text("teleported", "en") == "teleported"

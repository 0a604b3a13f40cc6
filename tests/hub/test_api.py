"""Core API: cameras, events with filters and keyset pagination, commands, health, metrics."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from hub.db import session_scope
from hub.ingest import store
from metro_common.messages import CameraState, EventKind
from tests.hub.conftest import add_user, csrf_from, login
from tests.hub.factories import T0, add_camera, event, sha, stats, status

NOW = T0 + timedelta(minutes=5)


@pytest.fixture()
def admin(hub_app):  # type: ignore[no-untyped-def]
    add_user(hub_app, "root-admin", "admin")
    with TestClient(hub_app) as client:
        client.headers["X-CSRF-Token"] = login(client, "root-admin")
        yield client


def test_camera_create_returns_token_once(admin) -> None:  # type: ignore[no-untyped-def]
    body = {"id": "cam-77", "name": "Pasar Cendrawasih", "lat": -5.11, "lon": 105.30, "source_kind": "rtsp"}
    created = admin.post("/api/v1/cameras", json=body)
    assert created.status_code == 201, created.text
    token = created.json()["device_token"]
    assert len(token) >= 40
    listed = admin.get("/api/v1/cameras").json()
    assert [c["id"] for c in listed] == ["cam-77"]
    assert "device_token" not in listed[0]
    assert listed[0]["state"] == "unknown"
    duplicate = admin.post("/api/v1/cameras", json=body)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "camera_exists"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "Cam 7"), ("lat", 91), ("lon", -181), ("name", ""), ("source_kind", "vhs")],
)
def test_camera_create_invalid(admin, field: str, value) -> None:  # type: ignore[no-untyped-def]
    body = {"id": "cam-1", "name": "A", "lat": 0, "lon": 0, field: value}
    response = admin.post("/api/v1/cameras", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["message"]


def test_camera_create_needs_admin(hub_app) -> None:  # type: ignore[no-untyped-def]
    add_user(hub_app, "op", "operator")
    with TestClient(hub_app) as client:
        token = login(client, "op")
        response = client.post(
            "/api/v1/cameras", json={"id": "cam-1", "name": "A", "lat": 0, "lon": 0}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 403


def test_camera_update_and_health(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-5")
        store.store_stats(session, stats("cam-5", T0), T0)
    changed = admin.patch("/api/v1/cameras/cam-5", json={"name": "Stasiun Metro"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Stasiun Metro"
    health = admin.get("/api/v1/cameras/cam-5/health").json()
    assert len(health) == 1
    assert health[0]["fps"] == 5.0
    assert admin.get("/api/v1/cameras/nope").status_code == 404


def test_camera_state_offline_after_heartbeat_timeout(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    from hub.deps import utc_now

    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-6")
        store.store_status(session, status("cam-6", CameraState.ONLINE), T0)
    hub_app.dependency_overrides[utc_now] = lambda: T0 + timedelta(seconds=30)
    assert admin.get("/api/v1/cameras/cam-6").json()["state"] == "online"
    hub_app.dependency_overrides[utc_now] = lambda: T0 + timedelta(seconds=91)
    body = admin.get("/api/v1/cameras/cam-6").json()
    assert body["state"] == "offline"
    assert body["reported_state"] == "online"


def _seed_events(hub_app, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-a")
        add_camera(session, "cam-b")
        for index in range(count):
            camera = "cam-a" if index % 2 == 0 else "cam-b"
            message = event(camera, uuid.uuid4(), 1, label="car" if index % 3 == 0 else "person",
                            zones=("gate",) if index % 5 == 0 else ())
            message = message.model_copy(update={"start_ts": T0 + timedelta(seconds=index // 2)})
            store.store_event(session, message, NOW)
            ids.append(str(message.event_id))
    return ids


def test_events_keyset_pagination_covers_all(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    ids = _seed_events(hub_app, 23)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/api/v1/events", params=params).json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert sorted(seen) == sorted(ids), "every event exactly once across pages"
    assert len(seen) == len(set(seen))


def test_events_filters(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    _seed_events(hub_app, 30)
    cars = admin.get("/api/v1/events", params={"label": "car", "limit": 200}).json()["items"]
    assert len(cars) == 10
    assert {item["label"] for item in cars} == {"car"}
    gate = admin.get("/api/v1/events", params={"zone": "gate", "limit": 200}).json()["items"]
    assert len(gate) == 6
    camera_b = admin.get("/api/v1/events", params={"camera_id": "cam-b", "limit": 200}).json()["items"]
    assert len(camera_b) == 15
    window = admin.get(
        "/api/v1/events",
        params={"since": (T0 + timedelta(seconds=5)).isoformat(), "until": (T0 + timedelta(seconds=7)).isoformat()},
    ).json()["items"]
    assert len(window) == 4


def test_events_bad_cursor(admin) -> None:  # type: ignore[no-untyped-def]
    response = admin.get("/api/v1/events", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_cursor"


def test_event_detail_with_media(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    event_id = uuid.uuid4()
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-d")
        store.store_event(session, event("cam-d", event_id, 1, snapshot=sha("e")), NOW)
        store.store_event(session, event("cam-d", event_id, 2, EventKind.END), NOW)
    detail = admin.get(f"/api/v1/events/{event_id}").json()
    assert detail["state"] == "ended"
    assert detail["snapshot_url"] == f"/media/{sha('e')}"
    assert detail["media"][0]["kind"] == "snapshot"
    snapshot = admin.get("/api/v1/cameras/cam-d/snapshot").json()
    assert snapshot["event_id"] == str(event_id)
    assert admin.get(f"/api/v1/events/{uuid.uuid4()}").status_code == 404


def test_command_stored_without_broker(admin, hub_app) -> None:  # type: ignore[no-untyped-def]
    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-c")
    response = admin.post("/api/v1/cameras/cam-c/commands", json={"name": "snapshot", "ttl_s": 30})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["published"] is False, "no MQTT client runs in this test app"
    listed = admin.get("/api/v1/cameras/cam-c/commands").json()
    assert [c["id"] for c in listed] == [body["id"]]
    refused = admin.post("/api/v1/cameras/cam-c/commands", json={"name": "format_disk"})
    assert refused.status_code == 422


def test_openapi_documents_core_paths(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        spec = client.get("/openapi.json").json()
    for path in ("/api/v1/cameras", "/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/stream", "/readyz"):
        assert path in spec["paths"], path


def test_health_and_metrics(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503, "no broker connection in this test app"
        assert ready.json()["checks"]["database"] == "ok"
        text = client.get("/metrics").text
    assert "metro_hub_cameras_online" in text
    assert "metro_hub_ingest_rejects_total" in text or "metro_hub_ingest_messages_total" in text


def test_stream_requires_login(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        csrf_from(client)
        assert client.get("/api/v1/stream").status_code == 401

"""Complaint API on SQLite and on a throwaway PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hub.complaints.models import Complaint, ComplaintHistory, ComplaintPhoto, OpdMember
from tests.complaints.conftest import CENTRE, csrf, heic_bytes, jpeg_bytes, make_app, submit
from tests.hub.conftest import add_user, login


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"metro_complaints_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def app(database_url, tmp_path, complaint_settings):  # type: ignore[no-untyped-def]
    application = make_app(database_url, tmp_path, complaint_settings)
    yield application
    application.state.engine.dispose()


def _operator(app, client: TestClient, name: str = "verifikator", role: str = "operator") -> str:  # type: ignore[no-untyped-def]
    add_user(app, name, role)
    return str(login(client, name))


def _act(client: TestClient, token: str, complaint_id: int, action: str, version: int, **extra):  # type: ignore[no-untyped-def]
    body = {"action": action, "expected_version": version, **extra}
    return client.post(f"/api/v1/complaints/staff/{complaint_id}/transitions", json=body, headers={"X-CSRF-Token": token})


def _id_of(app, tracking_code: str) -> int:  # type: ignore[no-untyped-def]
    with app.state.session_factory() as session:
        return int(session.scalar(select(Complaint.id).where(Complaint.tracking_code == tracking_code)))


def test_submit_and_track(client: TestClient) -> None:
    token = csrf(client)
    response = submit(client, token, photos=[("IMG_0001.HEIC", heic_bytes()), ("a.jpg", jpeg_bytes())])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "belum_terverifikasi"
    assert body["status_label"] == "Belum Terverifikasi"
    assert body["created_at"].endswith("+07:00")
    code = body["tracking_code"]

    view = client.get(f"/api/v1/complaints/{code.lower()}")
    assert view.status_code == 200
    data = view.json()
    assert data["description"].endswith("🚧")
    assert len(data["photos"]) == 2
    assert "contact" not in data
    assert "Siti" not in view.text
    assert data["history"][0]["action"] == "submit"
    photo = client.get(data["photos"][0])
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"
    assert b"Exif" not in photo.content[:200]


def test_idempotent_replay(client: TestClient) -> None:
    token = csrf(client)
    first = submit(client, token, key="k-3f1c9a1e-2b7d")
    again = submit(client, token, key="k-3f1c9a1e-2b7d")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["tracking_code"] == first.json()["tracking_code"]
    reused = submit(client, token, key="k-3f1c9a1e-2b7d", description="Laporan lain")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"


def test_outside_city_rejected(client: TestClient) -> None:
    response = submit(client, csrf(client), lat="-5.4292", lon="105.2610")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "outside_city"
    assert "di luar wilayah Kota Metro" in error["message"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"category": "banjir-bandang"}, "invalid_category"),
        ({"classification": "gugatan"}, "invalid_classification"),
        ({"description": "   "}, "invalid_description"),
        ({"description": "x" * 4001}, "invalid_description"),
        ({"contact_email": "bukan-email"}, "invalid_contact"),
    ],
)
def test_invalid_submission(client: TestClient, overrides: dict[str, str], code: str) -> None:
    response = submit(client, csrf(client), **overrides)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code


def test_too_many_photos(client: TestClient) -> None:
    photos = [(f"{i}.jpg", jpeg_bytes()) for i in range(4)]
    response = submit(client, csrf(client), photos=photos)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "too_many_photos"


def test_bad_photo_named(client: TestClient) -> None:
    response = submit(client, csrf(client), photos=[("ok.jpg", jpeg_bytes()), ("evil.jpg", b"<svg/>")])
    assert response.status_code == 422
    assert response.json()["error"]["details"]["photo"] == 2


def test_rate_limit_per_device(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    app.state.complaint_settings = app.state.complaint_settings.model_copy(update={"rate_per_device": 2})
    token = csrf(client)
    headers = {"X-CSRF-Token": token, "X-Device-Id": "device-abc"}
    from tests.complaints.conftest import report_form

    statuses = [
        client.post("/api/v1/complaints", data=report_form(), headers=headers | {"Idempotency-Key": uuid.uuid4().hex}).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    limited = client.post("/api/v1/complaints", data=report_form(), headers=headers | {"Idempotency-Key": uuid.uuid4().hex})
    assert int(limited.headers["retry-after"]) > 0
    assert "Coba lagi dalam" in limited.json()["error"]["message"]


def test_full_workflow_and_audit(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client)).json()["tracking_code"]
    complaint_id = _id_of(app, code)
    token = _operator(app, client)

    assert _act(client, token, complaint_id, "verify", 1).status_code == 200
    stale = _act(client, token, complaint_id, "postpone", 1, note="foto kurang jelas")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_update"
    wrong = _act(client, token, complaint_id, "complete", 2, note="x")
    assert wrong.status_code == 409
    assert wrong.json()["error"]["code"] == "transition_not_allowed"
    bad_opd = _act(client, token, complaint_id, "dispose", 2, opd_code="dinas-sihir")
    assert bad_opd.status_code == 422
    disposed = _act(client, token, complaint_id, "dispose", 2, opd_code="putr", note="mohon ditindaklanjuti")
    assert disposed.status_code == 200
    assert disposed.json()["status_label"] == "Didisposisikan"
    assert disposed.json()["follow_up_due_at"] is not None
    assert _act(client, token, complaint_id, "follow_up", 3, note="Tim PUTR menambal pada Senin").status_code == 200
    done = _act(client, token, complaint_id, "complete", 4, note="Sudah ditambal")
    assert done.status_code == 200
    assert done.json()["version"] == 5

    citizen = client.get(f"/api/v1/complaints/{code}").json()
    assert citizen["status"] == "selesai"
    assert [entry["action"] for entry in citizen["history"]] == ["submit", "verify", "dispose", "follow_up", "complete"]
    assert citizen["history"][3]["note"] == "Tim PUTR menambal pada Senin"

    with app.state.session_factory() as session:
        entries = session.scalars(select(ComplaintHistory).where(ComplaintHistory.complaint_id == complaint_id)).all()
        assert [e.version for e in entries] == [1, 2, 3, 4, 5]
        assert entries[1].actor_label == "verifikator"


def test_history_append_only_in_database(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client)).json()["tracking_code"]
    complaint_id = _id_of(app, code)
    with app.state.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("UPDATE complaint_history SET note = 'diubah' WHERE complaint_id = :id"), {"id": complaint_id})
        connection.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text("DELETE FROM complaint_history WHERE complaint_id = :id"), {"id": complaint_id})


def test_reporter_response_resumes(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client)).json()["tracking_code"]
    complaint_id = _id_of(app, code)
    token = _operator(app, client)
    assert _act(client, token, complaint_id, "postpone", 1, note="Mohon kirim foto lebih dekat").status_code == 200
    answer = client.post(f"/api/v1/complaints/{code}/responses", json={"message": "Lubangnya di depan toko no. 12"}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "belum_terverifikasi"
    assert [e["action"] for e in answer.json()["history"]][-2:] == ["response", "resume"]


def test_duplicates_and_merge(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    token = csrf(client)
    first = submit(client, token).json()
    second = submit(client, token, lat=str(CENTRE[0] + 0.001), description="Jalan berlubang lagi").json()
    far = submit(client, token, lat=str(CENTRE[0] + 0.01)).json()
    other_category = submit(client, token, category="sampah").json()
    assert [n["distance_m"] for n in second["nearby"]] == [111]
    assert "tracking_code" not in second["nearby"][0]
    assert far["nearby"] == []
    assert other_category["nearby"] == []

    master_id, duplicate_id = _id_of(app, first["tracking_code"]), _id_of(app, second["tracking_code"])
    operator = _operator(app, client)
    detail = client.get(f"/api/v1/complaints/staff/{duplicate_id}").json()
    assert [d["id"] for d in detail["duplicates"]] == [master_id]
    assert detail["contact"]["name"] == "Siti Rahma"
    assert _act(client, operator, duplicate_id, "merge", 1, master_id=duplicate_id).status_code == 422
    merged = _act(client, operator, duplicate_id, "merge", 1, master_id=master_id)
    assert merged.status_code == 200
    assert merged.json()["status"] == "duplikat"
    assert merged.json()["duplicate_of"] == master_id


def test_anonymous_hidden_from_opd(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    code = submit(client, csrf(client), anonymous="true", confidential="true").json()["tracking_code"]
    complaint_id = _id_of(app, code)
    operator = _operator(app, client)
    assert client.get(f"/api/v1/complaints/staff/{complaint_id}").json()["contact"]["phone"] == "+62 812 3456 7890"
    _act(client, operator, complaint_id, "verify", 1)
    _act(client, operator, complaint_id, "dispose", 2, opd_code="putr")
    client.post("/logout", headers={"X-CSRF-Token": operator})

    add_user(app, "petugas-putr", "operator")
    add_user(app, "petugas-dlh", "operator")
    with app.state.session_factory() as session:
        users = dict(session.execute(text("SELECT username, id FROM users")).all())
        session.add_all([OpdMember(user_id=users["petugas-putr"], opd_code="putr"), OpdMember(user_id=users["petugas-dlh"], opd_code="dlh")])
        session.commit()
    officer = login(client, "petugas-putr")
    seen = client.get(f"/api/v1/complaints/staff/{complaint_id}")
    assert seen.status_code == 200
    assert seen.json()["contact"] is None
    for private in ("Siti", "3456", "siti@"):
        assert private not in seen.text
    listed = client.get("/api/v1/complaints")
    assert [item["id"] for item in listed.json()["items"]] == [complaint_id]
    assert "Siti" not in listed.text
    verify_attempt = _act(client, officer, complaint_id, "archive", 3, note="x")
    assert verify_attempt.status_code == 403
    assert _act(client, officer, complaint_id, "follow_up", 3, note="Dijadwalkan").status_code == 200
    client.post("/logout", headers={"X-CSRF-Token": officer})

    login(client, "petugas-dlh")
    assert client.get(f"/api/v1/complaints/staff/{complaint_id}").status_code == 404
    assert client.get("/api/v1/complaints").json()["items"] == []


def test_overdue_queue(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    submit(client, csrf(client))
    _operator(app, client)
    assert client.get("/api/v1/complaints?overdue=true").json()["items"] == []
    with app.state.session_factory() as session:
        session.execute(update(Complaint).values(verify_due_at=datetime.now(UTC) - timedelta(minutes=1)))
        session.commit()
    items = client.get("/api/v1/complaints?overdue=true").json()["items"]
    assert len(items) == 1
    assert items[0]["overdue"] is True


def test_unknown_code_not_found(client: TestClient) -> None:
    response = client.get("/api/v1/complaints/LY-0000-0000")
    assert response.status_code == 404
    assert "kode pelacakan" in response.json()["error"]["message"]
    assert client.get("/api/v1/complaints/zzz").status_code == 404


def test_staff_endpoints_need_login(client: TestClient) -> None:
    assert client.get("/api/v1/complaints").status_code == 401
    assert client.get("/api/v1/complaints/staff/1").status_code == 401


def test_photo_location_prefill(client: TestClient) -> None:
    response = client.post(
        "/api/v1/complaints/photo-location", files={"photo": ("x.heic", heic_bytes(), "image/heic")}, headers={"X-CSRF-Token": csrf(client)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["lat"] == pytest.approx(-5.11306, abs=1e-4)
    assert body["inside_city"] is True


def test_retention_anonymises_closed(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    from hub.complaints.photos import PhotoStore
    from hub.complaints.retention import REMOVED_TEXT, apply_retention

    old = submit(client, csrf(client), photos=[("a.jpg", jpeg_bytes())]).json()["tracking_code"]
    kept = submit(client, csrf(client), description="Masih terbuka").json()["tracking_code"]
    old_id = _id_of(app, old)
    store = PhotoStore(app.state.settings.media_dir / "complaints")
    settings = app.state.complaint_settings
    with app.state.session_factory() as session:
        sha = session.scalar(select(ComplaintPhoto.sha256).where(ComplaintPhoto.complaint_id == old_id))
        session.execute(update(Complaint).where(Complaint.id == old_id).values(status="selesai", closed_at=datetime.now(UTC) - timedelta(days=settings.retention_days + 1)))
        session.commit()
        assert store.path(sha).is_file()
        assert apply_retention(session, store, settings, datetime.now(UTC)) == 1
        assert apply_retention(session, store, settings, datetime.now(UTC)) == 0
        anonymised = session.get(Complaint, old_id)
        assert anonymised.contact_name is None
        assert anonymised.contact_email is None
        assert anonymised.description == REMOVED_TEXT
        assert anonymised.anonymised_at is not None
        assert session.get(Complaint, _id_of(app, kept)).contact_name == "Siti Rahma"
    assert not store.path(sha).exists()
    assert client.get(f"/api/v1/complaints/photos/{sha}.jpg").status_code == 404


def test_wrong_codes_blocked(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    app.state.complaint_settings = app.state.complaint_settings.model_copy(update={"lookup_misses_per_address": 3})
    code = submit(client, csrf(client)).json()["tracking_code"]
    assert client.get(f"/api/v1/complaints/{code}").status_code == 200
    statuses = [client.get(f"/api/v1/complaints/LY-0000-000{i}").status_code for i in range(4)]
    assert statuses == [404, 404, 404, 429]
    blocked = client.get(f"/api/v1/complaints/{code}")
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


def test_confidential_photo_needs_code(client: TestClient) -> None:
    code = submit(client, csrf(client), confidential="true", photos=[("a.jpg", jpeg_bytes())]).json()["tracking_code"]
    photo_url = client.get(f"/api/v1/complaints/{code}").json()["photos"][0]
    assert "code=" in photo_url
    assert client.get(photo_url).status_code == 200
    assert client.get(photo_url.split("?")[0]).status_code == 404


def test_open311_key_admin(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    operator = _operator(app, client)
    assert client.post("/api/v1/open311/keys", json={"label": "x"}, headers={"X-CSRF-Token": operator}).status_code == 403
    client.post("/logout", headers={"X-CSRF-Token": operator})
    admin = _operator(app, client, "admin1", "admin")
    created = client.post("/api/v1/open311/keys", json={"label": "Aplikasi Mitra"}, headers={"X-CSRF-Token": admin})
    assert created.status_code == 201
    key = created.json()["api_key"]
    listed = client.get("/api/v1/open311/keys").json()["items"]
    assert [item["label"] for item in listed] == ["Aplikasi Mitra"]
    assert key not in str(listed)
    form = {"api_key": key, "service_code": "sampah", "lat": str(CENTRE[0]), "long": str(CENTRE[1]), "description": "Sampah", "attribute[classification]": "aspirasi"}
    assert client.post("/open311/v2/requests.json", data=form).status_code == 201
    revoked = client.delete(f"/api/v1/open311/keys/{created.json()['id']}", headers={"X-CSRF-Token": admin})
    assert revoked.json()["revoked_at"] is not None
    assert client.post("/open311/v2/requests.json", data=form).status_code == 403


def test_opd_member_admin(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    add_user(app, "petugas-dishub", "operator")
    admin = _operator(app, client, "admin1", "admin")
    with app.state.session_factory() as session:
        officer_id = session.scalar(text("SELECT id FROM users WHERE username = 'petugas-dishub'"))
    headers = {"X-CSRF-Token": admin}
    assert client.put(f"/api/v1/complaints/opd-members/{officer_id}", json={"opd_code": "dinas-x"}, headers=headers).status_code == 422
    assert client.put("/api/v1/complaints/opd-members/999999", json={"opd_code": "dishub"}, headers=headers).status_code == 404
    assert client.put(f"/api/v1/complaints/opd-members/{officer_id}", json={"opd_code": "dishub"}, headers=headers).status_code == 200
    assert client.get("/api/v1/complaints/opd-members").json()["items"] == [{"user_id": officer_id, "username": "petugas-dishub", "opd_code": "dishub"}]
    assert client.delete(f"/api/v1/complaints/opd-members/{officer_id}", headers=headers).status_code == 200
    assert client.get("/api/v1/complaints/opd-members").json()["items"] == []


def test_concurrent_actions_one_wins(app, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from hub.complaints import service, workflow
    from hub.complaints.catalog import load_catalog
    from hub.errors import ApiError

    complaint_id = _id_of(app, submit(client, csrf(client)).json()["tracking_code"])
    settings = app.state.complaint_settings
    catalog = load_catalog(settings)
    staff = service.Viewer("staff", None, None, "uji")

    def act(action: workflow.Action) -> str:
        with app.state.session_factory() as session:
            request = workflow.TransitionRequest(action, 1, note="catatan")
            try:
                service.transition(session, complaint_id, request, viewer=staff, catalog=catalog, settings=settings, now=datetime.now(UTC))
            except ApiError as exc:
                return exc.code
            return "ok"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(act, [workflow.Action.VERIFY, workflow.Action.POSTPONE]))
    assert outcomes == ["ok", "stale_update"]
    with app.state.session_factory() as session:
        stored = session.get(Complaint, complaint_id)
        assert stored.version == 2
        history = session.scalars(select(ComplaintHistory).where(ComplaintHistory.complaint_id == complaint_id)).all()
        assert len(history) == 2


def test_concurrent_replay_same_code(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    token = csrf(client)
    key = f"concurrent-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=3) as pool:
        responses = list(pool.map(lambda _: submit(client, token, key=key), range(3)))
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["tracking_code"] for r in responses}) == 1

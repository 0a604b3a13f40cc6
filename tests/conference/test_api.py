"""Conference API end to end: auth, CSRF, links, revocation, expiry, BBB calls, audit."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from hub.conference.models import AuditImmutableError, Conference, ConferenceAudit
from hub.db import session_scope
from hub.models import Camera, Event
from tests.conference.conftest import BBB_SECRET, JITSI_SECRET
from tests.conference.fake_bbb import FakeBbbServer
from tests.hub.conftest import add_user, login

REPORTER_NAME = "Siti Rahayu Wulandari"
REPORTER_EMAIL = "siti.wulandari@example.org"
REPORTER_PHONE = "+6281234567890"
COMPLAINT_TEXT = "Lampu jalan di depan rumah nomor 17 padam sejak minggu lalu"


def _client(app: FastAPI, username: str, role: str) -> tuple[TestClient, dict[str, str]]:
    add_user(app, username, role)
    client = TestClient(app, base_url="https://hub.test")
    token = login(client, username)
    return client, {"X-CSRF-Token": token}


def _jwt_from(url: str) -> str:
    fragment = urlsplit(url).fragment
    assert fragment.startswith("jwt="), url
    return fragment[len("jwt="):]


def _claims(url: str) -> dict[str, Any]:
    return jwt.decode(
        _jwt_from(url), JITSI_SECRET, algorithms=["HS256"], audience="jitsi", issuer="metro-command-center",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )


def _verify(client: TestClient, url: str, room: str) -> Any:
    return client.post("/api/conference-tokens/verify", json={"token": _jwt_from(url), "room": room})


def _add_event(app: FastAPI, now: datetime) -> str:
    event_id = str(uuid.uuid4())
    camera_id = f"cam-{uuid.uuid4().hex[:8]}"
    with session_scope(app.state.session_factory) as session:
        session.add(Camera(id=camera_id, name="Simpang Sumur Bandung", lat=-5.11, lon=105.3, address="Jl. A. Yani",
                           source_kind="file", created_at=now, updated_at=now))
        session.flush()
        session.add(Event(id=event_id, camera_id=camera_id, last_seq=1, state="active", label="person", score=0.9,
                          start_ts=now, last_ts=now, clock_synced=True, box={}, zones=[], received_at=now, updated_at=now))
    return event_id


def _add_complaint(app: FastAPI, now: datetime) -> int:
    from hub.complaints.models import Complaint

    with session_scope(app.state.session_factory) as session:
        complaint = Complaint(
            tracking_code=f"LY{uuid.uuid4().hex[:8].upper()}", open311_token=uuid.uuid4().hex, classification="pengaduan",
            category_code="lampu_jalan", status="didisposisikan", version=1, lat=-5.11, lon=105.3,
            address="Jl. Imam Bonjol 17", description=COMPLAINT_TEXT, contact_name=REPORTER_NAME,
            contact_phone=REPORTER_PHONE, contact_email=REPORTER_EMAIL, anonymous=False, confidential=False,
            source="web", created_at=now, updated_at=now, verify_due_at=now + timedelta(days=3),
        )
        session.add(complaint)
        session.flush()
        return complaint.id


# Auth and CSRF -----------------------------------------------------------------------


def test_create_requires_operator_and_csrf(conf_app: FastAPI) -> None:
    anonymous = TestClient(conf_app, base_url="https://hub.test")
    body = {"subject_kind": "meeting", "title": "Rapat koordinasi banjir"}
    assert anonymous.post("/api/conferences", json=body, headers={"X-CSRF-Token": "x"}).status_code == 403

    viewer, viewer_csrf = _client(conf_app, "vina", "viewer")
    denied = viewer.post("/api/conferences", json=body, headers=viewer_csrf)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"

    operator, csrf = _client(conf_app, "oki", "operator")
    no_csrf = operator.post("/api/conferences", json=body)
    assert no_csrf.status_code == 403
    assert no_csrf.json()["error"]["code"] == "csrf_failed"
    created = operator.post("/api/conferences", json=body, headers=csrf)
    assert created.status_code == 201, created.text
    assert created.json()["recording"] is False


def test_unknown_subject_rejected(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    missing = operator.post("/api/conferences", json={"subject_kind": "event", "event_id": "nope"}, headers=csrf)
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]["message"]
    untitled = operator.post("/api/conferences", json={"subject_kind": "meeting"}, headers=csrf)
    assert untitled.status_code == 422


# Links -------------------------------------------------------------------------------


@pytest.mark.parametrize("conf_app", ["sqlite", "postgres"], indirect=True)
def test_join_reissue_revoke(conf_app: FastAPI, clock: list[datetime]) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "Apel siaga"}, headers=csrf).json()
    room = conference["room"]

    first = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf)
    assert first.status_code == 200, first.text
    claims = _claims(first.json()["url"])
    assert claims["room"] == room
    assert claims["context"]["user"]["moderator"] is True
    assert claims["context"]["features"]["recording"] is False
    assert claims["exp"] - claims["nbf"] == 600
    assert _verify(operator, first.json()["url"], room).json()["valid"] is True

    participant_id = first.json()["participant_id"]
    second = operator.post(f"/api/conferences/{conference['id']}/participants/{participant_id}/links", headers=csrf)
    assert second.status_code == 201
    old = _verify(operator, first.json()["url"], room)
    assert old.status_code == 403
    assert old.json()["error"]["details"]["reason"] == "revoked"
    assert _verify(operator, second.json()["url"], room).status_code == 200

    revoked = operator.post(f"/api/conferences/{conference['id']}/links/{second.json()['link_id']}/revoke", headers=csrf)
    assert revoked.status_code == 200
    assert _verify(operator, second.json()["url"], room).json()["error"]["details"]["reason"] == "revoked"

    detail = operator.get(f"/api/conferences/{conference['id']}").json()
    actions = [row["action"] for row in detail["audit"]]
    assert actions == ["created", "link_issued", "link_issued", "link_revoked"]
    assert detail["audit"][0]["text"] == "oki memulai telekonferensi (Jitsi)"
    assert [link["revoke_reason"] for link in detail["links"]] == ["reissued", "revoked"]


def test_verifier_rejects_expired_and_wrong_room(conf_app: FastAPI, clock: list[datetime]) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "Apel"}, headers=csrf).json()
    link = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()
    other_room = "q" * 28
    assert _verify(operator, link["url"], other_room).json()["error"]["details"]["reason"] == "wrong_room"
    clock[0] += timedelta(seconds=601)
    assert _verify(operator, link["url"], conference["room"]).json()["error"]["details"]["reason"] == "expired"


def test_viewer_joins_only_when_invited(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    viewer, viewer_csrf = _client(conf_app, "vina", "viewer")
    uninvited = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "A"}, headers=csrf).json()
    assert viewer.post(f"/api/conferences/{uninvited['id']}/join", headers=viewer_csrf).status_code == 403

    viewer_id = _user_id(conf_app, "vina")
    invited = operator.post(
        "/api/conferences", json={"subject_kind": "meeting", "title": "B", "invitee_user_ids": [viewer_id]}, headers=csrf
    ).json()
    joined = viewer.post(f"/api/conferences/{invited['id']}/join", headers=viewer_csrf)
    assert joined.status_code == 200
    assert _claims(joined.json()["url"])["context"]["user"]["moderator"] is False


def test_invite_after_creation(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    viewer, viewer_csrf = _client(conf_app, "vina", "viewer")
    conference = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "C"}, headers=csrf).json()
    invited = operator.post(
        f"/api/conferences/{conference['id']}/participants", json={"user_id": _user_id(conf_app, "vina")}, headers=csrf
    )
    assert invited.status_code == 201
    assert invited.json()["moderator"] is False
    assert viewer.post(f"/api/conferences/{conference['id']}/join", headers=viewer_csrf).status_code == 200
    unknown = operator.post(f"/api/conferences/{conference['id']}/participants", json={"user_id": 9999}, headers=csrf)
    assert unknown.status_code == 422
    assert "9999" in unknown.json()["error"]["message"]
    audit = operator.get(f"/api/conferences/{conference['id']}").json()["audit"]
    assert "oki mengundang Peninjau 2" in [row["text"] for row in audit]


def _user_id(app: FastAPI, username: str) -> int:
    from sqlalchemy import select

    from hub.models import User

    with session_scope(app.state.session_factory) as session:
        return int(session.scalar(select(User.id).where(User.username == username)) or 0)


def test_scheduled_meeting_window(conf_app: FastAPI, clock: list[datetime]) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    start = clock[0] + timedelta(hours=2)
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "meeting", "title": "Rapat", "scheduled_start": start.isoformat()}, headers=csrf
    ).json()
    early = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf)
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "conference_not_open"
    assert operator.get("/api/conferences").json()["upcoming"][0]["id"] == conference["id"]

    guest = operator.post(f"/api/conferences/{conference['id']}/guests", headers=csrf).json()
    assert datetime.fromisoformat(guest["not_before"]) == start - timedelta(seconds=600)

    clock[0] = start + timedelta(minutes=1)
    link = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()
    assert datetime.fromisoformat(link["expires_at"]) == clock[0] + timedelta(seconds=600)

    clock[0] = start + timedelta(seconds=3600 - 60)
    capped = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()
    assert datetime.fromisoformat(capped["expires_at"]) == start + timedelta(seconds=3600), "links end with the conference"

    clock[0] = start + timedelta(seconds=3600)
    late = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "conference_ended"
    stored = operator.get(f"/api/conferences/{conference['id']}").json()
    assert stored["end_reason"] == "expired", "the end must persist although the join failed"


# Complaints, events, personal data ---------------------------------------------------


def test_guest_link_for_complaint_has_no_personal_data(conf_app: FastAPI, clock: list[datetime]) -> None:
    complaint_id = _add_complaint(conf_app, clock[0])
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "complaint", "complaint_id": str(complaint_id)}, headers=csrf
    ).json()
    guest = operator.post(f"/api/conferences/{conference['id']}/guests", headers=csrf).json()
    staff = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()

    claims = _claims(guest["url"])
    assert claims["context"]["user"]["moderator"] is False
    assert claims["context"]["room"]["lobby"] is True
    for url in (guest["url"], staff["url"]):
        payload = base64.urlsafe_b64decode(_jwt_from(url).split(".")[1] + "==").decode()
        for secret_text in (REPORTER_NAME, REPORTER_EMAIL, REPORTER_PHONE, COMPLAINT_TEXT, "Imam Bonjol", "oki"):
            assert secret_text.lower() not in url.lower(), f"{secret_text!r} leaked into a URL"
            assert secret_text.lower() not in payload.lower(), f"{secret_text!r} leaked into a token"


@pytest.mark.parametrize("conf_app", ["sqlite", "postgres"], indirect=True)
def test_closing_complaint_expires_links(conf_app: FastAPI, clock: list[datetime]) -> None:
    from hub.complaints.models import Complaint

    complaint_id = _add_complaint(conf_app, clock[0])
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "complaint", "complaint_id": str(complaint_id)}, headers=csrf
    ).json()
    link = operator.post(f"/api/conferences/{conference['id']}/guests", headers=csrf).json()
    assert _verify(operator, link["url"], conference["room"]).status_code == 200

    with session_scope(conf_app.state.session_factory) as session:
        complaint = session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.status = "selesai"

    rejected = _verify(operator, link["url"], conference["room"])
    assert rejected.json()["error"]["details"]["reason"] == "revoked"
    detail = operator.get(f"/api/conferences/{conference['id']}").json()
    assert detail["end_reason"] == "complaint_closed"
    assert detail["audit"][-1]["text"] == "Telekonferensi diakhiri: pengaduan ditutup"
    assert operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).status_code == 409
    closed_again = operator.post(
        "/api/conferences", json={"subject_kind": "complaint", "complaint_id": str(complaint_id)}, headers=csrf
    )
    assert closed_again.status_code == 409


def test_ending_event_expires_links(conf_app: FastAPI, clock: list[datetime]) -> None:
    event_id = _add_event(conf_app, clock[0])
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "event", "event_id": event_id}, headers=csrf).json()
    assert conference["title"].startswith("Kejadian orang")
    link = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()

    with session_scope(conf_app.state.session_factory) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.state = "ended"
        event.end_ts = clock[0]

    assert _verify(operator, link["url"], conference["room"]).json()["error"]["details"]["reason"] == "revoked"
    with session_scope(conf_app.state.session_factory) as session:
        stored = session.get(Conference, conference["id"])
        assert stored is not None and stored.end_reason == "event_ended"


def test_call_about_ended_event_allowed(conf_app: FastAPI, clock: list[datetime]) -> None:
    event_id = _add_event(conf_app, clock[0])
    with session_scope(conf_app.state.session_factory) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.state = "ended"
        event.end_ts = clock[0]
    clock[0] += timedelta(minutes=10)
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "event", "event_id": event_id}, headers=csrf)
    assert conference.status_code == 201
    link = operator.post(f"/api/conferences/{conference.json()['id']}/join", headers=csrf)
    assert link.status_code == 200
    assert _verify(operator, link.json()["url"], conference.json()["room"]).status_code == 200


def test_event_timeline_in_indonesian(conf_app: FastAPI, clock: list[datetime]) -> None:
    from hub.conference.routes import timeline_entries

    event_id = _add_event(conf_app, clock[0])
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "event", "event_id": event_id}, headers=csrf).json()
    operator.post(f"/api/conferences/{conference['id']}/guests", headers=csrf)
    operator.post(f"/api/conferences/{conference['id']}/end", headers=csrf)
    with session_scope(conf_app.state.session_factory) as session:
        texts = [entry[1] for entry in timeline_entries(session, "event", event_id, "id")]
    assert texts == [
        "oki memulai telekonferensi (Jitsi)",
        "oki mengundang Tamu 2",
        "oki menerbitkan tautan untuk Tamu 2",
        "Telekonferensi diakhiri: diakhiri operator",
    ]


# BigBlueButton -----------------------------------------------------------------------


@pytest.mark.parametrize("conf_app", ["sqlite", "postgres"], indirect=True)
def test_bbb_links_and_end(conf_app: FastAPI, fake_bbb: FakeBbbServer) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "meeting", "title": "Rapat BBB", "backend": "bbb"}, headers=csrf
    ).json()
    room = conference["room"]
    staff = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()
    guest = operator.post(f"/api/conferences/{conference['id']}/guests", headers=csrf).json()

    create_calls = [dict(parse_qsl(query)) for call, query in fake_bbb.state.calls if call == "create"]
    assert create_calls and create_calls[0]["record"] == "false"
    assert create_calls[0]["duration"] == "60", "BBB ends the meeting itself at the conference expiry"
    assert create_calls[0]["guestPolicy"] == "ASK_MODERATOR"
    assert "Rapat BBB" not in str(fake_bbb.state.calls)

    staff_params = dict(parse_qsl(urlsplit(staff["url"]).query))
    guest_params = dict(parse_qsl(urlsplit(guest["url"]).query))
    assert staff_params["role"] == "MODERATOR"
    assert guest_params["role"] == "VIEWER"
    assert guest_params["guest"] == "true"
    assert staff_params["createTime"] == fake_bbb.state.meetings[room]["createTime"]
    assert BBB_SECRET not in staff["url"]
    joined = httpx.get(guest["url"]).text
    assert "<returncode>SUCCESS</returncode>" in joined

    ended = operator.post(f"/api/conferences/{conference['id']}/end", headers=csrf)
    assert ended.json()["backend_closed"] is True
    assert room not in fake_bbb.state.meetings
    assert "<returncode>FAILED</returncode>" in httpx.get(guest["url"]).text


def test_bbb_wrong_secret_is_reported(conf_app: FastAPI, fake_bbb: FakeBbbServer) -> None:
    fake_bbb.state.secret = "rotated-on-the-server"
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "meeting", "title": "Rapat", "backend": "bbb"}, headers=csrf
    ).json()
    failed = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf)
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "backend_failed"


def test_bbb_end_retried_by_sweep(conf_app: FastAPI, fake_bbb: FakeBbbServer, clock: list[datetime]) -> None:
    from hub.conference import service
    from hub.conference.bbb import BbbClient

    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post(
        "/api/conferences", json={"subject_kind": "meeting", "title": "Rapat", "backend": "bbb"}, headers=csrf
    ).json()
    operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf)
    fake_bbb.state.secret = "temporarily-wrong"
    assert operator.post(f"/api/conferences/{conference['id']}/end", headers=csrf).json()["backend_closed"] is False

    fake_bbb.state.secret = BBB_SECRET
    with session_scope(conf_app.state.session_factory) as session:
        result = service.sweep(session, BbbClient(conf_app.state.settings.conference), clock[0])
    assert result.backend_closed == [conference["id"]]
    assert conference["room"] not in fake_bbb.state.meetings


# Audit -------------------------------------------------------------------------------


def test_audit_rows_append_only(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "Rapat"}, headers=csrf)
    with pytest.raises(AuditImmutableError), session_scope(conf_app.state.session_factory) as session:
        row = session.query(ConferenceAudit).first()
        assert row is not None
        row.action = "forged"
    with pytest.raises(Exception, match="append-only"), conf_app.state.engine.begin() as connection:
        connection.execute(text("DELETE FROM conference_audit"))


def test_audit_trigger_postgres(throwaway_postgres: str) -> None:
    from sqlalchemy import create_engine

    from hub.migrate import upgrade

    upgrade(throwaway_postgres)
    engine = create_engine(throwaway_postgres)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO conference_audit (conference_id, ts, action, detail) VALUES ('c', :ts, 'created', '{}')"),
                {"ts": datetime.now(UTC)},
            )
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text("UPDATE conference_audit SET action = 'forged'"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT action FROM conference_audit")).scalar_one() == "created"
    finally:
        engine.dispose()


# Pages -------------------------------------------------------------------------------


def test_dashboard_page_and_join_redirect(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "Apel pagi"}, headers=csrf).json()
    page = operator.get("/konferensi")
    assert page.status_code == 200
    assert "Apel pagi" in page.text
    assert "Mulai telekonferensi" in page.text
    assert f'action="/konferensi/{conference["id"]}/gabung"' in page.text
    assert "https://meet.example.invalid" in page.headers["content-security-policy"].split("form-action")[1]

    redirect = operator.post(f"/konferensi/{conference['id']}/gabung", data={"csrf_token": csrf["X-CSRF-Token"]}, follow_redirects=False)
    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert location.startswith(f"https://meet.example.invalid/{conference['room']}#jwt=")
    assert json.dumps(_claims(location)["room"]) == json.dumps(conference["room"])


def test_sweep_ends_expired_conference(conf_app: FastAPI, clock: list[datetime]) -> None:
    from hub.conference.sweeper import sweep_once

    operator, csrf = _client(conf_app, "oki", "operator")
    conference = operator.post("/api/conferences", json={"subject_kind": "meeting", "title": "Rapat"}, headers=csrf).json()
    link = operator.post(f"/api/conferences/{conference['id']}/join", headers=csrf).json()
    assert sweep_once(conf_app).expired == []

    with session_scope(conf_app.state.session_factory) as session:
        stored = session.get(Conference, conference["id"])
        assert stored is not None
        stored.expires_at = clock[0] - timedelta(seconds=1)
    assert sweep_once(conf_app).expired == [conference["id"]]
    assert _verify(operator, link["url"], conference["room"]).json()["error"]["details"]["reason"] == "revoked"
    assert operator.get("/api/conferences").json()["active"] == []


def test_guest_page_shows_link_once(conf_app: FastAPI) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    created = operator.post(
        "/konferensi/baru", data={"csrf_token": csrf["X-CSRF-Token"], "subject_kind": "meeting", "title": "Rapat OPD"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    detail_path = created.headers["location"]
    conference_id = detail_path.rsplit("/", 1)[1]

    guest = operator.post(f"/konferensi/{conference_id}/tamu", data={"csrf_token": csrf["X-CSRF-Token"]})
    assert guest.status_code == 200
    assert guest.headers["cache-control"] == "no-store"
    assert "#jwt=" in guest.text
    assert "Tautan ini hanya ditampilkan sekali" in guest.text

    detail = operator.get(detail_path)
    assert "#jwt=" not in detail.text
    assert "oki menerbitkan tautan untuk Tamu" in detail.text
    english = operator.get(detail_path + "?lang=en")
    assert "oki issued a link for Tamu" in english.text

    assert "Tamu 2" in detail.text
    link_id = operator.get(f"/api/conferences/{conference_id}").json()["links"][-1]["link_id"]
    assert f"/tautan/{link_id}/cabut" in detail.text
    reissued = operator.post(f"/konferensi/{conference_id}/peserta/2/tautan", data={"csrf_token": csrf["X-CSRF-Token"]})
    assert reissued.status_code == 200
    assert "#jwt=" in reissued.text
    new_link_id = operator.get(f"/api/conferences/{conference_id}").json()["links"][-1]["link_id"]
    assert new_link_id != link_id
    revoked = operator.post(
        f"/konferensi/{conference_id}/tautan/{new_link_id}/cabut", data={"csrf_token": csrf["X-CSRF-Token"]},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    links = operator.get(f"/api/conferences/{conference_id}").json()["links"]
    assert [link["revoke_reason"] for link in links] == ["reissued", "revoked"]

    ended = operator.post(f"/konferensi/{conference_id}/akhiri", data={"csrf_token": csrf["X-CSRF-Token"]}, follow_redirects=False)
    assert ended.status_code == 303
    assert "diakhiri operator" in operator.get(detail_path + "?lang=id").text


def test_start_form_macro_renders(conf_app: FastAPI) -> None:
    from hub.web.render import environment

    template = environment.from_string(
        '{% from "conference/_macros.html" import start_form %}{{ start_form(t, "tok", "complaint", 42) }}'
    )
    html = template.render(t=lambda key: {"conference.start": "Mulai telekonferensi"}[key])
    assert 'name="complaint_id" value="42"' in html
    assert 'name="subject_kind" value="complaint"' in html
    assert 'name="csrf_token" value="tok"' in html
    assert "Mulai telekonferensi" in html


def test_form_start_time_read_as_wib(conf_app: FastAPI, clock: list[datetime]) -> None:
    operator, csrf = _client(conf_app, "oki", "operator")
    tomorrow = (clock[0] + timedelta(days=1)).astimezone(timezone(timedelta(hours=7))).date()
    created = operator.post(
        "/konferensi/baru",
        data={"csrf_token": csrf["X-CSRF-Token"], "subject_kind": "meeting", "title": "Rapat", "scheduled_start": f"{tomorrow}T09:00"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    conference_id = created.headers["location"].rsplit("/", 1)[1]
    stored = operator.get(f"/api/conferences/{conference_id}").json()
    assert datetime.fromisoformat(stored["scheduled_start"]) == datetime.combine(tomorrow, datetime.min.time(), UTC) + timedelta(hours=2)

    garbled = operator.post(
        "/konferensi/baru",
        data={"csrf_token": csrf["X-CSRF-Token"], "subject_kind": "meeting", "title": "Rapat", "scheduled_start": "besok pagi"},
    )
    assert garbled.status_code == 422
    assert garbled.headers["content-type"].startswith("text/html"), "a page form gets the HTML error page"
    assert "besok pagi" in garbled.text


def test_panel_macro_hides_start_from_viewers() -> None:
    from types import SimpleNamespace

    from hub.web.render import environment

    template = environment.from_string(
        '{% from "conference/_macros.html" import panel %}{{ panel(t, "tok", user, "event", "e-1", entries) }}'
    )
    when = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    entries = [(when, "oki memulai telekonferensi (Jitsi)")]
    operator_html = template.render(t=lambda key: key, user=SimpleNamespace(role="operator"), entries=entries)
    viewer_html = template.render(t=lambda key: key, user=SimpleNamespace(role="viewer"), entries=entries)
    assert 'action="/konferensi/baru"' in operator_html
    assert 'action="/konferensi/baru"' not in viewer_html
    assert "2026-12-04 09:00:00" in viewer_html
    assert "oki memulai telekonferensi (Jitsi)" in viewer_html

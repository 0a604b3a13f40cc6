"""Service rules that the API tests do not reach: production backends, verifier records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from hub.auth.users import create_user
from hub.conference import service, tokens
from hub.conference.settings import ConferenceSettings
from hub.db import session_scope
from hub.errors import ApiError
from hub.settings import HubSettings

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
JITSI_SECRET = "j" * 40


def _production_settings() -> ConferenceSettings:
    conference = ConferenceSettings(jitsi_app_secret=JITSI_SECRET)  # type: ignore[arg-type]
    hub = HubSettings(environment="production", secret_key="s" * 40, conference=conference)  # type: ignore[arg-type]
    return hub.conference


def _operator(session: Session) -> service.Actor:
    return service.Actor.of(create_user(session, "oki", "long enough password", "operator", NOW))


def test_production_rejects_unconfigured_backend(session_factory: sessionmaker[Session]) -> None:
    settings = _production_settings()
    with session_scope(session_factory) as session:
        actor = _operator(session)
        with pytest.raises(ApiError) as caught:
            service.create_conference(session, settings, actor, service.NewConference("meeting", title="A", backend="bbb"), NOW)
        assert caught.value.status_code == 503
        created = service.create_conference(session, settings, actor, service.NewConference("meeting", title="A"), NOW)
        assert created.backend == "jitsi"


def test_disabled_invitee_rejected(session_factory: sessionmaker[Session]) -> None:
    with session_scope(session_factory) as session:
        actor = _operator(session)
        disabled = create_user(session, "dina", "long enough password", "viewer", NOW)
        disabled.disabled = True
        request = service.NewConference("meeting", title="A", invitee_user_ids=(disabled.id,))
        with pytest.raises(ApiError, match="conference_invalid") as caught:
            service.create_conference(session, ConferenceSettings(), actor, request, NOW)
        assert str(disabled.id) in caught.value.values["problem"]


@pytest.mark.parametrize(
    ("start", "problem"),
    [(NOW - timedelta(hours=1), "in the past"), (datetime(2026, 12, 5, 9, 0), "time zone offset")],
)
def test_bad_start_rejected(session_factory: sessionmaker[Session], start: datetime, problem: str) -> None:
    with session_scope(session_factory) as session:
        actor = _operator(session)
        with pytest.raises(ApiError) as caught:
            service.create_conference(
                session, ConferenceSettings(), actor, service.NewConference("meeting", title="A", scheduled_start=start), NOW
            )
        assert problem in caught.value.values["problem"]


def test_verifier_rejects_unknown_link(session_factory: sessionmaker[Session]) -> None:
    settings = ConferenceSettings(jitsi_app_secret=JITSI_SECRET)  # type: ignore[arg-type]
    room = tokens.new_room_name()
    forged = tokens.encode_jitsi_token(
        tokens.JitsiTokenRequest(
            app_id=settings.jitsi_app_id, audience=settings.jitsi_audience, subject=settings.jitsi_subject, room=room,
            user_id="hub-1", display_name="Operator 1", moderator=True, lobby=True, link_id=tokens.new_link_id(),
            issued_at=NOW, not_before=NOW, expires_at=NOW + timedelta(minutes=5),
        ),
        JITSI_SECRET,
    )
    with session_scope(session_factory) as session, pytest.raises(tokens.TokenRejected) as caught:
        service.verify_join_token(session, settings, forged, room, NOW)
    assert caught.value.reason == "unknown_link"

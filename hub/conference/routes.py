"""HTTP API (``/api/conferences``) and operator pages (``/konferensi``) of teleconferences.

Join links are bearer secrets: they are returned once in a response (or a 303
redirect) and never stored. Pages post forms with the CSRF token; the token verifier
for a Prosody hook is a machine API exempt from CSRF.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from hub import i18n
from hub.app import START_HOOKS
from hub.auth.csrf import CSRF_EXEMPT_PREFIXES
from hub.auth.deps import CurrentUser, OperatorUser
from hub.conference import service, tokens
from hub.conference.bbb import BbbClient
from hub.conference.models import Conference, ConferenceAudit, ConferenceLink, ConferenceParticipant
from hub.conference.settings import ConferenceSettings
from hub.conference.sweeper import start_sweeper
from hub.deps import NowDep, SessionDep, SettingsDep
from hub.errors import ApiError, request_language
from hub.web.render import render
from hub.web.security import CSP_EXTRA_SOURCES, build_csp, origin_of

VERIFY_PREFIX = "/api/conference-tokens/"
CSRF_EXEMPT_PREFIXES.append(VERIFY_PREFIX)
if start_sweeper not in START_HOOKS:
    START_HOOKS.append(start_sweeper)

router = APIRouter(tags=["conferences"])


def conference_settings(settings: SettingsDep) -> ConferenceSettings:
    return settings.conference


def bbb_client(request: Request, settings: SettingsDep) -> BbbClient:
    client: BbbClient | None = getattr(request.app.state, "conference_bbb_client", None)
    if client is None:
        client = BbbClient(settings.conference)
        request.app.state.conference_bbb_client = client
    return client


ConferenceSettingsDep = Annotated[ConferenceSettings, Depends(conference_settings)]
BbbDep = Annotated[BbbClient, Depends(bbb_client)]


# Schemas -----------------------------------------------------------------------------


class ConferenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_kind: Literal["event", "complaint", "meeting"]
    event_id: str | None = Field(None, max_length=36)
    complaint_id: str | None = Field(None, max_length=64)
    title: str | None = Field(None, max_length=service.TITLE_MAX)
    scheduled_start: datetime | None = Field(None, description="ISO 8601 with offset; empty starts now")
    invitee_user_ids: list[int] = Field(default_factory=list, max_length=service.INVITEES_MAX)
    backend: Literal["jitsi", "bbb"] | None = None
    lobby: bool = True


class TokenCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(max_length=8192)
    room: str = Field(max_length=64)


def conference_public(conference: Conference, now: datetime) -> dict[str, Any]:
    """Conference fields safe to show to any logged-in user (no room secret beyond the name)."""
    return {
        "id": conference.id,
        "room": conference.room,
        "backend": conference.backend,
        "subject_kind": conference.subject_kind,
        "event_id": conference.event_id,
        "complaint_id": conference.complaint_id,
        "title": conference.title,
        "scheduled_start": conference.scheduled_start.isoformat(),
        "expires_at": conference.expires_at.isoformat(),
        "lobby": conference.lobby,
        "recording": conference.recording,
        "active": service.is_active(conference, now),
        "ended_at": conference.ended_at.isoformat() if conference.ended_at else None,
        "end_reason": conference.end_reason,
        "created_by": conference.created_by,
    }


def link_public(link: service.IssuedLink) -> dict[str, Any]:
    return {
        "link_id": link.link_id,
        "participant_id": link.participant_id,
        "url": link.url,
        "not_before": link.not_before.isoformat(),
        "expires_at": link.expires_at.isoformat(),
    }


def audit_text(row: ConferenceAudit, language: str) -> str:
    """Render one audit row as a sentence in the reader's language."""
    actor = row.actor_username if row.actor_user_id is not None else i18n.translate("conference.system", language)
    detail = row.detail or {}
    reason = detail.get("reason")
    values: dict[str, object] = {
        "actor": actor,
        "who": detail.get("who", ""),
        "backend": "Jitsi" if detail.get("backend") == "jitsi" else "BigBlueButton",
        "reason": i18n.translate(f"conference.reason.{reason}", language) if reason else "",
    }
    return i18n.translate(f"conference.audit.{row.action}", language, **values)


def timeline_entries(session: Any, subject_kind: str, subject_id: str, language: str) -> list[tuple[datetime, str]]:
    """Return (time, sentence) rows for the incident or complaint timeline; see _macros.html."""
    return [(row.ts, audit_text(row, language)) for row in service.timeline(session, subject_kind, subject_id)]


# API ---------------------------------------------------------------------------------


@router.post("/api/conferences", status_code=201)
def create_conference_api(
    body: ConferenceCreate, session: SessionDep, user: OperatorUser, settings: ConferenceSettingsDep, now: NowDep
) -> dict[str, Any]:
    """Start a teleconference about an incident, a complaint, or a scheduled meeting."""
    request = service.NewConference(
        subject_kind=body.subject_kind,
        event_id=body.event_id,
        complaint_id=body.complaint_id,
        title=body.title,
        scheduled_start=body.scheduled_start,
        invitee_user_ids=tuple(body.invitee_user_ids),
        backend=body.backend,
        lobby=body.lobby,
    )
    conference = service.create_conference(session, settings, service.Actor.of(user), request, now)
    session.commit()
    return conference_public(conference, now)


@router.get("/api/conferences")
def list_conferences_api(session: SessionDep, user: CurrentUser, now: NowDep) -> dict[str, Any]:
    """List active and upcoming conferences."""
    active, upcoming = service.dashboard(session, now)
    return {
        "active": [conference_public(c, now) for c in active],
        "upcoming": [conference_public(c, now) for c in upcoming],
    }


@router.get("/api/conferences/{conference_id}")
def get_conference_api(
    conference_id: str, request: Request, session: SessionDep, user: CurrentUser, now: NowDep
) -> dict[str, Any]:
    """Return one conference with its participants, link records (without URLs) and audit."""
    conference = service.get_conference(session, conference_id)
    language = request_language(request)
    participants = session.query(ConferenceParticipant).filter_by(conference_id=conference.id).all()
    links = session.query(ConferenceLink).filter_by(conference_id=conference.id).order_by(ConferenceLink.issued_at).all()
    audit_rows = (
        session.query(ConferenceAudit).filter_by(conference_id=conference.id).order_by(ConferenceAudit.ts, ConferenceAudit.id).all()
    )
    return {
        **conference_public(conference, now),
        "participants": [
            {"id": p.id, "kind": p.kind, "user_id": p.user_id, "moderator": p.moderator, "generation": p.generation}
            for p in participants
        ],
        "links": [
            {
                "link_id": link.id,
                "participant_id": link.participant_id,
                "generation": link.generation,
                "issued_at": link.issued_at.isoformat(),
                "expires_at": link.expires_at.isoformat(),
                "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
                "revoke_reason": link.revoke_reason,
            }
            for link in links
        ],
        "audit": [
            {"ts": row.ts.isoformat(), "action": row.action, "text": audit_text(row, language)} for row in audit_rows
        ],
    }


@router.post("/api/conferences/{conference_id}/join")
def join_api(
    conference_id: str, session: SessionDep, user: CurrentUser, settings: ConferenceSettingsDep, bbb: BbbDep, now: NowDep
) -> dict[str, Any]:
    """Issue a join link for the logged-in user (operators and admins as moderators)."""
    conference = service.get_conference(session, conference_id)
    actor = service.Actor.of(user)
    participant = service.participant_for_user(session, conference, user, actor, now)
    link = service.issue_link(session, settings, bbb, conference, participant, actor, now)
    session.commit()
    return link_public(link)


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int


@router.post("/api/conferences/{conference_id}/participants", status_code=201)
def invite_api(
    conference_id: str,
    body: InviteRequest,
    session: SessionDep,
    user: OperatorUser,
    settings: ConferenceSettingsDep,
    now: NowDep,
) -> dict[str, Any]:
    """Invite a hub user; they join with their own "Gabung" button."""
    conference = service.get_conference(session, conference_id)
    participant = service.invite_user(session, settings, conference, body.user_id, service.Actor.of(user), now)
    session.commit()
    return {"id": participant.id, "user_id": participant.user_id, "moderator": participant.moderator}


@router.post("/api/conferences/{conference_id}/guests", status_code=201)
def add_guest_api(
    conference_id: str, session: SessionDep, user: OperatorUser, settings: ConferenceSettingsDep, bbb: BbbDep, now: NowDep
) -> dict[str, Any]:
    """Invite a guest and issue their link: no moderator rights, lobby on."""
    conference = service.get_conference(session, conference_id)
    actor = service.Actor.of(user)
    participant = service.add_guest(session, settings, conference, actor, now)
    link = service.issue_link(session, settings, bbb, conference, participant, actor, now)
    session.commit()
    return link_public(link)


@router.post("/api/conferences/{conference_id}/participants/{participant_id}/links", status_code=201)
def reissue_api(
    conference_id: str,
    participant_id: int,
    session: SessionDep,
    user: OperatorUser,
    settings: ConferenceSettingsDep,
    bbb: BbbDep,
    now: NowDep,
) -> dict[str, Any]:
    """Issue a new link for a participant; their earlier links stop working."""
    conference = service.get_conference(session, conference_id)
    participant = service.get_participant(session, conference, participant_id)
    link = service.issue_link(session, settings, bbb, conference, participant, service.Actor.of(user), now)
    session.commit()
    return link_public(link)


@router.post("/api/conferences/{conference_id}/links/{link_id}/revoke")
def revoke_api(conference_id: str, link_id: str, session: SessionDep, user: OperatorUser, now: NowDep) -> dict[str, Any]:
    """Revoke one link."""
    conference = service.get_conference(session, conference_id)
    link = service.revoke_link(session, conference, link_id, service.Actor.of(user), now)
    session.commit()
    return {"link_id": link.id, "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None}


@router.post("/api/conferences/{conference_id}/end")
def end_api(conference_id: str, session: SessionDep, user: OperatorUser, bbb: BbbDep, now: NowDep) -> dict[str, Any]:
    """End the conference: links are revoked and a BBB meeting is closed for everyone."""
    conference = service.get_conference(session, conference_id)
    closed = service.end_conference(session, bbb, conference, service.Actor.of(user), "ended_by_operator", now)
    session.commit()
    return {**conference_public(conference, now), "backend_closed": closed}


@router.post(VERIFY_PREFIX + "verify")
def verify_token_api(body: TokenCheck, session: SessionDep, settings: ConferenceSettingsDep, now: NowDep) -> dict[str, Any]:
    """Check a Jitsi join token like Prosody does, plus revocation; for a Prosody hook."""
    try:
        claims = service.verify_join_token(session, settings, body.token, body.room, now)
    except tokens.TokenRejected as exc:
        raise ApiError(403, "token_rejected", "error.conference.token_rejected", {"reason": exc.reason}, reason=exc.reason) from exc
    return {"valid": True, "link_id": claims.get("jti"), "room": claims["room"], "exp": claims["exp"]}


# Pages -------------------------------------------------------------------------------


def allow_meeting_origins(settings: ConferenceSettings) -> None:
    """Let join forms redirect to Jitsi and BBB: CSP form-action also applies to redirects."""
    sources = CSP_EXTRA_SOURCES.setdefault("form-action", [])
    for url in (settings.jitsi_base_url, settings.bbb_base_url):
        origin = origin_of(url)
        if origin and origin not in sources:
            sources.append(origin)


def render_page(request: Request, template_name: str, context: dict[str, Any]) -> HTMLResponse:
    """Render a conference page with a CSP that already lists the meeting servers.

    The security middleware builds its header before the handler runs, so the first
    page after start-up would miss the origins without setting the header here.
    """
    hub_settings = request.app.state.settings
    allow_meeting_origins(hub_settings.conference)
    response = render(request, template_name, context)
    response.headers["content-security-policy"] = build_csp(hub_settings.map_tile_url)
    return response


@router.get("/konferensi", response_class=HTMLResponse)
def dashboard_page(request: Request, session: SessionDep, user: CurrentUser, now: NowDep) -> HTMLResponse:
    active, upcoming = service.dashboard(session, now)
    return render_page(request, "conference/list.html", {"active": active, "upcoming": upcoming, "now": now})


@router.post("/konferensi/baru")
def create_page(
    session: SessionDep,
    user: OperatorUser,
    settings: ConferenceSettingsDep,
    now: NowDep,
    subject_kind: Annotated[str, Form()],
    event_id: Annotated[str, Form()] = "",
    complaint_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form(max_length=service.TITLE_MAX)] = "",
    scheduled_start: Annotated[str, Form()] = "",
    backend: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Handle the "Mulai telekonferensi" form of event, complaint and dashboard pages."""
    start = _parse_local_time(scheduled_start) if scheduled_start else None
    request = service.NewConference(
        subject_kind=subject_kind,
        event_id=event_id or None,
        complaint_id=complaint_id or None,
        title=title or None,
        scheduled_start=start,
        backend=backend or None,
    )
    conference = service.create_conference(session, settings, service.Actor.of(user), request, now)
    session.commit()
    return RedirectResponse(f"/konferensi/{conference.id}", status_code=303)


def _parse_local_time(value: str) -> datetime:
    """Parse a datetime-local form value as WIB unless it carries an offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(
            422, "conference_invalid", "error.conference.bad_request",
            problem=f"scheduled_start {value!r} is not a date and time like 2026-12-05T09:00",
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=service.WIB)


def _detail_response(
    request: Request, session: Any, conference_id: str, now: datetime, issued: dict[str, Any] | None
) -> HTMLResponse:
    conference = service.get_conference(session, conference_id)
    language = request_language(request)
    rows = session.query(ConferenceAudit).filter_by(conference_id=conference.id).order_by(ConferenceAudit.ts, ConferenceAudit.id)
    entries = [(row.ts, audit_text(row, language)) for row in rows]
    participants = []
    for participant in session.query(ConferenceParticipant).filter_by(conference_id=conference.id).order_by(ConferenceParticipant.id):
        live = (
            session.query(ConferenceLink)
            .filter_by(participant_id=participant.id, revoked_at=None)
            .order_by(ConferenceLink.issued_at.desc())
            .first()
        )
        label = service.display_label(participant, service.participant_role(session, participant))
        participants.append({"row": participant, "label": label, "live": live if live and live.expires_at > now else None})
    response = render_page(
        request,
        "conference/detail.html",
        {"conference": conference, "entries": entries, "participants": participants, "issued": issued},
    )
    if issued is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/konferensi/{conference_id}", response_class=HTMLResponse)
def detail_page(
    conference_id: str, request: Request, session: SessionDep, user: CurrentUser, now: NowDep
) -> HTMLResponse:
    return _detail_response(request, session, conference_id, now, None)


@router.post("/konferensi/{conference_id}/gabung")
def join_page(
    conference_id: str, session: SessionDep, user: CurrentUser, settings: ConferenceSettingsDep, bbb: BbbDep, now: NowDep
) -> RedirectResponse:
    """Issue the user's link and redirect the browser straight into the room."""
    link = join_api(conference_id, session, user, settings, bbb, now)
    return RedirectResponse(link["url"], status_code=303)


@router.post("/konferensi/{conference_id}/tamu", response_class=HTMLResponse)
def guest_page(
    conference_id: str,
    request: Request,
    session: SessionDep,
    user: OperatorUser,
    settings: ConferenceSettingsDep,
    bbb: BbbDep,
    now: NowDep,
) -> HTMLResponse:
    """Create a guest link and show it once, for the operator to send to the guest."""
    issued = add_guest_api(conference_id, session, user, settings, bbb, now)
    return _detail_response(request, session, conference_id, now, issued)


@router.post("/konferensi/{conference_id}/peserta/{participant_id}/tautan", response_class=HTMLResponse)
def reissue_page(
    conference_id: str,
    participant_id: int,
    request: Request,
    session: SessionDep,
    user: OperatorUser,
    settings: ConferenceSettingsDep,
    bbb: BbbDep,
    now: NowDep,
) -> HTMLResponse:
    """Re-issue a participant's link and show the new one once."""
    issued = reissue_api(conference_id, participant_id, session, user, settings, bbb, now)
    return _detail_response(request, session, conference_id, now, issued)


@router.post("/konferensi/{conference_id}/tautan/{link_id}/cabut")
def revoke_page(conference_id: str, link_id: str, session: SessionDep, user: OperatorUser, now: NowDep) -> RedirectResponse:
    revoke_api(conference_id, link_id, session, user, now)
    return RedirectResponse(f"/konferensi/{conference_id}", status_code=303)


@router.post("/konferensi/{conference_id}/akhiri")
def end_page(conference_id: str, session: SessionDep, user: OperatorUser, bbb: BbbDep, now: NowDep) -> RedirectResponse:
    end_api(conference_id, session, user, bbb, now)
    return RedirectResponse(f"/konferensi/{conference_id}", status_code=303)

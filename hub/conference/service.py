"""Conference lifecycle: create, invite, issue and revoke links, end, expire, verify.

Functions take the session, the settings, the BBB client and ``now`` and leave the
commit to the caller. Errors are ``ApiError`` with a message key from ``texts``.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.conference import (
    texts,  # noqa: F401 - registers the catalogue
    tokens,
)
from hub.conference.bbb import BbbClient, BbbError
from hub.conference.models import Conference, ConferenceAudit, ConferenceLink, ConferenceParticipant
from hub.conference.settings import ConferenceSettings
from hub.conference.subjects import complaint_is_closed, event_is_closed, load_complaint
from hub.errors import ApiError
from hub.models import Event, User
from hub.web.texts import object_label

log = logging.getLogger(__name__)

WIB = timezone(timedelta(hours=7))
STAFF_ROLES_MODERATING = frozenset({"operator", "admin"})
TITLE_MAX = 200
INVITEES_MAX = 50


@dataclass(frozen=True)
class Actor:
    """The hub user who acts, or ``SYSTEM`` (``user_id`` None) for automatic expiry."""

    user_id: int | None
    username: str
    role: str

    @classmethod
    def of(cls, user: User) -> Actor:
        return cls(user.id, user.username, user.role)


SYSTEM = Actor(None, "system", "system")


@dataclass(frozen=True)
class NewConference:
    """An operator's request to start a conference about one subject or a standalone meeting."""

    subject_kind: str
    event_id: str | None = None
    complaint_id: str | None = None
    title: str | None = None
    scheduled_start: datetime | None = None
    invitee_user_ids: tuple[int, ...] = ()
    backend: str | None = None
    lobby: bool = True


@dataclass(frozen=True)
class IssuedLink:
    """A freshly issued join link; ``url`` is a bearer secret shown once and never stored."""

    link_id: str
    participant_id: int
    url: str
    not_before: datetime
    expires_at: datetime


@dataclass
class SweepResult:
    expired: list[str] = field(default_factory=list)
    backend_closed: list[str] = field(default_factory=list)
    backend_failed: list[str] = field(default_factory=list)


def _bad_request(problem: str) -> ApiError:
    return ApiError(422, "conference_invalid", "error.conference.bad_request", {"problem": problem}, problem=problem)


def display_label(participant: ConferenceParticipant, role: str | None) -> str:
    """Name shown inside the meeting: role and number only, so no personal data reaches a URL."""
    if participant.kind == "guest":
        return f"Tamu {participant.id}"
    label = {"operator": "Operator", "admin": "Admin"}.get(role or "", "Peninjau")
    return f"{label} {participant.user_id}"


def audit(session: Session, conference_id: str, actor: Actor, action: str, now: datetime, **detail: Any) -> None:
    """Append one audit row; ``detail`` must hold ids and labels only, never personal data."""
    session.add(
        ConferenceAudit(
            conference_id=conference_id,
            ts=now,
            actor_user_id=actor.user_id,
            actor_username=actor.username,
            action=action,
            detail=detail,
        )
    )


# Creation ----------------------------------------------------------------------------


def _check_subject(session: Session, request: NewConference) -> tuple[str, str | None]:
    """Validate the subject; return the default title and the subject's canonical id."""
    if request.subject_kind == "event":
        if not request.event_id:
            raise _bad_request("event_id is required for an incident conference")
        event = session.get(Event, request.event_id)
        if event is None:
            raise ApiError(404, "event_not_found", "error.conference.event_missing", id=request.event_id)
        # The stored title is Indonesian, the command centre's working language.
        return f"Kejadian {object_label(event.label, 'id')} {event.id[:8]}", event.id
    if request.subject_kind == "complaint":
        if not request.complaint_id:
            raise _bad_request("complaint_id is required for a complaint conference")
        complaint = load_complaint(session, request.complaint_id)
        if complaint is None:
            raise ApiError(404, "complaint_not_found", "error.conference.complaint_missing", id=request.complaint_id)
        if complaint_is_closed(complaint):
            raise ApiError(409, "complaint_closed", "error.conference.complaint_closed", id=request.complaint_id)
        return f"Pengaduan {getattr(complaint, 'tracking_code', None) or request.complaint_id}", str(complaint.id)
    if request.subject_kind == "meeting":
        if not request.title or not request.title.strip():
            raise _bad_request("title is required for a scheduled meeting")
        return request.title.strip(), None
    raise _bad_request(f"subject_kind {request.subject_kind!r} must be event, complaint or meeting")


def create_conference(
    session: Session, settings: ConferenceSettings, actor: Actor, request: NewConference, now: datetime
) -> Conference:
    """Create a conference with its creator as moderator and the invitees as participants."""
    backend = request.backend or settings.default_backend
    if backend not in ("jitsi", "bbb"):
        raise _bad_request(f"backend {backend!r} must be jitsi or bbb")
    if not settings.backend_usable(backend):
        raise ApiError(503, "backend_unconfigured", "error.conference.backend_unconfigured", backend=backend)
    default_title, subject_id = _check_subject(session, request)
    title = (request.title or "").strip() or default_title
    if len(title) > TITLE_MAX:
        raise _bad_request(f"title has {len(title)} characters; the maximum is {TITLE_MAX}")
    start = request.scheduled_start or now
    if start.tzinfo is None:
        raise _bad_request("scheduled_start needs a time zone offset, e.g. 2026-12-05T09:00:00+07:00")
    if start < now - timedelta(minutes=5):
        raise _bad_request(f"scheduled_start {start.isoformat()} is in the past")
    if len(request.invitee_user_ids) > INVITEES_MAX:
        raise _bad_request(f"{len(request.invitee_user_ids)} invitees given; the maximum is {INVITEES_MAX}")

    conference = Conference(
        id=str(uuid.uuid4()),
        room=tokens.new_room_name(),
        backend=backend,
        subject_kind=request.subject_kind,
        event_id=subject_id if request.subject_kind == "event" else None,
        complaint_id=subject_id if request.subject_kind == "complaint" else None,
        title=title,
        scheduled_start=start,
        expires_at=start + timedelta(seconds=settings.link_lifetime_s),
        lobby=request.lobby,
        recording=False,
        created_by=actor.user_id,
        created_at=now,
    )
    session.add(conference)
    session.flush()
    audit(session, conference.id, actor, "created", now, backend=backend, subject_kind=request.subject_kind)

    invitees = set(request.invitee_user_ids)
    if actor.user_id is not None:
        invitees.add(actor.user_id)
    for user_id in sorted(invitees):
        user = session.get(User, user_id)
        if user is None or user.disabled:
            raise _bad_request(f"invitee user id {user_id} does not exist or is disabled")
        participant = _add_staff(session, conference, user, actor, now)
        if user.id != actor.user_id:
            audit(session, conference.id, actor, "invited", now, participant_id=participant.id, who=display_label(participant, user.role))
    log.info("Conference %s created on %s by user %s", conference.id, backend, actor.user_id)
    return conference


def _add_staff(session: Session, conference: Conference, user: User, actor: Actor, now: datetime) -> ConferenceParticipant:
    participant = ConferenceParticipant(
        conference_id=conference.id,
        user_id=user.id,
        kind="staff",
        moderator=user.role in STAFF_ROLES_MODERATING,
        generation=0,
        invited_by=actor.user_id,
        invited_at=now,
    )
    session.add(participant)
    session.flush()
    return participant


def invite_user(
    session: Session, settings: ConferenceSettings, conference: Conference, user_id: int, actor: Actor, now: datetime
) -> ConferenceParticipant:
    """Invite a hub user to an open conference; inviting someone already invited changes nothing."""
    ensure_open(session, settings, conference, now, allow_before_start=True)
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise _bad_request(f"invitee user id {user_id} does not exist or is disabled")
    existing = session.scalar(
        select(ConferenceParticipant).where(
            ConferenceParticipant.conference_id == conference.id, ConferenceParticipant.user_id == user_id
        )
    )
    if existing is not None:
        return existing
    participant = _add_staff(session, conference, user, actor, now)
    audit(session, conference.id, actor, "invited", now, participant_id=participant.id, who=display_label(participant, user.role))
    return participant


def add_guest(
    session: Session, settings: ConferenceSettings, conference: Conference, actor: Actor, now: datetime
) -> ConferenceParticipant:
    """Invite a guest (e.g. the reporter of a complaint): never a moderator, always behind the lobby."""
    ensure_open(session, settings, conference, now, allow_before_start=True)
    participant = ConferenceParticipant(
        conference_id=conference.id,
        user_id=None,
        kind="guest",
        moderator=False,
        generation=0,
        invited_by=actor.user_id,
        invited_at=now,
    )
    session.add(participant)
    session.flush()
    audit(session, conference.id, actor, "invited", now, participant_id=participant.id, who=display_label(participant, None))
    return participant


# State -------------------------------------------------------------------------------


def subject_closed(session: Session, conference: Conference) -> str | None:
    """Return the end reason when the conference's incident or complaint is closed, else None."""
    if conference.subject_kind == "event" and conference.event_id:
        # Camera events often end seconds after they start, so a call about an event
        # that had already ended runs to its expiry. Only an end after the call was
        # created ends it. ``updated_at`` is the hub's receipt time, not the camera clock.
        event = session.get(Event, conference.event_id)
        if event is None or (event_is_closed(event) and event.updated_at > conference.created_at):
            return "event_ended"
    if conference.subject_kind == "complaint" and conference.complaint_id:
        complaint = load_complaint(session, conference.complaint_id)
        if complaint is None or complaint_is_closed(complaint):
            return "complaint_closed"
    return None


def is_active(conference: Conference, now: datetime) -> bool:
    return conference.ended_at is None and conference.scheduled_start <= now < conference.expires_at


def opens_at(settings: ConferenceSettings, conference: Conference) -> datetime:
    """Return when joins open: the start time minus the configured grace."""
    return conference.scheduled_start - timedelta(seconds=settings.schedule_grace_s)


def ensure_open(
    session: Session, settings: ConferenceSettings, conference: Conference, now: datetime, *, allow_before_start: bool = False
) -> None:
    """Raise unless the conference accepts joins now; end it on the spot when it should be over."""
    if conference.ended_at is None:
        reason = subject_closed(session, conference) or ("expired" if now >= conference.expires_at else None)
        if reason is not None:
            end_locally(session, conference, SYSTEM, reason, now)
            # Committed here because the request fails below, which would roll the end back.
            session.commit()
    if conference.ended_at is not None:
        raise ApiError(409, "conference_ended", "error.conference.ended")
    opening = opens_at(settings, conference)
    if not allow_before_start and now < opening:
        raise ApiError(
            409,
            "conference_not_open",
            "error.conference.not_open",
            {"opens_at": opening.isoformat()},
            opens=opening.astimezone(WIB).strftime("%Y-%m-%d %H:%M"),
        )


def get_conference(session: Session, conference_id: str) -> Conference:
    conference = session.get(Conference, conference_id)
    if conference is None:
        raise ApiError(404, "conference_not_found", "error.conference.not_found", id=conference_id)
    return conference


# Links -------------------------------------------------------------------------------


def _live_links(session: Session, participant_id: int) -> list[ConferenceLink]:
    return list(
        session.scalars(
            select(ConferenceLink).where(ConferenceLink.participant_id == participant_id, ConferenceLink.revoked_at.is_(None))
        )
    )


def issue_link(
    session: Session,
    settings: ConferenceSettings,
    bbb: BbbClient,
    conference: Conference,
    participant: ConferenceParticipant,
    actor: Actor,
    now: datetime,
) -> IssuedLink:
    """Issue a new link for ``participant`` and revoke every earlier one of theirs.

    The link is valid from max(now, opening time) for ``token_lifetime_s`` and never
    past the conference's ``expires_at``.
    """
    ensure_open(session, settings, conference, now, allow_before_start=participant.kind == "guest")
    if not settings.backend_usable(conference.backend):
        raise ApiError(503, "backend_unconfigured", "error.conference.backend_unconfigured", backend=conference.backend)
    not_before = max(now, opens_at(settings, conference))
    expires_at = min(not_before + timedelta(seconds=settings.token_lifetime_s), conference.expires_at)
    if expires_at <= not_before:
        raise ApiError(409, "conference_ended", "error.conference.ended")

    for old in _live_links(session, participant.id):
        old.revoked_at = now
        old.revoke_reason = "reissued"
    participant.generation += 1
    link_id = tokens.new_link_id()
    role = participant_role(session, participant)
    label = display_label(participant, role)
    user_ref = f"hub-{participant.user_id}" if participant.kind == "staff" else f"guest-{participant.id}"

    if conference.backend == "jitsi":
        token_request = tokens.JitsiTokenRequest(
            app_id=settings.jitsi_app_id,
            audience=settings.jitsi_audience,
            subject=settings.jitsi_subject,
            room=conference.room,
            user_id=user_ref,
            display_name=label,
            moderator=participant.moderator,
            lobby=conference.lobby or participant.kind == "guest",
            link_id=link_id,
            issued_at=now,
            not_before=not_before,
            expires_at=expires_at,
        )
        token = tokens.encode_jitsi_token(token_request, settings.jitsi_app_secret.get_secret_value())
        url = tokens.jitsi_join_url(settings.jitsi_base_url, conference.room, token)
    else:
        url = _bbb_join(bbb, conference, participant, label, user_ref, now)

    session.add(
        ConferenceLink(
            id=link_id,
            conference_id=conference.id,
            participant_id=participant.id,
            generation=participant.generation,
            issued_by=actor.user_id,
            issued_at=now,
            not_before=not_before,
            expires_at=expires_at,
        )
    )
    audit(
        session, conference.id, actor, "link_issued", now,
        participant_id=participant.id, who=label, link_id=link_id, generation=participant.generation,
        expires_at=expires_at.isoformat(),
    )
    session.flush()
    return IssuedLink(link_id, participant.id, url, not_before, expires_at)


def _bbb_join(
    bbb: BbbClient, conference: Conference, participant: ConferenceParticipant, label: str, user_ref: str, now: datetime
) -> str:
    # ``create`` is idempotent in BBB, and BBB drops meetings nobody joined after a few
    # minutes, so the meeting is (re)created whenever a link is issued. BBB counts
    # ``duration`` from creation, so it gets the minutes left until ``expires_at``.
    starts = max(now, conference.scheduled_start)
    remaining_minutes = max(1, math.ceil((conference.expires_at - starts).total_seconds() / 60))
    try:
        create_time = bbb.create(conference.room, lobby=True, duration_minutes=remaining_minutes)
    except BbbError as exc:
        log.warning("BBB create failed for conference %s: %s", conference.id, exc)
        raise ApiError(502, "backend_failed", "error.conference.backend_failed") from exc
    conference.bbb_create_time = create_time
    return bbb.join_url(
        conference.room,
        display_name=label,
        user_id=user_ref,
        role="MODERATOR" if participant.moderator else "VIEWER",
        create_time=create_time,
        guest=participant.kind == "guest",
    )


def participant_role(session: Session, participant: ConferenceParticipant) -> str | None:
    if participant.user_id is None:
        return None
    user = session.get(User, participant.user_id)
    return user.role if user is not None else None


def participant_for_user(
    session: Session, conference: Conference, user: User, actor: Actor, now: datetime
) -> ConferenceParticipant:
    """Return the user's participant row; operators and admins join uninvited, viewers only when invited."""
    participant = session.scalar(
        select(ConferenceParticipant).where(
            ConferenceParticipant.conference_id == conference.id, ConferenceParticipant.user_id == user.id
        )
    )
    if participant is not None:
        return participant
    if user.role not in STAFF_ROLES_MODERATING:
        raise ApiError(403, "not_invited", "error.conference.not_invited")
    participant = _add_staff(session, conference, user, actor, now)
    audit(session, conference.id, actor, "invited", now, participant_id=participant.id, who=display_label(participant, user.role))
    return participant


def get_participant(session: Session, conference: Conference, participant_id: int) -> ConferenceParticipant:
    participant = session.get(ConferenceParticipant, participant_id)
    if participant is None or participant.conference_id != conference.id:
        raise _bad_request(f"participant {participant_id} is not part of conference {conference.id}")
    return participant


def revoke_link(session: Session, conference: Conference, link_id: str, actor: Actor, now: datetime) -> ConferenceLink:
    """Revoke one link; revoking a revoked link changes nothing."""
    link = session.get(ConferenceLink, link_id)
    if link is None or link.conference_id != conference.id:
        raise ApiError(404, "link_not_found", "error.conference.link_not_found", id=link_id)
    if link.revoked_at is None:
        link.revoked_at = now
        link.revoke_reason = "revoked"
        participant = session.get(ConferenceParticipant, link.participant_id)
        who = display_label(participant, participant_role(session, participant)) if participant else "?"
        audit(session, conference.id, actor, "link_revoked", now, link_id=link_id, participant_id=link.participant_id, who=who)
    return link


# Ending ------------------------------------------------------------------------------


def end_locally(session: Session, conference: Conference, actor: Actor, reason: str, now: datetime) -> bool:
    """Mark the conference ended and revoke its live links; no backend call. Return False if already ended."""
    if conference.ended_at is not None:
        return False
    conference.ended_at = now
    conference.ended_by = actor.user_id
    conference.end_reason = reason
    if conference.backend == "jitsi":
        # Jitsi has no API to close a room: tokens stop being issued and the issued ones
        # run out at their ``exp``. People already inside stay until they leave.
        conference.backend_closed_at = now
    with session.no_autoflush:
        links = session.scalars(
            select(ConferenceLink).where(ConferenceLink.conference_id == conference.id, ConferenceLink.revoked_at.is_(None))
        )
        for link in links:
            link.revoked_at = now
            link.revoke_reason = reason[:20]
    audit(session, conference.id, actor, "ended", now, reason=reason)
    log.info("Conference %s ended (%s)", conference.id, reason)
    return True


def close_on_backend(session: Session, bbb: BbbClient, conference: Conference, now: datetime) -> bool:
    """Send BBB ``end`` for an ended conference; return True when the backend is closed."""
    if conference.backend_closed_at is not None:
        return True
    try:
        bbb.end(conference.room)
    except BbbError as exc:
        log.warning("BBB end failed for conference %s, retrying on the next sweep: %s", conference.id, exc)
        return False
    conference.backend_closed_at = now
    audit(session, conference.id, SYSTEM, "backend_closed", now)
    return True


def end_conference(
    session: Session, bbb: BbbClient, conference: Conference, actor: Actor, reason: str, now: datetime
) -> bool:
    """End the conference for everyone; return whether the backend confirmed (always True on Jitsi)."""
    end_locally(session, conference, actor, reason, now)
    return close_on_backend(session, bbb, conference, now)


def expire_for_subject(session: Session, subject_kind: str, subject_id: str, reason: str, now: datetime) -> list[str]:
    """End every open conference of an incident or complaint; return their ids."""
    column = Conference.event_id if subject_kind == "event" else Conference.complaint_id
    with session.no_autoflush:
        conferences = list(session.scalars(select(Conference).where(column == subject_id, Conference.ended_at.is_(None))))
    for conference in conferences:
        end_locally(session, conference, SYSTEM, reason, now)
    return [conference.id for conference in conferences]


def sweep(session: Session, bbb: BbbClient, now: datetime) -> SweepResult:
    """End conferences past their expiry or whose subject closed, and finish pending BBB ends."""
    result = SweepResult()
    for conference in session.scalars(select(Conference).where(Conference.ended_at.is_(None))):
        reason = subject_closed(session, conference) or ("expired" if now >= conference.expires_at else None)
        if reason is not None:
            end_locally(session, conference, SYSTEM, reason, now)
            result.expired.append(conference.id)
    pending = select(Conference).where(Conference.ended_at.is_not(None), Conference.backend_closed_at.is_(None))
    for conference in session.scalars(pending):
        (result.backend_closed if close_on_backend(session, bbb, conference, now) else result.backend_failed).append(conference.id)
    return result


# Verification ------------------------------------------------------------------------


def verify_join_token(session: Session, settings: ConferenceSettings, token: str, room: str, now: datetime) -> dict[str, Any]:
    """Verify a Jitsi join token as Prosody would, then against the hub's link records.

    Beyond Prosody's checks this rejects links that were revoked or re-issued, and
    links of a conference that has ended. Raises TokenRejected.
    """
    claims = tokens.verify_jitsi_token(
        token,
        secret=settings.jitsi_app_secret.get_secret_value(),
        accepted_issuers=[settings.jitsi_app_id],
        accepted_audiences=[settings.jitsi_audience],
        subject=settings.jitsi_subject,
        room=room,
        now=now,
    )
    link = session.get(ConferenceLink, str(claims.get("jti", "")))
    if link is None:
        raise tokens.TokenRejected("unknown_link", "the hub has no record of this link")
    if link.revoked_at is not None:
        raise tokens.TokenRejected("revoked", f"the link was revoked ({link.revoke_reason})")
    participant = session.get(ConferenceParticipant, link.participant_id)
    if participant is None or participant.generation != link.generation:
        raise tokens.TokenRejected("superseded", "a newer link was issued for this participant")
    conference = session.get(Conference, link.conference_id)
    if conference is None or conference.ended_at is not None or now >= conference.expires_at:
        raise tokens.TokenRejected("conference_ended", "the conference has ended")
    if conference.room != claims["room"]:
        raise tokens.TokenRejected("wrong_room", "the link belongs to another room")
    return claims


# Listing and timeline ------------------------------------------------------------------


def dashboard(session: Session, now: datetime, limit: int = 100) -> tuple[list[Conference], list[Conference]]:
    """Return (active, upcoming) conferences that have not ended, soonest first."""
    rows = list(
        session.scalars(
            select(Conference)
            .where(Conference.ended_at.is_(None), Conference.expires_at > now)
            .order_by(Conference.scheduled_start)
            .limit(limit)
        )
    )
    active = [row for row in rows if row.scheduled_start <= now]
    upcoming = [row for row in rows if row.scheduled_start > now]
    return active, upcoming


def conferences_for(session: Session, subject_kind: str, subject_id: str) -> list[Conference]:
    column = Conference.event_id if subject_kind == "event" else Conference.complaint_id
    return list(session.scalars(select(Conference).where(column == subject_id).order_by(Conference.created_at)))


def timeline(session: Session, subject_kind: str, subject_id: str) -> list[ConferenceAudit]:
    """Audit rows of every conference about one incident or complaint, oldest first."""
    ids = [conference.id for conference in conferences_for(session, subject_kind, subject_id)]
    if not ids:
        return []
    return list(
        session.scalars(
            select(ConferenceAudit).where(ConferenceAudit.conference_id.in_(ids)).order_by(ConferenceAudit.ts, ConferenceAudit.id)
        )
    )

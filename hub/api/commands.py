"""Commands to agents: /api/v1/cameras/{id}/commands and /api/v1/commands/{id}."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import i18n
from hub.api.cameras import get_camera
from hub.api.schemas import CommandCreate, CommandPublic, command_public
from hub.auth.deps import CurrentUser, OperatorUser
from hub.deps import NowDep, SessionDep, SettingsDep
from hub.errors import ApiError
from hub.ingest.service import publish_command_message
from hub.models import Command, User
from metro_common.messages import CommandMessage, CommandName

log = logging.getLogger(__name__)

router = APIRouter(tags=["commands"])

i18n.register(
    {"error.command_not_found": ("Perintah {command_id} tidak ditemukan.", "Command {command_id} not found.")}
)


def publish_command(request: Request, message: CommandMessage, now: datetime) -> bool:
    """Publish through the app's MQTT client; False when ingestion is not running or disconnected."""
    client: Any = getattr(request.app.state, "mqtt", None)
    if client is None:
        return False
    return publish_command_message(client, message, now)


def issue_command(
    request: Request, session: Session, camera_id: str, data: CommandCreate, user: User, ttl_s: int, now: datetime
) -> tuple[Command, bool]:
    """Store a command, publish it to the camera's agent and announce it on the live stream."""
    get_camera(session, camera_id)
    row = Command(
        id=str(uuid.uuid4()), camera_id=camera_id, name=data.name, args=dict(data.args), issued_by=user.id,
        issued_at=now, expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(row)
    session.commit()
    message = CommandMessage(
        camera_id=camera_id, command_id=uuid.UUID(row.id), name=CommandName(data.name), issued_at=now,
        expires_at=row.expires_at, args=dict(data.args),
    )
    published = publish_command(request, message, now)
    log.info("Command %s %s to %s by %s (published=%s)", row.id, data.name, camera_id, user.username, published)
    request.app.state.live.publish_threadsafe("command", command_public(row, now).model_dump(mode="json"))
    return row, published


@router.post(
    "/api/v1/cameras/{camera_id}/commands", response_model=CommandPublic, status_code=202,
    summary="Send a command to the camera's agent (operator or admin)",
)
def send_command(
    camera_id: str, data: CommandCreate, request: Request, user: OperatorUser, session: SessionDep,
    settings: SettingsDep, now: NowDep,
) -> CommandPublic:
    row, published = issue_command(request, session, camera_id, data, user, data.ttl_s or settings.command_ttl_s, now)
    return command_public(row, now, published=published)


@router.get(
    "/api/v1/cameras/{camera_id}/commands", response_model=list[CommandPublic], summary="Recent commands, newest first"
)
def list_commands(
    camera_id: str, user: CurrentUser, session: SessionDep, now: NowDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[CommandPublic]:
    get_camera(session, camera_id)
    rows = session.scalars(
        select(Command).where(Command.camera_id == camera_id).order_by(Command.issued_at.desc()).limit(limit)
    )
    return [command_public(row, now) for row in rows]


@router.get("/api/v1/commands/{command_id}", response_model=CommandPublic, summary="One command and its result")
def read_command(command_id: str, user: CurrentUser, session: SessionDep, now: NowDep) -> CommandPublic:
    row = session.get(Command, command_id)
    if row is None:
        raise ApiError(404, "command_not_found", "error.command_not_found", command_id=command_id[:40])
    return command_public(row, now)

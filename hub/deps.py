"""FastAPI dependencies shared by every feature: database session, settings, clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from hub.settings import HubSettings


def db_session(request: Request) -> Iterator[Session]:
    """Yield a session of the app's database; endpoints commit what they change themselves."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def app_settings(request: Request) -> HubSettings:
    settings: HubSettings = request.app.state.settings
    return settings


def utc_now() -> datetime:
    """Return the current time; tests override this dependency to move the clock."""
    return datetime.now(UTC)


SessionDep = Annotated[Session, Depends(db_session)]
SettingsDep = Annotated[HubSettings, Depends(app_settings)]
NowDep = Annotated[datetime, Depends(utc_now)]

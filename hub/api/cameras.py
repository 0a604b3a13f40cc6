"""Camera registry and live status: /api/v1/cameras."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from hub import i18n
from hub.api.schemas import CameraCreated, CameraPublic, HealthSample, SnapshotRef, camera_public, health_sample
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.devices import issue_device_token
from hub.cameras.registry import CameraCreate, CameraUpdate, create_camera, update_camera
from hub.deps import NowDep, SessionDep, SettingsDep
from hub.errors import ApiError
from hub.models import Camera, CameraHealthSample

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])

i18n.register(
    {
        "error.camera_not_found": ("Kamera {camera_id} tidak ditemukan.", "Camera {camera_id} not found."),
        "error.camera_exists": ("Kamera {camera_id} sudah terdaftar.", "Camera {camera_id} already exists."),
        "error.no_snapshot": ("Kamera {camera_id} belum mengirim cuplikan.", "Camera {camera_id} has not sent a snapshot yet."),
    }
)


def get_camera(session: SessionDep, camera_id: str) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise ApiError(404, "camera_not_found", "error.camera_not_found", camera_id=camera_id)
    return camera


@router.get("", response_model=list[CameraPublic], summary="List cameras with live status")
def list_cameras(user: CurrentUser, session: SessionDep, settings: SettingsDep, now: NowDep) -> list[CameraPublic]:
    cameras = session.scalars(select(Camera).order_by(Camera.id))
    return [camera_public(camera, now, settings.heartbeat_timeout_s) for camera in cameras]


@router.post(
    "", response_model=CameraCreated, status_code=201,
    summary="Register a camera (admin); the response carries its device token, shown only once",
)
def add_camera(
    data: CameraCreate, user: AdminUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> CameraCreated:
    if session.get(Camera, data.id) is not None:
        raise ApiError(409, "camera_exists", "error.camera_exists", camera_id=data.id)
    camera, token = create_camera(session, data, now)
    session.commit()
    public = camera_public(camera, now, settings.heartbeat_timeout_s)
    return CameraCreated(**public.model_dump(), device_token=token)


@router.get("/{camera_id}", response_model=CameraPublic, summary="One camera with live status")
def read_camera(
    camera_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> CameraPublic:
    return camera_public(get_camera(session, camera_id), now, settings.heartbeat_timeout_s)


@router.patch("/{camera_id}", response_model=CameraPublic, summary="Change a camera's registry data (admin)")
def change_camera(
    camera_id: str, data: CameraUpdate, user: AdminUser, session: SessionDep, settings: SettingsDep, now: NowDep
) -> CameraPublic:
    camera = update_camera(session, get_camera(session, camera_id), data, now)
    session.commit()
    return camera_public(camera, now, settings.heartbeat_timeout_s)


@router.post(
    "/{camera_id}/token", summary="Issue a new device token (admin); the old token stops working at once",
)
def reissue_token(camera_id: str, user: AdminUser, session: SessionDep) -> dict[str, str]:
    get_camera(session, camera_id)
    token = issue_device_token(session, camera_id)
    session.commit()
    return {"camera_id": camera_id, "device_token": token}


@router.get("/{camera_id}/snapshot", response_model=SnapshotRef, summary="Latest snapshot reference of a camera")
def last_snapshot(camera_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep, now: NowDep) -> SnapshotRef:
    public = camera_public(get_camera(session, camera_id), now, settings.heartbeat_timeout_s)
    if public.last_snapshot is None:
        raise ApiError(404, "no_snapshot", "error.no_snapshot", camera_id=camera_id)
    return public.last_snapshot


@router.get("/{camera_id}/health", response_model=list[HealthSample], summary="Health history, newest first")
def health_history(
    camera_id: str, user: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=2000)] = 120
) -> list[HealthSample]:
    get_camera(session, camera_id)
    rows = session.scalars(
        select(CameraHealthSample)
        .where(CameraHealthSample.camera_id == camera_id)
        .order_by(CameraHealthSample.ts.desc())
        .limit(limit)
    )
    return [health_sample(row) for row in rows]

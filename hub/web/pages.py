"""Operator dashboard pages: camera grid with live feed, events, map, details."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from hub.auth.deps import CurrentUser
from hub.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: CurrentUser) -> Response:
    return render(request, "dashboard.html", {})

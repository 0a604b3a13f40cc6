"""FastAPI application factory of the hub.

Feature packages contribute routers through ``ROUTER_MODULES``: each named module
exposes ``router`` (an APIRouter). Their tables share ``hub.db.Base``. Long-running
parts (embedded broker, MQTT ingestion) start in the lifespan set up by ``create_app``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub import __version__
from hub.db import make_engine, make_session_factory
from hub.errors import install_error_handlers
from hub.live import LiveBroadcaster
from hub.settings import HubSettings

log = logging.getLogger(__name__)

# Each feature adds its module here; the order is the order of the OpenAPI sections.
ROUTER_MODULES: list[str] = [
    "hub.api.system",
    "hub.api.cameras",
    "hub.api.events",
    "hub.api.commands",
    "hub.auth.routes",
    "hub.web.pages",
    "hub.media.routes",
    "hub.conference.routes",
    "hub.complaints.api",
    "hub.complaints.pages",
    "hub.open311.routes",
]

# Async callables run at start-up with the app; each returns an async stop callable.
StartHook = Callable[[FastAPI], Awaitable[Callable[[], Awaitable[None]]]]
START_HOOKS: list[StartHook] = []


def create_app(settings: HubSettings | None = None, *, start_background: bool = True) -> FastAPI:
    """Build the hub application; ``start_background=False`` skips broker and ingestion (unit tests)."""
    settings = settings or HubSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stops: list[Callable[[], Awaitable[None]]] = []
        if start_background:
            for hook in START_HOOKS:
                stops.append(await hook(app))
        try:
            yield
        finally:
            for stop in reversed(stops):
                try:
                    await stop()
                except Exception:  # one failing stop must not keep the others from running
                    log.exception("Stopping a hub component failed")

    app = FastAPI(
        title="Metro Command Center hub",
        version=__version__,
        description="Camera events, operator dashboard, Lapor Yai complaints and conference links.",
        lifespan=lifespan,
        # Swagger UI and ReDoc load from a CDN and run inline scripts, which the CSP blocks
        # and an offline control room cannot reach; /openapi.json stays available.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.resolved_database_url)
    app.state.session_factory = make_session_factory(app.state.engine)
    app.state.live = LiveBroadcaster()
    app.state.mqtt = None  # the HubMqttClient once ingestion has started
    install_error_handlers(app)
    for module_name in ROUTER_MODULES:
        module: Any = importlib.import_module(module_name)
        app.include_router(module.router)
    _install_web(app, settings)
    return app


def _install_web(app: FastAPI, settings: HubSettings) -> None:
    """Mount /static and add the CSRF and security-header middleware (outermost last)."""
    from hub.auth.csrf import CSRFMiddleware
    from hub.web.render import STATIC_DIR
    from hub.web.security import SecurityHeadersMiddleware

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(CSRFMiddleware, secret=settings.secret_key.get_secret_value())
    app.add_middleware(SecurityHeadersMiddleware, tile_url=settings.map_tile_url)

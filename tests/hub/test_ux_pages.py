"""Page details a new user noticed: favicon, feed rows the live script can order, texts for it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from fastapi.testclient import TestClient

from hub.web.texts import script_texts
from tests.hub.conftest import add_user, login


def test_favicon_served(hub_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(hub_app) as client:
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.content.startswith(b"<svg")
        page = client.get("/login")
        linked = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
        assert linked, "every page links the icon"
        assert client.get(linked.group(1)).status_code == 200


def test_dashboard_rows_carry_start_time(hub_app) -> None:  # type: ignore[no-untyped-def]
    from hub.db import session_scope
    from hub.ingest.store import store_event
    from tests.hub.factories import T0, add_camera, event

    with session_scope(hub_app.state.session_factory) as session:
        add_camera(session, "cam-ux", "Simpang Tugu")
        session.flush()
        store_event(session, event("cam-ux", uuid.uuid4(), 1, label="person"), T0)
    add_user(hub_app, "operator-ux", "operator")
    with TestClient(hub_app) as client:
        login(client, "operator-ux")
        page = client.get("/").text
    row = re.search(r'<li data-event-id="[^"]+" data-start-ts="([^"]+)">\s*<a [^>]+>([^<]+)</a>\s*<span class="muted">\(([^)]+)\)', page)
    assert row, page
    assert datetime.fromisoformat(row.group(1)) == T0
    assert row.group(2) == "19:00:00 · Simpang Tugu · orang"
    assert row.group(3) == "Berlangsung"


def test_script_texts_have_event_states() -> None:
    assert script_texts("id")["event.state.active"] == "Berlangsung"
    assert script_texts("en")["event.state.ended"] == "Ended"


def test_maps_keep_configured_tiles(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hub.app import create_app
    from hub.migrate import upgrade
    from tests.hub.conftest import make_test_settings

    tile_url = "http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png"
    settings = make_test_settings(tmp_path, map_tile_url=tile_url)
    upgrade(settings.resolved_database_url)
    app = create_app(settings, start_background=False)
    add_user(app, "operator-tiles", "operator")
    try:
        with TestClient(app) as client:
            citizen = client.get("/lapor").text
            login(client, "operator-tiles")
            operator = client.get("/map").text
    finally:
        app.state.engine.dispose()
    for page in (citizen, operator):
        assert f'data-tile-url="{tile_url}"' in page
        assert '<script src="/static/js/boundary.js"></script>' in page

"""New-user checks in a real browser: offline maps, live feed format, navigation, favicon.

Runs a hub without a tile server (the default), so the maps must work from the city
boundary alone. Screenshots go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metro_common.messages import Box, CameraState, EventKind, EventMessage, StatusMessage, encode
from metro_common.topics import TopicKind, topic
from tests.browser import launch_chromium
from tests.hub.conftest import TEST_PASSWORD
from tests.hub.test_browser import ARTIFACTS, running_hub  # noqa: F401 - running_hub is a fixture

pytestmark = pytest.mark.browser

# One feed row as the server renders it: "HH:MM:SS · camera · object (State)".
ROW = re.compile(r"^\d{2}:\d{2}:\d{2} · Simpang <Tugu> Pengantin · (\w[\w ]*) \((Berlangsung|Selesai)\)$")


@pytest.fixture()
def publisher(running_hub) -> Iterator[mqtt.Client]:  # type: ignore[no-untyped-def]  # noqa: F811 - fixture argument
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agent-ux-{uuid.uuid4().hex[:6]}")
    client.connect("127.0.0.1", int(running_hub["broker_port"]))
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def _publish_event(client: mqtt.Client, label: str, start: datetime) -> uuid.UUID:
    event_id = uuid.uuid4()
    message = EventMessage(
        camera_id="cam-browser", event_id=event_id, seq=1, kind=EventKind.NEW, ts=start, start_ts=start,
        clock_synced=True, label=label, score=0.8,
        box=Box(x1=10, y1=20, x2=110, y2=220, frame_width=768, frame_height=576),
    )
    client.publish(topic("cam-browser", TopicKind.EVENT), encode(message), qos=1).wait_for_publish(5)
    return event_id


def _wait_for_event(base: str, cookies: dict[str, str], event_id: uuid.UUID) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/api/v1/events/{event_id}", cookies=cookies, timeout=2).status_code == 200:
            return
        time.sleep(0.1)
    pytest.fail(f"event {event_id} was not stored within 10 s")


def _launch(playwright):  # type: ignore[no-untyped-def]
    return launch_chromium(playwright)


def test_citizen_map_without_tiles(running_hub) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base = str(running_hub["base"])
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 390, "height": 844}, locale="id-ID", device_scale_factor=2)
        page.goto(f"{base}/lapor")
        outline = page.locator("#pick-map .leaflet-overlay-pane path")
        expect(outline).to_have_count(1)
        map_box = page.locator("#pick-map").bounding_box()
        shape_box = outline.bounding_box()
        assert map_box and shape_box
        assert shape_box["width"] > 0.6 * map_box["width"] or shape_box["height"] > 0.6 * map_box["height"], (
            f"the view should be fitted to the boundary: map {map_box}, outline {shape_box}"
        )
        assert page.input_value("#lat") == ""

        # The top-right corner of the outline's box is outside the octagon: no point is set.
        page.mouse.click(shape_box["x"] + shape_box["width"] - 3, shape_box["y"] + 3)
        expect(page.locator("#location-note")).to_contain_text("di luar batas Kota Metro")
        assert page.input_value("#lat") == ""

        page.mouse.click(shape_box["x"] + shape_box["width"] / 2, shape_box["y"] + shape_box["height"] / 2)
        expect(page.locator("#lat")).not_to_have_value("")
        lat, lon = float(page.input_value("#lat")), float(page.input_value("#lon"))
        assert -5.16 < lat < -5.07 and 105.28 < lon < 105.35, (lat, lon)
        expect(page.locator("#pick-map .leaflet-overlay-pane path")).to_have_count(2)
        expect(page.locator("#location-note")).to_have_text("")
        page.screenshot(path=str(ARTIFACTS / "ux-citizen-form-phone.png"), full_page=True)

        # The browser's point-in-polygon agrees with the server's geofence on a grid over the city.
        # The grid is offset from round coordinates, because points exactly on an edge may fall either way.
        from hub.complaints.geo import load_boundary
        from hub.complaints.settings import ComplaintSettings

        boundary = load_boundary(ComplaintSettings().boundary_file)
        grid = [(-5.1737 + 0.005 * i, 105.2663 + 0.005 * j) for i in range(25) for j in range(20)]
        shape = page.evaluate("() => fetch('/lapor/batas-kota.geojson').then(r => r.json())")
        in_browser = page.evaluate("([shape, grid]) => grid.map(p => window.metro.boundary.contains(shape, p[0], p[1]))", [shape, grid])
        expected = [boundary.contains(lat, lon) for lat, lon in grid]
        assert 50 < sum(expected) < len(grid), "the grid should cover inside and outside points"
        assert in_browser == expected

        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(f"{base}/lapor")
        expect(page.locator("#pick-map .leaflet-overlay-pane path")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "ux-citizen-form-1366.png"), full_page=True)
        browser.close()


def test_live_row_matches_server_row(running_hub, publisher: mqtt.Client) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base = str(running_hub["base"])
    now = datetime.now(UTC).replace(microsecond=0)
    server_id = _publish_event(publisher, "person", now - timedelta(minutes=5))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, locale="id-ID", timezone_id="Europe/Berlin")
        console_errors: list[str] = []
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{base}/")
        page.fill("input[name=username]", "operator1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        _wait_for_event(base, cookies, server_id)
        page.goto(f"{base}/")
        expect(page.locator("#live-indicator.online")).to_be_visible(timeout=5000)
        server_row = page.locator(f'#event-feed [data-event-id="{server_id}"]').inner_text().strip()
        assert ROW.match(server_row), server_row

        newest = _publish_event(publisher, "car", now)
        live_row = page.locator(f'#event-feed [data-event-id="{newest}"]')
        expect(live_row).to_be_visible(timeout=5000)
        text = live_row.inner_text().strip()
        match = ROW.match(text)
        assert match, f"live row {text!r} has another format than the server row {server_row!r}"
        wib = (now + timedelta(hours=7)).strftime("%H:%M:%S")
        assert text == f"{wib} · Simpang <Tugu> Pengantin · mobil (Berlangsung)"

        # An event that started between the two goes between them, not on top.
        middle = _publish_event(publisher, "motorcycle", now - timedelta(minutes=1))
        expect(page.locator(f'#event-feed [data-event-id="{middle}"]')).to_be_visible(timeout=5000)
        order = page.locator("#event-feed li").evaluate_all("items => items.map(li => li.dataset.eventId)")
        assert order[:3] == [str(newest), str(middle), str(server_id)], order

        page.reload()
        reloaded = page.locator("#event-feed li").evaluate_all("items => items.map(li => li.innerText.trim())")
        live_texts = page.locator("#event-feed li").evaluate_all("items => items.map(li => li.dataset.eventId)")
        assert live_texts[:3] == order[:3], "the server renders the same order after a reload"
        assert reloaded[0] == text, "the server renders the live row identically"
        page.screenshot(path=str(ARTIFACTS / "ux-dashboard-1366.png"), full_page=True)

        page.locator(f'#event-feed [data-event-id="{middle}"] a').click()
        expect(page.locator("h1")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "ux-event-1366.png"), full_page=True)

        page.goto(f"{base}/map")
        expect(page.locator("#map .leaflet-overlay-pane path")).to_have_count(2)  # boundary and one camera
        label = page.locator(".leaflet-tooltip.camera-label")
        expect(label).to_have_count(1)
        expect(label).to_be_visible()
        expect(label).to_contain_text("Simpang <Tugu> Pengantin")
        status = StatusMessage(
            camera_id="cam-browser", state=CameraState.OFFLINE, ts=datetime.now(UTC), clock_synced=True, agent_version="0.1.0"
        )
        publisher.publish(topic("cam-browser", TopicKind.STATUS), encode(status), qos=1).wait_for_publish(5)
        expect(label).to_have_text("Simpang <Tugu> Pengantin · Luring", timeout=5000)
        page.screenshot(path=str(ARTIFACTS / "ux-map-1366.png"), full_page=True)
        browser.close()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


@pytest.mark.parametrize("lang", ["id", "en"])
def test_top_bar_one_line(running_hub, lang: str) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = str(running_hub["base"])
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{base}/login?lang={lang}")
        page.fill("input[name=username]", "operator1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        # The citizen form adds a seventh link, the widest case for a logged-in user.
        page.goto(f"{base}/lapor?lang={lang}")
        boxes = page.locator(".topbar nav a").evaluate_all(
            "nodes => nodes.map(n => [Math.round(n.getBoundingClientRect().top), n.getBoundingClientRect().height])"
        )
        height = page.locator(".topbar").evaluate("node => node.getBoundingClientRect().height")
        assert len(boxes) == 7, boxes
        assert len({top for top, _ in boxes}) == 1, f"the links wrap onto two rows at 1366 px ({lang}): {boxes}"
        assert all(link_height < 30 for _, link_height in boxes), f"a link label wraps ({lang}): {boxes}"
        assert height < 60, f"the top bar is {height} px high ({lang})"
        page.screenshot(path=str(ARTIFACTS / f"ux-topbar-{lang}.png"), clip={"x": 0, "y": 0, "width": 1366, "height": 80})
        icon = page.evaluate("() => fetch('/favicon.ico').then(r => [r.status, r.headers.get('content-type')])")
        assert icon == [200, "image/svg+xml"], icon
        linked = page.locator("link[rel=icon]").get_attribute("href")
        assert linked and httpx.get(f"{base}{linked}", timeout=5).status_code == 200
        browser.close()

"""An operator starts a teleconference from an event page in a real browser."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metro_common.messages import Box, EventKind, EventMessage, encode
from metro_common.topics import TopicKind, topic
from tests.browser import launch_chromium
from tests.hub.conftest import TEST_PASSWORD
from tests.hub.test_browser import ARTIFACTS, running_hub  # noqa: F401 - running_hub is a fixture


def publish_event(broker_port: int, event_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    message = EventMessage(
        camera_id="cam-browser", event_id=event_id, seq=1, kind=EventKind.NEW, ts=now, start_ts=now,
        clock_synced=True, label="person", score=0.8,
        box=Box(x1=120, y1=200, x2=320, y2=540, frame_width=768, frame_height=576),
    )
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agent-{uuid.uuid4().hex[:6]}")
    publisher.connect("127.0.0.1", broker_port)
    publisher.loop_start()
    try:
        publisher.publish(topic("cam-browser", TopicKind.EVENT), encode(message), qos=1).wait_for_publish(5)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


@pytest.mark.browser
def test_event_page_starts_conference(request: pytest.FixtureRequest) -> None:
    from playwright.sync_api import expect, sync_playwright

    hub = request.getfixturevalue("running_hub")
    base = str(hub["base"])
    event_id = uuid.uuid4()
    publish_event(int(hub["broker_port"]), event_id)

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(locale="id-ID")
        page.goto(f"{base}/events/{event_id}")
        assert page.url.startswith(f"{base}/login?next="), "a logged-out operator is sent to the login page"
        page.fill("input[name=username]", "operator1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/events/{event_id}")

        deadline = time.monotonic() + 10
        while page.locator("h1").inner_text() == "404" and time.monotonic() < deadline:
            time.sleep(0.3)  # the hub stores the event a moment after the broker takes it
            page.reload()
        expect(page.locator("h1")).to_contain_text("Kejadian orang")

        page.get_by_role("button", name="Mulai telekonferensi").click()
        page.wait_for_url(f"{base}/konferensi/*")
        conference_id = page.url.rsplit("/", 1)[1]
        stored = page.request.get(f"{base}/api/conferences/{conference_id}")
        assert stored.ok
        assert stored.json()["event_id"] == str(event_id)

        page.goto(f"{base}/events/{event_id}")
        expect(page.locator(".conference-timeline")).to_contain_text("operator1 memulai telekonferensi")
        page.screenshot(path=str(ARTIFACTS / "hub-event-conference.png"), full_page=True)
        browser.close()
    assert httpx.get(f"{base}/docs", timeout=5).status_code == 404

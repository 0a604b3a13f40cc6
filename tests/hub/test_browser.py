"""The dashboard in a real browser: log in, see the grid, see a published event appear live."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from metro_common.messages import Box, EventKind, EventMessage, MediaKind, MediaRef, encode
from metro_common.topics import TopicKind, topic
from tests.browser import launch_chromium
from tests.conftest import ROOT, free_port
from tests.hub.conftest import TEST_PASSWORD

ARTIFACTS = ROOT / "test-artifacts"
HUB = [sys.executable, "-m", "hub"]


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> str:
    result = subprocess.run([*HUB, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture()
def running_hub(tmp_path: Path) -> Iterator[dict[str, object]]:
    """A hub on a free port with its embedded broker on another free port."""
    http_port, broker_port = free_port(), free_port()
    env = {
        **os.environ,
        "METRO_HUB_DATA_DIR": str(tmp_path / "hub"),
        "METRO_HUB_BROKER_PORT": str(broker_port),
        "METRO_HUB_MQTT_CLIENT_ID": f"hub-browser-{uuid.uuid4().hex[:8]}",
    }
    env.pop("METRO_HUB_MQTT_URL", None)
    env.pop("METRO_HUB_DATABASE_URL", None)
    _run(["create-user", "operator1", "--role", "operator"], env, TEST_PASSWORD + "\n")
    token = _run(
        ["camera", "add", "cam-browser", "--name", "Simpang <Tugu> Pengantin", "--lat", "-5.1131", "--lon", "105.3067"], env
    )
    log_path = tmp_path / "hub.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*HUB, "serve", "--host", "127.0.0.1", "--port", str(http_port)], env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"hub did not become ready:\n{log_path.read_text()[-3000:]}")
        yield {"base": base, "broker_port": broker_port, "token": token, "log": log_path}
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.browser
def test_dashboard_live_event(running_hub, media_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    base = str(running_hub["base"])
    jpeg = (media_dir / "darknet_dog.jpg").read_bytes()
    digest = hashlib.sha256(jpeg).hexdigest()
    event_id = uuid.uuid4()

    upload = httpx.post(
        f"{base}/api/v1/media/{event_id}",
        content=jpeg,
        headers={
            "Authorization": f"Bearer {running_hub['token']}", "X-Camera-Id": "cam-browser",
            "X-Media-Kind": "snapshot", "X-Content-SHA256": digest, "Content-Type": "image/jpeg",
        },
        timeout=10,
    )
    assert upload.status_code in (200, 201), upload.text

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(locale="id-ID")
        console_errors: list[str] = []
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{base}/")
        page.fill("input[name=username]", "operator1")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        tile = page.locator('[data-camera-id="cam-browser"]')
        expect(tile).to_be_visible()
        expect(tile.locator("h3")).to_have_text("Simpang <Tugu> Pengantin")
        expect(page.locator("#live-indicator.online")).to_be_visible(timeout=5000)

        now = datetime.now(UTC)
        message = EventMessage(
            camera_id="cam-browser", event_id=event_id, seq=1, kind=EventKind.NEW, ts=now, start_ts=now,
            clock_synced=True, label="dog", score=0.87,
            box=Box(x1=120, y1=200, x2=320, y2=540, frame_width=768, frame_height=576),
            snapshot=MediaRef(kind=MediaKind.SNAPSHOT, sha256=digest, size_bytes=len(jpeg), content_type="image/jpeg"),
        )
        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"agent-{uuid.uuid4().hex[:6]}")
        publisher.connect("127.0.0.1", int(running_hub["broker_port"]))  # type: ignore[call-overload]
        publisher.loop_start()
        started = time.monotonic()
        publisher.publish(topic("cam-browser", TopicKind.EVENT), encode(message), qos=1).wait_for_publish(5)
        item = page.locator(f'#event-feed [data-event-id="{event_id}"]')
        expect(item).to_be_visible(timeout=2000)
        latency_s = time.monotonic() - started
        publisher.disconnect()
        publisher.loop_stop()
        assert "anjing" in item.inner_text(), "the live feed names the object class in the page language"
        expect(tile.locator("img")).to_have_attribute("src", f"/media/{digest}")
        page.screenshot(path=str(ARTIFACTS / "hub-dashboard.png"), full_page=True)

        item.locator("a").click()
        snapshot = page.locator('img[data-role="snapshot"]').first
        expect(snapshot).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=snapshot.element_handle())
        assert snapshot.evaluate("img => img.naturalWidth") == 768
        page.screenshot(path=str(ARTIFACTS / "hub-event.png"), full_page=True)

        page.goto(f"{base}/map")
        marker = page.locator('path[data-camera-id="cam-browser"]')
        expect(marker).to_be_visible()
        box = marker.bounding_box()
        assert box is not None and 15 <= box["width"] <= 30, f"marker should be a ~22 px circle, got {box}"
        page.screenshot(path=str(ARTIFACTS / "hub-map.png"), full_page=True)
        browser.close()
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
    print(f"event visible in the browser feed {latency_s:.2f} s after publishing")

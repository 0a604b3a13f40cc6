"""Live view: lease and rate cap (pure), and the whole path agent -> hub -> viewer with real MQTT commands."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edge_agent.media.clips import SOFTWARE_ENCODER
from edge_agent.media.config import LiveConfig, MaskMode, MediaConfig, PrivacyMask
from edge_agent.media.live import LiveLease, RateCap, lease_seconds
from edge_agent.media.pipeline import CameraMedia
from hub.media.live import LiveRelay
from metro_common.messages import CommandMessage, CommandName, decode, encode
from metro_common.topics import TopicKind, topic
from tests.browser import launch_chromium
from tests.media.conftest import HubServer, wait_until

# -- pure ------------------------------------------------------------------------------------

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("issued", "expires", "args", "expected"),
    [
        (T0, T0 + timedelta(seconds=30), {}, 30.0),
        (T0, T0 + timedelta(seconds=30), {"lease_s": 12}, 12.0),
        (T0, T0 + timedelta(hours=2), {}, 600.0),
        (T0, T0, {}, 45.0),
        (T0, T0 + timedelta(seconds=20), {"lease_s": True}, 20.0),
    ],
)
def test_lease_seconds_table(issued: datetime, expires: datetime, args: dict[str, float], expected: float) -> None:
    assert lease_seconds(issued, expires, args, default_s=45.0) == expected


def test_lease_expires_and_renews() -> None:
    lease = LiveLease()
    assert not lease.active(0.0)
    lease.grant(10.0, 5.0)
    assert lease.active(14.9)
    assert not lease.active(15.0)
    lease.grant(14.0, 5.0)
    assert lease.active(18.9)
    lease.revoke()
    assert not lease.active(15.0)


def test_rate_cap_limits_fps_and_bits() -> None:
    cap = RateCap(max_fps=5, max_kbit_s=80)  # 10,000 bytes/s, 10,000-byte burst
    assert cap.due(0.0)
    assert cap.try_send(0.0, 6000)
    assert not cap.due(0.1)
    assert cap.wait_s(0.1) == pytest.approx(0.1)
    assert cap.due(0.2)
    # Only 4,000 bytes of budget plus 0.2 s x 10,000 bytes/s refill are left.
    assert not cap.try_send(0.2, 7000)
    # The skip tells the sender to wait until 7,000 bytes fit: 1,000 bytes more, 0.1 s.
    assert cap.wait_s(0.2) == pytest.approx(0.1)
    assert not cap.due(0.25)
    assert cap.try_send(0.2, 5000)
    assert cap.wait_s(0.2) == pytest.approx(0.2)


@pytest.mark.parametrize("kwargs", [{"max_fps": 0, "max_kbit_s": 10}, {"max_fps": 1, "max_kbit_s": 0}])
def test_rate_cap_rejects_zero(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RateCap(**kwargs)


# -- integration -----------------------------------------------------------------------------

RED_MASK = PrivacyMask(points=((0.0, 0.0), (0.3, 0.0), (0.3, 0.3), (0.0, 0.3)), mode=MaskMode.FILL, fill_bgr=(0, 0, 255))


@dataclass
class LiveRig:
    hub: HubServer
    media: CameraMedia
    commands: list[CommandMessage] = field(default_factory=list)
    replay_stop: threading.Event = field(default_factory=threading.Event)


def _mqtt_client(name: str) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:10]}")


@pytest.fixture()
def live_rig(
    tmp_path: Path, hub_server: HubServer, mosquitto: tuple[str, int], vtest_frames: list[np.ndarray]
) -> Iterator[LiveRig]:
    """Hub relay publishing commands to the real broker, and an agent replaying footage at 10 fps."""
    host, port = mosquitto
    camera_id = hub_server.camera_id
    hub_client = _mqtt_client("media-test-hub")
    hub_client.connect(host, port)
    hub_client.loop_start()

    async def publish(message: CommandMessage) -> None:
        hub_client.publish(topic(message.camera_id, TopicKind.COMMAND), encode(message), qos=1)

    hub_server.app.state.live_relay = LiveRelay(publish, lease_s=6.0, renew_every_s=2.0, stop_grace_s=1.0)

    media = CameraMedia(
        camera_id, "Kamera uji", tmp_path / "agent", MediaConfig(clips_enabled=False), LiveConfig(), [RED_MASK],
        hub_url=hub_server.base_url, device_token=hub_server.device_token, publish_media=lambda e, r: None,
        encoder=SOFTWARE_ENCODER,
    )
    rig = LiveRig(hub_server, media)

    def on_command(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        command = decode(TopicKind.COMMAND, message.payload, camera_id)
        assert isinstance(command, CommandMessage)
        rig.commands.append(command)
        if command.name is CommandName.LIVE_START:
            media.live_start(command)
        elif command.name is CommandName.LIVE_STOP:
            media.live_stop()

    agent_client = _mqtt_client("media-test-agent")
    agent_client.on_message = on_command
    subscribed = threading.Event()
    agent_client.on_subscribe = lambda *args: subscribed.set()
    agent_client.connect(host, port)
    agent_client.subscribe(topic(camera_id, TopicKind.COMMAND), qos=1)
    agent_client.loop_start()
    assert subscribed.wait(5)
    media.start()

    def replay() -> None:
        index = 0
        while not rig.replay_stop.is_set():
            media.on_frame(vtest_frames[index % len(vtest_frames)], time.monotonic())
            index += 1
            time.sleep(0.1)

    replay_thread = threading.Thread(target=replay, daemon=True)
    replay_thread.start()
    try:
        yield rig
    finally:
        rig.replay_stop.set()
        replay_thread.join(5)
        media.stop()
        for client in (agent_client, hub_client):
            client.loop_stop()
            client.disconnect()


def _read_mjpeg_parts(url: str, cookies: dict[str, str], count: int) -> list[tuple[float, float | None, bytes]]:
    """Read ``count`` JPEG parts; return (arrival time, X-Captured-At, jpeg) for each."""
    parts: list[tuple[float, float | None, bytes]] = []
    buffer = b""
    with httpx.stream("GET", url, cookies=cookies, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        for chunk in response.iter_bytes():
            buffer += chunk
            while True:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    break
                headers = dict(
                    line.split(": ", 1) for line in buffer[:head_end].decode().split("\r\n")[1:] if ": " in line
                )
                length = int(headers["Content-Length"])
                if len(buffer) < head_end + 4 + length + 2:
                    break
                body = buffer[head_end + 4 : head_end + 4 + length]
                buffer = buffer[head_end + 4 + length + 2 :]
                if headers["Content-Type"] != "image/jpeg":
                    continue
                captured = float(headers["X-Captured-At"]) if "X-Captured-At" in headers else None
                parts.append((time.time(), captured, body))
                if len(parts) >= count:
                    return parts
    return parts


def test_live_stream_latency_and_stop(live_rig: LiveRig) -> None:
    hub, media = live_rig.hub, live_rig.media
    assert media.live is not None
    # Nobody watches yet: the agent sends nothing.
    time.sleep(0.5)
    assert media.live.stats.frames_sent == 0

    url = f"{hub.base_url}/api/v1/live/{hub.camera_id}/mjpeg"
    started = time.monotonic()
    parts = _read_mjpeg_parts(url, hub.cookies(), 25)
    elapsed = time.monotonic() - started
    assert len(parts) == 25
    assert any(c.name is CommandName.LIVE_START for c in live_rig.commands)
    latencies = sorted(arrived - captured for arrived, captured, _ in parts[3:] if captured is not None)
    median_ms = latencies[len(latencies) // 2] * 1000
    sent_bytes = media.live.stats.bytes_sent
    sent_frames = media.live.stats.frames_sent
    print(f"\nlive: {len(parts)} frames in {elapsed:.2f} s, median latency {median_ms:.0f} ms, "
          f"mean frame {sent_bytes / sent_frames / 1024:.1f} KiB, {sent_bytes * 8 / 1000 / elapsed:.0f} kbit/s")
    assert median_ms < 1000
    # The token bucket allows a 1 s burst on top of the 1500 kbit/s default cap.
    assert sent_bytes * 8 / 1000 <= 1500 * (elapsed + 1.0)
    # 5 fps cap: 25 frames take about 5 s (first frame may be immediate).
    assert elapsed > 4.0

    # The privacy mask reached the viewer: the top-left corner is red (BGR 0, 0, 255).
    import cv2

    frame = cv2.imdecode(np.frombuffer(parts[-1][2], np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape[1] <= 640
    corner = frame[5:100, 5:150].astype(int)
    assert corner[..., 2].mean() > 230
    assert corner[..., 0].mean() < 25

    # The viewer left: after the grace period the hub sends live_stop and the agent stops pushing.
    assert wait_until(lambda: not media.live.active, timeout_s=5.0)
    assert any(c.name is CommandName.LIVE_STOP for c in live_rig.commands)
    time.sleep(0.5)
    after_stop = media.live.stats.frames_sent
    time.sleep(1.5)
    assert media.live.stats.frames_sent == after_stop


def test_lease_lapses_without_live_stop(live_rig: LiveRig) -> None:
    media = live_rig.media
    assert media.live is not None
    now = datetime.now(UTC)
    media.live_start(CommandMessage(camera_id=media.camera_id, command_id=uuid.uuid4(), name=CommandName.LIVE_START,
                                    issued_at=now, expires_at=now + timedelta(seconds=2)))
    assert wait_until(lambda: media.live.stats.frames_sent >= 3, timeout_s=5.0)
    # No renewal and no live_stop: the lease lapses after 2 s and pushing stops.
    assert wait_until(lambda: not media.live.active, timeout_s=4.0)
    time.sleep(0.5)
    stopped_at = media.live.stats.frames_sent
    time.sleep(1.0)
    assert media.live.stats.frames_sent == stopped_at


def test_live_push_needs_device_token(hub_server: HubServer) -> None:
    url = f"{hub_server.base_url}/api/v1/live/{hub_server.camera_id}/frames"
    response = httpx.post(url, content=b"\xff\xd8\xff\xe0", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    anonymous = httpx.get(f"{hub_server.base_url}/api/v1/live/{hub_server.camera_id}/mjpeg")
    assert anonymous.status_code == 401


@pytest.mark.browser
def test_browser_sees_live_frames_change(live_rig: LiveRig) -> None:
    from playwright.sync_api import sync_playwright

    hub, media = live_rig.hub, live_rig.media
    assert media.live is not None
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": "metro_session", "value": hub.session_cookie, "url": hub.base_url}])
            page = context.new_page()
            page.goto(f"{hub.base_url}/live/{hub.camera_id}?lang=en")
            image = page.locator(f"#live-{hub.camera_id}")
            page.wait_for_function(
                "id => { const img = document.getElementById(id); return img && img.naturalWidth > 0; }",
                arg=f"live-{hub.camera_id}", timeout=15000,
            )
            first = image.screenshot()
            time.sleep(1.5)
            second = image.screenshot()
            assert first != second, "the live image did not change between two screenshots"
            assert "Live view" in page.title()
            context.close()
        finally:
            browser.close()
    # The page is gone, so the last watcher left: the agent stops within a few seconds.
    assert wait_until(lambda: not media.live.active, timeout_s=6.0)


def test_relay_counts_watchers() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        sent: list[str] = []

        async def publish(message: CommandMessage) -> None:
            sent.append(message.name.value)

        relay = LiveRelay(publish, lease_s=3.0, renew_every_s=1.0, stop_grace_s=0.1, frame_wait_s=0.2)
        stream = relay.frames("cam-x")
        waiter = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)
        during = relay.watchers("cam-x")
        await relay.push("cam-x", b"\xff\xd8\xff", 1.0)
        frame = await waiter
        assert frame is not None and frame.seq == 1
        await stream.aclose()
        after = relay.watchers("cam-x")
        await asyncio.sleep(0.3)
        await relay.close()
        return sent, during, after

    sent, during, after = asyncio.run(scenario())
    assert during == 1
    assert after == 0
    assert sent == ["live_start", "live_stop"]


@pytest.mark.browser
def test_browser_wall_shows_eight_cameras(hub_server: HubServer, vtest_frames: list[np.ndarray]) -> None:
    """More cameras than Chromium's six HTTP/1.1 connections per host, all updating on one stream."""
    from playwright.sync_api import sync_playwright

    from edge_agent.media.snapshot import encode_jpeg
    from tests.media.conftest import register_camera

    sent: list[CommandMessage] = []

    async def publish(message: CommandMessage) -> None:
        sent.append(message)

    relay = LiveRelay(publish, stop_grace_s=0.5)
    hub_server.app.state.live_relay = relay
    tokens = {hub_server.camera_id: hub_server.device_token}
    for index in range(7):
        camera_id = f"{hub_server.camera_id}-w{index}"
        tokens[camera_id] = register_camera(hub_server.app, camera_id)
    jpegs = [encode_jpeg(frame, 60) for frame in vtest_frames[:40]]
    stop = threading.Event()

    def push_all() -> None:
        with httpx.Client(base_url=hub_server.base_url, timeout=5) as client:
            index = 0
            while not stop.is_set():
                for camera_id, token in tokens.items():
                    client.post(f"/api/v1/live/{camera_id}/frames", content=jpegs[index % len(jpegs)],
                                headers={"Authorization": f"Bearer {token}"})
                index += 1
                time.sleep(0.2)

    pusher = threading.Thread(target=push_all, daemon=True)
    pusher.start()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context()
                context.add_cookies([{"name": "metro_session", "value": hub_server.session_cookie, "url": hub_server.base_url}])
                page = context.new_page()
                page.goto(f"{hub_server.base_url}/live?cameras={','.join(tokens)}")
                all_shown = """() => Array.from(document.querySelectorAll('img[data-camera-id]'))
                    .every(img => img.naturalWidth > 0)"""
                page.wait_for_function(all_shown, timeout=15000)
                read_sources = "() => Array.from(document.querySelectorAll('img[data-camera-id]')).map(img => img.src)"
                first = page.evaluate(read_sources)
                time.sleep(1.0)
                second = page.evaluate(read_sources)
                # A tile whose next frame is still decoding reports width 0 for a moment, so
                # wait for a moment when every tile shows a full-width frame.
                full_width = """() => Array.from(document.querySelectorAll('img[data-camera-id]'))
                    .every(img => img.naturalWidth === 768)"""
                page.wait_for_function(full_width, timeout=10000)
                assert len(first) == 8
                assert all(a != b for a, b in zip(first, second, strict=True)), "every tile should get new frames"
                assert sorted(relay.watchers(c) for c in tokens) == [1] * 8
                context.close()
            finally:
                browser.close()
        assert wait_until(lambda: all(relay.watchers(c) == 0 for c in tokens), timeout_s=5.0)
        assert wait_until(lambda: sum(m.name is CommandName.LIVE_STOP for m in sent) == 8, timeout_s=5.0)
        assert {m.camera_id for m in sent if m.name is CommandName.LIVE_START} == set(tokens)
    finally:
        stop.set()
        pusher.join(5)

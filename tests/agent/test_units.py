"""Pure pieces of the agent runtime: backoff, takeover guard, clock and host parsing, emission."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.mqtt_client import RC_SESSION_TAKEN_OVER, TakeoverGuard
from edge_agent.runtime.backoff import Backoff
from edge_agent.runtime.clock import parse_timedatectl, synced_from_adjtimex_state
from edge_agent.runtime.emit import CountAggregator, EventClock, build_event_message, clamp_box
from edge_agent.runtime.host import cpu_temperature_c, parse_millidegrees
from edge_agent.runtime.sdnotify import Notifier
from metro_common.messages import EndReason, EventKind, EventMessage, decode, encode
from metro_common.topics import TopicKind


def upper(low: float, high: float) -> float:
    return high


def test_backoff_doubles_to_cap() -> None:
    backoff = Backoff(1.0, 120.0, uniform=upper)
    delays = [backoff.next_delay() for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 120, 120]


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(1.0, 120.0, uniform=upper)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() == 1.0


@given(st.integers(min_value=0, max_value=200))
def test_backoff_jitter_within_half_to_ceiling(attempts: int) -> None:
    backoff = Backoff(1.0, 120.0)
    backoff.attempts = attempts
    ceiling = backoff.ceiling()
    delay = backoff.next_delay()
    assert ceiling / 2 <= delay <= ceiling
    assert ceiling <= 120.0


@pytest.mark.parametrize(
    ("initial", "maximum", "multiplier"),
    [(0.0, 10.0, 2.0), (5.0, 1.0, 2.0), (1.0, 10.0, 0.5)],
)
def test_backoff_rejects_bad_parameters(initial: float, maximum: float, multiplier: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(initial, maximum, multiplier)


def test_takeover_guard_stops_after_two_takeovers() -> None:
    guard = TakeoverGuard()
    assert guard.record_disconnect(0.0, 100.0, RC_SESSION_TAKEN_OVER) is False
    assert guard.record_disconnect(10.0, 8.0, RC_SESSION_TAKEN_OVER) is True


def test_takeover_guard_forgets_old_takeovers() -> None:
    guard = TakeoverGuard(window_s=600.0)
    assert guard.record_disconnect(0.0, 100.0, RC_SESSION_TAKEN_OVER) is False
    assert guard.record_disconnect(700.0, 100.0, RC_SESSION_TAKEN_OVER) is False


def test_takeover_guard_counts_quick_drops() -> None:
    guard = TakeoverGuard(max_quick_drops=3, quick_s=5.0)
    assert guard.record_disconnect(0.0, 1.0, None) is False
    assert guard.record_disconnect(3.0, 1.0, None) is False
    assert guard.record_disconnect(6.0, 1.0, None) is True


def test_takeover_guard_ignores_long_sessions() -> None:
    guard = TakeoverGuard(max_quick_drops=2)
    for minute in range(10):
        assert guard.record_disconnect(minute * 60.0, 50.0, 141) is False


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("NTPSynchronized=yes\n", True),
        ("NTPSynchronized=no\n", False),
        ("Timezone=Asia/Jakarta\nNTPSynchronized=yes\n", True),
        ("Timezone=UTC\n", None),
        ("", None),
    ],
)
def test_parse_timedatectl(output: str, expected: bool | None) -> None:
    assert parse_timedatectl(output) is expected


@pytest.mark.parametrize(("state", "expected"), [(0, True), (1, True), (4, True), (5, False), (-1, None)])
def test_adjtimex_state(state: int, expected: bool | None) -> None:
    assert synced_from_adjtimex_state(state) is expected


def test_cpu_temperature_reads_millidegrees(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48312\n")
    assert cpu_temperature_c(zone) == pytest.approx(48.312)
    assert cpu_temperature_c(tmp_path / "absent") is None
    assert parse_millidegrees("garbage") is None


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"})
        assert notifier.watchdog_s == 30.0
        assert notifier.ready("2 cameras") is True
        assert server.recv(256) == b"READY=1\nSTATUS=2 cameras"
        assert notifier.watchdog() is True
        assert server.recv(256) == b"WATCHDOG=1"


def test_notifier_without_socket_is_silent() -> None:
    notifier = Notifier({})
    assert notifier.enabled is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_s is None


@pytest.mark.parametrize(
    ("xyxy", "expected"),
    [
        ((10, 20, 30, 40), (10, 20, 30, 40)),
        ((-5, -3, 30, 40), (0, 0, 30, 40)),
        ((600, 400, 700, 500), (600, 400, 640, 480)),
        ((650, 10, 660, 20), (640, 10, 640, 20)),
    ],
)
def test_clamp_box(xyxy: tuple[float, float, float, float], expected: tuple[float, float, float, float]) -> None:
    box = clamp_box(xyxy, 640, 480)
    assert (box.x1, box.y1, box.x2, box.y2) == expected


@dataclass
class FakeUpdate:
    event_id: uuid.UUID
    kind: EventKind
    label: str = "person"
    score: float = 0.8
    box: tuple[float, float, float, float] = (10.0, 10.0, 50.0, 90.0)
    frame_width: int = 640
    frame_height: int = 480
    zones: tuple[str, ...] = ("zebra-cross",)
    start_mono: float = 100.0
    end_mono: float | None = None
    end_reason: EndReason | None = None


def test_event_message_places_times_on_wall_clock() -> None:
    now = datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)
    event_id = uuid.uuid4()
    clock = EventClock()
    start = clock.start_ts(event_id, 100.0, now, 104.0)
    update = FakeUpdate(event_id, EventKind.END, end_mono=103.0, end_reason=EndReason.LEFT_VIEW)
    message = build_event_message("cam-07", update, seq=7, now_wall=now, now_mono=104.0, start_ts=start, clock_synced=True)
    decoded = decode(TopicKind.EVENT, encode(message), "cam-07")
    assert isinstance(decoded, EventMessage)
    assert decoded.start_ts == now - timedelta(seconds=4)
    assert decoded.end_ts == now - timedelta(seconds=1)
    assert decoded.end_reason is EndReason.LEFT_VIEW
    assert decoded.seq == 7


def test_event_clock_repeats_first_start() -> None:
    now = datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)
    event_id = uuid.uuid4()
    clock = EventClock()
    first = clock.start_ts(event_id, 100.0, now, 101.0)
    later = clock.start_ts(event_id, 100.0, now + timedelta(seconds=30), 131.5)
    assert later == first
    clock.forget(event_id)
    assert len(clock) == 0


def test_count_aggregator_reports_every_line() -> None:
    start = datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)
    counts = CountAggregator(("north", "south"), start)
    counts.add("north", "car", "to_right")
    counts.add("north", "car", "to_right")
    counts.add("north", "person", "to_left")
    closed = counts.close_period(start + timedelta(minutes=1))
    by_line = {line: items for line, _, _, items in closed}
    assert [(i.label, i.direction, i.count) for i in by_line["north"]] == [("car", "in", 2), ("person", "out", 1)]
    assert by_line["south"] == ()
    assert counts.period_start == start + timedelta(minutes=1)


def test_count_aggregator_rejects_unknown_direction() -> None:
    counts = CountAggregator(("north",), datetime(2026, 12, 4, tzinfo=UTC))
    with pytest.raises(ValueError, match="sideways"):
        counts.add("north", "car", "sideways")

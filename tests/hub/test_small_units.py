"""Pure helpers: broker URL parsing, effective camera state, SSE framing, CSP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.cameras.status import effective_state
from hub.ingest.endpoint import BrokerEndpoint, BrokerUrlError, parse_broker_url
from hub.live import format_sse
from hub.web.security import build_csp, origin_of
from tests.hub.factories import T0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.lan", BrokerEndpoint("broker.lan", 1883, False)),
        ("mqtts://broker.lan", BrokerEndpoint("broker.lan", 8883, True)),
        ("mqtt://hub:s%40cret@10.0.0.5:1884", BrokerEndpoint("10.0.0.5", 1884, False, "hub", "s@cret")),
    ],
)
def test_parse_broker_url(url: str, expected: BrokerEndpoint) -> None:
    assert parse_broker_url(url) == expected


def test_parse_broker_url_settings_credentials() -> None:
    endpoint = parse_broker_url("mqtts://broker:8883", "hub", "pw")
    assert (endpoint.username, endpoint.password) == ("hub", "pw")
    assert "pw" not in endpoint.redacted()


@pytest.mark.parametrize(("url", "message"), [("http://x", "use mqtt://"), ("mqtt://", "host name is missing"), ("mqtt://h:99999", "port")])
def test_parse_broker_url_invalid(url: str, message: str) -> None:
    with pytest.raises(BrokerUrlError, match=message):
        parse_broker_url(url)


@pytest.mark.parametrize(
    ("reported", "seen_ago_s", "expected"),
    [
        ("online", 10, "online"),
        ("online", 91, "offline"),
        ("online", None, "offline"),
        ("stopped", 10, "stopped"),
        ("offline", 1, "offline"),
        ("unknown", None, "unknown"),
        ("garbage", 1, "unknown"),
    ],
)
def test_effective_state(reported: str, seen_ago_s: float | None, expected: str) -> None:
    last_seen = None if seen_ago_s is None else T0 - timedelta(seconds=seen_ago_s)
    assert effective_state(reported, last_seen, T0, 90.0) == expected


def test_sse_frame_is_one_data_line() -> None:
    frame = format_sse({"type": "event", "data": {"label": "a\nb"}})
    assert frame == 'event: event\ndata: {"label":"a\\nb"}\n\n'


def test_csp_adds_tile_origin_only() -> None:
    assert origin_of("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert origin_of("") is None
    csp = build_csp("https://tiles.example/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://tiles.example" in csp
    assert "script-src 'self';" in csp

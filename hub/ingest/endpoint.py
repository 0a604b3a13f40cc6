"""Parsing the broker URL from the settings into connection parameters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class BrokerUrlError(ValueError):
    """An mqtt_url that cannot be used."""


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    def redacted(self) -> str:
        """Describe the endpoint for logs, without the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_broker_url(url: str, username: str | None = None, password: str | None = None) -> BrokerEndpoint:
    """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``; credentials in the URL win."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerUrlError(f"invalid METRO_HUB_MQTT_URL {url!r}: use mqtt://host:1883 or mqtts://host:8883")
    if not parts.hostname:
        raise BrokerUrlError(f"invalid METRO_HUB_MQTT_URL {url!r}: the host name is missing")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise BrokerUrlError(f"invalid METRO_HUB_MQTT_URL {url!r}: the port must be 1-65535") from exc
    return BrokerEndpoint(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else username,
        password=unquote(parts.password) if parts.password else password,
    )

"""The embedded amqtt broker for single-machine installs (no METRO_HUB_MQTT_URL).

amqtt speaks MQTT 3.1.1 only and is much slower than Mosquitto. Production installs
therefore use Mosquitto through METRO_HUB_MQTT_URL.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

log = logging.getLogger(__name__)


def broker_config(port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def pick_port(port: int) -> int:
    """Return ``port``, or a free loopback port when it is 0."""
    if port:
        return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker failed to start."""


class EmbeddedBroker:
    """Start and stop an amqtt broker on 127.0.0.1 inside the hub's event loop."""

    def __init__(self, port: int) -> None:
        self.port = pick_port(port)
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker  # imported here: only single-machine installs need it
        from amqtt.errors import BrokerError

        self._broker = Broker(broker_config(self.port), loop=asyncio.get_running_loop())
        try:
            await self._broker.start()
        except BrokerError as exc:
            self._broker = None
            raise EmbeddedBrokerError(
                f"the embedded MQTT broker cannot listen on 127.0.0.1:{self.port} ({exc}); set "
                "METRO_HUB_BROKER_PORT to a free port, or METRO_HUB_MQTT_URL to use a running broker"
            ) from exc
        log.info("Embedded MQTT broker listening on 127.0.0.1:%d", self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
            log.info("Embedded MQTT broker on 127.0.0.1:%d stopped", self.port)

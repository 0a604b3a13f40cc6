"""Minimal sd_notify client: READY, STATUS and WATCHDOG messages over $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


class Notifier:
    """Send service state to systemd; does nothing when not started by systemd with Type=notify."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1_000_000 if usec.isdigit() and int(usec) > 0 else None
        watchdog_pid = env.get("WATCHDOG_PID")
        if watchdog_pid and watchdog_pid.isdigit() and int(watchdog_pid) != os.getpid():
            self.watchdog_s = None

    @classmethod
    def from_environment(cls) -> Notifier:
        """Read and remove the systemd variables, so child processes do not write to the socket.

        systemd tools such as ``timedatectl`` send ``ERRNO=`` to $NOTIFY_SOCKET when they
        fail, which systemd would take as a message from this service.
        """
        notifier = cls()
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` lines; return False when there is no socket or sending failed."""
        if not self._address:
            return False
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._address)
                sock.sendall(message)
        except OSError as exc:
            logger.debug("sd_notify failed: %s", exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

"""Real components for the end-to-end drills: a private Mosquitto, a private PostgreSQL and ``metro-hub serve``.

Every process starts in its own session, so ``stop`` can signal its whole process
group. Nothing here touches the machine's shared broker on 1883 or PostgreSQL on 5432.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from metro_common.messages import EventMessage, decode
from metro_common.topics import TopicKind, topic
from tests.agent.harness import wait_port
from tests.conftest import free_port

BIN = Path(sys.executable).parent
# Large enough for any drill here; Mosquitto's default of 1000 would drop newer messages.
BROKER_MAX_QUEUED = 100_000


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> float:
    """Poll ``condition`` until it is true; return the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> int:
    """Send ``sig`` to the process group of ``process``; SIGKILL it if it outlives ``timeout_s``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    return int(process.returncode)


class PrivateBroker:
    """A Mosquitto on a free port whose persistence survives ``stop`` and ``start``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            # As root, Mosquitto would switch to the user "mosquitto", which cannot write the test's folder.
            f"user {getpass.getuser()}\nallow_anonymous true\n"
            # With autosave_on_changes and an interval of 1, Mosquitto saves after each change.
            # A timed autosave instead let a SIGKILL lose a new hub session and its queued messages.
            f"persistence true\npersistence_location {directory}/\nautosave_on_changes true\nautosave_interval 1\n"
            f"max_queued_messages {BROKER_MAX_QUEUED}\nmax_inflight_messages 100\n"
            f"listener {self.port} 127.0.0.1\n"
        )

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.directory / "mosquitto.log").open("ab")
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker; SIGTERM saves its persistence file first, SIGKILL loses what was not autosaved."""
        if self.process is not None:
            stop_group(self.process, sig)
            self.process = None


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, run as the ``postgres`` user (initdb rejects root)."""

    directory: Path
    port: int

    @classmethod
    def create(cls) -> PrivatePostgres:
        initdb = _postgres_binary("initdb")
        directory = Path(tempfile.mkdtemp(prefix="metro-e2e-pg-"))
        if os.geteuid() == 0:
            # pytest's tmp_path is private to root, so the cluster lives in a folder postgres owns.
            shutil.chown(directory, "postgres")
            directory.chmod(0o755)
        _run_as_postgres([str(initdb), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres", "--no-sync"])
        return cls(directory, free_port())

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run_as_postgres([str(_postgres_binary("pg_ctl")), "-D", str(self.directory / "data"), "-o", options,
                          "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start"])

    def stop(self) -> None:
        _run_as_postgres([str(_postgres_binary("pg_ctl")), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop"],
                         check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _postgres_binary(name: str) -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise AssertionError(f"{name} not found under /usr/lib/postgresql/*/bin; install the postgresql server package")
    return found[-1]


def _run_as_postgres(command: list[str], check: bool = True) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    result = subprocess.run(prefix + command, capture_output=True, text=True, check=False, timeout=90)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")


class Hub:
    """``metro-hub serve`` with its own data folder, database and MQTT client id on a private broker."""

    def __init__(self, directory: Path, broker_url: str, database_url: str | None = None, **settings: str) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.database_url = database_url or f"sqlite:///{directory / 'hub.db'}"
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "METRO_HUB_DATA_DIR": str(directory),
            "METRO_HUB_DATABASE_URL": self.database_url,
            "METRO_HUB_MQTT_URL": broker_url,
            "METRO_HUB_MQTT_CLIENT_ID": f"e2e-hub-{uuid.uuid4().hex[:10]}",
            **{f"METRO_HUB_{key.upper()}": value for key, value in settings.items()},
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "hub.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> str:
        result = subprocess.run([str(BIN / "metro-hub"), *args], env=self.env, capture_output=True, text=True,
                                check=False, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"metro-hub {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def add_camera(self, camera_id: str) -> str:
        """Register a file camera and return its device token."""
        return self.cli("camera", "add", camera_id, "--name", camera_id, "--lat", "-5.11", "--lon", "105.3",
                        "--source-kind", "file").strip()

    def start(self) -> None:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "metro-hub"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        code = stop_group(self.process, sig)
        self.process = None
        return code

    def readyz(self) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=3) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError:
            return 0, {}

    def wait_ready(self, timeout_s: float = 60.0) -> float:
        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"hub exited with code {self.process.returncode}:\n{self.log_text()[-3000:]}")
            return self.readyz()[0] == 200

        return wait_until(ready, timeout_s, "the hub's /readyz to return 200")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    camera_id: str
    last_seq: int
    state: str
    label: str


def hub_events(database_url: str, camera_id: str) -> list[StoredEvent]:
    """Read one camera's events straight from the hub database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, camera_id, last_seq, state, label FROM events WHERE camera_id = :c ORDER BY id"),
                {"c": camera_id},
            ).all()
    finally:
        engine.dispose()
    return [StoredEvent(str(r[0]), str(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows]


class EventRecorder:
    """An independent QoS 1 subscriber with a persistent session: the record of what the agent published."""

    def __init__(self, port: int, camera_id: str) -> None:
        self.messages: list[EventMessage] = []
        self._lock = threading.Lock()
        self._topic = topic(camera_id, TopicKind.EVENT)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-rec-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.reconnect_delay_set(0.2, 1.0)
        self.client.on_connect = lambda client, *args: client.subscribe(self._topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        event = decode(TopicKind.EVENT, bytes(message.payload))
        assert isinstance(event, EventMessage)
        with self._lock:
            self.messages.append(event)

    def snapshot(self) -> list[EventMessage]:
        with self._lock:
            return list(self.messages)

    def last_seq_by_event(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for message in self.snapshot():
            key = str(message.event_id)
            result[key] = max(result.get(key, -1), message.seq)
        return result

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

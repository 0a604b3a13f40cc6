"""Database and worker plumbing shared by the hub benchmarks and the scale-out test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import Engine

from benchmarks.harness import ROOT, Broker, stop_process


def migrate_and_register(database_url: str, cameras: list[str]) -> Engine:
    """Migrate a fresh database to the newest schema and register ``cameras``; return an engine."""
    from hub.db import make_engine
    from hub.migrate import upgrade

    upgrade(database_url)
    engine = make_engine(database_url)
    register_cameras(engine, cameras)
    return engine


def register_cameras(engine: Engine, cameras: list[str]) -> None:
    """Insert registry rows, because ingestion rejects events from unknown cameras."""
    from hub.models import Camera

    if not cameras:
        return
    now = datetime.now(UTC)
    rows = [
        {"id": camera_id, "name": camera_id, "lat": -5.11, "lon": 105.30, "address": "", "source_kind": "file",
         "created_at": now, "updated_at": now, "state": "unknown"}
        for camera_id in cameras
    ]
    with engine.begin() as connection:
        connection.execute(Camera.__table__.insert(), rows)


@dataclass(frozen=True, slots=True)
class StoredSummary:
    rows: int
    distinct_ids: int
    ended: int
    first_received_s: float
    last_updated_s: float

    def drain_s(self, resumed_at: float) -> float:
        """Seconds from ``resumed_at`` (wall clock) to the last change the workers stored.

        The start is when the paused workers were resumed, not the first ``received_at``:
        the probe events stored before the pause would otherwise stretch the span by the
        whole time spent publishing the backlog.
        """
        return self.last_updated_s - resumed_at


def stored_summary(engine: Engine, camera_prefix: str) -> StoredSummary:
    """Count the stored events of cameras whose id starts with ``camera_prefix``."""
    query = text(
        "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE state = 'ended'), "
        "extract(epoch FROM min(received_at)), extract(epoch FROM max(updated_at)) "
        "FROM events WHERE camera_id LIKE :prefix"
    )
    with engine.connect() as connection:
        rows, distinct, ended, first, last = connection.execute(query, {"prefix": camera_prefix + "%"}).one()
    return StoredSummary(int(rows), int(distinct), int(ended), float(first or 0.0), float(last or 0.0))


def stored_ids(engine: Engine, camera_prefix: str) -> list[str]:
    with engine.connect() as connection:
        result = connection.execute(text("SELECT id FROM events WHERE camera_id LIKE :prefix"), {"prefix": camera_prefix + "%"})
        return [str(row[0]) for row in result]


def wait_for_rows(
    engine: Engine, camera_prefix: str, expected: int, timeout_s: float, settle_s: float = 1.0, *, ended: bool = False
) -> StoredSummary:
    """Poll until ``expected`` events of the prefix are stored (or ended), then wait ``settle_s`` for strays."""
    deadline = time.monotonic() + timeout_s
    summary = stored_summary(engine, camera_prefix)
    while (summary.ended if ended else summary.rows) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        summary = stored_summary(engine, camera_prefix)
    time.sleep(settle_s)
    return stored_summary(engine, camera_prefix)


@dataclass
class WorkerProcess:
    """One ``benchmarks.hub_worker`` process."""

    process: subprocess.Popen[str]
    client_id: str
    log_file: IO[str]

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> str:
        """Stop the worker and return the end of its log (warnings and its final counts)."""
        stop_process(self.process)
        self.log_file.seek(0)
        text = self.log_file.read()
        self.log_file.close()
        return text[-4000:]


def start_worker(broker: Broker, database_url: str, shared_group: str | None, client_id: str | None = None) -> WorkerProcess:
    """Start a hub ingest worker process and wait until it is connected."""
    client_id = client_id or f"bench-hub-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.update(
        METRO_HUB_DATABASE_URL=database_url,
        METRO_HUB_MQTT_URL=broker.url,
        METRO_HUB_MQTT_CLIENT_ID=client_id,
        # Workers of a benchmark run never outlive it, so their broker sessions need not either.
        METRO_HUB_MQTT_SESSION_EXPIRY_S="60",
    )
    if shared_group:
        env["METRO_HUB_MQTT_SHARED_GROUP"] = shared_group
    else:
        env.pop("METRO_HUB_MQTT_SHARED_GROUP", None)
    # The log goes to a file, not a pipe: a full pipe would block a worker that logs retries.
    log_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by WorkerProcess.stop
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.hub_worker"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=log_file, text=True,
    )
    worker = WorkerProcess(process, client_id, log_file)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"hub worker {client_id} did not start: {line!r} {worker.stop()}")
    return worker

"""Publish-to-stored latency of hub ingestion at a steady 200 events/s.

Simulated cameras publish ``new`` event messages at QoS 1, evenly spaced, to one hub
worker (``benchmarks.hub_worker``) that stores them in a throwaway PostgreSQL
database. A trigger on ``events``, added to the throwaway database only, calls
``pg_notify`` for every inserted row; PostgreSQL delivers a notification when its
transaction commits, so the time a LISTEN connection receives it is the time the
event became visible. Publish and receive times both come from this process's
monotonic clock. The headline is the p95 (target 200 ms).

Run: ``.venv/bin/python -m benchmarks.hub_latency [--rate 200] [--seconds 30] [--broker HOST:PORT]``
"""

from __future__ import annotations

import argparse
import threading
import time

import psycopg
from sqlalchemy.engine import make_url

from benchmarks.harness import (
    Headline,
    broker_from_option,
    exit_cleanly_on_sigterm,
    machine_summary,
    percentile,
    run_id,
    throwaway_database,
)
from benchmarks.hub_setup import migrate_and_register, start_worker, wait_for_rows
from benchmarks.mqtt_load import SimulatedEvent, camera_ids, publish_at_rate, simulated_events

TARGET_P95_MS = 200.0
CHANNEL = "metro_bench_stored"
CAMERAS = 20
TRIGGER_SQL = f"""
CREATE FUNCTION metro_bench_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', NEW.id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER metro_bench_notify AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION metro_bench_notify();
"""


def libpq_url(database_url: str) -> str:
    """Turn a SQLAlchemy URL into the plain ``postgresql://`` form that psycopg takes."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class CommitListener:
    """LISTENs on the benchmark channel in a thread and notes when each event id was committed."""

    def __init__(self, database_url: str) -> None:
        self.stored_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._url = libpq_url(database_url)
        self._thread = threading.Thread(target=self._listen, name="bench-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("the LISTEN connection did not start within 10 s")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                for notification in connection.notifies(timeout=0.2):
                    self.stored_at.setdefault(notification.payload, time.monotonic())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="publishing time, seconds")
    parser.add_argument("--broker", default=None, help="HOST:PORT of an existing broker; default: a private Mosquitto")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    run = run_id()
    cameras = camera_ids(run, CAMERAS)
    total = int(args.rate * args.seconds)
    events = list(simulated_events(cameras, max(1, total // CAMERAS)))
    print(f"machine: {machine_summary()}")
    print(f"{len(events)} events at {args.rate:.0f}/s from {CAMERAS} simulated cameras, one hub worker")
    sent_at: dict[str, float] = {}

    def note(event: SimulatedEvent, at: float) -> None:
        sent_at[event.event_id] = at

    with broker_from_option(args.broker) as broker, throwaway_database("metro_bench_latency") as database_url:
        engine = migrate_and_register(database_url, cameras)
        with engine.begin() as connection:
            connection.exec_driver_sql(TRIGGER_SQL)
        listener = CommitListener(database_url)
        listener.start()
        worker = start_worker(broker, database_url, shared_group=None)
        try:
            # Warm-up: the first message pays for connections and caches, as after any restart.
            warm = list(simulated_events(cameras[:1], 1))
            publish_at_rate(broker, warm, 10, lambda _e, _t: None)
            wait_for_rows(engine, f"bench-{run}-", 1, timeout_s=30, settle_s=0.5)
            publish_at_rate(broker, events, args.rate, note)
            wait_for_rows(engine, f"bench-{run}-", len(events) + 1, timeout_s=120, settle_s=1.0)
        finally:
            log = worker.stop()
            listener.stop()
            engine.dispose()

    latencies = [(listener.stored_at[event_id] - at) * 1000.0 for event_id, at in sent_at.items() if event_id in listener.stored_at]
    missing = len(sent_at) - len(latencies)
    print(f"worker: {log.strip().splitlines()[-1] if log.strip() else '(no log)'}")
    print(f"stored {len(latencies)} of {len(sent_at)} events ({missing} missing)")
    p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    print(f"publish to stored: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms")
    print(Headline("hub_latency_missing", "count", missing, 0).line())
    print(Headline("hub_latency", "p95_ms", p95, TARGET_P95_MS).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Hub ingestion throughput against a bare paho subscriber, and exactly-once storage.

Each round publishes a backlog of QoS 1 event messages from simulated cameras while
the consumer is paused (SIGSTOP), then resumes it and times how fast it drains the
backlog. The publisher's own speed therefore does not limit the result, and both
consumers see the same broker, messages and machine. Consumers:

- limit: ``benchmarks.mqtt_load subscribe``, a paho client that only counts messages;
- ingest: ``benchmarks.hub_worker``, the hub's MQTT client and ``IngestProcessor``
  storing into a throwaway PostgreSQL database.

One message in every 100 is published twice, as a QoS 1 redelivery would arrive.
After each ingest round the stored event ids are compared with the published ones:
lost and duplicated must both be 0. With the defaults, 3 rounds of 17,000 events
store 51,000 events in one run. The headline is the ratio of median rates (target 0.7).

Run: ``.venv/bin/python -m benchmarks.hub_ingest [--events 17000] [--rounds 3] [--broker HOST:PORT]``
Without ``--broker`` a private Mosquitto on a free port is used (see harness).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from benchmarks.harness import (
    ROOT,
    Broker,
    Headline,
    broker_from_option,
    exit_cleanly_on_sigterm,
    interleave,
    machine_summary,
    median,
    paired_ratio,
    run_id,
    stop_process,
    throwaway_database,
)
from benchmarks.hub_setup import migrate_and_register, start_worker, stored_ids, wait_for_rows
from benchmarks.mqtt_load import camera_ids, publish_all, simulated_events

TARGET_RATIO = 0.7
CAMERAS = 50
DUPLICATE_EVERY = 100


class Failures:
    """Exactly-once violations seen over all ingest rounds."""

    def __init__(self) -> None:
        self.lost = 0
        self.duplicated = 0
        self.unexpected = 0


def measure_limit(broker: Broker, per_camera: int) -> float:
    """Return messages per second of a bare paho subscriber draining the backlog."""
    run = run_id()
    events = list(simulated_events(camera_ids(run, CAMERAS), per_camera))
    expected = len(events) + (len(events) + DUPLICATE_EVERY - 1) // DUPLICATE_EVERY
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.mqtt_load", "subscribe", "--broker", f"{broker.host}:{broker.port}",
         "--expect", str(expected), "--timeout", "300"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the bare subscriber did not start")
        process.send_signal(signal.SIGSTOP)
        sent = publish_all(broker, events, duplicate_every=DUPLICATE_EVERY)
        process.send_signal(signal.SIGCONT)
        result = json.loads(process.stdout.readline())
    finally:
        stop_process(process)
    if result["count"] < sent:
        raise RuntimeError(f"bare subscriber received {result['count']} of {sent} messages")
    return sent / (result["last"] - result["first"])


def measure_ingest(broker: Broker, database_url: str, per_camera: int, failures: Failures) -> float:
    """Return messages per second of one hub worker draining the backlog into PostgreSQL."""
    run = run_id()
    cameras = camera_ids(run, CAMERAS)
    prefix = f"bench-{run}-"
    engine = _engine(database_url, cameras)
    events = list(simulated_events(cameras, per_camera))
    worker = start_worker(broker, database_url, shared_group=None)
    try:
        # A probe event proves the subscription is active before the worker is paused.
        probe = events[0]
        publish_all(broker, [probe])
        wait_for_rows(engine, prefix, 1, timeout_s=30, settle_s=0)
        worker.pause()
        sent = publish_all(broker, events[1:], duplicate_every=DUPLICATE_EVERY)
        resumed_at = time.time()
        worker.resume()
        summary = wait_for_rows(engine, prefix, len(events), timeout_s=600)
    finally:
        log = worker.stop()
    published = {event.event_id for event in events}
    stored = stored_ids(engine, prefix)
    lost = len(published - set(stored))
    duplicated = summary.rows - summary.distinct_ids
    unexpected = len(set(stored) - published)
    failures.lost += lost
    failures.duplicated += duplicated
    failures.unexpected += unexpected
    print(f"    stored {summary.rows} of {len(events)} events, lost {lost}, duplicated {duplicated}; worker: {log.strip()[-300:]}")
    engine.dispose()
    return sent / summary.drain_s(resumed_at)


_migrated: set[str] = set()


def _engine(database_url: str, cameras: list[str]):  # type: ignore[no-untyped-def]
    """Migrate the database once per run, then only register the round's cameras."""
    from benchmarks.hub_setup import register_cameras
    from hub.db import make_engine

    if database_url not in _migrated:
        _migrated.add(database_url)
        return migrate_and_register(database_url, cameras)
    engine = make_engine(database_url)
    register_cameras(engine, cameras)
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=17_000, help="events per round (one message each, plus 1%% repeats); 3 rounds store 51,000")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per consumer")
    parser.add_argument("--broker", default=None, help="HOST:PORT of an existing broker; default: a private Mosquitto")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    per_camera = max(1, args.events // CAMERAS)

    print(f"machine: {machine_summary()}")
    print(f"{per_camera * CAMERAS} events per round from {CAMERAS} simulated cameras, {args.rounds} rounds")
    failures = Failures()
    with broker_from_option(args.broker) as broker, throwaway_database("metro_bench_ingest") as database_url:
        variants: dict[str, Callable[[], float]] = {
            "limit_msg_per_s": lambda: measure_limit(broker, per_camera),
            "ingest_msg_per_s": lambda: measure_ingest(broker, database_url, per_camera, failures),
        }
        started = time.monotonic()
        results = interleave(variants, args.rounds)
        print(f"elapsed {time.monotonic() - started:.0f} s")
    limit = median(results["limit_msg_per_s"])
    ingest = median(results["ingest_msg_per_s"])
    print(f"limit: median {limit:.0f} messages/s; ingest: median {ingest:.0f} messages/s")
    print(f"exactly once over all rounds: lost {failures.lost}, duplicated {failures.duplicated}, "
          f"unexpected {failures.unexpected}")
    print(Headline("hub_ingest_lost", "count", failures.lost + failures.unexpected, 0).line())
    print(Headline("hub_ingest_duplicated", "count", failures.duplicated, 0).line())
    print(f"ratio of the medians {ingest / limit:.4f}; headline: median of the per-round ratios")
    print(Headline("hub_ingest", "ratio", paired_ratio(results, "ingest_msg_per_s", "limit_msg_per_s"), TARGET_RATIO).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

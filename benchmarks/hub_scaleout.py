"""Hub scale-out: one against two ingest workers in one MQTT 5 shared-subscription group.

Each round publishes the new, update and end messages of simulated events, shuffled
so that the messages of one event reach different workers out of order, with one
message in 100 repeated. The workers are paused while the backlog is published and
then drain it (see hub_ingest). Every round checks that each event is stored exactly
once and ended. The headline is the 2-worker rate over the 1-worker rate; the issue
sets no target, so 1.0 (no slower) is printed as the target.

Run: ``.venv/bin/python -m benchmarks.hub_scaleout [--messages 6000] [--rounds 3] [--broker HOST:PORT]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from benchmarks.harness import (
    Broker,
    Headline,
    broker_from_option,
    exit_cleanly_on_sigterm,
    interleave,
    machine_summary,
    median,
    paired_ratio,
    run_id,
    throwaway_database,
)
from benchmarks.hub_setup import migrate_and_register, register_cameras, start_worker, stored_ids, wait_for_rows
from benchmarks.mqtt_load import camera_ids, publish_all, simulated_lifecycles

CAMERAS = 20
DUPLICATE_EVERY = 100


class Totals:
    def __init__(self) -> None:
        self.lost = 0
        self.duplicated = 0
        self.not_ended = 0


def measure(broker: Broker, database_url: str, workers_count: int, per_camera: int, totals: Totals) -> float:
    """Return messages per second of ``workers_count`` shared-group workers draining the backlog."""
    from hub.db import make_engine

    run = run_id()
    cameras = camera_ids(run, CAMERAS)
    prefix = f"bench-{run}-"
    engine = make_engine(database_url)
    register_cameras(engine, cameras)
    messages = simulated_lifecycles(cameras, per_camera)
    events = {message.event_id for message in messages}
    group = f"bench-{run}"
    workers = [start_worker(broker, database_url, shared_group=group) for _ in range(workers_count)]
    try:
        # Wait until the subscriptions are active: publish a probe per worker round-robin.
        probes = [m for m in messages if m.payload.find(b'"kind":"new"') >= 0][:workers_count]
        publish_all(broker, probes)
        wait_for_rows(engine, prefix, len(probes), timeout_s=30, settle_s=0)
        for worker in workers:
            worker.pause()
        sent = publish_all(broker, messages, duplicate_every=DUPLICATE_EVERY)
        resumed_at = time.time()
        for worker in workers:
            worker.resume()
        summary = wait_for_rows(engine, prefix, len(events), timeout_s=600, ended=True)
    finally:
        logs = [worker.stop() for worker in workers]
    stored = stored_ids(engine, prefix)
    lost = len(events - set(stored))
    duplicated = summary.rows - summary.distinct_ids
    not_ended = summary.rows - summary.ended
    totals.lost += lost
    totals.duplicated += duplicated
    totals.not_ended += not_ended
    print(f"    {workers_count} worker(s): {summary.rows} events of {len(events)}, ended {summary.ended}, "
          f"lost {lost}, duplicated {duplicated}; " + " | ".join(log.strip().splitlines()[-1][-80:] for log in logs))
    engine.dispose()
    return sent / summary.drain_s(resumed_at)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=6_000, help="messages per round (3 per event)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant")
    parser.add_argument("--broker", default=None, help="HOST:PORT of an existing broker; default: a private Mosquitto")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    per_camera = max(1, args.messages // (3 * CAMERAS))

    print(f"machine: {machine_summary()}")
    print(f"{per_camera * CAMERAS} events ({per_camera * CAMERAS * 3} messages) per round, {args.rounds} rounds")
    totals = Totals()
    with broker_from_option(args.broker) as broker, throwaway_database("metro_bench_scale") as database_url:
        migrate_and_register(database_url, []).dispose()
        variants: dict[str, Callable[[], float]] = {
            "one_worker_msg_per_s": lambda: measure(broker, database_url, 1, per_camera, totals),
            "two_workers_msg_per_s": lambda: measure(broker, database_url, 2, per_camera, totals),
        }
        started = time.monotonic()
        results = interleave(variants, args.rounds)
        print(f"elapsed {time.monotonic() - started:.0f} s")
    one = median(results["one_worker_msg_per_s"])
    two = median(results["two_workers_msg_per_s"])
    print(f"1 worker: median {one:.0f} messages/s; 2 workers: median {two:.0f} messages/s")
    print(f"exactly once over all rounds: lost {totals.lost}, duplicated {totals.duplicated}, "
          f"not ended {totals.not_ended}")
    print(Headline("hub_scaleout_lost", "count", totals.lost + totals.not_ended, 0).line())
    print(Headline("hub_scaleout_duplicated", "count", totals.duplicated, 0).line())
    print(f"ratio of the medians {two / one:.3f}; headline: median of the per-round ratios")
    print(Headline("hub_scaleout", "ratio", paired_ratio(results, "two_workers_msg_per_s", "one_worker_msg_per_s"), 1.0).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

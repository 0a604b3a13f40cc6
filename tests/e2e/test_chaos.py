"""Fault drills across real components: agent on the car clip, private Mosquitto, ``metro-hub serve``.

Every drill disturbs one component while the agent publishes. Then it checks the hub
database against the session's undisturbed run: the same events with the same labels,
all ended, and every event at the last seq the agent published for it. An independent
persistent subscriber records what was published. Each drill prints a ``MEASURED``
line, and docs/reliability.md records them.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Drill, RunSummary, make_drill
from tests.e2e.stack import PrivatePostgres, wait_until

pytestmark = pytest.mark.timeout(180)

OUTAGE_S = 6.0


def assert_matches_baseline(drill: Drill, baseline: RunSummary) -> RunSummary:
    assert drill.recorder is not None
    events = drill.events()
    summary = RunSummary.of(events, drill.recorder)
    assert summary.events == baseline.events
    assert summary.labels == baseline.labels
    assert summary.states == baseline.states
    assert summary.event_messages == baseline.event_messages
    # Every event message the agent published reached the hub: each row is at its last seq.
    assert {e.event_id: e.last_seq for e in events} == drill.recorder.last_seq_by_event()
    return summary


def wait_first_event(drill: Drill) -> None:
    wait_until(lambda: len(drill.events()) >= 1, 60, "the first event at the hub")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_outage_mid_clip(drill: Drill, baseline: RunSummary, sig: signal.Signals) -> None:
    drill.record()
    agent = drill.start_agent()
    wait_first_event(drill)

    drill.broker.stop(sig)
    deepest = 0
    started = time.monotonic()
    while time.monotonic() - started < OUTAGE_S:
        deepest = max(deepest, drill.outbox_depth())
        time.sleep(0.2)
    drill.broker.start()
    returned = time.monotonic()

    drain_s = wait_until(lambda: drill.outbox_depth() == 0, 60, "the agent's outbox to drain")
    drill.finish_agent(agent)
    drill.wait_hub_caught_up()
    caught_up_s = time.monotonic() - returned
    summary = assert_matches_baseline(drill, baseline)
    assert deepest > 0, "the agent queued nothing during the outage"
    print(f"MEASURED broker {sig.name}: outage {OUTAGE_S:.0f} s, outbox depth up to {deepest}, "
          f"outbox drained {drain_s:.1f} s after restart, hub caught up {caught_up_s:.1f} s after restart, "
          f"events {summary.events}/{baseline.events}, event messages {summary.event_messages}/{baseline.event_messages}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_hub_stopped_mid_clip(drill: Drill, baseline: RunSummary, sig: signal.Signals) -> None:
    drill.record()
    agent = drill.start_agent()
    wait_first_event(drill)

    code = drill.hub.stop(sig)
    # uvicorn (0.55 here) shuts down cleanly on SIGTERM and then raises the signal again, so the code is -15.
    assert code == -sig
    clean_stop = f"MQTT client {drill.hub.env['METRO_HUB_MQTT_CLIENT_ID']} stopped"
    assert (clean_stop in drill.hub.log_text()) is (sig is signal.SIGTERM)
    stored_at_stop = len(drill.events())
    time.sleep(OUTAGE_S)
    restarted = time.monotonic()
    drill.hub.start()
    ready_s = drill.hub.wait_ready()

    drill.finish_agent(agent)
    drill.wait_hub_caught_up()
    caught_up_s = time.monotonic() - restarted
    summary = assert_matches_baseline(drill, baseline)
    print(f"MEASURED hub {sig.name}: down {OUTAGE_S:.0f} s with {stored_at_stop} events stored, "
          f"ready {ready_s:.1f} s after start, caught up {caught_up_s:.1f} s after start, "
          f"events {summary.events}/{baseline.events}, event messages {summary.event_messages}/{baseline.event_messages}")


@pytest.fixture()
def postgres_drill(tmp_path: Path, model_path: Path, media_dir: Path) -> Iterator[tuple[Drill, PrivatePostgres]]:
    """A drill whose hub stores into a private PostgreSQL cluster that the test may stop."""
    postgres = PrivatePostgres.create()
    try:
        postgres.start()
        drill, broker, hub = make_drill(tmp_path, model_path, media_dir, postgres.url)
        try:
            hub.start()
            hub.wait_ready()
            yield drill, postgres
        finally:
            drill.close()
            hub.stop()
            broker.stop()
    finally:
        postgres.destroy()


def test_postgres_restart_mid_clip(postgres_drill: tuple[Drill, PrivatePostgres], baseline: RunSummary) -> None:
    drill, postgres = postgres_drill
    drill.record()
    agent = drill.start_agent()
    wait_first_event(drill)

    stopped = time.monotonic()
    postgres.stop()
    not_ready_s = wait_until(lambda: drill.hub.readyz()[0] == 503, 20, "/readyz to report the database outage")
    status, body = drill.hub.readyz()
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert str(checks["database"]).startswith("failed")
    assert checks["broker"] == "ok"
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    postgres.start()
    restarted = time.monotonic()
    ready_s = wait_until(lambda: drill.hub.readyz()[0] == 200, 60, "/readyz to recover")

    drill.finish_agent(agent)
    drill.wait_hub_caught_up()
    caught_up_s = time.monotonic() - restarted
    assert drill.hub.process is not None
    assert drill.hub.process.poll() is None, "the hub exited during the database outage"
    assert "failed, retrying" in drill.hub.log_text(), "no store was retried, so the outage missed the ingestion"
    summary = assert_matches_baseline(drill, baseline)
    print(f"MEASURED postgres restart: not ready {not_ready_s:.1f} s after stop, ready {ready_s:.1f} s "
          f"after start, caught up {caught_up_s:.1f} s after start, events {summary.events}/{baseline.events}, "
          f"event messages {summary.event_messages}/{baseline.event_messages}")

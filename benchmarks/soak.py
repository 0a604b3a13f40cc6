"""Soak run of the edge agent: a looped clip for 20 minutes or more, memory and outbox watched.

``metro-edge run`` replays a looped file camera in real time against a broker (the
shared Mosquitto at 127.0.0.1:1883 unless ``--broker`` names another). Every
``--sample-s`` seconds the agent's process tree is sampled (RSS of the agent, summed
PSS of the tree). A subscriber reads the camera's stats heartbeats for
``outbox_depth`` and ``outbox_dropped`` and counts the event messages.

Pass criteria: the median tree PSS of the last third of the samples after the warm-up
is less than 10% above the median of the first third. The last heartbeat before the
stop shows an empty outbox with nothing dropped. The agent exits with code 0 on
SIGTERM. Thirds rather than single samples, because the clip encoder process comes
and goes with events and moves the tree's memory by about 30 MB at a time.

Run: ``.venv/bin/python -m benchmarks.soak [--minutes 20] [--warmup-minutes 3] [--clip FILE]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.edge_agent_run import agent_config, memory_kib, process_tree
from benchmarks.harness import (
    MEDIA,
    ROOT,
    Headline,
    exit_cleanly_on_sigterm,
    machine_summary,
    median,
    parse_broker,
    stop_process,
)

TARGET_GROWTH = 0.10
MIN_SAMPLES = 9


class Heartbeats:
    """Collects the camera's stats and counts its event messages from the broker."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_stats: dict[str, object] | None = None
        self.stats_count = 0
        self.events = 0

    def on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            if message.topic.endswith("/stats"):
                self.last_stats = json.loads(message.payload)
                self.stats_count += 1
            elif message.topic.endswith("/event"):
                self.events += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="total run time, minutes")
    parser.add_argument("--warmup-minutes", type=float, default=3.0, help="samples before this are ignored, minutes")
    parser.add_argument("--sample-s", type=float, default=10.0, help="memory sampling period, seconds")
    parser.add_argument("--clip", type=Path, default=MEDIA / "opencv_vtest.avi", help="video file replayed in a loop")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT of the broker")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()
    broker = parse_broker(args.broker)
    run = uuid.uuid4().hex[:8]
    camera_id = f"bench-{run}-0"

    print(f"machine: {machine_summary()}")
    print(f"started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.minutes:.0f} min on {args.clip.name} looped, "
          f"camera {camera_id}, broker {broker.host}:{broker.port}")
    heartbeats = Heartbeats()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-soak-{run}", protocol=mqtt.MQTTv5)
    subscriber.on_message = heartbeats.on_message
    subscriber.connect(broker.host, broker.port)
    subscriber.loop_start()
    subscriber.subscribe([(f"metro/v1/{camera_id}/stats", 0), (f"metro/v1/{camera_id}/event", 1)])

    samples: list[tuple[float, float, float]] = []  # (elapsed s, agent RSS MB, tree PSS MB)
    with tempfile.TemporaryDirectory(prefix="metro-bench-soak-") as folder:
        config = agent_config(broker, Path(folder) / "data", 1, run, clip=args.clip)
        config_path = Path(folder) / "agent.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log_path = Path(folder) / "agent.log"
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "metro-edge"), "--log-level", "WARNING", "run", "--config", str(config_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
            started = time.monotonic()
            try:
                while time.monotonic() - started < args.minutes * 60 and process.poll() is None:
                    tree = process_tree(process.pid)
                    figures = [memory_kib(pid) for pid in tree]
                    elapsed = time.monotonic() - started
                    samples.append((elapsed, memory_kib(process.pid)[0] / 1024, sum(f[2] for f in figures) / 1024))
                    if len(samples) % 6 == 0:
                        print(f"  {elapsed / 60:5.1f} min: agent RSS {samples[-1][1]:.0f} MB, tree PSS {samples[-1][2]:.0f} MB, "
                              f"{heartbeats.events} event messages, last stats {heartbeats.last_stats and {k: heartbeats.last_stats[k] for k in ('outbox_depth', 'outbox_dropped', 'frames_dropped')}}",
                              flush=True)
                    time.sleep(args.sample_s)
                crashed = process.poll()
                with heartbeats.lock:
                    final_stats = dict(heartbeats.last_stats or {})
            finally:
                process.terminate()
                try:
                    exit_code = process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    stop_process(process)
                    exit_code = -9
        tail = log_path.read_text(encoding="utf-8")[-1500:]
    subscriber.disconnect()
    subscriber.loop_stop()

    if crashed is not None:
        print(f"agent exited by itself with code {crashed} after {samples[-1][0] / 60 if samples else 0:.1f} min:\n{tail}")
    after_warmup = [s for s in samples if s[0] >= args.warmup_minutes * 60]
    if len(after_warmup) < MIN_SAMPLES:
        print(f"only {len(after_warmup)} samples after the warm-up; run longer")
        print(Headline("edge_soak", "growth", float("nan"), TARGET_GROWTH).line())
        return 1
    third = len(after_warmup) // 3
    baseline = median([s[2] for s in after_warmup[:third]])
    final = median([s[2] for s in after_warmup[-third:]])
    growth = (final - baseline) / baseline
    agent_growth = (median([s[1] for s in after_warmup[-third:]]) - median([s[1] for s in after_warmup[:third]])) / median(
        [s[1] for s in after_warmup[:third]]
    )
    depth = int(final_stats.get("outbox_depth", -1))  # type: ignore[call-overload]
    dropped = int(final_stats.get("outbox_dropped", -1))  # type: ignore[call-overload]
    print(f"tree PSS median of the first third after warm-up {baseline:.0f} MB, of the last third {final:.0f} MB "
          f"({growth:+.1%}); agent RSS {agent_growth:+.1%} ({after_warmup[0][1]:.0f} -> {samples[-1][1]:.0f} MB); "
          f"peak tree PSS {max(s[2] for s in samples):.0f} MB over {len(samples)} samples")
    print(f"{heartbeats.stats_count} heartbeats, {heartbeats.events} event messages; last heartbeat: outbox depth {depth}, "
          f"dropped {dropped}, frames dropped {final_stats.get('frames_dropped')}; exit code after SIGTERM {exit_code}")
    if exit_code != 0:
        print(f"agent log tail:\n{tail}")
    print(Headline("edge_soak_exit_code", "count", abs(exit_code) + (1 if crashed is not None else 0), 0).line())
    print(Headline("edge_soak_outbox", "count", max(depth, 0) + max(dropped, 0) + (depth < 0), 0).line())
    print(Headline("edge_soak", "growth", growth, TARGET_GROWTH).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

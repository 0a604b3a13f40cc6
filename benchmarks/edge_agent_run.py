"""Memory and frame-to-publish latency of the real edge agent.

Memory: ``metro-edge run --config FILE`` as a process with 1 and then 2 file cameras
replaying ``opencv_vtest.avi`` in real time (looped), media and clips enabled, against
a private Mosquitto. The process tree (agent plus one capture process per camera) is
sampled every 0.5 s from /proc. Reported: peak RSS of the agent process (VmHWM), and
the peak summed RSS and PSS of the tree. PSS splits shared pages between the processes
that map them, so the PSS sum is what the tree costs the machine. The RSS sum counts
shared libraries once per process. The headline is the 1-camera tree PSS peak
(target 250 MB); the cost of the second camera is the difference.

Latency: the same agent in this process, with ``CameraWorker._emit_update`` wrapped to
note the capture time (``time.monotonic()`` in the capture process) of the frame that
produced each event message, and a subscriber on the broker noting when the message
arrives. Both clocks are CLOCK_MONOTONIC of one machine, so the difference is the
frame-to-publish latency: queueing, analysis, outbox, MQTT and the broker hop.

Run: ``.venv/bin/python -m benchmarks.edge_agent_run [--seconds 45] [--skip-latency]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import yaml

from benchmarks.harness import (
    MEDIA,
    MODELS,
    ROOT,
    Broker,
    Headline,
    broker_from_option,
    exit_cleanly_on_sigterm,
    machine_summary,
    percentile,
    stop_process,
)

CLIP = MEDIA / "opencv_vtest.avi"
TARGET_RSS_MB = 250.0
TARGET_LATENCY_P95_MS = 1000.0  # NOTE: the issue sets no latency target; 1 s is this benchmark's own bar.


def agent_config(broker: Broker, data_dir: Path, cameras: int, run: str, clip: Path = CLIP) -> dict[str, object]:
    """Build an agent config dict with ``cameras`` looped real-time file cameras."""
    return {
        "device_id": f"bench-{run}",
        "mqtt": {"url": broker.url},
        "data_dir": str(data_dir),
        "model_path": str(MODELS / "yolox_nano.onnx"),
        "onnx_threads": 2,
        "stats_interval_s": 10,
        "cameras": [
            {
                "camera_id": f"bench-{run}-{index}",
                "name": f"Benchmark camera {index}",
                "lat": -5.11,
                "lon": 105.30,
                "source": {"kind": "file", "path": str(clip), "loop": True, "realtime": True},
            }
            for index in range(cameras)
        ],
    }


def process_tree(root_pid: int) -> list[int]:
    """Return ``root_pid`` and all its descendants from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(entry))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def memory_kib(pid: int) -> tuple[int, int, int]:
    """Return (RSS, peak RSS, PSS) of one process in KiB; zeros when it has exited."""
    rss = peak = pss = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, peak, pss


def measure_memory(broker: Broker, cameras: int, seconds: float) -> dict[str, float]:
    """Run ``metro-edge run`` with ``cameras`` cameras; return peak memory figures in MB."""
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="metro-bench-edge-") as folder:
        config_path = Path(folder) / "agent.yaml"
        config_path.write_text(yaml.safe_dump(agent_config(broker, Path(folder) / "data", cameras, run)), encoding="utf-8")
        log_path = Path(folder) / "agent.log"
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "metro-edge"), "--log-level", "WARNING", "run", "--config", str(config_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
            peak_agent = peak_rss_sum = peak_pss_sum = 0
            processes = 0
            try:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and process.poll() is None:
                    tree = process_tree(process.pid)
                    figures = [memory_kib(pid) for pid in tree]
                    processes = max(processes, len(tree))
                    peak_agent = max(peak_agent, memory_kib(process.pid)[1])
                    peak_rss_sum = max(peak_rss_sum, sum(f[0] for f in figures))
                    peak_pss_sum = max(peak_pss_sum, sum(f[2] for f in figures))
                    time.sleep(0.5)
                exited = process.poll()
            finally:
                stop_process(process, timeout_s=30)
        if exited is not None:
            raise RuntimeError(f"metro-edge run exited early with {exited}: {log_path.read_text()[-2000:]}")
    return {
        "agent_peak_rss_mb": peak_agent / 1024,
        "tree_peak_rss_mb": peak_rss_sum / 1024,
        "tree_peak_pss_mb": peak_pss_sum / 1024,
        "processes": float(processes),
    }


def measure_latency(broker: Broker, seconds: float) -> tuple[list[float], list[float]]:
    """Run the agent in this process for ``seconds``; return frame-to-publish and emit-to-publish latencies in ms.

    Emit-to-publish starts when the worker hands the update to ``_emit_update`` (after
    analysis), so it covers media snapshots, the outbox and MQTT; the rest of the
    frame-to-publish time is the frame queue and the analysis itself.
    """
    import json

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge_agent.config import AgentConfig
    from edge_agent.runtime import worker as worker_module
    from edge_agent.runtime.agent import Agent
    from metro_common.topics import TopicKind, subscription

    emitted: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    received: dict[tuple[str, str], list[float]] = defaultdict(list)
    lock = threading.Lock()
    original = worker_module.CameraWorker._emit_update

    def emit_and_note(self, update):  # type: ignore[no-untyped-def]
        with lock:
            emitted[(str(update.event_id), update.kind.value)].append((self._frame_mono, time.monotonic()))
        return original(self, update)

    def on_message(_client, _userdata, message) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        payload = json.loads(message.payload)
        with lock:
            received[(payload["event_id"], payload["kind"])].append(now)

    run = uuid.uuid4().hex[:8]
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-lat-{run}", protocol=mqtt.MQTTv5)
    subscriber.on_message = on_message
    subscriber.connect(broker.host, broker.port)
    subscriber.loop_start()
    subscriber.subscribe(subscription(TopicKind.EVENT), qos=1)
    worker_module.CameraWorker._emit_update = emit_and_note  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="metro-bench-lat-") as folder:
            config = AgentConfig(**agent_config(broker, Path(folder) / "data", 1, run))
            agent = Agent(config)
            thread = threading.Thread(target=agent.run, name="bench-agent", daemon=True)
            thread.start()
            time.sleep(seconds)
            agent.request_stop()
            thread.join(60)
            time.sleep(1.0)
    finally:
        worker_module.CameraWorker._emit_update = original  # type: ignore[method-assign]
        subscriber.disconnect()
        subscriber.loop_stop()

    latencies, publish_parts = [], []
    with lock:
        for key, frames in emitted.items():
            for (frame_mono, emit_mono), received_mono in zip(frames, received.get(key, []), strict=False):
                latencies.append((received_mono - frame_mono) * 1000.0)
                publish_parts.append((received_mono - emit_mono) * 1000.0)
    return latencies, publish_parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0, help="run time of each agent run, seconds")
    parser.add_argument("--broker", default=None, help="HOST:PORT of an existing broker; default: a private Mosquitto")
    parser.add_argument("--skip-latency", action="store_true", help="measure only memory")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    print(f"machine: {machine_summary()}")
    with broker_from_option(args.broker) as broker:
        one = measure_memory(broker, 1, args.seconds)
        print(f"1 camera:  {one}")
        two = measure_memory(broker, 2, args.seconds)
        print(f"2 cameras: {two}")
        print(f"second camera adds {two['tree_peak_pss_mb'] - one['tree_peak_pss_mb']:.0f} MB PSS "
              f"({two['tree_peak_rss_mb'] - one['tree_peak_rss_mb']:.0f} MB summed RSS)")
        if not args.skip_latency:
            latencies, publish_parts = measure_latency(broker, args.seconds)
            if latencies:
                p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
                print(f"frame-to-publish latency over {len(latencies)} event messages: "
                      f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(latencies):.0f} ms")
                print(f"  of which emit-to-publish (media, outbox, MQTT): p50 {percentile(publish_parts, 0.5):.0f} ms, "
                      f"p95 {percentile(publish_parts, 0.95):.0f} ms")
                print(Headline("edge_latency", "p95_ms", p95, TARGET_LATENCY_P95_MS).line())
            else:
                print("no event message arrived; latency not measured")
                print(Headline("edge_latency", "p95_ms", float("nan"), TARGET_LATENCY_P95_MS).line())
    print(Headline("edge_rss_one_camera", "mb", one["tree_peak_pss_mb"], TARGET_RSS_MB).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the agent on a looping real clip and sample its memory, to check that it stays flat.

Usage: .venv/bin/python benchmarks/agent_memory.py [seconds] [realtime|fast]
Needs Mosquitto on 127.0.0.1:1883 and the shared footage and model (METRO_SHARED_DIR).
Prints resident memory (MiB) of the agent and of its capture process, and the last stats.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("METRO_SHARED_DIR", ROOT.parent / "shared"))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    # Each thread lists the children it started; capture processes start from camera threads.
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.extend(int(p) for p in (task / "children").read_text().split())
    return found


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    realtime = (sys.argv[2] if len(sys.argv) > 2 else "realtime") == "realtime"
    camera_id = f"bench-mem-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="metro-mem-"))
    config = {
        "device_id": "pi-bench",
        "data_dir": str(work / "data"),
        "stats_interval_s": 5,
        "model_path": str(SHARED / "models" / "yolox_nano.onnx"),
        "onnx_threads": 1,
        "cameras": [{
            "camera_id": camera_id, "name": "bench", "lat": -5.11, "lon": 105.3,
            "source": {"kind": "file", "path": str(SHARED / "media" / "opencv_vtest.avi"), "loop": True, "realtime": realtime},
            "media": {"clips_enabled": False}, "live": {"enabled": False},
        }],
    }
    path = work / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    stats: list[dict[str, object]] = []
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
    client.on_message = lambda c, u, m: stats.append(json.loads(m.payload))
    client.connect("127.0.0.1", 1883)
    client.subscribe(f"metro/v1/{camera_id}/stats")
    client.loop_start()
    log = (work / "agent.log").open("wb")
    agent = subprocess.Popen([sys.executable, "-m", "edge_agent", "run", "--config", str(path)], stdout=log, stderr=log, cwd=ROOT)
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            time.sleep(10)
            kids = children(agent.pid)
            child = ", ".join(f"{rss_mib(k):.0f}" for k in kids)
            print(f"t={time.monotonic() - started:5.0f} s  agent RSS {rss_mib(agent.pid):6.1f} MiB  capture RSS [{child}] MiB", flush=True)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        client.loop_stop()
    if stats:
        last = stats[-1]
        keys = ("fps", "inference_ms", "detector_calls", "frames_total", "frames_dropped", "outbox_depth", "uptime_s")
        print("last stats:", {key: last.get(key) for key in keys})


if __name__ == "__main__":
    main()

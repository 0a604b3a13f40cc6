"""Run the single-machine demo: hub with SQLite and the embedded broker, plus two agents on real footage.

Started by `make demo`. Every port is chosen at start: a preferred port is used when it
is free, otherwise a free one is picked and printed, so the demo runs beside a
Mosquitto that already listens on 1883. Ctrl-C stops the agents first (they publish
'stopped'), then the hub.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from metro_common.assets import asset_path
from metro_common.messages import EventMessage, decode
from metro_common.topics import TopicError, TopicKind, parse_topic, subscription

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATA = ROOT / "var" / "demo"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "metro-demo"  # noqa: S105 - demo-only login on 127.0.0.1, printed for the operator

CAMERAS = [
    {
        "camera_id": "cam-01",
        "name": "Taman Kampus (vtest)",
        "lat": -5.1136,
        "lon": 105.3075,
        "address": "Jl. Ki Hajar Dewantara, Metro Timur",
        "clip": "opencv_vtest.avi",
        # A privacy mask over the building windows, as a pair of houses would need.
        "privacy_masks": [{"name": "jendela-gedung", "points": [[0.55, 0.0], [1.0, 0.0], [1.0, 0.12], [0.55, 0.12]]}],
        "label_aliases": {},
    },
    {
        "camera_id": "cam-02",
        "name": "Parkir Pemkot (car clip)",
        "lat": -5.1172,
        "lon": 105.3071,
        "address": "Jl. AH Nasution, Metro Pusat",
        "clip": "intel_car-detection.mp4",
        "privacy_masks": [],
        # This camera looks straight down at the lane. YOLOX-Nano, trained on side views,
        # calls cars seen from above "cell phone", "suitcase" or "bus", so this camera maps
        # those labels to car, as a technician would for such a mounting.
        "label_aliases": {"cell phone": "car", "suitcase": "car", "bus": "car"},
    },
]


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, service: str) -> int:
    if port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    print(f"note: port {preferred} for the {service} is in use by another service; using {port} instead")
    return port


def wait_ready(url: str, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"error: the hub exited with code {process.returncode}; see {DATA / 'hub.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - fixed loopback URL
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: the hub did not become ready at {url} within {timeout_s:.0f} s; see {DATA / 'hub.log'}")


def run_hub_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([str(BIN / "metro-hub"), *args], env=env, input=stdin, text=True, capture_output=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"error: metro-hub {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def agent_config(camera: dict[str, object], broker_port: int, hub_url: str, token_file: Path, data_dir: Path) -> dict[str, object]:
    return {
        "device_id": f"demo-{camera['camera_id']}",
        "data_dir": str(data_dir),
        "model_path": str(asset_path("yolox_nano.onnx")),
        "onnx_threads": 1,
        # The embedded amqtt broker speaks MQTT 3.1.1 only.
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker_port}", "protocol": "3.1.1"},
        "hub": {"base_url": hub_url, "device_token_file": str(token_file)},
        "cameras": [
            {
                "camera_id": camera["camera_id"],
                "name": camera["name"],
                "lat": camera["lat"],
                "lon": camera["lon"],
                "address": camera["address"],
                "source": {"kind": "file", "path": str(asset_path(str(camera["clip"]))), "realtime": True, "loop": True},
                "privacy_masks": camera["privacy_masks"],
                "analysis": {"detection": {"label_aliases": camera.get("label_aliases", {})}},
            }
        ],
    }


def print_events(broker_port: int, stop: threading.Event) -> None:
    """Print one line per event message, as the hub receives them."""

    def on_message(_client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            camera_id, kind = parse_topic(msg.topic)
            event = decode(kind, msg.payload, camera_id)
        except (TopicError, ValueError):
            return
        if isinstance(event, EventMessage):
            local = time.strftime("%H:%M:%S")
            reason = f" ({event.end_reason.value})" if event.end_reason else ""
            print(f"{local}  {camera_id}  {event.kind.value:<6} {event.label:<10} {event.score:.2f}  {str(event.event_id)[:8]}{reason}", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"demo-printer-{os.getpid()}")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(subscription(TopicKind.EVENT), qos=1)
    client.connect_async("127.0.0.1", broker_port)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    client.disconnect()


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # Children run in their own sessions, so Ctrl-C reaches only this script, which
    # then stops the agents before the hub and its broker.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    http_port = pick_port(int(os.environ.get("METRO_DEMO_HTTP_PORT", "8080")), "hub web server")
    broker_port = pick_port(int(os.environ.get("METRO_DEMO_BROKER_PORT", "1883")), "embedded MQTT broker")
    hub_url = f"http://127.0.0.1:{http_port}"

    env = dict(os.environ)
    env.update({"METRO_HUB_DATA_DIR": str(DATA / "hub"), "METRO_HUB_BROKER_PORT": str(broker_port)})
    env.pop("METRO_HUB_MQTT_URL", None)
    env.pop("METRO_HUB_DATABASE_URL", None)

    run_hub_cli(env, "migrate")
    run_hub_cli(env, "create-user", ADMIN_USER, "--role", "admin", stdin=ADMIN_PASSWORD + "\n")
    tokens = {str(c["camera_id"]): secrets.token_urlsafe(32) for c in CAMERAS}
    registry = DATA / "cameras.yaml"
    registry.write_text(yaml.safe_dump([
        {"id": c["camera_id"], "name": c["name"], "lat": c["lat"], "lon": c["lon"], "address": c["address"],
         "source_kind": "file", "device_token": tokens[str(c["camera_id"])]}
        for c in CAMERAS
    ]))
    registry.chmod(0o600)
    run_hub_cli(env, "camera", "import", str(registry))

    children: list[subprocess.Popen[bytes]] = []
    hub_log = (DATA / "hub.log").open("wb")
    hub = subprocess.Popen([str(BIN / "metro-hub"), "serve", "--host", "127.0.0.1", "--port", str(http_port)],
                           env=env, stdout=hub_log, stderr=subprocess.STDOUT, start_new_session=True)
    children.append(hub)
    stop = threading.Event()
    try:
        wait_ready(f"{hub_url}/readyz", 60, hub)
        for camera in CAMERAS:
            camera_id = str(camera["camera_id"])
            agent_dir = DATA / camera_id
            agent_dir.mkdir()
            token_file = agent_dir / "device-token"
            token_file.write_text(tokens[camera_id] + "\n")
            token_file.chmod(0o600)
            config_path = agent_dir / "agent.yaml"
            config_path.write_text(yaml.safe_dump(agent_config(camera, broker_port, hub_url, token_file, agent_dir / "data")))
            log_file = (agent_dir / "agent.log").open("wb")
            children.append(subprocess.Popen([str(BIN / "metro-edge"), "run", "--config", str(config_path)],
                                             stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True))

        printer = threading.Thread(target=print_events, args=(broker_port, stop), daemon=True)
        printer.start()
        print()
        print(f"Dashboard:   {hub_url}/   (login {ADMIN_USER} / {ADMIN_PASSWORD})")
        print(f"Lapor Yai:   {hub_url}/lapor")
        print(f"MQTT broker: 127.0.0.1:{broker_port} (embedded)")
        print(f"Logs:        {DATA}/*.log and {DATA}/cam-*/agent.log")
        print("Events as they arrive (Ctrl-C stops everything):")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [c for c in children if c.poll() is not None]
        for child in failed:
            print(f"error: {' '.join(map(str, child.args[:2]))} exited with code {child.returncode}; see the logs in {DATA}")
        return 1
    except KeyboardInterrupt:
        print("\nStopping agents and hub ...")
        return 0
    finally:
        stop.set()
        # Agents first, and only then the hub: an agent flushes its outbox and publishes
        # 'stopped' through the hub's embedded broker, which must still be running.
        agents, hub_process = children[1:], children[0]
        stop_processes(agents, timeout_s=20)
        stop_processes([hub_process], timeout_s=15)


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Send SIGTERM to every process, wait for all of them, and kill those that outlast the timeout."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"warning: {' '.join(map(str, process.args[:2]))} did not stop within {timeout_s:.0f} s; killing it")
            process.kill()
            process.wait()


if __name__ == "__main__":
    raise SystemExit(main())

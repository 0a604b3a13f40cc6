"""API latency of the event list and the complaint list with 100,000 rows each, measured with wrk.

A throwaway PostgreSQL database is migrated and filled with 100,000 events (50
cameras, 6 labels, spread over 30 days) and 100,000 complaints, then ANALYZEd.
``metro-hub serve`` (uvicorn, one process) runs on a free loopback port with a private
Mosquitto. ``wrk`` (/usr/bin/wrk) loads one URL at a time with a logged-in operator's
session cookie, and a Lua ``done`` hook prints the latency percentiles.

URLs: the first event page, a page deep inside the list (keyset cursor), the events of
one camera, the events of one label; the first complaint page, a complaint page deep
inside the list (keyset cursor), the complaints of one status and the overdue queue.
The headlines are the worst event p95 and the worst complaint p95 (target 50 ms each).
Two more URLs are measured for information only, outside the headlines: a complaint
page at offset 50,000 (the old way of paging, still accepted) and the default Open311
search, which returns up to 1,000 requests in one response.

Run: ``.venv/bin/python -m benchmarks.hub_api [--rows 100000] [--seconds 10] [--connections 4]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from benchmarks.harness import (
    ROOT,
    Headline,
    exit_cleanly_on_sigterm,
    free_port,
    machine_summary,
    private_mosquitto,
    stop_process,
    throwaway_database,
    wait_for_port,
)
from benchmarks.hub_setup import migrate_and_register

TARGET_P95_MS = 50.0
WRK = shutil.which("wrk") or "/usr/bin/wrk"
LABELS = ("person", "car", "motorcycle", "bicycle", "bus", "truck")
CATEGORIES = (("jalan-rusak", "putr"), ("lampu-jalan", "dishub"), ("sampah", "dlh"), ("drainase", "putr"),
              ("lalu-lintas", "dishub"))
STATUSES = ("belum_terverifikasi", "terverifikasi", "didisposisikan", "dalam_proses", "selesai")
# wrk's done() hook: latency percentiles in microseconds, and request and error counts.
WRK_REPORT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("WRK p50_us=%d p95_us=%d p99_us=%d requests=%d errors=%d non2xx=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def seed_events(engine, rows: int, cameras: list[str]) -> tuple[datetime, str]:  # type: ignore[no-untyped-def]
    """Insert ``rows`` ended events; return the (start_ts, id) of the row in the middle of the list."""
    from hub.models import Event

    rng = random.Random(7)
    now = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    middle: tuple[datetime, str] | None = None
    box = {"x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 220.0, "frame_width": 768, "frame_height": 432}
    with engine.begin() as connection:
        for index in range(rows):
            start = now - timedelta(seconds=index * 26)  # 100,000 rows span about 30 days
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if index == rows // 2:
                middle = (start, event_id)
            batch.append({
                "id": event_id, "camera_id": cameras[index % len(cameras)], "last_seq": 2, "state": "ended",
                "label": LABELS[rng.randrange(len(LABELS))], "score": 0.8, "start_ts": start,
                "end_ts": start + timedelta(seconds=20), "last_ts": start + timedelta(seconds=20),
                "end_reason": "left_view", "clock_synced": True, "box": box, "zones": [],
                "received_at": start, "updated_at": start,
            })
            if len(batch) == 5000:
                connection.execute(insert(Event), batch)
                batch.clear()
        if batch:
            connection.execute(insert(Event), batch)
    assert middle is not None
    return middle


def seed_complaints(engine, rows: int) -> str:  # type: ignore[no-untyped-def]
    """Insert ``rows`` complaints; return the queue cursor after the row in the middle of the list."""
    from sqlalchemy import select

    from hub.complaints.cursor import NEWEST_FIRST, encode_cursor
    from hub.complaints.models import Complaint

    rng = random.Random(11)
    now = datetime.now(UTC)
    batch: list[dict[str, object]] = []
    with engine.begin() as connection:
        for index in range(rows):
            created = now - timedelta(seconds=index * 26)
            category, opd = CATEGORIES[index % len(CATEGORIES)]
            batch.append({
                "tracking_code": f"B{index:09d}", "open311_token": uuid.uuid4().hex, "classification": "pengaduan",
                "category_code": category, "opd_code": opd, "status": STATUSES[rng.randrange(len(STATUSES))],
                "version": 1, "lat": -5.11 + rng.random() / 50, "lon": 105.30 + rng.random() / 50,
                "address": "Jl. Jenderal Sudirman", "description": "Lubang besar di badan jalan dekat simpang.",
                "anonymous": False, "confidential": False, "source": "web", "created_at": created,
                "updated_at": created, "verify_due_at": created + timedelta(days=3),
            })
            if len(batch) == 5000:
                connection.execute(insert(Complaint), batch)
                batch.clear()
        if batch:
            connection.execute(insert(Complaint), batch)
        middle = connection.execute(
            select(Complaint.created_at, Complaint.id)
            .order_by(Complaint.created_at.desc(), Complaint.id.desc())
            .offset(rows // 2)
            .limit(1)
        ).one()
    return encode_cursor(middle.created_at, middle.id, NEWEST_FIRST)


def operator_cookie(engine) -> str:  # type: ignore[no-untyped-def]
    """Create an operator and a login session directly in the database; return the Cookie header value."""
    from hub.auth.sessions import SESSION_COOKIE, create_session
    from hub.auth.users import create_user
    from hub.db import make_session_factory, session_scope

    now = datetime.now(UTC)
    with session_scope(make_session_factory(engine)) as session:
        user = create_user(session, f"bench{uuid.uuid4().hex[:6]}", "benchmark password 123", "operator", now)
        token = create_session(session, user, now)
    return f"{SESSION_COOKIE}={token}"


def run_wrk(url: str, cookie: str, seconds: float, connections: int, script: Path) -> dict[str, float]:
    """Run wrk against one URL; return its percentiles in ms and request counts."""
    output = subprocess.run(
        [WRK, f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s", str(script),
         "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout
    line = next((item for item in output.splitlines() if item.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no report for {url}: {output[-1000:]}")
    fields = dict(part.split("=") for part in line.split()[1:])
    return {
        "p50_ms": int(fields["p50_us"]) / 1000, "p95_ms": int(fields["p95_us"]) / 1000,
        "p99_ms": int(fields["p99_us"]) / 1000, "requests": float(fields["requests"]),
        "errors": float(fields["errors"]) + float(fields["non2xx"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="events and complaints each")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per URL, seconds")
    parser.add_argument("--connections", type=int, default=4, help="concurrent wrk connections")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()

    from benchmarks.mqtt_load import camera_ids
    from hub.api.events import encode_cursor

    print(f"machine: {machine_summary()}")
    cameras = camera_ids(uuid.uuid4().hex[:8], 50)
    results: dict[str, dict[str, float]] = {}
    with (
        throwaway_database("metro_bench_api") as database_url,
        private_mosquitto() as broker,
        tempfile.TemporaryDirectory(prefix="metro-bench-api-") as folder,
    ):
        engine = migrate_and_register(database_url, cameras)
        middle = seed_events(engine, args.rows, cameras)
        complaint_cursor = seed_complaints(engine, args.rows)
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        cookie = operator_cookie(engine)
        engine.dispose()
        print(f"seeded {args.rows} events and {args.rows} complaints")

        script = Path(folder) / "report.lua"
        script.write_text(WRK_REPORT_LUA, encoding="utf-8")
        port = free_port()
        env = dict(os.environ)
        env.update(
            METRO_HUB_DATABASE_URL=database_url, METRO_HUB_MQTT_URL=broker.url, METRO_HUB_DATA_DIR=folder,
            METRO_HUB_MQTT_CLIENT_ID=f"bench-api-{uuid.uuid4().hex[:6]}",
        )
        env.pop("METRO_HUB_MQTT_SHARED_GROUP", None)
        with (Path(folder) / "hub.log").open("w", encoding="utf-8") as log:
            server = subprocess.Popen(
                [str(Path(sys.executable).parent / "metro-hub"), "--log-level", "WARNING", "serve", "--port", str(port)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            try:
                wait_for_port("127.0.0.1", port, timeout_s=60)
                base = f"http://127.0.0.1:{port}"
                urls = {
                    "events_first_page": f"{base}/api/v1/events?limit=50",
                    "events_deep_page": f"{base}/api/v1/events?limit=50&cursor={encode_cursor(*middle)}",
                    "events_one_camera": f"{base}/api/v1/events?limit=50&camera_id={cameras[7]}",
                    "events_one_label": f"{base}/api/v1/events?limit=50&label=bus",
                    "complaints_first_page": f"{base}/api/v1/complaints?limit=50",
                    "complaints_deep_page": f"{base}/api/v1/complaints?limit=50&cursor={complaint_cursor}",
                    "complaints_one_status": f"{base}/api/v1/complaints?limit=50&status=didisposisikan",
                    "complaints_overdue": f"{base}/api/v1/complaints?limit=50&overdue=true",
                    # For information, outside the headlines.
                    "info_complaints_offset": f"{base}/api/v1/complaints?limit=50&offset={args.rows // 2}",
                    "info_open311_search": f"{base}/open311/v2/requests.json",
                }
                for name, url in urls.items():
                    results[name] = run_wrk(url, cookie, args.seconds, args.connections, script)
                    r = results[name]
                    print(f"  {name}: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                          f"{r['requests'] / args.seconds:.0f} requests/s, {r['errors']:.0f} errors", flush=True)
            finally:
                stop_process(server, timeout_s=20)

    failed = sum(r["errors"] for r in results.values())
    events_p95 = max(r["p95_ms"] for name, r in results.items() if name.startswith("events"))
    complaints_p95 = max(r["p95_ms"] for name, r in results.items() if name.startswith("complaints"))
    print(Headline("hub_api_errors", "count", failed, 0).line())
    print(Headline("hub_api_events", "p95_ms", events_p95, TARGET_P95_MS).line())
    print(Headline("hub_api_complaints", "p95_ms", complaints_p95, TARGET_P95_MS).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

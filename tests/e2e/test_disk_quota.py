"""Media quota reached while the agent's uplink (broker and hub) is down, with the real agent and hub.

The agent keeps unsent event messages in its outbox and media not yet uploaded in
``pending/``. To stay under the camera's quota it deletes media the hub already has
(``uploaded/``) first. After the uplink returns, the hub receives every event and
every pending file.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from edge_agent.media.config import MediaConfig
from edge_agent.media.store import MediaStore
from metro_common.messages import MediaKind
from tests.e2e.conftest import Drill, RunSummary
from tests.e2e.stack import wait_until

pytestmark = pytest.mark.timeout(180)

# The clip makes about 14 snapshots of about 22 kB (clean and annotated, JPEG quality 85),
# about 350 kB in all. The count moves with perception settings. Before the run the camera
# already keeps 500 kB of media the hub has (SEEDED_*), as a Pi that ran for days does.
# The "roomy" quota fits what the outage makes with room to spare, but not the seeded
# media as well, so uploaded files must go. The "tight" quota admits about three
# snapshots, too few even for the outage's files, so new ones are dropped. How much of
# the clip the outage covers depends on the machine's speed: one run on a quiet machine
# made only 6 files (145 kB) during it, which a 150 kB quota held without a drop.
QUOTAS = {"roomy": 600_000, "tight": 60_000}
SEEDED_FILES = 10
SEEDED_FILE_BYTES = 50_000


def seed_uploaded_media(data_dir: Path, camera_id: str) -> None:
    """Store old media that the hub already has, through the agent's own media store."""
    store = MediaStore(data_dir / "media", camera_id, MediaConfig(quota_bytes=10**9))
    for _ in range(SEEDED_FILES):
        event_id = str(uuid.uuid4())
        item = store.save_bytes([event_id], MediaKind.SNAPSHOT, os.urandom(SEEDED_FILE_BYTES), "image/jpeg")
        assert item is not None
        store.mark_uploaded(item, event_id)


@dataclass(frozen=True)
class MediaFolders:
    """Files and bytes in the agent's pending/ and uploaded/ media folders of one camera."""

    pending: frozenset[str]
    uploaded: frozenset[str]
    pending_bytes: int
    uploaded_bytes: int
    largest_file: int

    @classmethod
    def scan(cls, data_dir: Path, camera_id: str) -> MediaFolders:
        base = data_dir / "media" / camera_id
        pending = [p for p in (base / "pending").glob("*") if p.suffix != ".json"]
        uploaded = [p for p in (base / "uploaded").glob("*") if p.suffix != ".json"]
        return cls(
            frozenset(p.name for p in pending), frozenset(p.name for p in uploaded),
            sum(p.stat().st_size for p in pending), sum(p.stat().st_size for p in uploaded),
            max((p.stat().st_size for p in pending + uploaded), default=0),
        )

    def describe(self) -> str:
        return (f"{len(self.pending)} pending ({self.pending_bytes} B), "
                f"{len(self.uploaded)} uploaded ({self.uploaded_bytes} B)")

    @property
    def total_bytes(self) -> int:
        return self.pending_bytes + self.uploaded_bytes


def uploaded_at_hub(database_url: str, camera_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(
                text("SELECT count(*) FROM event_media WHERE camera_id = :c AND uploaded_at IS NOT NULL"), {"c": camera_id}
            ).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.parametrize("quota_name", sorted(QUOTAS))
def test_quota_during_uplink_outage(drill: Drill, baseline: RunSummary, quota_name: str) -> None:
    quota = QUOTAS[quota_name]
    token_file = drill.directory / "device-token"
    token_file.write_text(drill.token + "\n")
    token_file.chmod(0o600)
    drill.write_agent_config(
        {"media": {"clips_enabled": False, "quota_bytes": quota,
                   "upload_retry": {"initial_delay_s": 0.5, "max_delay_s": 2.0}}},
        hub={"base_url": drill.hub.base_url, "device_token_file": str(token_file)},
    )
    seed_uploaded_media(drill.data_dir, drill.camera_id)
    drill.record()
    agent = drill.start_agent()
    wait_until(lambda: uploaded_at_hub(drill.hub.database_url, drill.camera_id) >= 2, 60, "the first uploads at the hub")
    before = MediaFolders.scan(drill.data_dir, drill.camera_id)

    # The uplink goes down: broker and hub both stop, as when the Pi loses its network.
    drill.broker.stop(signal.SIGTERM)
    drill.hub.stop(signal.SIGTERM)
    deepest = 0
    largest = before.total_bytes
    largest_file = before.largest_file
    started = time.monotonic()
    while "source ended" not in agent.log_text():
        assert time.monotonic() - started < 90, "the clip did not end within 90 s"
        deepest = max(deepest, drill.outbox_depth())
        folders = MediaFolders.scan(drill.data_dir, drill.camera_id)
        largest = max(largest, folders.total_bytes)
        largest_file = max(largest_file, folders.largest_file)
        time.sleep(0.2)
    during = MediaFolders.scan(drill.data_dir, drill.camera_id)
    queued = drill.outbox_depth()

    drill.broker.start()
    drill.hub.start()
    returned = time.monotonic()
    drill.hub.wait_ready()
    drain_s = wait_until(lambda: drill.outbox_depth() == 0, 60, "the agent's outbox to drain")
    upload_s = wait_until(lambda: not MediaFolders.scan(drill.data_dir, drill.camera_id).pending, 60,
                          "every pending media file to be uploaded")
    drill.finish_agent(agent)
    drill.wait_hub_caught_up()
    caught_up_s = time.monotonic() - returned
    log = agent.log_text()
    drops = log.count("is full of media not yet uploaded")
    print(f"MEASURED disk quota {quota_name} ({quota} B): before the outage {before.describe()}, "
          f"at clip end {during.describe()}, largest total {largest} B, new files dropped {drops}, "
          f"outbox depth up to {deepest} (at clip end {queued}), outbox drained {drain_s:.1f} s and pending media "
          f"uploaded {upload_s:.1f} s after the uplink returned, hub caught up {caught_up_s:.1f} s, "
          f"files uploaded to the hub {uploaded_at_hub(drill.hub.database_url, drill.camera_id)}")

    # Events were kept in the outbox and reached the hub after the outage.
    assert queued > 0
    assert drill.recorder is not None
    assert RunSummary.of(drill.events(), drill.recorder).events == baseline.events
    assert {e.event_id: e.last_seq for e in drill.events()} == drill.recorder.last_seq_by_event()
    # Media made during the outage waited in pending/, and uploaded media made room for it.
    assert during.pending
    assert before.uploaded - during.uploaded, "no uploaded file was deleted to stay within the quota"
    assert "before upload" not in log, "media not yet uploaded was deleted"
    # Admission stops at the quota, so usage overshoots by at most one file.
    assert largest <= quota + largest_file
    # Only the tight quota is too small for the outage's files, and it drops new ones instead of pending ones.
    assert (drops > 0) is (quota_name == "tight")

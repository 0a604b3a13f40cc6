"""Fixtures of the end-to-end drills: the car clip run through agent, private broker and hub.

``baseline`` runs the clip once undisturbed per test session; each drill compares the
hub database after its disturbance with that run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.agent.harness import AgentProcess, outbox_rows, unique_camera_id, write_config
from tests.e2e.stack import EventRecorder, Hub, PrivateBroker, StoredEvent, hub_events, wait_until

CLIP = "intel_car-detection.mp4"
# The clip looks straight down, where the model calls car roofs "cell phone" or "suitcase".
TOPDOWN_ANALYSIS = {
    "detection": {"label_aliases": {"cell phone": "car", "suitcase": "car"}},
    "lines": [{"name": "middle", "a": [0.0, 0.5], "b": [1.0, 0.5]}],
}


@dataclass
class Drill:
    """One camera's agent on the car clip, publishing through ``broker`` to ``hub``."""

    directory: Path
    broker: PrivateBroker
    hub: Hub
    model_path: Path
    clip: Path
    camera_id: str = field(default_factory=lambda: unique_camera_id("e2e"))
    agents: list[AgentProcess] = field(default_factory=list)
    recorder: EventRecorder | None = None
    config: Path | None = None
    token: str = ""

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def write_agent_config(self, camera: dict[str, Any] | None = None, **agent: Any) -> Path:
        source = {"kind": "file", "path": str(self.clip), "realtime": False}
        self.config = write_config(
            self.directory,
            [{"camera_id": self.camera_id, "source": source, "analysis": TOPDOWN_ANALYSIS, **(camera or {})}],
            broker=self.broker.address, model_path=self.model_path, **agent,
        )
        return self.config

    def start_agent(self) -> AgentProcess:
        if self.config is None:
            self.write_agent_config()
        assert self.config is not None
        agent = AgentProcess(self.config, self.directory / f"agent-{len(self.agents) + 1}.log")
        self.agents.append(agent)
        return agent

    def record(self) -> EventRecorder:
        self.recorder = EventRecorder(self.broker.port, self.camera_id)
        return self.recorder

    def finish_agent(self, agent: AgentProcess, timeout_s: float = 90.0) -> None:
        """Wait for the clip to end, then stop the agent cleanly (it delivers its outbox first)."""
        agent.wait_for_log("source ended", timeout_s)
        assert agent.terminate() == 0, agent.log_text()[-3000:]

    def outbox_depth(self) -> int:
        return len(outbox_rows(self.data_dir, self.camera_id))

    def events(self) -> list[StoredEvent]:
        return hub_events(self.hub.database_url, self.camera_id)

    def wait_hub_caught_up(self, timeout_s: float = 60.0) -> float:
        """Wait until the hub stored every event at the last seq the recorder saw; return the seconds taken."""
        assert self.recorder is not None

        previous: dict[str, int] = {}

        def caught_up() -> bool:
            # The recorder must also have stopped growing, so a late message cannot follow a match.
            nonlocal previous
            expected = self.recorder.last_seq_by_event() if self.recorder else {}
            stored = {e.event_id: e.last_seq for e in self.events()}
            stable = expected == previous
            previous = expected
            return bool(expected) and stable and stored == expected

        return wait_until(caught_up, timeout_s, f"the hub to store every event of {self.camera_id}", 0.5)

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
        if self.recorder is not None:
            self.recorder.close()


@dataclass(frozen=True)
class RunSummary:
    """What the hub stored for one run of the clip."""

    events: int
    labels: Counter[str]
    states: Counter[str]
    event_messages: int

    @classmethod
    def of(cls, events: list[StoredEvent], recorder: EventRecorder) -> RunSummary:
        return cls(
            events=len(events),
            labels=Counter(e.label for e in events),
            states=Counter(e.state for e in events),
            event_messages=len({(str(m.event_id), m.seq) for m in recorder.snapshot()}),
        )


def make_drill(directory: Path, model_path: Path, media_dir: Path, database_url: str | None = None,
               **hub_settings: str) -> tuple[Drill, PrivateBroker, Hub]:
    broker = PrivateBroker(directory / "broker")
    broker.start()
    hub = Hub(directory / "hub", broker.url, database_url, **hub_settings)
    drill = Drill(directory / "agent", broker, hub, model_path, media_dir / CLIP)
    drill.directory.mkdir(parents=True)
    drill.token = hub.add_camera(drill.camera_id)
    return drill, broker, hub


@pytest.fixture()
def drill(tmp_path: Path, model_path: Path, media_dir: Path) -> Iterator[Drill]:
    """A private broker and a SQLite hub, both started, and an agent ready to run."""
    drill, broker, hub = make_drill(tmp_path, model_path, media_dir)
    try:
        hub.start()
        hub.wait_ready()
        yield drill
    finally:
        drill.close()
        hub.stop()
        broker.stop()


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory, model_path: Path, media_dir: Path) -> RunSummary:
    """Run the clip once without any disturbance and summarise what the hub stored."""
    drill, broker, hub = make_drill(tmp_path_factory.mktemp("baseline"), model_path, media_dir)
    try:
        hub.start()
        hub.wait_ready()
        drill.record()
        drill.finish_agent(drill.start_agent())
        drill.wait_hub_caught_up()
        assert drill.recorder is not None
        summary = RunSummary.of(drill.events(), drill.recorder)
    finally:
        drill.close()
        hub.stop()
        broker.stop()
    assert summary.events >= 3, f"the undisturbed run found only {summary.events} events"
    print(f"MEASURED baseline: {summary}")
    return summary

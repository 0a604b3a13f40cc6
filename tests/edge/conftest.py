"""Fixtures shared by the edge tests: one real detector session for the whole run."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.detector import DEFAULT_SPEC, Detector


@pytest.fixture(scope="session")
def detector(model_path: Path) -> Detector:
    # Two threads: the test machine has two cores shared with other jobs.
    return Detector.from_spec_file(DEFAULT_SPEC, model_path, threads=2)

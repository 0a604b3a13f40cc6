"""Snapshots: JPEG encoding, annotation and display time."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from edge_agent.media.snapshot import BoxAnnotation, annotate, encode_jpeg, format_display_time


def test_jpeg_quality_changes_size(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[10]
    low, high = encode_jpeg(frame, 30), encode_jpeg(frame, 95)
    assert low[:3] == b"\xff\xd8\xff"
    assert len(low) < len(high)
    decoded = cv2.imdecode(np.frombuffer(high, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape
    assert np.abs(decoded.astype(int) - frame.astype(int)).mean() < 3


def test_jpeg_quality_out_of_range() -> None:
    with pytest.raises(ValueError, match="outside 10-100"):
        encode_jpeg(np.zeros((8, 8, 3), np.uint8), 5)


def test_display_time_is_wib() -> None:
    assert format_display_time(datetime(2026, 12, 4, 17, 30, 0, tzinfo=UTC)) == "2026-12-05 00:30:00 WIB"
    with pytest.raises(ValueError, match="no timezone"):
        format_display_time(datetime(2026, 12, 4, 17, 30))


def test_annotate_draws_box_and_banner(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[10]
    drawn = annotate(frame, [BoxAnnotation((100, 100, 200, 300), "person", 0.87)], "Simpang Tugu", datetime(2026, 12, 4, tzinfo=UTC))
    assert drawn.shape == frame.shape
    # The box edge is painted in the box colour; the middle of the box is untouched.
    assert tuple(drawn[200, 100]) == (0, 200, 255)
    assert np.array_equal(drawn[200, 150], frame[200, 150])
    # The banner at the bottom left changed pixels there; the input frame is unchanged.
    assert not np.array_equal(drawn[-20:, :100], frame[-20:, :100])
    assert not np.shares_memory(drawn, frame)

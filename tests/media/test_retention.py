"""Retention policy of the agent's media store (pure)."""

from __future__ import annotations

import pytest

from edge_agent.media.retention import (
    DeletionReason,
    ItemInfo,
    RetentionPolicy,
    admits,
    plan_retention,
)

DAY = 86400.0
NOW = 100 * DAY
POLICY = RetentionPolicy(quota_bytes=1000, max_age_s=7 * DAY, critical_free_bytes=500)


def item(key: str, size: int, age_days: float, uploaded: bool) -> ItemInfo:
    return ItemInfo(key, size, NOW - age_days * DAY, uploaded)


@pytest.mark.parametrize(
    ("items", "free", "expected"),
    [
        # Within quota, young, plenty of disk: nothing goes.
        ([item("a", 100, 1, True), item("b", 100, 2, False)], 10_000, []),
        # Uploaded and too old: deleted; pending and too old: kept.
        ([item("old-up", 100, 8, True), item("old-pending", 100, 9, False)], 10_000, [("old-up", DeletionReason.MAX_AGE)]),
        # Over quota: uploaded media go oldest first until the rest fits.
        (
            [item("u1", 500, 5, True), item("u2", 500, 4, True), item("u3", 500, 3, True), item("p", 100, 6, False)],
            10_000,
            [("u1", DeletionReason.QUOTA), ("u2", DeletionReason.QUOTA)],
        ),
        # Over quota with only pending media: nothing is deleted.
        ([item("p1", 800, 3, False), item("p2", 800, 2, False)], 10_000, []),
        # Disk pressure: uploaded first, then pending oldest first until free space is back.
        (
            [item("p-old", 300, 3, False), item("up", 100, 1, True), item("p-new", 300, 1, False)],
            150,
            [("up", DeletionReason.DISK_PRESSURE), ("p-old", DeletionReason.DISK_PRESSURE)],
        ),
        # Unknown free space skips the pressure rule.
        ([item("p", 300, 1, False)], None, []),
    ],
)
def test_plan_retention_table(items: list[ItemInfo], free: int | None, expected: list[tuple[str, DeletionReason]]) -> None:
    plan = plan_retention(items, POLICY, NOW, free)
    assert [(d.key, d.reason) for d in plan.deletions] == expected


def test_pressure_deletions_count_only_pending() -> None:
    items = [item("p-old", 300, 3, False), item("up", 100, 1, True), item("p-new", 300, 1, False)]
    plan = plan_retention(items, POLICY, NOW, 0)
    assert plan.pressure_deletions == 2
    assert plan.freed_bytes == 700


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [([], True), ([999], True), ([1000], False), ([600, 600], False)],
)
def test_admits_below_quota(sizes: list[int], expected: bool) -> None:
    items = [item(f"k{i}", size, 1, False) for i, size in enumerate(sizes)]
    assert admits(items, POLICY) is expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quota_bytes": 0, "max_age_s": 1, "critical_free_bytes": 0}, "quota_bytes"),
        ({"quota_bytes": 1, "max_age_s": 0, "critical_free_bytes": 0}, "max_age_s"),
        ({"quota_bytes": 1, "max_age_s": 1, "critical_free_bytes": -1}, "critical_free_bytes"),
    ],
)
def test_policy_rejects_bad_limits(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]

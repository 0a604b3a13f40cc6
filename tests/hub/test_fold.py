"""Folding event messages by seq: idempotent, ordered by seq, no reopening after end."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.ingest.fold import EventState, FoldOutcome, fold_event
from metro_common.messages import EventKind, EventMessage
from tests.hub.factories import event, sha

EVENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
NEW, UPDATE, END = EventKind.NEW, EventKind.UPDATE, EventKind.END


def _apply(messages: list[EventMessage]) -> tuple[EventState | None, list[FoldOutcome]]:
    state: EventState | None = None
    outcomes = []
    for message in messages:
        outcome, new_state = fold_event(state, message)
        outcomes.append(outcome)
        if new_state is not None:
            state = new_state
    return state, outcomes


@pytest.mark.parametrize(
    ("steps", "final_state", "final_seq", "outcomes"),
    [
        ([(1, NEW)], "active", 1, ["created"]),
        ([(1, NEW), (1, NEW)], "active", 1, ["created", "duplicate"]),
        ([(1, NEW), (2, UPDATE), (3, END)], "ended", 3, ["created", "updated", "updated"]),
        ([(3, END), (2, UPDATE), (1, NEW)], "ended", 3, ["created", "duplicate", "duplicate"]),
        ([(1, NEW), (3, UPDATE), (2, UPDATE)], "active", 3, ["created", "updated", "duplicate"]),
        ([(1, NEW), (2, END), (3, UPDATE)], "ended", 2, ["created", "updated", "after_end"]),
        ([(2, UPDATE), (1, NEW)], "active", 2, ["created", "duplicate"]),
    ],
)
def test_fold_table(steps, final_state: str, final_seq: int, outcomes: list[str]) -> None:  # type: ignore[no-untyped-def]
    state, got = _apply([event("cam-01", EVENT_ID, seq, kind) for seq, kind in steps])
    assert state is not None
    assert state.state == final_state
    assert state.last_seq == final_seq
    assert [o.value for o in got] == outcomes


def test_fold_keeps_known_media_and_best_score() -> None:
    first = event("cam-01", EVENT_ID, 1, NEW, score=0.9, snapshot=sha("a"), zones=("gate",))
    second = event("cam-01", EVENT_ID, 2, UPDATE, score=0.5, zones=("road",))
    state, _ = _apply([first, second])
    assert state is not None
    assert state.snapshot_sha256 == sha("a")
    assert state.score == 0.9
    assert state.zones == ("gate", "road")


def test_fold_orders_by_seq_not_clock() -> None:
    from tests.hub.factories import T0

    later_clock = event("cam-01", EVENT_ID, 1, NEW, score=0.4, at=T0.replace(hour=23))
    earlier_clock = event("cam-01", EVENT_ID, 2, UPDATE, score=0.7, at=T0.replace(hour=1))
    state, outcomes = _apply([later_clock, earlier_clock])
    assert state is not None and state.last_seq == 2
    assert outcomes[1] is FoldOutcome.UPDATED


@settings(max_examples=60, deadline=None)
@given(st.permutations([(1, NEW), (2, UPDATE), (3, UPDATE), (4, END)]), st.integers(0, 3))
def test_fold_any_order_same_result(order, repeat_index: int) -> None:  # type: ignore[no-untyped-def]
    """Every arrival order, with one message repeated, ends in the state of the in-order run."""
    messages = [event("cam-01", EVENT_ID, seq, kind) for seq, kind in order]
    messages.append(messages[repeat_index])
    state, _ = _apply(messages)
    assert state is not None
    # Whatever arrived last by seq wins; END has the highest seq, so the event ends.
    assert state.last_seq == 4
    assert state.state == "ended"

"""Durable outbox: priority eviction (pure) and the SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.outbox import Outbox, Priority, choose_eviction

U, R, C, M, L = (
    Priority.EVENT_UPDATE, Priority.COMMAND_RESULT, Priority.COUNTS, Priority.MEDIA, Priority.EVENT_LIFECYCLE,
)


@pytest.mark.parametrize(
    ("stored", "incoming", "expected"),
    [
        ({U: 2, L: 5}, L, U),
        ({U: 2, L: 5}, U, U),
        ({C: 1, L: 5}, L, C),
        ({C: 1, L: 5}, U, None),
        ({L: 5}, L, L),
        ({L: 5}, C, None),
        ({M: 3, R: 1}, M, R),
        ({}, U, None),
        ({U: 0, C: 0, L: 1}, M, None),
    ],
)
def test_choose_eviction_table(stored: dict[Priority, int], incoming: Priority, expected: Priority | None) -> None:
    assert choose_eviction(stored, incoming) == expected


@given(
    st.dictionaries(st.sampled_from(list(Priority)), st.integers(min_value=0, max_value=5)),
    st.sampled_from(list(Priority)),
)
def test_choose_eviction_never_outranks_incoming(stored: dict[Priority, int], incoming: Priority) -> None:
    victim = choose_eviction(stored, incoming)
    if victim is None:
        assert all(count == 0 or priority > incoming for priority, count in stored.items())
    else:
        assert victim <= incoming
        assert stored[victim] > 0
        assert all(count == 0 for priority, count in stored.items() if priority < victim)


def payload(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def test_seq_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "cam.sqlite"
    outbox = Outbox(path)
    first = [outbox.append(L, "t", payload) for _ in range(3)]
    assert [m.seq for m in first if m] == [0, 1, 2]
    outbox.close()

    reopened = Outbox(path)
    assert reopened.depth() == 3
    nxt = reopened.append(L, "t", payload)
    assert nxt is not None
    assert nxt.seq == 3
    assert [m.payload for m in reopened.pending()] == [payload(i) for i in range(4)]


def test_remove_after_ack(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite")
    stored = [outbox.append(L, "t", payload) for _ in range(3)]
    assert stored[1] is not None
    assert outbox.remove(stored[1].id) is True
    assert outbox.remove(stored[1].id) is False
    assert [m.seq for m in outbox.pending()] == [0, 2]
    assert outbox.depth() == 2


def test_pending_pages_by_id(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite")
    stored = [outbox.append(L, "t", payload) for _ in range(5)]
    assert stored[1] is not None
    page = outbox.pending(after_id=stored[1].id, limit=2)
    assert [m.seq for m in page] == [2, 3]


def test_full_outbox_drops_updates_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite", max_messages=4)
    outbox.append(L, "t", payload)  # seq 0
    outbox.append(U, "t", payload)  # seq 1
    outbox.append(C, "t", payload)  # seq 2
    outbox.append(U, "t", payload)  # seq 3
    outbox.append(L, "t", payload)  # seq 4 evicts update seq 1
    outbox.append(L, "t", payload)  # seq 5 evicts update seq 3
    outbox.append(L, "t", payload)  # seq 6 evicts counts seq 2
    assert [m.seq for m in outbox.pending()] == [0, 4, 5, 6]
    assert outbox.dropped_total == 3


def test_full_outbox_drops_low_priority_incoming(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite", max_messages=2)
    outbox.append(L, "t", payload)
    outbox.append(L, "t", payload)
    assert outbox.append(U, "t", payload) is None
    assert [m.seq for m in outbox.pending()] == [0, 1]
    assert outbox.dropped_total == 1
    # The dropped update still used seq 2, so the hub can see the gap.
    assert outbox.last_seq == 2


def test_dropped_total_persists(tmp_path: Path) -> None:
    path = tmp_path / "cam.sqlite"
    outbox = Outbox(path, max_messages=1)
    outbox.append(L, "t", payload)
    outbox.append(U, "t", payload)
    outbox.close()
    assert Outbox(path, max_messages=1).dropped_total == 1


def test_byte_limit_evicts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite", max_messages=100, max_bytes=25)
    outbox.append(U, "t", lambda seq: b"x" * 10)
    outbox.append(L, "t", lambda seq: b"y" * 10)
    outbox.append(L, "t", lambda seq: b"z" * 10)
    assert [m.payload[:1] for m in outbox.pending()] == [b"y", b"z"]


def test_result_without_seq(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite")
    stored = outbox.append(R, "t", lambda seq: str(seq).encode(), uses_seq=False)
    assert stored is not None
    assert stored.seq is None
    assert stored.payload == b"-1"
    assert outbox.last_seq == -1


def test_wal_and_full_sync(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "cam.sqlite")
    assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_invalid_limits_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limits"):
        Outbox(tmp_path / "cam.sqlite", max_messages=0)


def test_open_events_tracked_until_end(tmp_path: Path) -> None:
    path = tmp_path / "cam.sqlite"
    outbox = Outbox(path)
    outbox.append(L, "t", lambda seq: b"new-a", event=("a", True))
    outbox.append(L, "t", lambda seq: b"new-b", event=("b", True))
    outbox.append(U, "t", lambda seq: b"update-a", event=("a", True))
    outbox.append(L, "t", lambda seq: b"end-b", event=("b", False))
    outbox.close()
    assert Outbox(path).orphaned_events() == [b"update-a"]

"""ONNX Runtime thread counts: "auto", whole numbers and the errors for anything else."""

from __future__ import annotations

import pytest

from edge_agent import threads
from edge_agent.threads import AUTO, parse_thread_count, resolve_thread_count


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", AUTO),
        (" Auto ", AUTO),
        (1, 1),
        (3, 3),
        ("3", 3),
        (16, 16),
    ],
)
def test_parse_thread_count_accepts(value: object, expected: object) -> None:
    assert parse_thread_count(value) == expected


@pytest.mark.parametrize("value", [0, 17, -2, "0", "many", "2.5", 2.0, True, None, ""])
def test_parse_thread_count_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="invalid ONNX Runtime thread count") as info:
        parse_thread_count(value)
    assert repr(value) in str(info.value)
    assert "'auto'" in str(info.value)


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (4, 3), (8, 7)])
def test_auto_leaves_one_core(cores: int, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cpu_count", lambda: cores)
    assert resolve_thread_count("auto") == expected


def test_explicit_count_ignores_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cpu_count", lambda: 2)
    assert resolve_thread_count(4) == 4

"""Pure helpers of the benchmarks: percentiles, headline lines, event matching."""

from __future__ import annotations

import math

import pytest

from benchmarks.edge_pipeline import EventSpan, matched_fraction
from benchmarks.harness import Headline, interleave, paired_ratio, parse_headline, percentile


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5.0], 0.95, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 3.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 1.0, 5.0),
        ([10.0, 0.0], 0.25, 2.5),
        (list(range(101)), 0.95, 95.0),
    ],
)
def test_percentile_table(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "fraction"), [([], 0.5), ([1.0], 1.5), ([1.0], -0.1)])
def test_percentile_rejects_bad_input(values: list[float], fraction: float) -> None:
    with pytest.raises(ValueError, match=r"percentile|fraction"):
        percentile(values, fraction)


@pytest.mark.parametrize(
    ("headline", "passed"),
    [
        (Headline("edge_pipeline", "ratio", 0.93, 0.9), True),
        (Headline("edge_pipeline", "ratio", 0.89, 0.9), False),
        (Headline("hub_latency", "p95_ms", 150.0, 200.0), True),
        (Headline("hub_latency", "p95_ms", 201.0, 200.0), False),
        (Headline("hub_ingest_lost", "count", 0, 0), True),
        (Headline("hub_ingest_lost", "count", 1, 0), False),
        (Headline("edge_latency", "p95_ms", math.nan, 1000.0), False),
    ],
)
def test_headline_pass_direction(headline: Headline, passed: bool) -> None:
    assert headline.passed is passed


def test_headline_line_round_trips() -> None:
    headline = Headline("hub_api_events", "p95_ms", 12.3456, 50.0)
    parsed = parse_headline(headline.line())
    assert headline.line() == "hub_api_events p95_ms=12.35 target=50"
    assert parsed == Headline("hub_api_events", "p95_ms", 12.35, 50.0)


def test_parse_headline_ignores_other_lines() -> None:
    assert parse_headline("  round 1/3 limit_fps: 59.4") is None
    assert parse_headline("machine: AMD EPYC, 2 cores") is None


def test_interleave_alternates_order() -> None:
    calls: list[str] = []
    results = interleave({"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_matched_fraction_needs_overlap() -> None:
    reference = [EventSpan("1", "car", 4.0, 9.0), EventSpan("2", "car", 14.0, 18.0)]
    assert matched_fraction(reference, [EventSpan("x", "car", 8.5, 10.0)]) == 0.5
    assert matched_fraction(reference, [EventSpan("x", "car", 10.0, 13.0)]) == 0.0
    assert matched_fraction(reference, reference) == 1.0
    assert matched_fraction([], []) == 1.0


def test_paired_ratio_uses_rounds() -> None:
    results = {"pipeline": [9.0, 4.0, 12.0], "limit": [10.0, 8.0, 12.0]}
    assert paired_ratio(results, "pipeline", "limit") == pytest.approx(0.9)

"""Every (from, to) status pair of the complaint state machine, allowed or rejected."""

from __future__ import annotations

import itertools

import pytest

from hub.complaints.workflow import (
    RULES,
    Action,
    StaleUpdateError,
    Status,
    TransitionError,
    TransitionRequest,
    actions_from,
    allowed_pairs,
    plan_transition,
)

S = Status
# The complete table of allowed status changes; every pair not listed must be rejected.
EXPECTED_ALLOWED = {
    (S.BELUM_TERVERIFIKASI, S.TERVERIFIKASI),
    (S.BELUM_TERVERIFIKASI, S.DITUNDA),
    (S.BELUM_TERVERIFIKASI, S.BUKAN_KEWENANGAN),
    (S.BELUM_TERVERIFIKASI, S.DUPLIKAT),
    (S.BELUM_TERVERIFIKASI, S.DIARSIPKAN),
    (S.TERVERIFIKASI, S.DITUNDA),
    (S.TERVERIFIKASI, S.BUKAN_KEWENANGAN),
    (S.TERVERIFIKASI, S.DIDISPOSISIKAN),
    (S.TERVERIFIKASI, S.DUPLIKAT),
    (S.DITUNDA, S.TERVERIFIKASI),
    (S.DITUNDA, S.BELUM_TERVERIFIKASI),
    (S.DITUNDA, S.DUPLIKAT),
    (S.DITUNDA, S.DIARSIPKAN),
    (S.DIDISPOSISIKAN, S.DIDISPOSISIKAN),
    (S.DIDISPOSISIKAN, S.TERVERIFIKASI),
    (S.DIDISPOSISIKAN, S.DALAM_PROSES),
    (S.DALAM_PROSES, S.DALAM_PROSES),
    (S.DALAM_PROSES, S.SELESAI),
    (S.SELESAI, S.DALAM_PROSES),
    (S.SELESAI, S.DIARSIPKAN),
    (S.BUKAN_KEWENANGAN, S.DIARSIPKAN),
    (S.DUPLIKAT, S.DIARSIPKAN),
}


def _full_request(action: Action, version: int) -> TransitionRequest:
    return TransitionRequest(action, version, note="catatan", opd_code="putr", master_id=7)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(Status, Status)))
def test_status_pair(source: Status, target: Status) -> None:
    reaching = [action for action, rule in RULES.items() if rule.target is target]
    outcomes = []
    for action in reaching:
        try:
            result = plan_transition(source, 3, _full_request(action, 3))
        except TransitionError as exc:
            assert exc.code == "transition_not_allowed"
            outcomes.append(False)
        else:
            assert result.from_status is source
            assert result.to_status is target
            assert result.version == 4
            outcomes.append(True)
    assert any(outcomes) == ((source, target) in EXPECTED_ALLOWED)


def test_allowed_pairs_equal_table() -> None:
    assert allowed_pairs() == EXPECTED_ALLOWED


def test_diarsipkan_is_terminal() -> None:
    assert actions_from(S.DIARSIPKAN) == []


def test_stale_version_rejected() -> None:
    with pytest.raises(StaleUpdateError) as info:
        plan_transition(S.BELUM_TERVERIFIKASI, 5, TransitionRequest(Action.VERIFY, 4))
    assert info.value.code == "stale_update"


def test_stale_status_rejected() -> None:
    request = TransitionRequest(Action.VERIFY, 2, expected_status=S.DITUNDA)
    with pytest.raises(StaleUpdateError):
        plan_transition(S.BELUM_TERVERIFIKASI, 2, request)


@pytest.mark.parametrize(
    ("action", "source", "code"),
    [
        (Action.POSTPONE, S.BELUM_TERVERIFIKASI, "note_required"),
        (Action.DISPOSE, S.TERVERIFIKASI, "opd_required"),
        (Action.MERGE, S.TERVERIFIKASI, "master_required"),
        (Action.COMPLETE, S.DALAM_PROSES, "note_required"),
    ],
)
def test_missing_input_rejected(action: Action, source: Status, code: str) -> None:
    with pytest.raises(TransitionError) as info:
        plan_transition(source, 1, TransitionRequest(action, 1, note="  "))
    assert info.value.code == code


def test_verify_needs_no_note() -> None:
    result = plan_transition(S.BELUM_TERVERIFIKASI, 1, TransitionRequest(Action.VERIFY, 1))
    assert result.to_status is S.TERVERIFIKASI

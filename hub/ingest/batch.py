"""Pure folding of a batch of event messages, as if they were stored one at a time.

The writer stores many messages in one transaction. Folding them here, in arrival
order and in memory, gives the same states and outcomes as storing them one by one,
so only the final state of each event is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub.ingest.fold import EventState, FoldOutcome, fold_event
from metro_common.messages import EventMessage


# Not frozen: a frozen dataclass sets every field through object.__setattr__, a cost paid per message.
@dataclass(slots=True)
class FoldStep:
    """The outcome of one message, and the event's state after it when it changed."""

    outcome: FoldOutcome
    state: EventState | None
    owner: str | None = None  # the camera that owns the event, for FOREIGN


@dataclass(frozen=True, slots=True)
class BatchFold:
    """Per-message steps in arrival order, and the final state of every changed event."""

    steps: list[FoldStep]
    changed: dict[str, EventState]


def fold_batch(current: Mapping[str, EventState], messages: Sequence[EventMessage]) -> BatchFold:
    """Fold ``messages`` in arrival order onto the stored states ``current`` (keyed by event id)."""
    states = dict(current)
    changed: dict[str, EventState] = {}
    steps: list[FoldStep] = []
    for message in messages:
        event_id = str(message.event_id)
        known = states.get(event_id)
        if known is not None and known.camera_id != message.camera_id:
            steps.append(FoldStep(FoldOutcome.FOREIGN, None, known.camera_id))
            continue
        outcome, new_state = fold_event(known, message)
        if new_state is not None:
            states[event_id] = changed[event_id] = new_state
        steps.append(FoldStep(outcome, new_state))
    return BatchFold(steps, changed)

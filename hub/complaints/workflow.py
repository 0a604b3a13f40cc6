"""State machine of a complaint: statuses, operator actions and the allowed transitions.

Pure code without database or clock. The service layer calls ``plan_transition`` to check
an action against the complaint's current status and version, then stores the result
together with one audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """Complaint status; the value is the code used in the API and the database."""

    BELUM_TERVERIFIKASI = "belum_terverifikasi"
    TERVERIFIKASI = "terverifikasi"
    DIDISPOSISIKAN = "didisposisikan"
    DALAM_PROSES = "dalam_proses"
    SELESAI = "selesai"
    DITUNDA = "ditunda"
    BUKAN_KEWENANGAN = "bukan_kewenangan"
    DUPLIKAT = "duplikat"
    DIARSIPKAN = "diarsipkan"


class Action(StrEnum):
    """Something an operator, an OPD officer or the reporter does to a complaint."""

    VERIFY = "verify"  # verifikasi
    POSTPONE = "postpone"  # tunda: more information needed from the reporter
    RESUME = "resume"  # the reporter supplied the missing information
    REJECT = "reject"  # bukan kewenangan: outside the city's authority
    DISPOSE = "dispose"  # disposisi to an OPD, also re-disposition to another OPD
    RETURN = "return"  # the OPD sends a disposition back to the verifier
    FOLLOW_UP = "follow_up"  # tindak lanjut: the OPD's plan or reply
    COMPLETE = "complete"  # selesai
    REOPEN = "reopen"  # the reporter or an operator disputes the completion
    MERGE = "merge"  # duplikat of another complaint
    ARCHIVE = "archive"  # arsip


S = Status

# Open statuses count towards duplicate suggestions and service targets; the others are closed.
OPEN_STATUSES: frozenset[Status] = frozenset(
    {S.BELUM_TERVERIFIKASI, S.TERVERIFIKASI, S.DIDISPOSISIKAN, S.DALAM_PROSES, S.DITUNDA}
)
CLOSED_STATUSES: frozenset[Status] = frozenset(Status) - OPEN_STATUSES


@dataclass(frozen=True)
class ActionRule:
    """Rule of one action: its source statuses, its target status and its required inputs."""

    target: Status
    sources: frozenset[Status]
    needs_note: bool = False
    needs_opd: bool = False
    needs_master: bool = False


RULES: dict[Action, ActionRule] = {
    Action.VERIFY: ActionRule(S.TERVERIFIKASI, frozenset({S.BELUM_TERVERIFIKASI, S.DITUNDA})),
    Action.POSTPONE: ActionRule(S.DITUNDA, frozenset({S.BELUM_TERVERIFIKASI, S.TERVERIFIKASI}), needs_note=True),
    Action.RESUME: ActionRule(S.BELUM_TERVERIFIKASI, frozenset({S.DITUNDA})),
    Action.REJECT: ActionRule(S.BUKAN_KEWENANGAN, frozenset({S.BELUM_TERVERIFIKASI, S.TERVERIFIKASI}), needs_note=True),
    Action.DISPOSE: ActionRule(S.DIDISPOSISIKAN, frozenset({S.TERVERIFIKASI, S.DIDISPOSISIKAN}), needs_opd=True),
    Action.RETURN: ActionRule(S.TERVERIFIKASI, frozenset({S.DIDISPOSISIKAN}), needs_note=True),
    Action.FOLLOW_UP: ActionRule(S.DALAM_PROSES, frozenset({S.DIDISPOSISIKAN, S.DALAM_PROSES}), needs_note=True),
    Action.COMPLETE: ActionRule(S.SELESAI, frozenset({S.DALAM_PROSES}), needs_note=True),
    Action.REOPEN: ActionRule(S.DALAM_PROSES, frozenset({S.SELESAI}), needs_note=True),
    Action.MERGE: ActionRule(
        S.DUPLIKAT, frozenset({S.BELUM_TERVERIFIKASI, S.TERVERIFIKASI, S.DITUNDA}), needs_master=True
    ),
    Action.ARCHIVE: ActionRule(
        S.DIARSIPKAN,
        frozenset({S.BELUM_TERVERIFIKASI, S.DITUNDA, S.BUKAN_KEWENANGAN, S.SELESAI, S.DUPLIKAT}),
        needs_note=True,
    ),
}


def allowed_pairs() -> frozenset[tuple[Status, Status]]:
    """Return every (from, to) status pair that some action allows."""
    return frozenset((source, rule.target) for rule in RULES.values() for source in rule.sources)


def actions_from(status: Status) -> list[Action]:
    """Return the actions that may start in ``status``, in declaration order."""
    return [action for action, rule in RULES.items() if status in rule.sources]


class TransitionError(Exception):
    """A transition that must not be stored; ``code`` is a stable identifier for the API."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StaleUpdateError(TransitionError):
    """The caller acted on an older version of the complaint than the stored one."""


@dataclass(frozen=True)
class TransitionRequest:
    """An action as the caller sent it, with the version it saw."""

    action: Action
    expected_version: int
    note: str = ""
    opd_code: str | None = None
    master_id: int | None = None
    expected_status: Status | None = None


@dataclass(frozen=True)
class Transition:
    """The checked result: the new status and version to store."""

    action: Action
    from_status: Status
    to_status: Status
    version: int


def plan_transition(current: Status, version: int, request: TransitionRequest) -> Transition:
    """Check ``request`` against the stored status and version; raise TransitionError when it must not run.

    A request carrying an older ``expected_version`` (or another ``expected_status``)
    raises StaleUpdateError, so an update that arrives late never overwrites a newer status.
    """
    if request.expected_version != version or (
        request.expected_status is not None and request.expected_status != current
    ):
        raise StaleUpdateError(
            "stale_update",
            f"complaint is at version {version} with status {current.value}; the request expected version "
            f"{request.expected_version}" + (f" and status {request.expected_status.value}" if request.expected_status else ""),
        )
    rule = RULES[request.action]
    if current not in rule.sources:
        raise TransitionError(
            "transition_not_allowed",
            f"action {request.action.value} is not allowed in status {current.value}; allowed there: "
            + (", ".join(a.value for a in actions_from(current)) or "none"),
        )
    if rule.needs_note and not request.note.strip():
        raise TransitionError("note_required", f"action {request.action.value} needs a note")
    if rule.needs_opd and not request.opd_code:
        raise TransitionError("opd_required", f"action {request.action.value} needs opd_code")
    if rule.needs_master and request.master_id is None:
        raise TransitionError("master_required", f"action {request.action.value} needs master_id")
    return Transition(request.action, current, rule.target, version + 1)

"""The statuses an upload moves through, and which may follow which.

    pending -> processing -> completed
                    \\-> failed -> pending (the same file sent again) or processing (a retry)

`processing` may also be claimed again from `processing` when its lease expired (its worker
died). The SQL that changes a status (functions/core/uploads/records.py) checks the allowed
predecessors with `status = ANY(...)`, from `ALLOWED_BEFORE` below.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({Status.COMPLETED, Status.FAILED})
UNFINISHED = frozenset(set(Status) - FINISHED)

# For each status, the statuses an upload may be in just before it moves there.
ALLOWED_BEFORE: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.FAILED}),
    Status.PROCESSING: frozenset({Status.PENDING, Status.PROCESSING, Status.FAILED}),
    Status.COMPLETED: frozenset({Status.PROCESSING}),
    Status.FAILED: frozenset({Status.PENDING, Status.PROCESSING}),
}


def allowed_before(status: Status) -> list[str]:
    """The predecessors of `status`, as a list for `status = ANY(%s)`."""
    return sorted(ALLOWED_BEFORE[status])

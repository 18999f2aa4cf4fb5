"""The statuses an upload moves through, and which may follow which.

```mermaid
stateDiagram-v2
    [*] --> pending: accepted
    pending --> processing: a worker claims it
    processing --> validated: staged, change set computed (review asked)
    processing --> publishing: staged, change set computed (no review)
    validated --> publishing: POST /uploads/{id}/publish
    publishing --> completed: the change set applied to the catalogue
    completed --> reverted: POST /uploads/{id}/revert
    processing --> failed: bad header, too many rejected rows, an error
    pending --> cancelled: POST /uploads/{id}/cancel
    processing --> cancelled
    validated --> cancelled
    failed --> pending: the same file sent again
    cancelled --> pending: the same file sent again
    reverted --> pending: the same file sent again
```

`processing` and `publishing` are held under a lease; one whose lease expired (its worker died)
is claimed again. The SQL that changes a status (functions/core/uploads/records.py) checks the
allowed predecessors with `status = ANY(...)`, from `ALLOWED_BEFORE` below.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    VALIDATED = "validated"
    PUBLISHING = "publishing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REVERTED = "reverted"

    @property
    def finished(self) -> bool:
        """Nothing more happens to it unless a person acts (or the same file is sent again)."""
        return self in FINISHED


# Waiting for a person (validated) or done: no worker will touch it again on its own.
FINISHED = frozenset(
    {Status.VALIDATED, Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.REVERTED}
)
# Work a worker owes: recovery takes these up when their worker is gone.
UNFINISHED = frozenset({Status.PENDING, Status.PROCESSING, Status.PUBLISHING})
# Sent again, the same file runs again from these.
RERUNNABLE = frozenset({Status.FAILED, Status.CANCELLED, Status.REVERTED})
# Statuses whose counts say what the publish does or did.
WITH_COUNTS = frozenset({Status.VALIDATED, Status.PUBLISHING, Status.COMPLETED, Status.REVERTED})

# For each status, the statuses an upload may be in just before it moves there.
ALLOWED_BEFORE: dict[Status, frozenset[Status]] = {
    Status.PENDING: RERUNNABLE,
    Status.PROCESSING: frozenset({Status.PENDING, Status.PROCESSING, Status.FAILED}),
    Status.VALIDATED: frozenset({Status.PROCESSING}),
    Status.PUBLISHING: frozenset({Status.PROCESSING, Status.VALIDATED, Status.PUBLISHING}),
    Status.COMPLETED: frozenset({Status.PUBLISHING}),
    Status.FAILED: frozenset({Status.PENDING, Status.PROCESSING, Status.PUBLISHING}),
    Status.CANCELLED: frozenset({Status.PENDING, Status.PROCESSING, Status.VALIDATED}),
    Status.REVERTED: frozenset({Status.COMPLETED}),
}


def allowed_before(status: Status) -> list[str]:
    """The predecessors of `status`, as a list for `status = ANY(%s)`."""
    return sorted(ALLOWED_BEFORE[status])

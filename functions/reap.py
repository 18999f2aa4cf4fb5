"""Lambda `handler` run on a schedule (serverless.yml: every minute): `reap_stalled` on AWS.

An upload whose ingest invocation was killed (timeout, crash) stays `processing` under a lease
nobody renews, or `pending` when its hand-off was lost: each is handed to the ingest function
again through its queue (functions/core/uploads/recovery.py).
"""

from __future__ import annotations

from typing import Any

from functions.core.ingest.dispatch import to_ingest_queue
from functions.core.ingest.upkeep import reap_once
from functions.telemetry import lambda_entry


@lambda_entry
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    stalled = reap_once(to_ingest_queue)
    return {"dispatched": [str(s.upload_id) for s in stalled]}

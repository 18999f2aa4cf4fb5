"""Who holds an upload's lease: worker names, and whether a named worker is known to be gone."""

from __future__ import annotations

import os
import socket
import uuid


def worker_name() -> str:
    """`host:pid:token`: unique per claim, so two threads of one process never share a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def dead_local_worker(owner: str | None) -> str | None:
    """`owner` if it names a process on this host that no longer runs (killed, crashed): its
    lease need not be waited out."""
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3:
        return None
    host, pid, _ = parts
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return owner
    except PermissionError:
        return None
    return None

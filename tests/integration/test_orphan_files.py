"""A process killed during an upload's body leaves a partial file in <data dir>/uploads/: one
reaper round deletes such a file once nothing references it and nothing has written to it for
the grace period (MOVIEDB_ORPHAN_FILE_GRACE_SECONDS); a referenced or fresh file is kept."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

from functions.core.ingest.intake import accept_upload
from functions.core.ingest.upkeep import reap_once
from tests.api_support import api_env, csv_bytes, row

__all__ = ["api_env"]

HOUR_AGO = time.time() - 3600


def make_old(path: Path) -> None:
    os.utime(path, (HOUR_AGO, HOUR_AGO))


def test_one_reaper_round_removes_an_old_unreferenced_file_and_keeps_the_others(
    api_env: Path,
) -> None:
    uploads_dir = api_env / "uploads"
    referenced = accept_upload([csv_bytes(row("Kept"))], filename="m.csv")
    assert referenced.upload.storage_uri is not None
    stored = Path(unquote(urlparse(referenced.upload.storage_uri).path))
    assert stored.parent == uploads_dir
    make_old(stored)  # pending for an hour: still wanted

    partial = uploads_dir / f"{uuid.uuid4()}.csv"  # a body cut off by a kill an hour ago
    partial.write_bytes(b"budget,genres,original_language,title\r\n1,2,")
    make_old(partial)
    arriving = uploads_dir / f"{uuid.uuid4()}.csv"  # a body still arriving
    arriving.write_bytes(b"budget,genres,")

    reap_once(lambda *args, **kwargs: None, pending_seconds=1e9)  # nothing sent, only tidied

    assert not partial.exists()
    assert stored.exists()
    assert arriving.exists()

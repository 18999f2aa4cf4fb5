"""A real streaming replica of the test PostgreSQL: a second cluster made with
`pg_basebackup -R` from the running server, on a port of its own, started (and removed) by the
fixture. PostgreSQL refuses to run as root: the cluster runs as the `postgres` system user.

The primary must accept replication connections from loopback: when its pg_hba.conf has no
`replication` rule, the fixture adds `host replication all 127.0.0.1/32 trust` (the test
machine's server already trusts loopback for every database) and reloads it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.e2e.test_serve import free_port

PG_BIN = Path("/usr/lib/postgresql")
REPLICATION_RULE = "host replication all 127.0.0.1/32 trust"


def _pg_bin(name: str) -> str:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    return str(found[-1]) if found else name


def _as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    run_as = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    return subprocess.run([*run_as, *command], capture_output=True, text=True, check=False)


def _allow_replication(admin: psycopg.Connection) -> None:
    rules = admin.execute(
        "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
    ).fetchone()
    if rules and rules[0]:
        return
    (hba_file,) = admin.execute("SHOW hba_file").fetchone()  # type: ignore[misc]
    with open(hba_file, "a") as f:
        f.write(f"\n# added by moviedb's tests (tests/replica.py)\n{REPLICATION_RULE}\n")
    admin.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)


@dataclass
class StreamingReplica:
    url: str  # of the test database on the replica
    data: Path

    def _ctl(self, *args: str) -> None:
        result = _as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", *args)
        assert result.returncode == 0, result.stdout + result.stderr

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def start(self) -> None:
        self._ctl("-l", str(self.data.parent / "replica.log"), "start")

    def pause_replay(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, primary_url: str, timeout: float = 30.0) -> None:
        with psycopg.connect(primary_url, autocommit=True) as primary:
            (target,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()  # type: ignore[misc]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the replica did not catch up"
                time.sleep(0.05)


@pytest.fixture(scope="session")
def streaming_replica(database_url: str) -> Iterator[StreamingReplica]:
    """A hot standby of the whole test server, streaming from it, with the test database."""
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        _allow_replication(admin)
        settings = {
            name: admin.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "max_connections",
                "max_worker_processes",
                "max_wal_senders",
                "max_prepared_transactions",
                "max_locks_per_transaction",
            )
        }
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    root = Path(tempfile.mkdtemp(prefix="moviedb-replica-"))
    shutil.chown(root, "postgres") if os.geteuid() == 0 else None
    data = root / "data"
    backup = _as_postgres(
        _pg_bin("pg_basebackup"),
        "-h", str(info.get("host", "127.0.0.1")),
        "-p", str(info.get("port", 5432)),
        "-U", str(info.get("user", "postgres")),
        "-D", str(data),
        "-R", "-X", "stream", "-c", "fast",
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    port = free_port()
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{root}'",
        "hot_standby": "on",
        "shared_buffers": "32MB",
        **settings,
    }
    (data / "postgresql.conf").write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
    (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    for name in ("postgresql.conf", "pg_hba.conf"):
        shutil.chown(data / name, "postgres") if os.geteuid() == 0 else None
    replica = StreamingReplica(
        url=f"postgresql://{info.get('user', 'postgres')}@127.0.0.1:{port}/{info['dbname']}",
        data=data,
    )
    replica.start()
    try:
        yield replica
    finally:
        _as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-w", "stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)

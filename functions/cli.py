"""`moviedb`: the one command line. Each subcommand parses its options and calls the core."""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from functions.core.config import get_settings
from functions.core.db import connect, database_url
from functions.core.errors import MovieDbError
from functions.core.ingest.intake import ingest_local_file
from functions.core.ingest.pipeline import Progress, run_upload
from functions.core.ingest.review import cancel, change_set, publish_validated, revert
from functions.core.ingest.upkeep import start_reaper
from functions.core.schema import migrate
from functions.core.uploads.records import Upload, get_upload, rejects_csv
from functions.core.uploads.status import Status

SUMMARY_FIELDS = ("received", "inserted", "updated", "unchanged", "rejected")


def _summary(upload: Upload, *, duplicate: bool) -> dict[str, object]:
    return {
        "upload_id": str(upload.id),
        "status": upload.status,
        **{name: getattr(upload, name) for name in SUMMARY_FIELDS},
        "duplicate": duplicate,
        "ignored_columns": upload.ignored_columns,
        "error": upload.error,
    }


def _print_summary(upload: Upload, *, duplicate: bool, path: Path) -> None:
    if duplicate:
        print(
            f"{path}: the same content was already ingested as upload {upload.id} "
            f"({upload.status}); nothing changed."
        )
        return
    print(f"{path}: upload {upload.id} {upload.status}")
    if upload.status in (Status.COMPLETED, Status.VALIDATED):
        counts = ", ".join(f"{getattr(upload, n)} {n}" for n in SUMMARY_FIELDS)
        print(f"  {counts}")
    if upload.rejected:
        print(f"  rejected rows: moviedb rejects {upload.id}  (line, column, reason)")
    if upload.ignored_columns:
        print(f"  ignored columns: {', '.join(upload.ignored_columns)}")
    if upload.error:
        print(f"  error: {upload.error}")


class _ProgressBar(AbstractContextManager["_ProgressBar"]):
    """Rows and bytes with their rates on a terminal; nothing otherwise."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self._bar = None
        if enabled and importlib.util.find_spec("rich") is not None:  # a workstation extra
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]ingesting"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("{task.fields[rows]:,} rows ({task.fields[rate]:,.0f}/s)"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._bar.add_task("ingest", total=total_bytes, rows=0, rate=0.0)

    def __enter__(self) -> _ProgressBar:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def update(self, progress: Progress) -> None:
        if self._bar:
            elapsed = self._bar.tasks[0].elapsed or 1e-9
            self._bar.update(
                self._task,
                completed=progress.bytes,
                rows=progress.rows,
                rate=progress.rows / elapsed,
            )


def cmd_migrate(args: argparse.Namespace) -> int:
    applied = migrate(database_url())
    print("applied: " + ", ".join(applied) if applied else "schema is current")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"moviedb ingest: no such file: {path}", file=sys.stderr)
        return 2
    migrate(database_url())
    max_error_rate = args.max_error_rate
    if max_error_rate is None:
        max_error_rate = get_settings().max_error_rate
    with _ProgressBar(path.stat().st_size, enabled=sys.stderr.isatty() and not args.json) as bar:
        outcome = ingest_local_file(
            path, max_error_rate=max_error_rate, review=args.review, on_progress=bar.update
        )
    upload, duplicate = outcome.upload, outcome.duplicate
    if args.json:
        print(json.dumps(_summary(upload, duplicate=duplicate)))
    else:
        _print_summary(upload, duplicate=duplicate, path=path)
    wanted = Status.VALIDATED if args.review else Status.COMPLETED
    return 0 if upload.status == wanted or (duplicate and upload.status.finished) else 1


def _report(upload: Upload, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(_summary(upload, duplicate=False)))
    else:
        print(f"upload {upload.id} {upload.status}")
        if upload.received is not None:
            print("  " + ", ".join(f"{getattr(upload, n)} {n}" for n in SUMMARY_FIELDS))
        if upload.status == Status.REVERTED:
            print(f"  undone: {upload.removed} removed, {upload.restored} restored")


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish a validated upload here and now (the publish lock makes it wait its turn)."""
    with connect() as conn:
        publish_validated(conn, args.upload_id, lambda upload_id: None)
    upload = run_upload(args.upload_id)
    _report(upload, args)
    return 0 if upload.status == Status.COMPLETED else 1


def cmd_cancel(args: argparse.Namespace) -> int:
    with connect() as conn:
        upload = cancel(conn, args.upload_id)
    _report(upload, args)
    return 0


def cmd_revert(args: argparse.Namespace) -> int:
    with connect() as conn:
        upload = revert(conn, args.upload_id)
    _report(upload, args)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """An upload's status; with --follow, its progress until it ends (the same source as the
    API's event stream: the upload record, looked at a few times a second)."""
    import time

    last = None
    while True:
        with connect() as conn:
            upload = get_upload(conn, args.upload_id)
        if not args.follow or upload.status.finished:
            _report(upload, args)
            return 0 if upload.status != Status.FAILED else 1
        now = (upload.status, upload.rows_read)
        if now != last and not args.json:
            print(f"  {upload.status}: {upload.rows_read:,} rows read", flush=True)
            last = now
        time.sleep(0.5)


def cmd_changes(args: argparse.Namespace) -> int:
    """The change set as JSON lines, one movie a line, every page."""
    with connect() as conn:
        page = 1
        while True:
            found = change_set(conn, args.upload_id, args.change, page=page, page_size=1000)
            for item in found.items:
                print(json.dumps({"change": args.change, **item}, default=str))
            if page * 1000 >= found.total:
                return 0
            page += 1


def cmd_rejects(args: argparse.Namespace) -> int:
    for block in rejects_csv(connect, args.upload_id):
        sys.stdout.buffer.write(block)
    sys.stdout.flush()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Migrate, then serve the API (functions.api:app) with uvicorn; a reaper thread takes up
    stalled uploads (at start: every one a stopped server left unfinished)."""
    import uvicorn

    from functions.core.auth import api_key
    from functions.core.events.sender import start_sender
    from functions.core.ingest.dispatch import in_process, shutdown_in_process
    from functions.web.server import JsonErrorProtocol

    migrate(database_url())
    key = api_key()
    if key.generated_at is not None:
        print(f"API key for uploads (X-API-Key header), kept in {key.generated_at}:", flush=True)
        print(f"  {key.value}", flush=True)
    else:
        print("API key for uploads: MOVIEDB_API_KEY", flush=True)
    if args.workers > 1:
        # Each worker process writes its metrics there; /metrics adds them up.
        metrics_dir = get_settings().data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    threads = [start_reaper(in_process, at_start=True), start_sender()]
    try:
        uvicorn.run(
            "functions.api:app",
            host=args.host,
            port=args.port,
            proxy_headers=True,
            workers=args.workers,
            timeout_graceful_shutdown=args.graceful_seconds,
            http=JsonErrorProtocol,  # its own 400s (unparsable requests) in the error shape
        )
    finally:
        for thread in threads:
            thread.stop()
        # Uploads running finish; those waiting stay pending for the next start's reaper.
        shutdown_in_process(wait=True)
    return 0


def _print_worker_status(report: dict[str, object]) -> None:
    state = "reachable" if report["reachable"] else f"UNREACHABLE ({report['error']})"
    print(f"broker: {report['broker']} {state}")
    print(f"queue {report['queue']}: {report['waiting']} waiting, {report['unacked']} unacked")
    workers = report["workers"]
    assert isinstance(workers, dict)
    print(f"workers consuming it: {len(workers)}")
    for name, worker in workers.items():
        active = worker["active"]
        print(f"  {name}: {len(active)} active task(s)")
        for task in active:
            print(f"    {task['task']} {task['args']}")
    print(f"uploads: {report['uploads']}")


def cmd_worker(args: argparse.Namespace) -> int:
    """Start a Celery worker, or (--status) describe the broker, the queue and the workers."""
    settings = get_settings()
    if args.status:
        import psycopg

        from functions.core.queue import broker_status
        from functions.core.uploads.records import upload_backlog

        status = broker_status(with_workers=True)
        report: dict[str, object] = status.as_dict()
        try:
            with connect() as conn:
                report["uploads"] = upload_backlog(conn)
        except psycopg.Error as e:
            report["uploads"] = {"error": str(e).strip()}
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_worker_status(report)
        return 0 if status.reachable else 1

    import os

    migrate(database_url())
    from functions.worker import app

    concurrency = args.concurrency or min(2, os.cpu_count() or 1)

    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            f"--queues={args.queues or settings.celery_queue}",
            f"--loglevel={args.loglevel}",
            f"--hostname={args.hostname}",
            "--without-mingle",
            "--without-gossip",
        ]
    )
    return 0


def _local(name: str) -> Any:
    """A module of the repository's local/ folder: workstation tools (the emulators and the
    runner of `moviedb local up|drop`), not part of the package."""
    import importlib

    repo = Path(__file__).resolve().parents[1]
    if not (repo / "local" / f"{name}.py").is_file():
        raise SystemExit(
            f"moviedb local: {repo / 'local'} is missing: `moviedb local up|drop` are "
            "workstation tools that run from the repository (`moviedb poll` is in the package)"
        )
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    return importlib.import_module(f"local.{name}")


def cmd_local_up(args: argparse.Namespace) -> int:
    return int(
        _local("runner").up(
            host=args.host, port=args.port, emulator_name=args.emulator, emulator_port=args.s3_port
        )
    )


def cmd_local_drop(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"moviedb local drop: no such file: {args.file}", file=sys.stderr)
        return 2
    return int(_local("runner").drop(args.file, wait=not args.no_wait))


def cmd_poll(args: argparse.Namespace) -> int:
    from functions import poller

    return int(poller.main([]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moviedb",
        description="Movie database service. Without DATABASE_URL an embedded PostgreSQL "
        "is started in the data directory (MOVIEDB_DATA_DIR).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("migrate", help="apply pending schema migrations")
    p.set_defaults(run=cmd_migrate)

    p = commands.add_parser(
        "ingest",
        help="load a movie CSV file into the database",
        description="Validate FILE row by row and load it into the database in one atomic "
        "publish. Rejected rows are recorded with their line, column and reason, and the good "
        "rows still load. The same content ingested twice changes nothing; an interrupted run "
        "is resumed by running the same command again. Exit code 0 when the upload completed, "
        "1 when it failed as a whole (bad header, too many rejected rows), 2 on usage errors.",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="CSV file in the TMDB export format")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary: upload_id, status, received, inserted, "
        "updated, unchanged, rejected",
    )
    p.add_argument(
        "--max-error-rate",
        type=float,
        metavar="RATE",
        help="fail the upload when more than RATE (0..1) of its rows are rejected",
    )
    p.add_argument(
        "--review",
        action="store_true",
        help="stop at `validated` with the counts the publish would give: look at "
        "`moviedb changes ID`, then `moviedb publish ID` or `moviedb cancel ID`",
    )
    p.set_defaults(run=cmd_ingest)

    for name, run, text in (
        ("publish", cmd_publish, "publish a validated upload (waits for it to complete)"),
        ("cancel", cmd_cancel, "cancel a pending, processing or validated upload"),
        ("revert", cmd_revert, "undo a completed upload (the movies it inserted or updated)"),
    ):
        p = commands.add_parser(name, help=text, description=text)
        p.add_argument("upload_id", metavar="UPLOAD_ID")
        p.add_argument("--json", action="store_true", help="print the outcome as JSON")
        p.set_defaults(run=run)

    p = commands.add_parser("status", help="print an upload's status (--follow: until it ends)")
    p.add_argument("upload_id", metavar="UPLOAD_ID")
    p.add_argument("--follow", action="store_true", help="print progress until the upload ends")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(run=cmd_status)

    p = commands.add_parser(
        "changes", help="print an upload's change set (JSON lines: one movie a line)"
    )
    p.add_argument("upload_id", metavar="UPLOAD_ID")
    p.add_argument("--change", choices=("inserted", "updated"), default="updated")
    p.set_defaults(run=cmd_changes)

    p = commands.add_parser("rejects", help="print an upload's rejected rows as CSV")
    p.add_argument("upload_id", metavar="UPLOAD_ID")
    p.set_defaults(run=cmd_rejects)

    p = commands.add_parser(
        "serve",
        help="run the HTTP API (migrates first)",
        description="Apply pending migrations, print the API key when it was generated, take "
        "up uploads a stopped server left unfinished, and serve the API with uvicorn "
        "(docs at /docs).",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="API processes on the port (default 1; in production about 2 per core, see "
        "README); each has its own pool, and /metrics adds up all of them",
    )
    p.add_argument(
        "--graceful-seconds",
        type=float,
        default=30,
        metavar="S",
        help="on SIGTERM/SIGINT, how long requests in flight may finish (default 30)",
    )
    p.set_defaults(run=cmd_serve)

    p = commands.add_parser(
        "worker",
        help="run a Celery worker that ingests queued uploads (or --status)",
        description="Consume upload tasks from Redis (REDIS_URL) and ingest them. A task is "
        "acknowledged only when it ended; the worker also takes over uploads whose worker "
        "died (expired lease). --status prints the broker, the queue length, the live workers "
        "and the unfinished uploads, and exits 1 when the broker is unreachable.",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="worker processes (default: 2, or 1 on a single core; one ingestion publishes at "
        "a time, a second process keeps duplicate and small tasks moving)",
    )
    p.add_argument(
        "--queues",
        metavar="Q",
        help="comma-separated queues to consume (default: MOVIEDB_CELERY_QUEUE, 'moviedb')",
    )
    p.add_argument(
        "--loglevel",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        metavar="L",
        help="DEBUG, INFO (default), WARNING or ERROR; logs are JSON lines on stderr",
    )
    p.add_argument(
        "--hostname",
        default="celery@%h",
        metavar="NAME",
        help="node name (default: celery@%%h, %%h the host name); give each worker on one "
        "host its own, e.g. worker2@%%h",
    )
    p.add_argument("--status", action="store_true", help="describe the broker and workers")
    p.add_argument("--json", action="store_true", help="with --status: print JSON")
    p.set_defaults(run=cmd_worker)

    p = commands.add_parser(
        "poll",
        help="long-poll the ingest queue and hand each message to the ingest function",
        description="Carry S3 events (and uploads handed off by the API) from the ingest SQS "
        "queue to functions/ingest.py, as Lambda's event source mapping does on AWS: the "
        "S3 drop-in path of docker-compose and `moviedb local up`. Settings: AWS_ENDPOINT_URL, "
        "SQS_QUEUE_NAME or SQS_QUEUE_URL, AWS_REGION.",
    )
    p.set_defaults(run=cmd_poll)

    p = commands.add_parser(
        "local",
        help="the S3 drop-in flow on this machine (emulated S3 and SQS)",
        description="Run the S3 drop-in flow locally: an S3/SQS emulator (moto's server, or "
        "LocalStack), the bucket notification, the poller that hands S3 events to the ingest "
        "function, and the API.",
    )
    local = p.add_subparsers(dest="local_command", required=True, metavar="LOCAL_COMMAND")
    q = local.add_parser(
        "up",
        help="start the emulator, the poller and the API; Ctrl-C stops them",
        description="Start the S3/SQS emulator, create the bucket, queue, dead-letter queue and "
        "notification (infra/s3_resources.py), then the poller and the API (embedded "
        "PostgreSQL unless DATABASE_URL is set). Ctrl-C stops all it started.",
    )
    q.add_argument("--host", default="127.0.0.1", help="API interface (127.0.0.1)")
    q.add_argument("--port", type=int, default=8000, help="API port (8000)")
    q.add_argument(
        "--emulator",
        choices=("moto", "localstack"),
        default="moto",
        help="moto's server (default, light) or LocalStack (installed by `make localstack`)",
    )
    q.add_argument("--s3-port", type=int, help="emulator port (default: a free port)")
    q.set_defaults(run=cmd_local_up)
    q = local.add_parser(
        "drop",
        help="put FILE in the running bucket's incoming prefix and wait for its ingestion",
    )
    q.add_argument("file", type=Path, metavar="FILE", help="CSV file to drop")
    q.add_argument("--no-wait", action="store_true", help="do not wait for the outcome")
    q.set_defaults(run=cmd_local_drop)
    q = local.add_parser(
        "poll",
        help="long-poll the ingest queue and hand each S3 event to functions/ingest.py",
    )
    q.set_defaults(run=cmd_poll)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        return int(args.run(args))
    except MovieDbError as e:  # a refusal with a reason (409s of the API, a missing upload)
        print(f"moviedb {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

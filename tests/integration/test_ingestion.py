"""The ingestion pipeline against the real PostgreSQL: loading, counting, idempotency, crashes."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from functions.core.db import connect
from functions.core.ingest.intake import ingest_local_file
from functions.core.ingest.parsing import MAX_RAW_RECORD_CHARS
from functions.core.ingest.pipeline import run_upload
from functions.core.uploads.records import NewUpload, Upload, register_upload
from tests.conftest import SAMPLE_CSV
from tests.movie_files import HEADER, wait_for

MOVIE_VALUES = (
    "title, original_title, original_language, overview, release_date, release_year, budget, "
    "revenue, runtime, status, vote_average, vote_count, production_company_id, genre_id, "
    "homepage, languages"
)


def row(
    title: str,
    *,
    date: str = "2001-01-01",
    lang: str = "en",
    rating: str = "6.5",
    votes: str = "10.0",
    budget: str = "1000.0",
) -> str:
    return (
        f'{budget},,{lang},{title},"About {title}, with ""quotes""",{date},0.0,90,Released,'
        f"{title},{rating},{votes},1,18,\"['English', 'Français']\"\r\n"
    )


def ingest(path: Path, *, max_error_rate: float | None = None) -> Upload:
    """Ingest a file the way `moviedb ingest` does."""
    return ingest_local_file(path, max_error_rate=max_error_rate).upload


def write(tmp_path: Path, name: str, *rows: str) -> Path:
    path = tmp_path / name
    path.write_bytes((HEADER + "".join(rows)).encode())
    return path


def counts(upload: Upload) -> tuple[int | None, ...]:
    return (upload.received, upload.inserted, upload.updated, upload.unchanged, upload.rejected)


def assert_counts_add_up(upload: Upload) -> None:
    assert upload.received == (
        (upload.inserted or 0)
        + (upload.updated or 0)
        + (upload.unchanged or 0)
        + (upload.rejected or 0)
    )


def catalogue(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        f"SELECT {MOVIE_VALUES} FROM movies ORDER BY title, release_date"
    ).fetchall()


def test_real_sample_loads_with_the_right_types_and_values(conn: psycopg.Connection) -> None:
    upload = ingest(SAMPLE_CSV)
    assert upload.status == "completed"
    assert counts(upload) == (10, 10, 0, 0, 0)
    toy_story = conn.execute(
        f"SELECT {MOVIE_VALUES}, last_upload_id FROM movies WHERE title = 'Toy Story'"
    ).fetchone()
    assert toy_story == (
        "Toy Story",
        "Toy Story",
        "en",
        "Led by Woody, Andy's toys live happily in his room until Andy's birthday brings Buzz "
        "Lightyear onto the scene. Afraid of losing his place in Andy's heart, Woody plots "
        "against Buzz. But when circumstances separate Buzz and Woody from their owner, the duo "
        "eventually learns to put aside their differences.",
        dt.date(1995, 10, 30),
        1995,
        30_000_000,
        373_554_033,
        81,
        "Released",
        pytest.approx(7.7),
        5415,
        3,
        16,
        "http://toystory.disney.com/toy-story",
        ["English"],
        upload.id,
    )
    goldeneye = conn.execute("SELECT languages FROM movies WHERE title = 'GoldenEye'").fetchone()
    assert goldeneye == (["English", "Pусский", "Español"],)
    grumpier = conn.execute(
        "SELECT budget, revenue FROM movies WHERE title = 'Grumpier Old Men'"
    ).fetchone()
    assert grumpier == (None, None)
    assert upload.bytes_read == SAMPLE_CSV.stat().st_size


def test_reingesting_the_same_file_changes_nothing(conn: psycopg.Connection) -> None:
    first = ingest(SAMPLE_CSV)
    before = catalogue(conn)
    updated_at = conn.execute("SELECT max(updated_at) FROM movies").fetchone()
    again = ingest(SAMPLE_CSV)
    assert again.id == first.id  # recognised by content: no new upload, no new work
    assert again.attempts == 1
    assert catalogue(conn) == before
    assert conn.execute("SELECT max(updated_at) FROM movies").fetchone() == updated_at


def test_same_rows_in_another_file_are_counted_unchanged(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    ingest(write(tmp_path, "a.csv", row("Alpha"), row("Beta")))
    second = ingest(write(tmp_path, "b.csv", row("Alpha"), row("Beta"), "\r\n"))
    assert second.status == "completed"
    assert counts(second) == (2, 0, 0, 2, 0)
    last_writers = conn.execute("SELECT DISTINCT last_upload_id FROM movies").fetchall()
    assert last_writers != [(second.id,)]


def test_overlapping_file_updates_and_inserts_the_right_rows(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    ingest(write(tmp_path, "a.csv", row("Alpha"), row("Beta"), row("Gamma")))
    overlap = ingest(
        write(
            tmp_path,
            "b.csv",
            row("Beta", rating="9.1"),  # changed
            row("Gamma"),  # same
            row("Delta"),  # new
            row("Alpha", date="1980-05-05"),  # new: another release of Alpha
        )
    )
    assert counts(overlap) == (4, 2, 1, 1, 0)
    ratings = dict(conn.execute("SELECT title || ' ' || release_date, vote_average FROM movies"))
    assert ratings == {
        "Alpha 2001-01-01": 6.5,
        "Alpha 1980-05-05": 6.5,
        "Beta 2001-01-01": pytest.approx(9.1),
        "Gamma 2001-01-01": 6.5,
        "Delta 2001-01-01": 6.5,
    }
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (5,)


def test_rows_repeated_in_one_file_last_one_wins(conn: psycopg.Connection, tmp_path: Path) -> None:
    upload = ingest(
        write(
            tmp_path,
            "dups.csv",
            row("Alpha", rating="5.0"),
            row("Alpha", rating="5.0"),  # identical repeat: unchanged
            row("Alpha", rating="7.0"),  # different: an update, and the winner
            row("Beta", date=""),  # NULL release date is part of the key too
            row("Beta", date="", rating="8.0"),
        )
    )
    assert upload.status == "completed"
    assert counts(upload) == (5, 2, 2, 1, 0)
    assert conn.execute("SELECT title, vote_average FROM movies ORDER BY title").fetchall() == [
        ("Alpha", 7.0),
        ("Beta", 8.0),
    ]


def test_repeats_of_an_existing_movie_are_counted_in_file_order(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    ingest(write(tmp_path, "a.csv", row("Alpha")))
    upload = ingest(
        write(
            tmp_path,
            "b.csv",
            row("Alpha"),  # as in the database: unchanged
            row("Alpha", rating="9.0"),  # differs from the one before: updated
            row("Alpha", rating="9.0"),  # same as the one before: unchanged
        )
    )
    assert counts(upload) == (3, 0, 1, 2, 0)
    assert conn.execute("SELECT vote_average FROM movies").fetchall() == [(9.0,)]


def test_counts_do_not_depend_on_how_the_file_is_chunked(
    conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.core.ingest import pipeline as ingestion

    rows = [
        row("Alpha"),
        row("Beta", rating="1.0"),
        row("Alpha", rating="2.0"),
        row("Beta", rating="1.0"),
        row("Gamma", date=""),
        row("Alpha", rating="2.0"),
        row("Gamma", date="", rating="3.0"),
    ]
    seed = write(tmp_path, "seed.csv", row("Alpha"), row("Gamma", date=""))
    outcomes = []
    for chunk_rows in (20_000, 3, 1):
        conn.execute("TRUNCATE movies, movie_changes, upload_rejections, uploads CASCADE")
        monkeypatch.setattr(ingestion, "CHUNK_ROWS", chunk_rows)
        ingest(seed)
        upload = ingest(write(tmp_path, f"file-{chunk_rows}.csv", *rows))
        outcomes.append((counts(upload), catalogue(conn)))
    assert outcomes[0] == outcomes[1] == outcomes[2]
    # Alpha same, Beta new, Alpha 2.0, Beta same, Gamma same, Alpha same, Gamma 3.0
    assert outcomes[0][0] == (7, 1, 2, 4, 0)


def test_bad_rows_are_rejected_with_line_and_reason_and_good_rows_load(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    upload = ingest(
        write(
            tmp_path,
            "mixed.csv",
            row("Good one"),
            row("Bad rating", rating="11"),
            row("", votes="1.0"),
            "1.0,too,few,fields\r\n",
            row("Good two"),
        )
    )
    assert upload.status == "completed"
    assert counts(upload) == (5, 2, 0, 0, 3)
    rejections = conn.execute(
        "SELECT line, column_name, reason FROM upload_rejections WHERE upload_id = %s ORDER BY line",
        (upload.id,),
    ).fetchall()
    assert rejections == [
        (3, "vote_average", "outside 0..10: '11'"),
        (4, "title", "empty title"),
        (5, None, "expected 15 fields, found 4"),
    ]
    raw = conn.execute(
        "SELECT raw_record FROM upload_rejections WHERE line = 5 AND upload_id = %s", (upload.id,)
    ).fetchone()
    assert raw == ("1.0,too,few,fields\r\n",)
    assert [t for (t,) in conn.execute("SELECT title FROM movies ORDER BY title")] == [
        "Good one",
        "Good two",
    ]


def with_languages(title: str, literal: str) -> str:
    """A row of `row(title)` whose languages field is `literal` (as the CSV text holds it)."""
    return row(title).replace("\"['English', 'Français']\"", f'"{literal}"')


def test_escaped_nul_or_lone_surrogate_in_languages_rejects_the_row_not_the_upload(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    upload = ingest(
        write(
            tmp_path,
            "escapes.csv",
            row("Good one"),
            with_languages("Nul", "['En\\x00glish']"),
            with_languages("Lone", "['\\ud800']"),
            with_languages("Pair", "['\\ud83c\\udfac']"),
            row("Good two"),
        )
    )
    assert upload.status == "completed", upload.error
    assert counts(upload) == (5, 3, 0, 0, 2)
    rejections = conn.execute(
        "SELECT line, column_name, reason FROM upload_rejections WHERE upload_id = %s ORDER BY line",
        (upload.id,),
    ).fetchall()
    assert [(line, column) for line, column, _ in rejections] == [
        (3, "languages"),
        (4, "languages"),
    ]
    assert "NUL" in rejections[0][2] and "lone surrogate" in rejections[1][2]
    pair = conn.execute("SELECT languages FROM movies WHERE title = 'Pair'").fetchone()
    assert pair == (["\U0001f3ac"],)


HOSTILE_TEXT = [
    b"A\x00B",  # NUL byte
    b"caf\xe9",  # latin-1, not UTF-8
    b"\xed\xa0\x80x",  # a UTF-16 surrogate encoded as UTF-8 (CESU-8)
    b"\xc0\x80y",  # overlong NUL
    b"\xf4\x90\x80\x80z",  # beyond U+10FFFF
    b"En\\x00glish \\ud800",  # escapes outside `languages` are plain text
]


def test_no_byte_sequence_in_a_text_field_fails_the_upload(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    rows = b""
    for n, text in enumerate(HOSTILE_TEXT):
        title = b"T%d " % n + text
        rows += (
            b"1.0,"
            + text
            + b",en,"
            + text
            + b',"'
            + text
            + b'",2001-01-01,0.0,90,'
            + text
            + b","
            + title
            + b",6.5,10.0,1,18,\"['English']\"\r\n"
        )
    path = tmp_path / "hostile.csv"
    path.write_bytes(HEADER.encode() + rows)
    upload = ingest(path)
    assert upload.status == "completed", upload.error
    assert counts(upload) == (len(HOSTILE_TEXT), len(HOSTILE_TEXT), 0, 0, 0)
    stored = conn.execute(
        "SELECT title, overview, homepage, status, original_title FROM movies ORDER BY title"
    ).fetchall()
    expected = [
        bytes(b"T%d " % n + t).decode("utf-8", "replace") for n, t in enumerate(HOSTILE_TEXT)
    ]
    assert [t for t, *_ in stored] == [e.replace("\x00", "\ufffd") for e in expected]
    assert stored[-1][1] == "En\\x00glish \\ud800"  # kept as written


def test_a_huge_rejected_record_is_stored_capped(conn: psycopg.Connection, tmp_path: Path) -> None:
    huge = row("x" * 50_000, rating="11")
    upload = ingest(write(tmp_path, "huge.csv", huge, row("Good")))
    assert counts(upload) == (2, 1, 0, 0, 1)
    stored = conn.execute(
        "SELECT raw_record FROM upload_rejections WHERE upload_id = %s", (upload.id,)
    ).fetchone()
    assert stored == (huge[:MAX_RAW_RECORD_CHARS] + f"... [truncated: {len(huge)} characters]",)


def test_a_negative_zero_rating_is_stored_as_zero(conn: psycopg.Connection, tmp_path: Path) -> None:
    upload = ingest(write(tmp_path, "zero.csv", row("Zero", rating="-0.0")))
    assert counts(upload) == (1, 1, 0, 0, 0)
    assert conn.execute("SELECT vote_average::text FROM movies").fetchone() == ("0",)


def test_missing_columns_fail_the_upload_and_write_nothing(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("name,year\r\nAlpha,2001\r\n")
    upload = ingest(path)
    assert upload.status == "failed"
    assert upload.error is not None and "missing required columns: title" in upload.error
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)


def test_cr_only_line_endings_fail_the_upload_as_a_bad_file(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes((HEADER + row("Alpha")).replace("\r\n", "\r").encode())
    upload = ingest(path)  # a bad file: recorded as failed, not raised for a retry
    assert upload.status == "failed"
    assert upload.error is not None and "CR alone" in upload.error
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)


def test_too_many_rejected_rows_fail_the_upload_but_keep_the_rejections(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    upload = ingest(
        write(tmp_path, "bad.csv", row("Good"), row("Bad", rating="x"), row("Worse", rating="y")),
        max_error_rate=0.5,
    )
    assert upload.status == "failed"
    assert upload.error == "2 of 3 rows rejected (66.7%), over the allowed error rate of 50.0%"
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM upload_rejections WHERE upload_id = %s", (upload.id,)
    ).fetchone() == (2,)


def test_counts_of_overlapping_files_with_repeats_and_a_bad_row_add_up(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    first = ingest(write(tmp_path, "a.csv", row("A"), row("A", rating="1.0"), row("B", votes="x")))
    second = ingest(write(tmp_path, "b.csv", row("A"), row("C")))
    counts = ("received", "inserted", "updated", "unchanged", "rejected")
    assert [getattr(first, n) for n in counts] == [3, 1, 1, 0, 1]
    assert [getattr(second, n) for n in counts] == [2, 1, 1, 0, 0]  # A back to its first values
    for upload in (first, second):
        assert_counts_add_up(upload)


# --- crashes --------------------------------------------------------------------------------


def big_file(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / f"big-{rows}.csv"
    with path.open("wb") as f:
        f.write(HEADER.encode())
        for i in range(rows):
            f.write(row(f"Movie {i}", rating=f"{i % 100 / 10:.1f}").encode())
            if i % 1000 == 7:
                f.write(row(f"Movie {i}", rating="", votes="bad").encode())  # a rejected row
    return path


def moviedb(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "functions.cli", *args],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_run_killed_mid_load_then_retried_ends_like_one_clean_run(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = big_file(tmp_path, 150_000)
    victim = moviedb("ingest", "--json", str(path))

    def first_chunk_merged() -> bool:
        found = conn.execute("SELECT rows_read FROM uploads WHERE status = 'processing'").fetchone()
        return found is not None and found[0] > 0

    wait_for("the first chunk to be merged", first_chunk_merged)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # killed mid-load: nothing published, the upload still marked as being processed
    assert conn.execute("SELECT count(*) FROM movies").fetchone() == (0,)
    assert conn.execute("SELECT status FROM uploads").fetchone() == ("processing",)

    retry = moviedb("ingest", "--json", str(path))
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["status"] == "completed"
    after_retry = catalogue(conn)
    retried_counts = conn.execute(
        "SELECT received, inserted, updated, unchanged, rejected, attempts FROM uploads"
    ).fetchone()

    conn.execute("TRUNCATE movies, movie_changes, upload_rejections, uploads CASCADE")
    clean = moviedb("ingest", "--json", str(path))
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err.decode()
    assert catalogue(conn) == after_retry
    clean_counts = conn.execute(
        "SELECT received, inserted, updated, unchanged, rejected, attempts FROM uploads"
    ).fetchone()
    assert retried_counts is not None and clean_counts is not None
    assert retried_counts[:5] == clean_counts[:5]
    assert retried_counts[5] == 2 and clean_counts[5] == 1
    assert retried_counts[0] == 150_000 + 150 and retried_counts[4] == 150


def test_an_upload_whose_file_has_not_arrived_is_left_waiting(conn: psycopg.Connection) -> None:
    from functions.core.uploads.records import unfinished_uploads

    with connect() as c:
        waiting = register_upload(c, NewUpload(filename="later.csv", source="s3")).upload
    assert run_upload(waiting.id).status == "pending"
    assert waiting.id not in [u.id for u in unfinished_uploads(conn)]


def test_a_failed_upload_sent_again_reads_the_new_copy(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    from functions.core.ingest.intake import file_digest

    first = write(tmp_path, "first.csv", row("Alpha"))
    sha256, size = file_digest(first)
    new = NewUpload(filename="first.csv", source="cli", content_sha256=sha256, size_bytes=size)
    with connect() as c:
        upload = register_upload(c, replace(new, storage_uri=first.as_uri())).upload
    first.rename(tmp_path / "moved-away.csv")
    with pytest.raises(FileNotFoundError):
        run_upload(upload.id)
    again = write(tmp_path, "again.csv", row("Alpha"))
    with connect() as c:
        registration = register_upload(c, replace(new, storage_uri=again.as_uri()))
    assert registration.upload.id == upload.id and not registration.created
    assert registration.replaced_uri == first.as_uri()
    retried = run_upload(upload.id, retry_failed=True)
    assert retried.status == "completed" and counts(retried) == (1, 1, 0, 0, 0)
    assert retried.storage_uri == again.as_uri()

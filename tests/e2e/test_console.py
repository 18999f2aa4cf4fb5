"""The web console (`/`, functions/console/) in a real headless Chromium, against a real
`moviedb serve` process, driven as a person would: by labels and roles.

Chromium is Debian's (`/usr/bin/chromium`, installed by .ci/run), driven by Playwright's Python
client; no browser is ever downloaded. Every test records every request the page makes and
asserts that none leaves the server's origin, and that the page logged no error (except the
failed answers the test itself provokes, which Chromium logs as "Failed to load resource").

`CONSOLE_SCREENSHOTS=docs/console .venv/bin/pytest tests/e2e/test_console.py -k screenshots`
writes the README's screenshots; without it they go to a temporary folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

from tests.api_support import csv_bytes, row
from tests.conftest import REPO, SAMPLE_CSV
from tests.e2e.test_serve import free_port, wait_until

KEY = "console-key-3b9d41"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TIMEOUT_MS = 60_000  # a shared, loaded machine: waits end as soon as the page is there

pytestmark = pytest.mark.timeout(600)
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Server:
    base: str
    http: httpx.Client
    data_dir: Path

    def upload(self, content: bytes, *, name: str = "movies.csv", review: bool = False) -> dict:
        answer = self.http.post(
            "/api/v1/upload" + ("?review=true" if review else ""),
            files={"file": (name, content, "text/csv")},
            headers={"X-API-Key": KEY},
        )
        assert answer.status_code in (200, 202), answer.text
        return self.wait(answer.json()["upload_id"])

    def wait(self, upload_id: str) -> dict:
        return wait_until(
            lambda: (
                (s := self.http.get(f"/api/v1/uploads/{upload_id}").json())["status"]
                not in ("pending", "processing", "publishing")
                and s
            ),
            timeout=120,
            what=f"upload {upload_id} to settle",
        )


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MOVIEDB_DATA_DIR": str(data_dir),
        "MOVIEDB_API_KEY": KEY,
        "MOVIEDB_COUNT_CACHE_SECONDS": "0",  # each test empties the tables behind its back
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            wait_until(lambda: http.get("/api/v1/ping").status_code == 200, what="the server")
            yield Server(base, http, data_dir)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture
def empty(server: Server, database_url: str) -> Server:
    """The server, with an empty catalogue and no uploads."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE movies, movie_changes, upload_rejections, uploads RESTART IDENTITY CASCADE"
        )
    return server


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Watch:
    """What the page did: every request, every console error, uncaught exceptions."""

    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def expect_status(self, status: int) -> None:
        """An error answer the test provokes: Chromium logs it, and that is fine."""
        self.expected_statuses.add(status)

    def check(self) -> None:
        outside = [
            url
            for url in self.requests
            if not url.startswith("data:")
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" != self.origin
        ]
        assert not outside, f"requests outside the origin {self.origin}: {outside}"
        allowed = re.compile(
            r"Failed to load resource: the server responded with a status of (\d+)"
        )
        unexpected = [
            e
            for e in self.errors
            if not ((m := allowed.search(e)) and int(m.group(1)) in self.expected_statuses)
        ]
        assert not unexpected, f"errors in the page: {unexpected}"


@pytest.fixture
def watch(server: Server) -> Watch:
    return Watch(server.base)


@pytest.fixture
def page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    context = browser.new_context(base_url=server.base, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    context.on("request", lambda request: watch.requests.append(request.url))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(f"uncaught: {error}"))
    yield page
    context.close()
    watch.check()


def table_rows(page: Page, caption: str) -> list[list[str]]:
    """The body rows of the table named `caption`, as the texts of their cells."""
    table = page.get_by_role("table", name=caption)
    expect(table).to_be_visible()
    return table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText.trim()))"
    )


def shown_counts(page: Page) -> dict[str, int]:
    return {name: int(value) for name, value in table_rows(page, "Counts")}


def upload_in_console(page: Page, path: Path, *, key: str = KEY, review: bool = False) -> None:
    page.goto("/")
    page.get_by_label("API key").fill(key)
    page.get_by_label("CSV file").set_input_files(path)
    if review:
        page.get_by_label("Review before publishing").check()
    page.get_by_role("button", name="Upload").click()


def outcome_status(page: Page) -> str:
    outcome = page.get_by_role("region", name="Outcome")
    expect(outcome).to_be_visible()
    return outcome.locator(".status").inner_text()


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rejects_of(server: Server, upload_id: str) -> list[dict[str, str]]:
    text = server.http.get(f"/api/v1/uploads/{upload_id}/rejects").text
    return list(csv.DictReader(io.StringIO(text)))


# --- tests ------------------------------------------------------------------------------------


def test_an_upload_with_the_key_shows_completed_with_the_counts_the_api_gives(
    page: Page, empty: Server
) -> None:
    upload_in_console(page, SAMPLE_CSV)
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("completed")
    assert outcome_status(page) == "completed"
    (latest,) = empty.http.get("/api/v1/uploads").json()["items"]
    assert latest["status"] == "completed"
    assert shown_counts(page) == latest["counts"]
    assert latest["counts"]["received"] == 10
    # Both bars went to the end; the key stayed in this tab's sessionStorage only.
    assert page.get_by_label("Bytes sent").evaluate("p => p.value === p.max")
    assert page.get_by_label("Processing").evaluate("p => p.value === 1")
    assert page.evaluate("sessionStorage.getItem('moviedb.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    expect(page.locator("#announcer")).to_contain_text("Upload completed")


def test_a_wrong_key_shows_the_apis_refusal(
    page: Page, empty: Server, watch: Watch, tmp_path: Path
) -> None:
    refusal = empty.http.post(
        "/api/v1/upload",
        files={"file": ("m.csv", SAMPLE_CSV.read_bytes(), "text/csv")},
        headers={"X-API-Key": "not-the-key"},
    )
    assert refusal.status_code == 403
    watch.expect_status(403)
    upload_in_console(page, SAMPLE_CSV, key="not-the-key")
    expect(page.get_by_role("alert")).to_have_text(refusal.json()["error"]["message"])
    assert empty.http.get("/api/v1/uploads").json()["total"] == 0


def test_a_refused_file_shows_the_apis_message(
    page: Page, empty: Server, watch: Watch, tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.csv", b"title,year\nToy Story,1995\n")
    refusal = empty.http.post(
        "/api/v1/upload",
        files={"file": ("bad.csv", bad.read_bytes(), "text/csv")},
        headers={"X-API-Key": KEY},
    )
    assert refusal.status_code == 400
    watch.expect_status(400)
    upload_in_console(page, bad)
    expect(page.get_by_role("alert")).to_have_text(refusal.json()["error"]["message"])


def test_a_dropped_file_with_bad_rows_shows_its_rejects_table(
    page: Page, empty: Server, tmp_path: Path
) -> None:
    content = csv_bytes(
        row("Good One"),
        row("Bad Date", date="2001-13-45"),
        row("Bad Language", lang="1234567"),
        row("Good Two"),
    )
    page.goto("/")
    page.get_by_label("API key").fill(KEY)
    # Dropped on the drop zone, as a person drags a file from their desktop.
    data = page.evaluate_handle(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: "text/csv"}));
            return dt;
        }""",
        ["with-bad-rows.csv", content.decode()],
    )
    page.locator(".drop").dispatch_event("drop", {"dataTransfer": data})
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("completed")
    (latest,) = empty.http.get("/api/v1/uploads").json()["items"]
    assert latest["filename"] == "with-bad-rows.csv"
    assert shown_counts(page) == latest["counts"]
    assert latest["counts"]["rejected"] == 2

    page.get_by_role("link", name="Details of this upload").click()
    expected = rejects_of(empty, latest["upload_id"])
    assert len(expected) == 2
    shown = table_rows(page, "Rejected rows (2)")
    assert shown == [
        [r["line"], r["column"] or "(whole record)", r["reason"], r["raw_record"].strip()]
        for r in expected
    ]
    link = page.get_by_role("link", name="Download the rejected rows (CSV)")
    with page.expect_download() as download:
        link.click()
    saved = Path(download.value.path()).read_bytes().decode()
    assert list(csv.DictReader(io.StringIO(saved))) == expected


def test_review_shows_the_change_set_then_publish_completes(
    page: Page, empty: Server, tmp_path: Path
) -> None:
    empty.upload(csv_bytes(row("Kept As Is"), row("Will Change")))
    changed = row("Will Change").replace(",6.5,10.0,", ",8.5,10.0,")
    path = write(tmp_path, "review.csv", csv_bytes(row("Kept As Is"), changed, row("Brand New")))
    upload_in_console(page, path, review=True)
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("validated")
    (latest, _) = empty.http.get("/api/v1/uploads").json()["items"]
    assert latest["status"] == "validated"
    assert shown_counts(page) == latest["counts"]

    page.get_by_role("link", name="Details of this upload").click()
    expect(page.get_by_role("heading", name="Upload review.csv")).to_be_visible()
    upload_id = latest["upload_id"]
    inserted = empty.http.get(f"/api/v1/uploads/{upload_id}/changes?change=inserted").json()
    updated = empty.http.get(f"/api/v1/uploads/{upload_id}/changes?change=updated").json()
    assert [r[0] for r in table_rows(page, "Inserted")] == [i["title"] for i in inserted["items"]]
    shown_updates = table_rows(page, "Updated")
    assert (
        [r[0] for r in shown_updates] == ["Will Change"] == [i["title"] for i in updated["items"]]
    )
    assert shown_updates[0][4] == "vote_average: 6.5 → 8.5"

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Status: completed")).to_be_visible()
    done = empty.http.get(f"/api/v1/uploads/{upload_id}").json()
    assert done["status"] == "completed"
    assert shown_counts(page) == done["counts"]
    assert empty.http.get("/api/v1/movies?q=Brand").json()["total"] == 1
    expect(page.get_by_role("button", name="Revert")).to_be_visible()


def test_cancel_a_validated_upload(page: Page, empty: Server) -> None:
    validated = empty.upload(csv_bytes(row("Never Published")), review=True)
    page.goto(f"/?view=detail&id={validated['upload_id']}")
    # the change set shown first, as a reviewer sees it (its requests answered before the
    # cancel drops it)
    expect(page.get_by_text("1 movie would be inserted")).to_be_visible()
    expect(page.get_by_text("0 movies would be updated")).to_be_visible()
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Status: cancelled")).to_be_visible()
    assert empty.http.get(f"/api/v1/uploads/{validated['upload_id']}").json()["status"] == (
        "cancelled"
    )
    assert empty.http.get("/api/v1/movies").json()["total"] == 0


def test_revert_names_what_it_undoes_then_reverts(page: Page, empty: Server) -> None:
    completed = empty.upload(SAMPLE_CSV.read_bytes())
    counts = completed["counts"]
    page.goto(f"/?view=detail&id={completed['upload_id']}")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Revert").click()
    dialog = page.get_by_role("dialog", name="Revert this upload?")
    expect(dialog).to_contain_text(
        f"removes the {counts['inserted']} movies it inserted and puts back the "
        f"{counts['updated']} movies it updated"  # 10 and 0: plural both
    )
    dialog.get_by_role("button", name="No, keep it").click()
    expect(dialog).to_be_hidden()
    assert empty.http.get(f"/api/v1/uploads/{completed['upload_id']}").json()["status"] == (
        "completed"
    )

    page.get_by_role("button", name="Revert").click()
    dialog.get_by_role("button", name="Yes, revert").click()
    expect(page.get_by_text("Status: reverted")).to_be_visible()
    expect(page.get_by_text(f"The revert removed {counts['inserted']} movies")).to_be_visible()
    assert empty.http.get(f"/api/v1/uploads/{completed['upload_id']}").json()["status"] == (
        "reverted"
    )
    assert empty.http.get("/api/v1/movies").json()["total"] == 0


def test_a_conflict_shows_the_apis_409_message(page: Page, empty: Server, watch: Watch) -> None:
    validated = empty.upload(csv_bytes(row("Waiting")), review=True)
    upload_id = validated["upload_id"]
    page.goto(f"/?view=detail&id={upload_id}")
    page.get_by_label("API key").fill(KEY)
    # both sections of the change set shown first (their requests answered before the cancel
    # drops it: a later one would add an alert of its own)
    expect(page.get_by_text("1 movie would be inserted")).to_be_visible()
    expect(page.get_by_text("0 movies would be updated")).to_be_visible()
    # Cancelled by someone else while the page still shows it validated.
    empty.http.post(f"/api/v1/uploads/{upload_id}/cancel", headers={"X-API-Key": KEY})
    conflict = empty.http.post(f"/api/v1/uploads/{upload_id}/publish", headers={"X-API-Key": KEY})
    assert conflict.status_code == 409
    watch.expect_status(409)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("alert")).to_have_text(conflict.json()["error"]["message"])


def test_history_lists_uploads_newest_first_and_filters_by_status(
    page: Page, empty: Server
) -> None:
    first = empty.upload(csv_bytes(row("One")), name="first.csv")
    second = empty.upload(csv_bytes(row("Two")), name="second.csv", review=True)
    page.goto("/")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("link", name="History")).to_have_attribute("aria-current", "page")
    rows = table_rows(page, "Uploads")
    assert [r[1] for r in rows] == ["second.csv", "first.csv"]
    assert [r[2] for r in rows] == [second["status"], first["status"]] == ["validated", "completed"]

    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"view=history&status=completed"))
    assert [r[1] for r in table_rows(page, "Uploads")] == ["first.csv"]
    page.get_by_role("link", name="first.csv").click()
    expect(page.get_by_role("heading", name="Upload first.csv")).to_be_visible()


def test_history_pages(page: Page, empty: Server) -> None:
    for n in range(21):
        empty.upload(csv_bytes(row(f"Paged {n:02d}")), name=f"p{n:02d}.csv")
    page.goto("/?view=history")
    assert len(table_rows(page, "Uploads")) == 20
    expect(page.get_by_text("21 uploads, newest first. Page 1 of 2.")).to_be_visible()
    page.get_by_role("link", name="Next page").click()
    assert [r[1] for r in table_rows(page, "Uploads")] == ["p00.csv"]
    expect(page.get_by_role("link", name="Previous page")).to_be_visible()


def api_table(server: Server, query: str) -> list[list[str]]:
    answer = server.http.get(f"/api/v1/movies?{query}")
    assert answer.status_code == 200, answer.text
    return [
        [
            m["title"],
            str(m["release_year"]) if m["release_year"] is not None else "—",
            m["original_language"] or "—",
            str(m["vote_average"]) if m["vote_average"] is not None else "—",
            str(m["vote_count"]) if m["vote_count"] is not None else "—",
        ]
        for m in answer.json()["items"]
    ]


def test_catalogue_search_and_filters_match_the_api_and_the_url_keeps_them(
    page: Page, empty: Server
) -> None:
    empty.upload(SAMPLE_CSV.read_bytes())
    empty.upload(
        csv_bytes(
            row("French Story", date="1995-05-05", lang="fr"),
            row("Another Story", date="1996-06-06", lang="fr"),
        )
    )
    page.goto("/?view=catalogue")
    assert len(table_rows(page, "Movies")) == 10  # the first page

    search = page.get_by_role("searchbox", name="Search")
    search.fill("story")
    search.press("Enter")  # the keyboard submits the form
    expect(page).to_have_url(re.compile(r"view=catalogue&q=story$"))
    assert table_rows(page, "Movies") == api_table(empty, "q=story")
    assert len(table_rows(page, "Movies")) == 3

    page.get_by_label("Year", exact=True).fill("1995")
    page.get_by_label("Language", exact=True).fill("fr")
    page.get_by_label("Sort by").select_option("title")
    page.get_by_label("Order").select_option("desc")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"release_year=1995"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert query == {
        "view": "catalogue",
        "q": "story",
        "release_year": "1995",
        "language": "fr",
        "sort_by": "title",
        "sort_order": "desc",
    }
    assert (
        table_rows(page, "Movies")
        == api_table(empty, "q=story&release_year=1995&language=fr&sort_by=title&sort_order=desc")
        == [["French Story", "1995", "fr", "6.5", "10"]]
    )

    # The view is bookmarkable: the same address in a new page shows the same filters and table.
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.get_by_role("searchbox", name="Search")).to_have_value("story")
    expect(other.get_by_label("Language", exact=True)).to_have_value("fr")
    assert table_rows(other, "Movies") == [["French Story", "1995", "fr", "6.5", "10"]]
    other.close()

    page.get_by_role("link", name="French Story").click()
    movie_id = parse_qs(urlsplit(page.url).query)["id"][0]
    movie = empty.http.get(f"/api/v1/movies/{movie_id}").json()
    expect(page.get_by_role("heading", name="French Story")).to_be_visible()
    expect(page.locator("dl")).to_contain_text(movie["overview"])


def test_catalogue_year_range_votes_and_cursor_pages(page: Page, empty: Server) -> None:
    empty.upload(SAMPLE_CSV.read_bytes())
    empty.upload(csv_bytes(row("Eleventh"), row("Twelfth")))
    page.goto(
        "/?view=catalogue&year_from=1995&year_to=1995&min_votes=1&sort_by=vote_count&sort_order=desc&page_size=25"
    )
    expect(page.get_by_label("From year")).to_have_value("1995")
    expect(page.get_by_label("Minimum votes")).to_have_value("1")
    query = (
        "year_from=1995&year_to=1995&min_votes=1&sort_by=vote_count&sort_order=desc&page_size=25"
    )
    assert table_rows(page, "Movies") == api_table(empty, query)

    page.goto("/?view=catalogue&page_size=25")
    page.get_by_label("Per page").select_option("")  # 10 a page
    page.get_by_role("button", name="Apply filters").click()
    first = table_rows(page, "Movies")
    assert first == api_table(empty, "")
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"cursor="))
    cursor = parse_qs(urlsplit(page.url).query)["cursor"][0]
    assert table_rows(page, "Movies") == api_table(empty, f"cursor={cursor}")
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    assert table_rows(page, "Movies") == first


def test_a_bad_filter_and_an_unavailable_service_show_the_apis_message(
    page: Page, empty: Server, watch: Watch
) -> None:
    watch.expect_status(422)
    bad = empty.http.get("/api/v1/movies?language=Klingon").json()["error"]["message"]
    page.goto("/?view=catalogue&language=Klingon")
    expect(page.get_by_role("alert")).to_have_text(bad)

    # The database down: the API's 503 answer, replayed in place of the real one.
    watch.expect_status(503)
    unavailable = {
        "error": {
            "code": "database_unavailable",
            "message": "the database is unavailable, try again later",
            "details": None,
        }
    }
    page.route(
        "**/api/v1/movies?*",
        lambda route: route.fulfill(
            status=503, content_type="application/json", body=json.dumps(unavailable)
        ),
    )
    page.goto("/?view=catalogue&q=story")
    expect(page.get_by_role("alert")).to_have_text(unavailable["error"]["message"])
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()

    watch.expect_status(404)
    page.goto("/?view=detail&id=7d5c2b1e-4f0a-4d8e-9a43-1b2c3d4e5f60")
    expect(page.get_by_role("alert")).to_have_text(
        "no upload with id 7d5c2b1e-4f0a-4d8e-9a43-1b2c3d4e5f60"
    )


def test_every_view_is_labelled_and_fits_a_phone(page: Page, empty: Server) -> None:
    completed = empty.upload(csv_bytes(row("Phone Sized"), row("Bad", date="x")))
    movie_id = empty.http.get("/api/v1/movies").json()["items"][0]["id"]
    page.set_viewport_size({"width": 360, "height": 740})
    for path in (
        "/",
        "/?view=history",
        "/?view=catalogue",
        f"/?view=detail&id={completed['upload_id']}",
        f"/?view=movie&id={movie_id}",
    ):
        page.goto(path)
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
                .filter(el => !el.labels?.length && !el.getAttribute('aria-label')
                              && !el.textContent.trim())
                .map(el => el.outerHTML)"""
        )
        assert unlabelled == [], path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path


def test_screenshots_of_every_view(page: Page, empty: Server, tmp_path: Path) -> None:
    """The README's pictures: `CONSOLE_SCREENSHOTS=docs/console` writes them there."""
    out = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    if not out.is_absolute():
        out = REPO / out
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1100, "height": 800})
    sample = write(tmp_path, "movies_sample_real.csv", SAMPLE_CSV.read_bytes())
    bad = write(
        tmp_path,
        "with-bad-rows.csv",
        csv_bytes(
            row("A Good Row"), row("A Bad Date", date="2001-13-45"), row("No Year", date="soon")
        ),
    )
    upload_in_console(page, sample)
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("completed")
    page.screenshot(path=out / "upload.png", full_page=True)

    upload_in_console(page, bad)
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("completed")
    page.get_by_role("link", name="Details of this upload").click()
    expect(page.get_by_role("table", name=re.compile("Rejected rows"))).to_be_visible()
    page.screenshot(path=out / "upload-rejects.png", full_page=True)

    changed = SAMPLE_CSV.read_text().replace(",7.7,5415.0,", ",7.9,5500.0,")
    review = write(tmp_path, "corrections.csv", (changed + row("A New Film")).encode())
    upload_in_console(page, review, review=True)
    expect(page.get_by_role("region", name="Outcome")).to_contain_text("validated")
    page.get_by_role("link", name="Details of this upload").click()
    expect(page.get_by_role("table", name="Updated")).to_be_visible()
    page.screenshot(path=out / "review.png", full_page=True)

    page.goto("/?view=history")
    expect(page.get_by_role("table", name="Uploads")).to_be_visible()
    page.screenshot(path=out / "history.png", full_page=True)

    page.goto("/?view=catalogue&year_from=1995&year_to=1995&sort_by=vote_average&sort_order=desc")
    expect(page.get_by_role("table", name="Movies")).to_be_visible()
    page.screenshot(path=out / "catalogue.png", full_page=True)

    page.get_by_role("link", name="Toy Story").click()
    expect(page.get_by_role("heading", name="Toy Story")).to_be_visible()
    page.screenshot(path=out / "movie.png", full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?view=catalogue&q=story")
    expect(page.get_by_role("table", name="Movies")).to_be_visible()
    page.screenshot(path=out / "catalogue-phone.png", full_page=True)
    for name in ("upload", "upload-rejects", "review", "history", "catalogue", "movie"):
        assert (out / f"{name}.png").stat().st_size > 5000, name


# --- how it is served ---------------------------------------------------------------------------


def test_the_page_forbids_other_origins_and_the_api_is_unchanged(empty: Server) -> None:
    page = empty.http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for name in ("console.js", "lib.js", "console.css"):
        asset = empty.http.get(f"/console/{name}")
        assert asset.status_code == 200, name
        assert not re.search(r"https?://", asset.text), f"{name} names another origin"
    assert not re.search(r"(src|href)=\"https?://", page.text)
    assert empty.http.get("/console/../api.py").status_code == 404
    assert empty.http.get("/docs").status_code == 200
    assert empty.http.get("/api/v1/ping").json() == "Service is up!"
    assert "/" not in empty.http.get("/openapi.json").json()["paths"]


LAMBDA_PROBE = """
import json, sys
from functions.api import handler
for event in json.load(sys.stdin):
    answer = handler(event, None)
    print(json.dumps([answer["statusCode"], answer["headers"].get("content-type", "")]))
"""


def test_the_lambda_handler_of_the_docs_function_serves_the_console() -> None:
    """serverless.yml routes GET / and GET /console/{proxy+} to functions/api.handler. (In a
    process of its own: Mangum runs an event loop, and Playwright's runs in this one.)"""
    template = json.loads((REPO / "tests" / "events" / "ping.json").read_text())
    events = []
    for path, route in (("/", "GET /"), ("/console/console.js", "GET /console/{proxy+}")):
        context = {**template["requestContext"], "routeKey": route}
        context["http"] = {**context["http"], "path": path}
        events.append({**template, "rawPath": path, "routeKey": route, "requestContext": context})
    probe = subprocess.run(
        [sys.executable, "-c", LAMBDA_PROBE],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    answers = [json.loads(line) for line in probe.stdout.splitlines()]
    assert answers[0][0] == 200 and answers[0][1].startswith("text/html"), answers
    assert answers[1][0] == 200 and answers[1][1].startswith("text/javascript"), answers


def test_the_wheel_carries_the_console_and_it_is_small(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            tmp_path,
            REPO,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("moviedb-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        console = {
            i.filename: i.file_size
            for i in archive.infolist()
            if i.filename.startswith("functions/console/")
        }
    for name in (
        "__init__.py",
        "static/index.html",
        "static/console.js",
        "static/lib.js",
        "static/console.css",
    ):
        assert f"functions/console/{name}" in console, name
    assert sum(console.values()) < 1_000_000

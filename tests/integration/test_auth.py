"""The API key: configured, or generated once into the data directory (0600) and reused."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from functions.core import auth
from tests.api_support import assert_error, csv_bytes, post_csv, reset_caches, row


@pytest.fixture
def no_key(clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("MOVIEDB_API_KEY", raising=False)
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(tmp_path / "data"))
    reset_caches()
    yield tmp_path / "data"
    monkeypatch.undo()
    reset_caches()


def test_without_a_configured_key_one_is_generated_stored_0600_and_reused(no_key: Path) -> None:
    key = auth.api_key()
    assert key.generated_at == no_key / "api-key"
    assert len(key.value) >= 32
    assert stat.S_IMODE(key.generated_at.stat().st_mode) == 0o600
    auth.api_key.cache_clear()  # a later start reads the same key back
    assert auth.api_key().value == key.value


def test_the_generated_key_opens_uploads(no_key: Path) -> None:
    from functions.api import app

    client = TestClient(app)
    content = csv_bytes(row("Alpha"))
    assert_error(post_csv(client, content, key=None), 401, "missing_api_key")
    assert_error(post_csv(client, content, key="wrong"), 403, "wrong_api_key")
    assert post_csv(client, content, key=auth.api_key().value).status_code == 202


def test_a_configured_key_is_used_and_nothing_is_written(
    no_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOVIEDB_API_KEY", "configured-key")
    reset_caches()
    assert auth.api_key() == auth.ApiKey("configured-key", None)
    assert not (no_key / "api-key").exists()
    auth.check_api_key("configured-key")
    with pytest.raises(auth.WrongApiKey):
        auth.check_api_key("configured-kez")
    with pytest.raises(auth.MissingApiKey):
        auth.check_api_key("")


def test_an_unwritable_data_directory_is_a_503_not_a_crash(
    no_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = no_key.parent / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("MOVIEDB_DATA_DIR", str(blocker / "data"))
    reset_caches()
    from functions.api import app

    response = post_csv(TestClient(app), csv_bytes(row("A")), key="anything")
    assert_error(response, 503, "api_key_unavailable")

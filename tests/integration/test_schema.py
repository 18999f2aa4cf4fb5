"""The schema comes from the package's own migrations, and an installation without them refuses
to run rather than calling an empty database current."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.core import schema


def test_the_migrations_are_package_data_of_the_schema_module() -> None:
    folder = schema.migrations_dir()
    assert folder.parent == Path(schema.__file__).parent
    assert sorted(p.name for p in folder.glob("*.sql"))[0] == "0001_schema.sql"


def test_no_migration_found_is_refused(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "migrations_dir", lambda: tmp_path)  # an install that lost them
    with pytest.raises(schema.NoMigrationsFound):
        schema.migrate(database_url)
    with pytest.raises(schema.NoMigrationsFound):
        schema.pending_migrations(database_url)

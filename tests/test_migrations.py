"""The Alembic migrations build exactly the schema the SQLAlchemy models describe, on both databases."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import BACKENDS, database_url
from ledger_service.adapters.database import Database
from ledger_service.adapters.orm import Base


@pytest.mark.parametrize("kind", BACKENDS)
def test_migrating_an_empty_database_gives_the_models_schema(kind, request, tmp_path_factory):
    database = Database(database_url(kind, request, tmp_path_factory))
    try:
        database.migrate()
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        assert database.schema_state() == "current"
    finally:
        database.dispose()

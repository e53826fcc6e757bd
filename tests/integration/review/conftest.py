"""Review store URLs: a SQLite file, and a fresh schema on the local PostgreSQL server (127.0.0.1:5432, db test).

PostgreSQL tests skip, saying why, when no server answers; with CI=true they fail instead.
``KEEL_TEST_POSTGRES_URL`` overrides the server URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URLS = ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql+psycopg://root@127.0.0.1:5432/test")


def _postgres_server() -> tuple[str | None, str]:
    from sqlalchemy import create_engine, text

    urls = [os.environ["KEEL_TEST_POSTGRES_URL"]] if os.environ.get("KEEL_TEST_POSTGRES_URL") else list(PG_URLS)
    problems = []
    for url in urls:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return url, ""
        except Exception as exc:  # noqa: BLE001 (any failure means: no usable server)
            problems.append(f"{url.split('@')[-1]}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            engine.dispose()
    return None, "; ".join(problems)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url, why = _postgres_server()
    if url is None:
        message = f"PostgreSQL is not reachable ({why})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — CI=true requires it")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections use a new, empty schema (dropped afterwards)."""
    from sqlalchemy import create_engine, text

    schema = f"keel_review_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.db'}"
    return request.getfixturevalue("postgres_url")

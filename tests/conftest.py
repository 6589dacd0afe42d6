"""Shared fixtures: every store-level test runs on SQLite and on a real PostgreSQL server.

PostgreSQL: one throw-away database per test session (created from the server's `test`
database, dropped at the end), migrated once and truncated between tests.
Set HEARTH_TEST_POSTGRES=off to run without a server (the PostgreSQL half then skips).
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog

from knowledge.db import Database, open_database
from knowledge.directory import Directory
from knowledge.migrate import upgrade
from knowledge.models import Base
from knowledge.views import CommunityInfo

# fixtures shared by several test modules, found without importing them
pytest_plugins = ("tests.harness.matrix_harness",)


def _sleep_on_relative_timeouts() -> None:
    """Under libfaketime (CI's second, years-ahead run) time.sleep fails with EINVAL.

    CPython sleeps until an absolute CLOCK_MONOTONIC deadline; Debian's libfaketime 0.9.10,
    faking only the wall clock (FAKETIME_DONT_FAKE_MONOTONIC=1, so lock timeouts still
    work), mistranslates that deadline. select() takes a relative timeout and is left alone.
    """
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return

    def sleep(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = sleep


_sleep_on_relative_timeouts()

ADMIN_URL = os.environ.get("HEARTH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """Why: a test that runs the CLI or `configure_logging` in-process (check-config, JSON
    logs) would leave structlog filtering below WARNING, and every later test's
    `capture_logs()` would then see no INFO events; each test leaves logging as it found it.
    pytest's own capture handlers come and go per phase, so they are left to pytest."""

    def ours(handler: logging.Handler) -> bool:
        return not type(handler).__module__.startswith("_pytest")

    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = [h for h in root.handlers if ours(h)], root.level
    loggers = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    structlog.configure(**config)
    for handler in [h for h in root.handlers if ours(h) and h not in handlers]:
        root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(loggers.get(name, logging.NOTSET))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if ADMIN_URL == "off":
        pytest.skip("HEARTH_TEST_POSTGRES=off")
    name = f"hearth_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {ADMIN_URL} does not answer ({exc}); start it or set "
            "HEARTH_TEST_POSTGRES=off"
        )
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    async def migrate() -> None:
        database = open_database(url)
        await upgrade(database)
        await database.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pgvector_url() -> Iterator[str]:
    """A migrated database on a PostgreSQL with pgvector: the `pgserver` wheel's own server
    (the machine's lacks the extension), on a Unix socket in its data folder. Not under
    pytest's tmp_path: run as root, pgserver runs the server as its own user, who must
    reach the folder."""
    try:
        import pgserver
    except ImportError:
        pytest.skip("pgserver is not installed (pip install -e '.[dev]')")
    folder = tempfile.mkdtemp(prefix="hearth-pgvector-")
    try:
        server = pgserver.get_server(folder, cleanup_mode="delete")
        server.psql("CREATE DATABASE hearth_vec;")
    except Exception as exc:  # its binaries could not start here
        pytest.skip(f"pgserver's PostgreSQL could not start: {exc}")
    url = server.get_uri("hearth_vec")

    async def migrate() -> None:
        database = open_database(url)
        await upgrade(database)
        await database.dispose()

    asyncio.run(migrate())
    yield url
    server.cleanup()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        database = open_database(f"sqlite:///{path}")
        await upgrade(database)
        await database.dispose()

    asyncio.run(migrate())
    return path


async def _truncate(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "hearth.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = open_database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def community(database: Database) -> CommunityInfo:
    """The guild, for tests that talk to the stores directly."""
    return await Directory(database).ensure_community("guild", "The Guild", "Europe/Berlin")

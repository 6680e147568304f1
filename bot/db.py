"""Database setup: Tortoise configuration, start-up, and the committed migrations."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from tortoise import Tortoise

from domain import lookups

DEFAULT_DATABASE_URL = "sqlite://data/dutydesk.sqlite3"


def tortoise_config(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Wait for a busy database instead of failing the update that hit the lock.
        if "busy_timeout" not in database_url:
            database_url += ("&" if "?" in database_url else "?") + "busy_timeout=10000"
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": ["domain.models"],
                "migrations": "domain.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Used by the `tortoise` CLI when a developer runs `tortoise -c bot.db.TORTOISE_ORM makemigrations`.
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))


MIGRATION_LOCK = 0x4D696772  # "Migr"


def _migration_url(database_url: str) -> str:
    """SQLite changes a table by rebuilding it (tortoise drops the old one and renames a new copy): with
    foreign keys on, dropping `incident` would cascade-delete its messages, events and notices. SQLite's
    documented procedure runs the rebuild with foreign keys off and checks them afterwards."""
    if not database_url.startswith("sqlite://") or "foreign_keys" in database_url:
        return database_url
    return database_url + ("&" if "?" in database_url else "?") + "foreign_keys=OFF"


async def migrate(database_url: str) -> None:
    """Apply pending migrations. On PostgreSQL instances starting together take turns (an advisory
    lock), so the second finds the work done instead of racing the first."""
    # Imported here: a restart on a migrated database needs neither (start-up time and memory).
    from tortoise.migrations.api import migrate as run_migrations

    lock = None
    if database_url.startswith(("postgres://", "postgresql://")):
        import asyncpg

        lock = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await run_migrations(config=tortoise_config(_migration_url(database_url)))
        if database_url.startswith("sqlite://"):
            broken = await Tortoise.get_connection("default").execute_query_dict("PRAGMA foreign_key_check")
            if broken:
                raise RuntimeError(f"migrations left rows pointing at nothing: {broken[:5]}")
        await Tortoise.close_connections()
    finally:
        if lock is not None:
            await lock.close()  # closing the session releases the lock


MIGRATIONS = Path(__file__).resolve().parent.parent / "domain" / "migrations"


async def _up_to_date() -> bool:
    """Every committed migration is applied already. Then the migration machinery, which rebuilds the
    state of every model from every migration (about a second of start-up on a small machine, the largest
    share of the bot's own), is not started at all."""
    committed = {path.stem for path in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py")}
    try:
        rows = await Tortoise.get_connection("default").execute_query_dict(
            "SELECT name FROM tortoise_migrations WHERE app = 'models'")
    except Exception:  # no such table yet: a new database
        return False
    return committed <= {row["name"] for row in rows}


async def open_database(database_url: str, apply_migrations: bool = True) -> None:
    await Tortoise.init(config=tortoise_config(database_url))
    if apply_migrations and not await _up_to_date():
        await Tortoise.close_connections()
        await migrate(database_url)
        await Tortoise.init(config=tortoise_config(database_url))
    lookups.forget_made(Tortoise.apps["models"].values())


@contextlib.asynccontextmanager
async def small_cache(database_url: str, kib: int = 256):
    """SQLite's page cache kept small for the length of a pass over every open incident (the policy
    recompute): the cache would otherwise keep its whole 2 MB of incident pages, which the desk's own
    queries, going by index, rarely read again. Back to the default afterwards; it fills with what is used."""
    if not database_url.startswith("sqlite://"):
        yield
        return
    connection = Tortoise.get_connection("default")
    size = (await connection.execute_query_dict("PRAGMA cache_size"))[0]["cache_size"]
    await connection.execute_script(f"PRAGMA cache_size = -{kib}")
    try:
        yield
    finally:
        await connection.execute_script(f"PRAGMA cache_size = {int(size)}")


async def close_database() -> None:
    await Tortoise.close_connections()

"""Test databases: SQLite files by default; PostgreSQL when TEST_DATABASE_URL names a server.

With PostgreSQL, one database is migrated by the real migrations per session and emptied before each
test that uses it; tests that start the real program get an empty database of their own (it migrates
at start).
"""

from __future__ import annotations

import os
import uuid

import asyncpg

SERVER = os.environ.get("TEST_DATABASE_URL", "")  # postgres://user:pass@host:port/postgres
TEMPLATE = "dutydesk_template"


def on_postgres() -> bool:
    return SERVER.startswith(("postgres://", "postgresql://"))


def url_for(name: str) -> str:
    base, _, _ = SERVER.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(SERVER)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def create(template: str | None = None) -> str:
    name = "t_" + uuid.uuid4().hex[:16]
    await _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url_for(name)


async def drop(url: str) -> None:
    name = url.rpartition("/")[2]
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def truncate_all(url: str) -> None:
    """Empty every table but the migrations' record, and restart the ids: much faster than a new
    database per test. DELETE with the foreign-key triggers off (the tables are tiny) takes about a
    millisecond where TRUNCATE takes tens."""
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        tables = [r["tablename"] for r in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'tortoise_migrations'")]
        sequences = [r["sequencename"] for r in await connection.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' "
            "AND sequencename NOT LIKE 'tortoise_migrations%'")]
        await connection.execute(
            "SET session_replication_role = replica;"
            + "".join(f'DELETE FROM "{t}";' for t in tables)
            + "".join(f"SELECT setval('\"{q}\"', 1, false);" for q in sequences)
        )
    finally:
        await connection.close()


async def recreate_template() -> str:
    await _admin(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{TEMPLATE}"')
    return url_for(TEMPLATE)


async def fetch(url: str, sql: str) -> list[tuple]:
    """Rows of a query against a test database, SQLite file or PostgreSQL."""
    if url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite://").split("?")[0]) as connection:
            return connection.execute(sql).fetchall()
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()

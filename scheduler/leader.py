"""Which instance runs the scheduler's jobs: one at a time, with takeover when the holder dies.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own; when its
process dies the connection closes, PostgreSQL releases the lock, and the next instance to try (at its
next tick) takes it. On SQLite there is one instance by construction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)
LOCK_KEY = 0x44757479  # "Duty": one lock per database


class AlwaysLeader:
    async def holds(self) -> bool:
        return True

    async def close(self) -> None:
        return None


class PostgresLeader:
    def __init__(self, dsn: str) -> None:
        import asyncpg  # only on PostgreSQL; imported here, at start, so a missing package shows then

        self.asyncpg = asyncpg
        self.dsn = dsn.replace("postgres://", "postgresql://", 1)
        self.connection: asyncpg.Connection | None = None
        self.leading = False

    async def holds(self) -> bool:
        """True while this instance holds the lock; tries to take it when it does not."""
        try:
            if self.connection is None or self.connection.is_closed():
                self.connection, self.leading = await self.asyncpg.connect(self.dsn), False
            if self.leading:
                await self.connection.fetchval("SELECT 1")  # the lock lives as long as this connection
                return True
            self.leading = await self.connection.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
            if self.leading:
                log.info("this instance now runs the scheduler's jobs")
            return self.leading
        except (OSError, self.asyncpg.PostgresError) as exc:
            log.warning("scheduler lease check failed: %s", exc)
            await self.close()
            return False

    async def close(self) -> None:
        if self.connection is not None and not self.connection.is_closed():
            await self.connection.close()
        self.connection, self.leading = None, False


def leader_for(database_url: str) -> AlwaysLeader | PostgresLeader:
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return PostgresLeader(database_url.replace("asyncpg://", "postgresql://", 1))
    return AlwaysLeader()

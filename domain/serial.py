"""One conversation's updates one at a time, across instances.

Several instances behind a webhook that Telegram reaches over many connections may receive two messages
of one chat at the same moment; without a turn each would find no open incident and open its own. The
intake transaction therefore first takes the conversation's turn:

* PostgreSQL: a transaction-level advisory lock on the conversation's id, released by the commit or the
  rollback (a process that dies mid-way releases it with its connection, so nothing waits forever);
* SQLite: nothing to do. One instance runs on a SQLite file, and its transactions already run one at a
  time on its one connection (a single writer).
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient

# The first half of the two-integer advisory key: "Conv". The scheduler's and the migrations' locks use
# the one-bigint form, a separate key space, so they never meet these.
CONVERSATION = 0x436F6E76


async def take_turn(connection: BaseDBAsyncClient, conversation_id: int) -> None:
    """Wait for the conversation's turn and hold it until `connection`'s transaction ends."""
    if connection.capabilities.dialect != "postgres":
        return
    await connection.execute_query("SELECT pg_advisory_xact_lock($1, $2)", [CONVERSATION, conversation_id])


async def take_turns(connection: BaseDBAsyncClient, conversation_ids: set[int]) -> None:
    """`take_turn` for several conversations in one statement, always in ascending order, so two
    transactions that want some of the same conversations never wait for each other in a circle."""
    if connection.capabilities.dialect != "postgres" or not conversation_ids:
        return
    await connection.execute_query("SELECT pg_advisory_xact_lock($1, c) FROM unnest($2::integer[]) AS c",
                                   [CONVERSATION, sorted(conversation_ids)])  # unnest keeps the array's order

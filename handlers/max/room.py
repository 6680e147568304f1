"""MAX updates into the desk: a group chat's messages and button presses go to the channel-neutral chat-room
layer; a person's private dialog with the bot gets a short word on where the desk listens.

Everything here runs inside the update's transaction (`handlers.max.transport`), and whatever it owes (an
acknowledgement, an answer) is an outbox row written in it: a retried update owes nothing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domain import identities, outbox
from domain.clock import Clock
from handlers.max.updates import NAME, MaxUpdate

FollowUp = Callable[[], Awaitable[None]] | None


async def dialog(update: MaxUpdate, clock: Clock) -> None:
    """A person wrote to the bot in private (or opened the dialog): MAX lets the bot answer them now. The desk
    takes requests in customers' group chats, and says so (at most once an hour)."""
    if update.sender is None:
        return
    now = clock.now()
    person = await identities.person_for(NAME, update.sender, now, update.name)
    await outbox.enqueue("notice", outbox.person(person.id, channel=NAME), now, params=outbox.say("max.dialog"),
                         dedupe=f"max-dialog:{person.id}:{now:%Y%m%d%H}")


def make_handle(settings, clock: Clock, sla, wake: Callable[[], None]):
    async def handle(update: MaxUpdate) -> FollowUp:
        if (update.kind == "message" and update.dialog) or update.kind == "started":
            await dialog(update, clock)
            wake()
        return None
    return handle

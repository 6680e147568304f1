"""The desk page's links: /desk (a one-time sign-in link, staff), /wallboard and /wallboard_revoke (leads)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import LinkPreviewOptions, Message

from domain import desk, people
from handlers.args import cmd, looks_like_command, split
from handlers.replies import respond
from locales import t

# A preview would make Telegram's servers open the link; the page it opens changes nothing, but a
# secret link has no business being fetched by anyone but the person it was given to.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def sign_in_link(message: Message, command: CommandObject, actor: people.Actor, lang: str, clock,
                       settings) -> None:
    split(command, 0, 0)
    token = await desk.create_login(actor.user_id, clock.now())
    minutes = int(desk.LOGIN_VALID.total_seconds() // 60)
    await respond(message, t(lang, "desk.link", url=f"{settings.web_public_url}/desk/login/{token}", minutes=minutes),
                  link_preview_options=NO_PREVIEW)


async def wallboard(message: Message, command: CommandObject, actor: people.Actor, lang: str, clock,
                    settings) -> None:
    split(command, 0, 0)
    token = await desk.create_wallboard(actor.user_id, lang, clock.now())
    await respond(message, t(lang, "desk.wall_link", url=f"{settings.web_public_url}/wallboard/{token}"),
                  link_preview_options=NO_PREVIEW)


async def wallboard_revoke(message: Message, command: CommandObject, lang: str, clock) -> None:
    split(command, 0, 0)
    revoked = await desk.revoke_wallboards(clock.now())
    await respond(message, t(lang, "desk.wall_revoked", count=revoked) if revoked else t(lang, "desk.wall_none"))


def build_router() -> Router:
    router = Router(name="desk")
    router.message.filter(looks_like_command)
    router.message.register(sign_in_link, cmd("desk"))
    router.message.register(wallboard, cmd("wallboard"))
    router.message.register(wallboard_revoke, cmd("wallboard_revoke"))
    return router

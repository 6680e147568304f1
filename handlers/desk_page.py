"""The desk page's links: /desk (a one-time sign-in link, staff), /wallboard and /wallboard_revoke (leads)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject
from aiogram.types import LinkPreviewOptions, Message

from domain import desk_page, people
from handlers.args import cmd, looks_like_command, split
from handlers.desk import Desk
from handlers.replies import respond
from locales import t

# A preview would make Telegram's servers open the link; the page it opens changes nothing, but a
# secret link has no business being fetched by anyone but the person it was given to.
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def sign_in_link(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    split(command, 0, 0)
    token = await desk_page.create_login(actor.user_id, desk.now())
    minutes = int(desk_page.LOGIN_VALID.total_seconds() // 60)
    url = f"{desk.settings.web_public_url}/desk/login/{token}"
    await respond(message, t(desk.lang, "desk.link", url=url, minutes=minutes), link_preview_options=NO_PREVIEW)


async def wallboard(message: Message, command: CommandObject, actor: people.Actor, desk: Desk) -> None:
    split(command, 0, 0)
    token = await desk_page.create_wallboard(actor.user_id, desk.lang, desk.now())
    url = f"{desk.settings.web_public_url}/wallboard/{token}"
    await respond(message, t(desk.lang, "desk.wall_link", url=url), link_preview_options=NO_PREVIEW)


async def wallboard_revoke(message: Message, command: CommandObject, desk: Desk) -> None:
    split(command, 0, 0)
    revoked = await desk_page.revoke_wallboards(desk.now())
    await respond(message, t(desk.lang, "desk.wall_revoked", count=revoked) if revoked
                  else t(desk.lang, "desk.wall_none"))


def build_router() -> Router:
    router = Router(name="desk_page")
    router.message.filter(looks_like_command)
    router.message.register(sign_in_link, cmd("desk"))
    router.message.register(wallboard, cmd("wallboard"))
    router.message.register(wallboard_revoke, cmd("wallboard_revoke"))
    return router

"""The desk page (`/desk`) and the wallboard (`/wallboard/<token>`), served by the bot's aiohttp app.

Server-rendered with Jinja2 (autoescaped; loaded on the first page, not at start); `static/desk.js` fetches the same
fragments again every few seconds and ticks the countdowns. Every response under these paths carries a
strict Content-Security-Policy (scripts and styles from this origin only, no inline code), is not cached,
and sends no Referer (a sign-in link's token must not travel anywhere).

Who gets in (the rules are in `domain.desk_page`): a staff member through a one-time link from `/desk`, which
shows a button; pressing it (a POST, so link previews and prefetching cannot burn the link) sets the
session cookie. A wallboard link shows no message text and no customers' people.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from yarl import URL

from bot import desk_routes
from bot.desk_routes import CSP, HERE  # noqa: F401  (CSP: what the tests check the answers by)
from bot.settings import Settings
from domain import desk_page, lang, people
from domain.clock import Clock
from domain.errors import DeskError
from domain.intake import OPEN
from domain.sla import Sla
from handlers.views import _event_params
from locales import format as fmt
from locales import named, t

COOKIE = "desk_session"
TOKEN_MAX = 100  # longer than any token the desk makes: refused without a lookup


def iso(moment: datetime) -> str:
    """What the page's script reads: UTC with milliseconds."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def countdown(deadline: datetime, now: datetime) -> str:
    """Time left as H:MM:SS, negative (with a minus sign) once the deadline has passed; desk.js writes
    the same."""
    left = deadline - now
    hours, rest = divmod(int(abs(left.total_seconds())), 3600)
    return f"{'−' if left <= timedelta(0) else ''}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def band(deadline: datetime, now: datetime) -> str:
    """The colour of the time left, as JSM bands it: over 1 h, under 1 h, under 15 min, breached."""
    left = deadline - now
    if left <= timedelta(0):
        return "band-breached"
    if left < timedelta(minutes=15):
        return "band-hot"
    if left < timedelta(hours=1):
        return "band-warn"
    return "band-ok"


class DeskPages:
    def __init__(self, settings: Settings, clock: Clock, sla: Sla) -> None:
        self.settings, self.clock, self.sla = settings, clock, sla
        self._templates: Any = None  # the Jinja2 environment, made on the first page asked for

    def register(self, app: web.Application) -> None:
        desk_routes.register(app, lambda: self)

    # ---- rendering ------------------------------------------------------------------------------------
    def _render(self, name: str, request: web.Request, reader: str, status: int = 200, **context: Any) -> web.Response:
        context.update(lang=reader, tr=lambda key, **kw: t(reader, key, **kw))
        return web.Response(text=self.templates().get_template(name).render(context), status=status,
                            content_type="text/html", charset="utf-8")

    def templates(self) -> Any:
        """Jinja2 is loaded on the first page, not at start: most desks never open one, and the first
        update should not wait for it (the package is still checked at start, in `bot.settings`)."""
        if self._templates is None:
            import jinja2

            self._templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                                 autoescape=True)
        return self._templates

    def _message(self, request: web.Request, reader: str, heading: str, lines: list[str], status: int,
                 form_action: str | None = None) -> web.Response:
        return self._render("message.html", request, reader, status, heading=heading, lines=lines,
                            form_action=form_action)

    def _signed_out(self, request: web.Request) -> web.Response:
        reader = self.settings.default_lang
        return self._message(request, reader, t(reader, "desk.signed_out"),
                             [t(reader, "desk.how_to_sign_in"), t(reader, "desk.how_wallboard")], 401)

    async def _board_context(self, reader: str, wall: bool) -> dict[str, Any]:
        now, zone = self.clock.now(), self.settings.timezone
        board = await desk_page.board(now, self.sla, self.settings.policy.shifts, zone)
        rows = []
        for row in board.incidents:
            view = {"key": row.key, "code": row.code, "customer": row.customer, "title": row.title,
                    "plan": named(reader, "words.plan", row.plan), "priority": row.priority,
                    "channel": named(reader, "desk.channel", row.channel),
                    "assignee": row.assignee or t(reader, "list.nobody"), "status": t(reader, f"state.{row.status}"),
                    "deadline_iso": None, "band": "band-answered", "due": "", "paused": ""}
            if row.responded:
                view["countdown"] = t(reader, "list.answered")
            elif row.deadline is None:
                view["countdown"] = "—"
            else:
                view.update(deadline_iso=iso(row.deadline), countdown=countdown(row.deadline, now),
                            band=band(row.deadline, now),
                            due=t(reader, "desk.due", at=fmt.when(reader, row.deadline, zone, now)))
                if row.paused_until is not None:
                    view["paused"] = t(reader, "desk.paused", at=fmt.when(reader, row.paused_until, zone, now))
            rows.append(view)
        duties = []
        for duty in board.duties:
            name = duty.name or t(reader, "oncall.nobody")
            line = t(reader, "desk.duty", shift=named(reader, "words.shift", duty.shift), name=name) if duty.shift \
                else t(reader, "desk.duty_outside", name=name)
            duties.append(line + (" " + t(reader, "oncall.by_override") if duty.override else ""))
        handoff = board.handoff and t(reader, "oncall.next_handoff", shift=named(reader, "words.shift",
                                                                                  board.handoff.shift),
                                      at=fmt.when(reader, board.handoff.at, zone, now),
                                      name=board.handoff.name or t(reader, "oncall.nobody"))
        gaps = [t(reader, "gaps.row", shift=named(reader, "words.shift", g.shift),
                  span=fmt.span(reader, g.start, g.end, zone, with_zone=True)) for g in board.gaps]
        stuck = board.stuck
        return {"wall": wall, "rows": rows, "duties": duties, "handoff": handoff, "gaps": gaps, "today": board.today,
                "stuck": {"backlog": stuck.backlog, "failed": stuck.failed, "parked": stuck.parked,
                          "oldest": fmt.duration(reader, stuck.oldest_age) if stuck.oldest_age is not None else "—",
                          "unbound": f"{stuck.unbound_messages} / {stuck.unbound_chats}",
                          "parked_from": ", ".join(t(reader, "unbind2.parked_from", count=count,
                                                     channel=named(reader, "desk.channel", channel))
                                                   for channel, count in stuck.parked_from)},
                "now_iso": iso(now), "now_text": fmt.when(reader, now, zone, now)}

    async def _card_context(self, reader: str, key: str) -> dict[str, Any]:
        now, zone = self.clock.now(), self.settings.timezone
        card = await desk_page.card(key, self.sla)
        i = card.incident
        when = lambda moment: fmt.when(reader, moment, zone, now)  # noqa: E731
        view: dict[str, Any] = {
            "key": i.key, "code": i.customer.code, "customer": i.customer.name, "title": i.title,
            "plan": named(reader, "words.plan", i.plan), "priority": i.priority,
            "status": t(reader, f"state.{i.status}"), "channel": named(reader, "desk.channel", i.conversation.channel),
            "assignee": card.assignee or t(reader, "list.nobody"), "opened": when(i.opened_at),
            "responded": when(i.responded_at), "deadline_iso": None, "band": "", "countdown": "",
        }
        if card.met is None:
            view["verdict"] = t(reader, "card.deadline", deadline=when(i.deadline),
                                left=fmt.time_left(reader, i.deadline, now))
            if i.deadline is not None and i.status in OPEN:
                view.update(deadline_iso=iso(i.deadline), countdown=countdown(i.deadline, now),
                            band=band(i.deadline, now))
        else:
            view["verdict"] = t(reader, "card.reaction", waited=fmt.duration(reader, card.waited),
                                target=fmt.duration(reader, card.target),
                                verdict=t(reader, "card.met" if card.met else "card.breached"))
        timeline = []
        for event, actor in card.events:
            timeline.append((event.at, 0, {"kind": "event", "at": fmt.local(event.at, zone, now, lang=reader),
                                           "who": actor or "",
                                           "text": t(reader, f"event.{event.kind}", **_event_params(reader, event))}))
        for message in card.messages:
            body = message.text or "[" + ", ".join(a["kind"] for a in message.attachments) + "]"
            who = t(reader, "card.source_" + message.source) + (f" {message.author}" if message.author else "")
            timeline.append((message.sent_at, 1, {"kind": "message " + message.source,
                                                  "at": fmt.local(message.sent_at, zone, now, lang=reader),
                                                  "who": who, "text": body}))
        view["timeline"] = [item for _, _, item in sorted(timeline, key=lambda x: (x[0], x[1]))]
        return {"c": view, "now_iso": iso(now), "now_text": fmt.when(reader, now, zone, now)}

    # ---- who is asking --------------------------------------------------------------------------------
    async def _reader(self, request: web.Request) -> tuple[int, str] | None:
        user_id = await desk_page.session_user(request.cookies.get(COOKIE), self.clock.now())
        if user_id is None:
            return None
        return user_id, await lang.of_person(user_id, self.settings.default_lang)

    async def _wall_reader(self, request: web.Request) -> str | None:
        token = request.match_info["token"]
        link = await desk_page.wallboard(token) if len(token) <= TOKEN_MAX else None
        return link.lang if link else None

    # ---- pages ------------------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        signed = await self._reader(request)
        if signed is None:
            return self._signed_out(request)
        user_id, reader = signed
        context = await self._board_context(reader, wall=False)
        return self._render("page.html", request, reader, kind="desk", heading=t(reader, "desk.title"), home="/desk",
                            who=t(reader, "desk.signed_in_as", name=await people.display_name(user_id)),
                            live_src="/desk/live", fragment="_board.html", **context)

    async def page_live(self, request: web.Request) -> web.Response:
        signed = await self._reader(request)
        if signed is None:
            return web.Response(status=401, text=t(self.settings.default_lang, "desk.signed_out"))
        return self._render("_board.html", request, signed[1], **await self._board_context(signed[1], wall=False))

    async def incident(self, request: web.Request) -> web.Response:
        signed = await self._reader(request)
        if signed is None:
            return self._signed_out(request)
        user_id, reader = signed
        key = request.match_info["key"]
        try:
            context = await self._card_context(reader, key)
        except DeskError as error:
            return self._message(request, reader, t(reader, "desk.not_found"), [t(reader, error.key, **error.params)],
                                 404)
        return self._render("page.html", request, reader, kind="desk", heading=context["c"]["key"], home="/desk",
                            who=t(reader, "desk.signed_in_as", name=await people.display_name(user_id)),
                            live_src=f"/desk/incident/{context['c']['key']}/live", fragment="_card.html", **context)

    async def incident_live(self, request: web.Request) -> web.Response:
        signed = await self._reader(request)
        if signed is None:
            return web.Response(status=401, text=t(self.settings.default_lang, "desk.signed_out"))
        try:
            context = await self._card_context(signed[1], request.match_info["key"])
        except DeskError:
            raise web.HTTPNotFound() from None
        return self._render("_card.html", request, signed[1], **context)

    async def login_form(self, request: web.Request) -> web.Response:
        """The link from the chat opens a page with a button: opening it changes nothing."""
        token = request.match_info["token"]
        reader = self.settings.default_lang
        try:
            user_id = await desk_page.check_login(token if len(token) <= TOKEN_MAX else "", self.clock.now())
        except DeskError as error:
            return self._refused(request, error)
        reader = await lang.of_person(user_id, reader)
        return self._message(request, reader, t(reader, "desk.sign_in_title"), [t(reader, "desk.sign_in_text")], 200,
                             form_action=request.path)

    def _from_here(self, request: web.Request) -> bool:
        """A form on another site posting someone's own sign-in link would sign this browser in as them
        (login CSRF): refused, the link left unused. Browsers say where a POST comes from in Sec-Fetch-Site;
        Origin is "null" on our own pages (they send no referrer), so it counts only when it names a site."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None:
            return site in ("same-origin", "none")
        origin = request.headers.get("Origin")
        if origin is None or origin == "null":  # not a browser form, or one that cannot tell
            return True
        return origin in {str(URL(self.settings.web_public_url).origin()), f"{request.scheme}://{request.host}"}

    async def login(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not self._from_here(request):
            return self._refused(request, DeskError("attack_desk.other_site"))
        try:
            session = await desk_page.redeem_login(token if len(token) <= TOKEN_MAX else "", self.clock.now())
        except DeskError as error:
            return self._refused(request, error)
        response = web.Response(status=303, headers={"Location": "/desk"})
        response.set_cookie(COOKIE, session.token, max_age=int(desk_page.SESSION_VALID.total_seconds()), path="/desk",
                            httponly=True, samesite="Strict", secure=self.settings.secure_cookies)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        if not self._from_here(request):  # another site would wipe the cookie from this browser
            reader = self.settings.default_lang
            return self._message(request, reader, t(reader, "desk.title"),
                                 [t(reader, "attack_desk.sign_out_other_site")], 403)
        token = request.cookies.get(COOKIE)
        if token:
            await desk_page.sign_out(token)
        response = web.Response(status=303, headers={"Location": "/desk"})
        response.del_cookie(COOKIE, path="/desk")
        return response

    def _refused(self, request: web.Request, error: DeskError) -> web.Response:
        reader = self.settings.default_lang
        return self._message(request, reader, t(reader, "desk.link_refused"),
                             [t(reader, error.key, **error.params), t(reader, "desk.how_to_sign_in")], 403)

    async def wall(self, request: web.Request) -> web.Response:
        reader = await self._wall_reader(request)
        if reader is None:
            reader = self.settings.default_lang
            return self._message(request, reader, t(reader, "desk.wall_gone"), [t(reader, "desk.how_wallboard")], 404)
        context = await self._board_context(reader, wall=True)
        return self._render("page.html", request, reader, kind="wall", heading=t(reader, "desk.wall_title"),
                            home=request.path, who=t(reader, "desk.wall_title"),
                            live_src=f"{request.path}/live", fragment="_board.html", **context)

    async def wall_live(self, request: web.Request) -> web.Response:
        reader = await self._wall_reader(request)
        if reader is None:
            raise web.HTTPNotFound()
        return self._render("_board.html", request, reader, **await self._board_context(reader, wall=True))

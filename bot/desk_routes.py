"""The desk page's addresses (`bot.desk_web`: /desk, /wallboard) and the headers every answer under them
carries. Registered at start; the page's own code (its rendering, the desk's rules for who gets in) is
imported at the first request to one of them: a desk nobody opens never loads it (start-up time and memory,
issue 16). Jinja2 is still looked for at start (`bot.packages`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# (method, path, the `DeskPages` method that answers it)
ROUTES = (
    ("GET", "/desk", "page"),
    ("GET", "/desk/live", "page_live"),
    ("GET", "/desk/incident/{key}", "incident"),
    ("GET", "/desk/incident/{key}/live", "incident_live"),
    ("GET", "/desk/login/{token}", "login_form"),
    ("POST", "/desk/login/{token}", "login"),
    ("POST", "/desk/logout", "logout"),
    ("GET", "/wallboard/{token}", "wall"),
    ("GET", "/wallboard/{token}/live", "wall_live"),
)


def register(app: web.Application, pages: Callable[[], Any]) -> None:
    """The routes, answered by `pages()` (a `DeskPages`), asked for at each request."""
    for method, path, name in ROUTES:
        add = app.router.add_get if method == "GET" else app.router.add_post
        add(path, _answered_by(pages, name))
    app.router.add_static("/desk/static", HERE / "static")
    app.on_response_prepare.append(harden)


def _answered_by(pages: Callable[[], Any], name: str):
    async def answer(request: web.Request) -> web.StreamResponse:
        return await getattr(pages(), name)(request)
    return answer


async def harden(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(("/desk", "/wallboard")):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.path.startswith("/desk/static/"):
            response.headers["Cache-Control"] = "no-store"

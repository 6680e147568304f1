"""`python -m bot` runs the bot; `python -m bot migrate` applies migrations; `check-config` validates."""

from __future__ import annotations

import asyncio
import gc
import linecache
import sys

from bot import logs, packages
from bot.settings import load_settings
from domain.errors import ConfigError

USAGE = "usage: python -m bot [run | migrate | check-config]"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "run"
    if command not in ("run", "migrate", "check-config") or len(argv) > 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logs.hide(settings.bot_token)
    for secret in settings.mail.secrets() if settings.mail else ():
        logs.hide(secret)
    for secret in settings.max.secrets() if settings.max else ():
        logs.hide(secret)
    for secret in settings.express.secrets() if settings.express else ():
        logs.hide(secret)
    logs.setup(settings.log_level)
    absent = packages.missing(settings)
    if absent and command != "migrate":
        print(f"not installed: {', '.join(absent)}; install the project's dependencies", file=sys.stderr)
        return 2
    if command == "check-config":
        print("configuration OK")
        return 0
    if command == "migrate":
        from bot.db import migrate

        asyncio.run(migrate(settings.database_url))
        print("migrations applied")
        return 0
    from bot.app import run

    # Source lines read while importing (tortoise reads its `models.py` for its base class's comments) are
    # only ever needed again to print a traceback, which reads them anew.
    linecache.clearcache()
    # What the imports made (aiogram's models of the whole Bot API, the ORM's models, the handlers: some
    # 220,000 objects, none of which is ever freed) is kept out of the garbage collector's full passes,
    # which would otherwise walk all of it each time (0.15 s here, the event loop stopped meanwhile).
    gc.freeze()
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

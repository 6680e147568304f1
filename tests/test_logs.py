"""The bot token never reaches the log: not in a message, its arguments, nor a traceback."""

import io
import logging

import pytest

from bot import logs
from tests.stub_api import TOKEN


@pytest.fixture
def bot_log():
    """The program's log handler, as `python -m bot` sets it up, writing into a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.setup("INFO")
    logs.hide(TOKEN)
    buffer = io.StringIO()
    (handler,) = root.handlers
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)


def test_the_bot_token_is_masked_in_every_line(bot_log):
    log = logging.getLogger("aiogram.dispatcher")
    log.warning("request to %s failed", f"https://api.telegram.org/bot{TOKEN}/getMe")
    log.info(f"polling with /bot{TOKEN}/getUpdates")
    try:
        raise ConnectionError(f"Cannot connect to https://api.telegram.org/bot{TOKEN}/getUpdates")
    except ConnectionError:
        log.exception("polling failed")
    out = bot_log.getvalue()
    assert "request to https://api.telegram.org/bot***/getMe failed" in out
    assert "polling with /bot***/getUpdates" in out
    assert "ConnectionError: Cannot connect to https://api.telegram.org/bot***/getUpdates" in out
    assert TOKEN not in out and TOKEN.split(":")[1] not in out

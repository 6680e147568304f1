"""MAX settings: off until MAX_BOT_TOKEN is set, one line naming the key for a bad value (never the token), the
webhook's URL and secret required in webhook mode; and maxapi is not loaded by a bot without MAX."""

import os
import subprocess
import sys

import pytest

from bot.max_settings import API_URL
from bot.settings import load_settings
from domain.errors import ConfigError
from tests.process import PROJECT
from tests.stub_api import TOKEN

BASE = {"BOT_TOKEN": TOKEN}
MAX_TOKEN = "f9LHodD0cOKrZ3hv-Ax_0123456789abcdefXYZ"
WEBHOOK = {**BASE, "MODE": "webhook", "WEBHOOK_URL": "https://desk.example/telegram/webhook",
           "WEBHOOK_SECRET": "tg-secret", "MAX_BOT_TOKEN": MAX_TOKEN}


def test_max_is_off_until_its_token_is_set():
    assert load_settings(BASE).max is None
    assert load_settings({**BASE, "MAX_API_URL": "http://127.0.0.1:9"}).max is None


def test_max_settings_are_read_and_the_token_never_shown():
    settings = load_settings({**BASE, "MAX_BOT_TOKEN": MAX_TOKEN}).max
    assert (settings.token, settings.api_url, settings.webhook_url) == (MAX_TOKEN, API_URL, None)
    assert MAX_TOKEN not in repr(settings)
    assert load_settings({**BASE, "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": "http://127.0.0.1:8081/"}).max.api_url \
        == "http://127.0.0.1:8081"


@pytest.mark.parametrize(("env", "line"), [
    ({"MAX_BOT_TOKEN": "short"}, "MAX_BOT_TOKEN='<hidden>' is invalid; expected the bot's token"),
    ({"MAX_BOT_TOKEN": MAX_TOKEN + " x"}, "MAX_BOT_TOKEN='<hidden>' is invalid"),
    ({"MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": "ftp://max.example"}, "MAX_API_URL='ftp://max.example' is invalid"),
    ({"MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": "max.example"}, "MAX_API_URL='max.example' is invalid"),
])
def test_a_bad_value_names_its_key(env, line):
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, **env})
    assert str(raised.value).startswith(line)
    assert MAX_TOKEN not in str(raised.value)


def test_webhook_mode_needs_the_max_webhook_url_and_secret():
    with pytest.raises(ConfigError, match=r"^MAX_WEBHOOK_URL='' is invalid"):
        load_settings(WEBHOOK)
    with pytest.raises(ConfigError, match=r"^MAX_WEBHOOK_URL='http://desk.example/max/webhook' is invalid"):
        load_settings({**WEBHOOK, "MAX_WEBHOOK_URL": "http://desk.example/max/webhook"})
    with pytest.raises(ConfigError, match=r"^MAX_WEBHOOK_URL='https://desk.example/other' is invalid"):
        load_settings({**WEBHOOK, "MAX_WEBHOOK_URL": "https://desk.example/other"})
    url = {**WEBHOOK, "MAX_WEBHOOK_URL": "https://desk.example/max/webhook"}
    with pytest.raises(ConfigError, match=r"^MAX_WEBHOOK_SECRET is not set"):
        load_settings(url)
    with pytest.raises(ConfigError, match=r"^MAX_WEBHOOK_SECRET is invalid"):
        load_settings({**url, "MAX_WEBHOOK_SECRET": "under_score"})  # MAX allows letters, digits and - only
    settings = load_settings({**url, "MAX_WEBHOOK_SECRET": "max-secret-1"}).max
    assert (settings.webhook_url, settings.webhook_secret) == ("https://desk.example/max/webhook", "max-secret-1")
    assert "max-secret-1" not in repr(settings)


def test_check_config_stops_with_one_line_naming_the_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "MAX_", "MAIL_"))}
    env.update(BASE, MAX_BOT_TOKEN="bad token with spaces", PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "-m", "bot", "check-config"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: MAX_BOT_TOKEN='<hidden>' is invalid")
    assert "spaces" not in done.stderr + done.stdout


def test_a_bot_without_max_never_loads_maxapi():
    code = "import sys, bot.app, bot.web, bot.settings; print(any(m.startswith('maxapi') for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_max_variable_is_in_the_example_env():
    from pathlib import Path

    example = (Path(__file__).resolve().parent.parent / "config.example.env").read_text()
    for name in ("MAX_BOT_TOKEN", "MAX_API_URL", "MAX_WEBHOOK_URL", "MAX_WEBHOOK_SECRET"):
        assert f"\n{name}=" in example

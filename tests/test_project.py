"""The project's promises to a new user: the README's commands are the ones CI runs."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_screen = readme[: readme.index("## ")]
    assert "./scripts/test" in first_screen and "./scripts/run" in first_screen
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert any(line.split()[-1] == "./scripts/test" for line in ci)


def test_every_variable_is_documented_in_the_example_env():
    example = (ROOT / "config.example.env").read_text()
    for name in ("BOT_TOKEN", "TELEGRAM_API_URL", "DATABASE_URL", "LEAD_IDS", "STAFF_CHAT_ID", "TIMEZONE",
                 "DEFAULT_LANG", "POLICY_FILE", "MODE", "WEBHOOK_URL", "WEBHOOK_SECRET", "WEB_HOST", "WEB_PORT",
                 "SCHEDULER_TICK", "THREAD_WINDOW", "REOPEN_WINDOW", "LOG_LEVEL"):
        assert f"\n{name}=" in example, name

"""Start-up imports only what the first update needs (issue 16: start-up time and memory); what is left
for first use is still looked for at start, so a missing package shows then and not at 3 a.m."""

import subprocess
import sys
from types import SimpleNamespace

import pytest

from bot import __main__ as entry
from bot import packages
from bot.settings import load_settings
from domain import policy
from domain.errors import ConfigError
from domain.policy import load_policy
from tests import databases
from tests.stub_api import TOKEN

BASE = {"BOT_TOKEN": TOKEN}
MAIL = {"MAIL_IMAP_URL": "imaps://desk:secret@imap.vendor.example/INBOX",
        "MAIL_SMTP_URL": "smtp+starttls://desk:secret@smtp.vendor.example", "MAIL_FROM": "desk@vendor.example"}
LAZY = ("asyncpg", "jinja2", "aiohttp_jinja2", "matplotlib", "aioimaplib", "aiosmtplib", "holidays",
        "tortoise.migrations.api", "handlers.email.imap", "handlers.email.smtp")


def test_starting_imports_none_of_what_waits_for_first_use():
    code = f"import sys, bot.__main__, bot.app; print(sorted(set({LAZY!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_what_each_setting_needs():
    assert packages.needed(load_settings(BASE)) == {"jinja2": "the desk page", "matplotlib": "report charts"}
    pg = packages.needed(load_settings({**BASE, "DATABASE_URL": "postgres://desk:pw@db/desk"}))
    assert pg["asyncpg"] == "PostgreSQL"
    mail = packages.needed(load_settings({**BASE, **MAIL}))
    assert {"aioimaplib", "aiosmtplib"} <= mail.keys() and "asyncpg" not in mail and "pybotx" not in mail


def test_installed_packages_are_found_without_importing_them():
    settings = load_settings({**BASE, **MAIL, "DATABASE_URL": "postgres://desk:pw@db/desk"})
    before = set(sys.modules)
    assert packages.missing(settings) == []
    assert not {"aioimaplib", "aiosmtplib", "matplotlib"} & (set(sys.modules) - before)


def test_a_missing_package_stops_check_config_and_start(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .env here
    for key, value in {**BASE, **MAIL}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(packages, "find_spec", lambda name: None if name == "aiosmtplib" else object())
    for command in (["check-config"], ["run"]):
        assert entry.main(command) == 2
        err = capsys.readouterr().err
        assert err.strip() == "not installed: aiosmtplib (e-mail replies); install the project's dependencies"
    monkeypatch.delenv("MAIL_SMTP_URL")
    monkeypatch.delenv("MAIL_IMAP_URL")
    monkeypatch.delenv("MAIL_FROM")
    assert entry.main(["check-config"]) == 0  # without e-mail the package is not needed


def test_the_models_are_built_without_parsing_their_source():
    """Tortoise looks for `#:` field comments by parsing the models' module once per model (about 0.4 s of
    each start); the desk writes none, so the search is off and the source is never read."""
    code = "import linecache, domain.models as m; print(any(m.__file__ in key for key in linecache.cache))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_calendars_country_is_checked_without_loading_every_country():
    """The default policy names Russia: its code is checked against the package's registry, and no country's
    tables are imported until a deadline needs them (listing the countries imported all of them: 8 MB)."""
    code = ("import sys; from domain.policy import load_policy; load_policy(None); "
            "print(sorted(m for m in sys.modules if m.startswith('holidays.countries')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("country", ["ru", "GB", "UK", "deu"])
def test_a_known_country_code_is_taken(tmp_path, country):
    path = tmp_path / "policy.toml"
    path.write_text(f'[calendars.business]\ncountry_holidays = "{country}"\n')
    assert load_policy(str(path)).calendars["business"].country_holidays == country


@pytest.mark.parametrize("country", ["XX", "Russia", "R", ""])
def test_an_unknown_country_code_is_refused(tmp_path, country):
    path = tmp_path / "policy.toml"
    path.write_text(f'[calendars.business]\ncountry_holidays = "{country}"\n')
    with pytest.raises(ConfigError) as exc:
        load_policy(str(path))
    assert str(exc.value) == (f"{path}: calendars.business.country_holidays = '{country}' is invalid; "
                              "expected a country code the holidays package knows, like RU")


def test_a_calendars_country_is_checked_without_importing_the_holidays_package():
    """Importing `holidays` runs every lunisolar calendar's tables (about 5 MB, and at start a full garbage
    collection over aiogram's models): the codes are read from its registry's source; the package is
    imported at the first deadline of a calendar that names a country."""
    code = "import sys; from domain.policy import load_policy; load_policy(None); print('holidays' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_codes_read_from_the_registry_are_the_packages():
    from holidays.registry import EntityLoader

    policy.country_codes.cache_clear()
    assert policy.country_codes() == frozenset(EntityLoader.get_country_codes())


def test_a_registry_written_otherwise_is_asked_through_the_package(monkeypatch, tmp_path):
    from holidays.registry import EntityLoader

    (tmp_path / "registry.py").write_text("COUNTRIES = build_the_registry()\n")
    monkeypatch.setattr(policy, "find_spec", lambda name: SimpleNamespace(origin=str(tmp_path / "__init__.py")))
    policy.country_codes.cache_clear()
    try:
        assert policy.country_codes() == frozenset(EntityLoader.get_country_codes())
    finally:
        policy.country_codes.cache_clear()


def test_a_calendar_naming_a_country_without_the_holidays_package_is_refused(monkeypatch):
    monkeypatch.setattr(policy, "find_spec", lambda name: None)
    policy.country_codes.cache_clear()
    try:
        with pytest.raises(ConfigError) as exc:
            load_policy(None)
        assert str(exc.value) == ("not installed: holidays (the calendars' public holidays); install the "
                                  "project's dependencies")
    finally:
        policy.country_codes.cache_clear()


def test_the_desk_pages_code_is_loaded_at_its_first_request_not_at_start():
    code = "import sys, bot.__main__, bot.app; print('bot.desk_web' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_desk_routes_answer_by_the_pages_own_methods():
    """The addresses registered at start are the page's: each names a method `DeskPages` has."""
    from bot import desk_routes
    from bot.desk_web import DeskPages

    assert all(callable(getattr(DeskPages, name, None)) for _, _, name in desk_routes.ROUTES)


def test_what_the_imports_made_is_frozen_before_the_bot_runs(monkeypatch, tmp_path):
    """A full garbage collection walks every object it tracks: aiogram's models, made at import and never
    freed, are most of them (0.15 s a pass). They are frozen before the bot runs."""
    import gc

    import bot.app

    frozen = []

    async def run(settings):  # stands in for the bot: what matters is what it starts with
        frozen.append(gc.get_freeze_count())

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setattr(bot.app, "run", run)
    gc.unfreeze()
    try:
        assert entry.main(["run"]) == 0
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 0


def test_the_source_lines_read_while_importing_are_dropped_before_the_bot_runs(monkeypatch, tmp_path):
    """Importing tortoise reads its `models.py` through `linecache` (for its base class's comments) and the
    lines stayed in memory for the life of the process; a traceback reads what it shows anew."""
    import linecache

    import tortoise.models

    import bot.app

    linecache.getlines(tortoise.models.__file__)  # as the import leaves it
    cached = []

    async def run(settings):
        cached.append(tortoise.models.__file__ in linecache.cache)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setattr(bot.app, "run", run)
    try:
        assert entry.main(["run"]) == 0
    finally:
        import gc

        gc.unfreeze()
    assert cached == [False]


@pytest.mark.skipif(databases.on_postgres(), reason="SQLite's page cache; PostgreSQL keeps its own")
async def test_a_pass_over_every_open_incident_keeps_sqlites_page_cache_small(db):
    """The policy recompute reads every open incident once: SQLite would keep 2 MB of their pages for the
    life of the process. Inside `small_cache` the cache is small; afterwards it is what it was."""
    from tortoise import Tortoise

    from bot.db import small_cache

    async def cache_size() -> int:
        rows = await Tortoise.get_connection("default").execute_query_dict("PRAGMA cache_size")
        return rows[0]["cache_size"]

    before = await cache_size()
    async with small_cache(db):
        assert await cache_size() == -256
    assert await cache_size() == before


@pytest.mark.skipif(databases.on_postgres(), reason="SQLite's page cache; PostgreSQL keeps its own")
async def test_the_page_cache_comes_back_when_the_pass_fails(db):
    from tortoise import Tortoise

    from bot.db import small_cache

    connection = Tortoise.get_connection("default")
    before = (await connection.execute_query_dict("PRAGMA cache_size"))[0]["cache_size"]
    with pytest.raises(RuntimeError):
        async with small_cache(db):
            raise RuntimeError("the database went away")
    assert (await connection.execute_query_dict("PRAGMA cache_size"))[0]["cache_size"] == before

"""The IMAP loop against a real IMAP server (pymap): mail is taken once, flagged only after it was taken in,
IDLE and polling both notice new mail, and a lost connection or a stop in the middle loses and doubles
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from email.message import EmailMessage

import pytest

from bot.mail_settings import load_mail
from domain.models import MailboxState, MailIn
from handlers.email.imap import ImapLoop
from handlers.email.parser import ParsedMail
from tests.clock import FrozenClock
from tests.mail_servers import ImapServer, Relay, free_port, wait_for


@pytest.fixture(scope="module")
def imap_server():
    server = ImapServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def folder(imap_server):
    """A mailbox of this test's own on the shared server."""
    name = "t" + uuid.uuid4().hex[:12]
    await imap_server.create(name)
    return name


def mail(n: int, body: str = "", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ivan <ivan@acme.ru>"
    msg["To"] = "support@vendor.example"
    msg["Subject"] = f"problem {n}"
    msg["Message-ID"] = f"<m{n}-{uuid.uuid4().hex[:6]}@acme.ru>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body or f"text {n}")
    return msg


class Intake:
    """Stands in for the desk's intake: records what it was given; can be made to hang on a subject."""

    def __init__(self) -> None:
        self.mails: list[ParsedMail] = []
        self.hang_on: str | None = None
        self.hanging = asyncio.Event()
        self.on_taken = None

    async def __call__(self, parsed: ParsedMail) -> str:
        if parsed.subject == self.hang_on:
            self.hanging.set()
            await asyncio.Event().wait()  # until the task is cancelled: a process stopped mid-intake
        self.mails.append(parsed)
        if self.on_taken:
            self.on_taken(parsed)
        return "intake"

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.mails]


def make_loop(url: str, intake: Intake, clock: FrozenClock, **kwargs) -> ImapLoop:
    settings = load_mail({"MAIL_IMAP_URL": url, "MAIL_SMTP_URL": "smtp://127.0.0.1:25",
                          "MAIL_FROM": "Support <support@vendor.example>"}.get)
    kwargs.setdefault("poll", timedelta(seconds=0.1))
    kwargs.setdefault("backoff", (0.05, 0.2))
    return ImapLoop(settings.imap, clock, intake, max_size=kwargs.pop("max_size", settings.max_size), **kwargs)


@contextlib.asynccontextmanager
async def running(loop: ImapLoop):
    task = asyncio.create_task(loop.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_waiting_mail_is_taken_in_order_and_flagged_after(db, imap_server, folder):
    await imap_server.deliver(folder, mail(1), mail(2), mail(3))
    intake, clock = Intake(), FrozenClock()
    flags_while_taking = []
    intake.on_taken = lambda parsed: flags_while_taking.append(parsed.subject)
    loop = make_loop(imap_server.url(folder), intake, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
        assert intake.subjects == ["problem 1", "problem 2", "problem 3"]
        flags = await imap_server.flags(folder)
        assert all("\\Seen" in f for f in flags.values()) and len(flags) == 3
        assert loop.health.connected
    rows = await MailIn.all().order_by("uid")
    assert [r.outcome for r in rows] == ["intake"] * 3 and [r.uid for r in rows] == sorted(flags)
    assert (await MailboxState.get()).last_uid == max(flags)


async def test_idle_notices_new_mail(db, imap_server, folder):
    intake = Intake()
    loop = make_loop(imap_server.url(folder), intake, FrozenClock(), poll=timedelta(hours=1))
    async with running(loop):
        await wait_for(lambda: loop.health.idle)
        await imap_server.deliver(folder, mail(1))
        await wait_for(lambda: intake.subjects == ["problem 1"])
        await wait_for(lambda: loop.health.idle)
        await imap_server.deliver(folder, mail(2))
        await wait_for(lambda: intake.subjects == ["problem 1", "problem 2"])


async def test_polling_when_idle_is_not_used(db, imap_server, folder):
    intake = Intake()
    loop = make_loop(imap_server.url(folder), intake, FrozenClock(), use_idle=False)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
        assert not loop.health.idle
        await imap_server.deliver(folder, mail(1))
        await wait_for(lambda: intake.subjects == ["problem 1"])


async def test_stopped_mid_intake_then_restarted_loses_and_doubles_nothing(db, imap_server, folder):
    await imap_server.deliver(folder, mail(1), mail(2), mail(3))
    intake, clock = Intake(), FrozenClock()
    intake.hang_on = "problem 2"
    async with running(make_loop(imap_server.url(folder), intake, clock)):
        await wait_for(lambda: intake.hanging.is_set())
    # Stopped inside the second mail's intake: the first is taken and flagged, the second is neither.
    assert intake.subjects == ["problem 1"]
    flags = await imap_server.flags(folder)
    uids = sorted(flags)
    assert ["\\Seen" in flags[uid] for uid in uids] == [True, False, False]
    assert await MailIn.all().count() == 1 and (await MailboxState.get()).last_uid == uids[0]

    intake.hang_on = None
    loop = make_loop(imap_server.url(folder), intake, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    assert intake.subjects == ["problem 1", "problem 2", "problem 3"]
    assert all("\\Seen" in f for f in (await imap_server.flags(folder)).values())


async def test_link_lost_after_the_commit_flags_on_reconnect_and_takes_nothing_twice(db, imap_server, folder):
    relay = Relay(imap_server.port)
    await relay.start()
    await imap_server.deliver(folder, mail(1), mail(2))
    intake = Intake()
    # The link drops right after the first mail's intake, before the server copy is flagged.
    intake.on_taken = lambda parsed: relay.cut() if parsed.subject == "problem 1" else None
    loop = make_loop(imap_server.url(folder, port=relay.port), intake, FrozenClock())
    try:
        async with running(loop):
            await wait_for(lambda: intake.subjects == ["problem 1", "problem 2"])
            await wait_for(lambda: loop.turns >= 1 and loop.health.connected)
            flags = await imap_server.flags(folder)
            assert all("\\Seen" in f for f in flags.values())
            assert relay.connections >= 2
            # a link lost while idle: mail that came meanwhile is taken after the reconnection
            await wait_for(lambda: loop.health.idle)
            relay.cut()
            await imap_server.deliver(folder, mail(3))
            await wait_for(lambda: len(intake.mails) == 3)

            async def recorded() -> bool:  # the stand-in intake has the mail before its row is committed
                return await MailIn.all().count() >= 3
            await wait_for(recorded)
    finally:
        await relay.stop()
    assert intake.subjects == ["problem 1", "problem 2", "problem 3"]
    assert await MailIn.all().count() == 3


async def test_server_away_then_back(db, imap_server, folder):
    """Nothing listens at first: the loop retries with backoff, says so in its health, and goes on when the
    server is back."""
    port = free_port()
    intake = Intake()
    loop = make_loop(imap_server.url(folder, port=port), intake, FrozenClock())
    async with running(loop):
        await wait_for(lambda: loop.health.last_error)
        assert not loop.health.connected and "imap-s3cret" not in loop.health.last_error
        relay = Relay(imap_server.port)
        await relay.start(port)
        try:
            await imap_server.deliver(folder, mail(1))
            await wait_for(lambda: intake.subjects == ["problem 1"])
            assert loop.health.connected and loop.health.last_error == ""
        finally:
            await relay.stop()


async def test_wrong_password_is_retried_and_not_shown(db, imap_server, folder):
    intake = Intake()
    url = imap_server.url(folder).replace("imap-s3cret", "wrong-pass")
    loop = make_loop(url, intake, FrozenClock())
    async with running(loop):
        await wait_for(lambda: loop.health.last_error)
        assert "LOGIN" in loop.health.last_error and "wrong-pass" not in loop.health.last_error
        assert not loop.health.connected


async def test_oversize_mail_is_taken_from_its_headers_and_flagged_for_a_person(db, imap_server, folder):
    await imap_server.deliver(folder, mail(1, body="x" * 5000), mail(2))
    intake = Intake()
    loop = make_loop(imap_server.url(folder), intake, FrozenClock(), max_size=2000)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    big, small = intake.mails
    assert big.oversize and big.subject == "problem 1" and big.text == "" and big.size > 5000
    assert not small.oversize and small.text == "text 2"
    flags = await imap_server.flags(folder)
    assert [sorted(flags[uid]) for uid in sorted(flags)] == [["\\Flagged", "\\Seen"], ["\\Seen"]]


async def test_a_renumbered_mailbox_doubles_nothing(db, imap_server, folder):
    first, second = mail(1), mail(2)
    await imap_server.deliver(folder, first)
    intake, clock = Intake(), FrozenClock()
    loop = make_loop(imap_server.url(folder), intake, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    before = (await MailboxState.get()).uidvalidity
    # The mailbox is rebuilt on the server (a migration to another server does this): new UIDVALIDITY,
    # the old mail comes back unread under a new UID, next to a new one.
    await imap_server.delete(folder)
    await imap_server.create(folder)
    await imap_server.deliver(folder, first, second)
    loop = make_loop(imap_server.url(folder), intake, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
    assert (await MailboxState.get()).uidvalidity != before
    assert intake.subjects == ["problem 1", "problem 2"]
    assert all("\\Seen" in f for f in (await imap_server.flags(folder)).values())


async def test_a_failing_intake_is_retried_and_the_mail_is_not_lost(db, imap_server, folder):
    await imap_server.deliver(folder, mail(1), mail(2))
    failures = []

    class Flaky(Intake):
        async def __call__(self, parsed):
            if parsed.subject == "problem 1" and len(failures) < 2:
                failures.append(parsed.subject)
                raise RuntimeError("database is away")
            return await super().__call__(parsed)

    intake = Flaky()
    loop = make_loop(imap_server.url(folder), intake, FrozenClock())
    async with running(loop):
        await wait_for(lambda: intake.subjects == ["problem 1", "problem 2"])
        await wait_for(lambda: loop.turns >= 1)  # the turn's flags are set after each intake
    assert failures == ["problem 1", "problem 1"]
    assert all("\\Seen" in f for f in (await imap_server.flags(folder)).values())

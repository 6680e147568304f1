"""A mail the desk cannot take in never stops the mailbox and is never lost: after a few failed intake
attempts it is recorded as unreadable, left flagged on the server, and each lead is told once."""

from __future__ import annotations

from domain import attempts
from domain.models import FailedAttempt, MailIn, Outbox
from handlers.email.imap import ATTEMPTS
from handlers.email.intake import make_on_unreadable
from tests.clock import FrozenClock
from tests.mail_servers import wait_for
from tests.test_email_imap import Intake, folder, imap_server, mail, make_loop, running  # noqa: F401 (fixtures)


class Settings:
    lead_ids = frozenset({501, 502})


class Failing(Intake):
    """An intake that fails on one subject every time, as a value the database refuses would."""

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject, self.attempts = subject, 0

    async def __call__(self, parsed):
        if parsed.subject == self.subject:
            self.attempts += 1
            raise ValueError("the database refused a value")
        return await super().__call__(parsed)


async def test_a_mail_that_always_fails_is_recorded_as_unreadable_and_the_leads_told(db, imap_server, folder):  # noqa: F811
    clock = FrozenClock()
    intake = Failing("problem 1")
    await imap_server.deliver(folder, mail(1), mail(2))
    loop = make_loop(imap_server.url(folder), intake, clock, on_unreadable=make_on_unreadable(Settings(), clock))
    async with running(loop):
        await wait_for(lambda: intake.subjects == ["problem 2"])

        async def all_seen() -> bool:
            return all("\\Seen" in f for f in (await imap_server.flags(folder)).values())
        await wait_for(all_seen)
        flags = await imap_server.flags(folder)
    assert intake.attempts == ATTEMPTS
    rows = await MailIn.all().order_by("uid")
    assert [r.outcome for r in rows] == ["unreadable", "intake"]
    first = min(flags)
    assert "\\Flagged" in flags[first] and "\\Flagged" not in flags[max(flags)]
    notices = await Outbox.filter(kind="notice").order_by("person_id")
    assert [n.person_id for n in notices] == [501, 502]
    assert all(n.params["say"] == "mailfix.unreadable" and n.params["args"]["subject"] == "problem 1"
               for n in notices)


async def test_a_mail_that_fails_once_is_taken_in_on_the_next_try(db, imap_server, folder):  # noqa: F811
    clock = FrozenClock()

    class Once(Failing):
        async def __call__(self, parsed):
            if parsed.subject == self.subject and self.attempts == 0:
                return await super().__call__(parsed)
            return await Intake.__call__(self, parsed)

    intake = Once("problem 1")
    await imap_server.deliver(folder, mail(1), mail(2))
    loop = make_loop(imap_server.url(folder), intake, clock, on_unreadable=make_on_unreadable(Settings(), clock))
    async with running(loop):
        await wait_for(lambda: intake.subjects == ["problem 1", "problem 2"])
        # The row is written after the intake returns, in the same transaction: wait for it before stopping.
        async def both_recorded() -> bool:
            return await MailIn.filter(outcome="intake").count() == 2
        await wait_for(both_recorded)
    assert [r.outcome for r in await MailIn.all().order_by("uid")] == ["intake", "intake"]
    assert not await Outbox.exists()



async def test_the_failed_attempts_are_counted_across_a_restart(db, imap_server, folder):  # noqa: F811
    """The count is stored: a mail that failed before a restart is not tried `ATTEMPTS` times again after it."""
    clock = FrozenClock()
    intake = Failing("problem 1")
    await imap_server.deliver(folder, mail(1), mail(2))
    # The first process fails once, then waits long before the next try; it is stopped meanwhile.
    loop = make_loop(imap_server.url(folder), intake, clock, backoff=(600, 600),
                     on_unreadable=make_on_unreadable(Settings(), clock))

    async def counted() -> bool:
        return await FailedAttempt.exists()
    async with running(loop):
        await wait_for(counted)
    [row] = await FailedAttempt.all()
    assert row.attempts == intake.attempts == 1 and "refused" in row.error
    while await attempts.count(row.key) < ATTEMPTS - 1:  # as if it had failed more before the restart
        await attempts.failed(row.key, row.error, clock.now())
    before = intake.attempts
    loop = make_loop(imap_server.url(folder), intake, clock, on_unreadable=make_on_unreadable(Settings(), clock))
    async with running(loop):
        await wait_for(lambda: intake.subjects == ["problem 2"])

        async def both_recorded() -> bool:
            return await MailIn.all().count() == 2
        await wait_for(both_recorded)
    assert intake.attempts == before + 1  # one more failure, the last one
    assert [r.outcome for r in await MailIn.all().order_by("uid")] == ["unreadable", "intake"]
    assert not await FailedAttempt.exists()  # set aside: its count is done with

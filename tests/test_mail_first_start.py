"""The desk's first start on a mailbox that holds mail: what nobody read is taken in, what people read is not."""

from __future__ import annotations

from tests.clock import FrozenClock
from tests.mail_servers import wait_for
from tests.test_email_imap import Intake, folder, imap_server, mail, make_loop, running  # noqa: F401 (fixtures)


async def test_the_first_start_takes_only_the_unread_mail(db, imap_server, folder):  # noqa: F811
    await imap_server.deliver(folder, mail(1), mail(2), mail(3))
    first, _, third = sorted(await imap_server.flags(folder))
    client = await imap_server.client(folder)
    assert (await client.uid("store", f"{first},{third}", "+FLAGS", r"(\Seen)")).result == "OK"  # read by people
    await client.logout()
    intake, clock = Intake(), FrozenClock()
    loop = make_loop(imap_server.url(folder), intake, clock)
    async with running(loop):
        await wait_for(lambda: loop.turns >= 1)
        await imap_server.deliver(folder, mail(4))
        await wait_for(lambda: "problem 4" in intake.subjects)
    assert intake.subjects == ["problem 2", "problem 4"]

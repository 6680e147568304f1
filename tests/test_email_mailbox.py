"""Mailbox bookkeeping on a real database: the last UID moves with the intake, a Message-ID is taken once,
a renumbered mailbox starts over without doubling, acknowledgements are counted per sender and hour."""

from datetime import UTC, datetime, timedelta

import pytest

from domain import mailbox
from domain.models import MailAck, MailboxState, MailIn

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
BOX = "desk@imap.example/INBOX"


async def test_a_mail_is_taken_once_and_the_uid_moves_with_it(db):
    assert await mailbox.position(BOX, 7, NOW) == mailbox.Position(7, 0)
    calls = []

    async def intake() -> str:
        calls.append(1)
        return "intake"

    assert await mailbox.take_in(BOX, 7, 101, "<a@acme.ru>", "ivan@acme.ru", NOW, intake) == "intake"
    assert await mailbox.position(BOX, 7, NOW) == mailbox.Position(7, 101)
    # The same mail again (delivered twice, or met under another UID): not taken, but passed.
    assert await mailbox.take_in(BOX, 7, 102, "<a@acme.ru>", "ivan@acme.ru", NOW, intake) is None
    assert calls == [1] and (await mailbox.position(BOX, 7, NOW)).last_uid == 102
    row = await MailIn.get(message_id="<a@acme.ru>")
    assert (row.uid, row.sender, row.outcome) == (101, "ivan@acme.ru", "intake")


async def test_a_failed_intake_leaves_the_mail_to_be_fetched_again(db):
    await mailbox.position(BOX, 7, NOW)

    async def broken() -> str:
        await MailIn.create(message_id="<half@x>", mailbox=BOX, uidvalidity=7, uid=0, sender="", outcome="x",
                            received_at=NOW)  # written, then rolled back with the rest
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await mailbox.take_in(BOX, 7, 101, "<a@acme.ru>", "ivan@acme.ru", NOW, broken)
    assert (await mailbox.position(BOX, 7, NOW)).last_uid == 0
    assert not await MailIn.exists()


async def test_a_new_uidvalidity_starts_over_without_doubling(db):
    await mailbox.position(BOX, 7, NOW)

    async def intake() -> str:
        return "intake"

    await mailbox.take_in(BOX, 7, 101, "<a@acme.ru>", "ivan@acme.ru", NOW, intake)
    assert await mailbox.position(BOX, 9, NOW) == mailbox.Position(9, 0, renumbered=True)
    assert await mailbox.take_in(BOX, 9, 1, "<a@acme.ru>", "ivan@acme.ru", NOW, intake) is None
    assert await mailbox.take_in(BOX, 9, 2, "<b@acme.ru>", "ivan@acme.ru", NOW, intake) == "intake"
    assert await mailbox.position(BOX, 9, NOW) == mailbox.Position(9, 2)
    assert await MailboxState.all().count() == 1


async def test_an_older_uid_does_not_move_the_mailbox_back(db):
    await mailbox.position(BOX, 7, NOW)

    async def intake() -> str:
        return "bounce"

    await mailbox.take_in(BOX, 7, 105, "<a@x>", "a@x", NOW, intake)
    await mailbox.take_in(BOX, 7, 103, "<b@x>", "b@x", NOW, intake)
    assert (await mailbox.position(BOX, 7, NOW)).last_uid == 105


async def test_acknowledgements_per_sender_and_hour(db):
    assert [await mailbox.claim_acknowledgement("Ivan@Acme.ru", NOW + timedelta(minutes=m)) for m in range(4)] == [
        True, True, True, False]
    assert await mailbox.claim_acknowledgement("petr@acme.ru", NOW + timedelta(minutes=4))
    assert not await mailbox.claim_acknowledgement("ivan@acme.ru", NOW + timedelta(minutes=59))
    assert await mailbox.claim_acknowledgement("ivan@acme.ru", NOW + timedelta(minutes=60))
    # rows that no longer count are cleaned as they age out
    assert await MailAck.filter(sender="ivan@acme.ru").count() == 3

"""The unbound inbox against the spam every real mailbox gets: mail from strangers is free to send, unlike
adding the bot to a Telegram group."""

from __future__ import annotations

from domain.inbox import unbound_inbox
from domain.models import Person
from tests.test_attack_mail_identity import raw
from tests.test_attack_mail_threading import take  # noqa: F401 (fixture)


async def test_spam_does_not_hide_a_real_strangers_mail(take):  # noqa: F811
    await take(raw("cto@newclient.example", "We signed yesterday, prod is down", "Please help", mid="<real@n>"))
    people_before = await Person.all().count()
    for n in range(25):
        await take(raw(f"offer{n}@spam{n}.example", "Cheap SEO", "Buy now", mid=f"<spam{n}@s>"))
    shown = [view.chat.ref for view in await unbound_inbox()]
    added = await Person.all().count() - people_before
    assert "cto@newclient.example" in shown, f"not among the {len(shown)} shown; {added} people added by spam"

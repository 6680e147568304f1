"""The unbound inbox under spam: every stranger stays in sight, and strangers add no person rows."""

from __future__ import annotations

from domain.inbox import unbound_inbox
from domain.models import Person
from tests.test_attack_mail_identity import raw
from tests.test_attack_mail_threading import take  # noqa: F401 (fixture)


async def test_beyond_the_newest_senders_the_rest_are_listed_by_name(take):  # noqa: F811
    people = await Person.all().count()
    for n in range(4):
        assert await take(raw(f"s{n}@stranger{n}.example", f"hello {n}", "text", mid=f"<s{n}@x>")) == "unbound"
    views = await unbound_inbox(chats=2)
    assert [v.chat.ref for v in views] == [f"s{n}@stranger{n}.example" for n in (3, 2, 1, 0)]
    assert [bool(v.messages) for v in views] == [True, True, False, False]
    assert [v.total for v in views] == [1, 1, 1, 1]
    assert await Person.all().count() == people

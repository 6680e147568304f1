"""A mail is taken once, recognised by its Message-ID together with its sender."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import mailbox

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def test_a_message_id_is_one_mail_per_sender(db):
    async def intake() -> str:
        return "intake"

    async def take(uid: int, sender: str) -> str | None:
        return await mailbox.take_in("box", 1, uid, "<alert@monitor>", sender, NOW, intake)

    assert await take(1, "ivan@acme.ru") == "intake"
    assert await take(2, "ops@beta.example") == "intake"  # another sender's mail with the same id
    assert await take(3, "ivan@acme.ru") is None  # the same mail again (a renumbered mailbox)
    assert await take(4, "ops@beta.example") is None


async def test_one_domain_gets_at_most_ten_acknowledgements_an_hour(db):
    from datetime import timedelta

    granted = [await mailbox.claim_acknowledgement(f"user{n}@acme.ru", NOW) for n in range(11)]
    assert granted == [True] * 10 + [False]
    assert await mailbox.claim_acknowledgement("ops@beta.example", NOW)  # another domain is not held back
    assert await mailbox.claim_acknowledgement("user11@acme.ru", NOW + timedelta(hours=1, seconds=1))

"""Edits, as Telegram clients send them: a message edited into a command."""


from tests.people import LEAD, lead


def edit_of(message: dict, text: str) -> dict:
    return {**message, "text": text, "edit_date": message["date"] + 5,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}


async def test_a_command_fixed_by_an_edit_is_answered(desk):
    typo = await desk.say(LEAD, lead, "/customerz")
    assert "unknown" in desk.last_reply(LEAD).lower()
    mark = desk.stub.mark()
    await desk.feed({"edited_message": edit_of(typo, "/customers")})
    # an edit is not run; in private the person is told to send the command again: never silence
    assert [text for text in desk.replies(LEAD, mark) if "send the command again" in text]
    assert not [text for text in desk.replies(LEAD, mark) if "ACME" in text or "No customers" in text]


async def test_an_edit_of_the_first_message_updates_the_title(desk):
    from domain import customers, people
    from domain.models import Incident
    from tests.people import ENGINEER, GROUP, customer
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    first = await desk.say(GROUP, customer, "hello")
    await desk.feed({"edited_message": {**first, "text": "payments are down for everyone",
                                        "edit_date": first["date"] + 30}})
    assert (await Incident.get(key="ACME-1")).title.startswith("payments are down")

"""Edits, as Telegram clients send them: a message edited into a command."""

import pytest

from tests.people import LEAD, lead


def edit_of(message: dict, text: str) -> dict:
    return {**message, "text": text, "edit_date": message["date"] + 5,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}


@pytest.mark.xfail(strict=True, reason="a lead who fixes a mistyped command by editing it gets no answer at all "
                                       "(a stranger's edited command is answered with a refusal)")
async def test_a_command_fixed_by_an_edit_is_answered(desk):
    typo = await desk.say(LEAD, lead, "/customerz")
    assert "unknown" in desk.last_reply(LEAD).lower()
    mark = desk.stub.mark()
    await desk.feed({"edited_message": edit_of(typo, "/customers")})
    # either run it, or say that an edit is not run and the command must be sent again: never silence
    assert desk.replies(LEAD, mark), "the edited command was silently ignored"


@pytest.mark.xfail(strict=True, reason="a customer who corrects their first message by an edit ('hello' → 'payments "
                                       "are down for everyone') leaves the incident's title, shown in /incidents, the "
                                       "staff-chat announcement and the reports, at the text before the edit")
async def test_an_edit_of_the_first_message_updates_the_title(desk):
    from domain import customers, people
    from domain.models import Incident
    from tests.people import ENGINEER, GROUP, customer
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", GROUP, "Acme", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(GROUP, "Acme")
    first = await desk.say(GROUP, customer, "hello")
    await desk.feed({"edited_message": {**first, "text": "payments are down for everyone",
                                        "edit_date": first["date"] + 30}})
    assert (await Incident.get(key="ACME-1")).title.startswith("payments are down")

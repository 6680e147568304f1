"""Hostile button presses: real buttons pressed at the wrong moment or by the wrong people."""

from datetime import timedelta

from domain import customers, people
from domain.models import Incident
from tests import fixtures
from tests.people import ENGINEER, GROUP, LEAD, customer, customer_2, engineer

acme = fixtures.acme  # its fixture


def last_to(desk, chat):
    return [c.params for c in desk.stub.find("sendMessage") if int(c.params["chat_id"]) == chat][-1]


async def test_old_rating_button_does_not_rate_a_reopened_incident(acme):
    first = await acme.say(GROUP, customer, "Problem")
    await acme.say(GROUP, engineer, "/resolve first try")
    stars = last_to(acme, GROUP)["reply_markup"]["inline_keyboard"][0]
    resolved_message = {"message_id": 90, "date": int(acme.clock.now().timestamp()),
                        "chat": acme.stub.chats[GROUP], "text": "resolved"}
    acme.clock.advance(timedelta(minutes=5))
    await acme.say(GROUP, customer, "still broken", reply_to_message=first)  # reopens ACME-1
    assert (await Incident.get(key="ACME-1")).status in ("open", "in_progress", "new")
    # a colleague scrolls up and presses 1 star on the old notice while the incident is open again
    await acme.press(resolved_message, customer_2, stars[0]["callback_data"])
    incident = await Incident.get(key="ACME-1")
    assert incident.rating is None, "an open incident got a rating"
    await acme.say(GROUP, engineer, "/resolve ACME-1 really fixed")
    new_stars = last_to(acme, GROUP)["reply_markup"]["inline_keyboard"][0]
    await acme.press(resolved_message, customer, new_stars[4]["callback_data"])
    assert (await Incident.get(key="ACME-1")).rating == 5



async def test_take_popup_fits_telegrams_200_characters(desk):
    from handlers.pings import TakeButton
    from tests.people import OTHER_GROUP, lead
    now = desk.clock.now()
    await customers.add_customer("MEGACORP_HOLDING", "24x7", "Megacorp", now)
    await customers.bind_by_code("MEGACORP_HOLDING", "telegram", str(OTHER_GROUP), "Megacorp", "supergroup", LEAD, now)
    await people.register_staff(ENGINEER, "engineer", None, now)
    desk.stub.chat(OTHER_GROUP, "Megacorp")
    named = {**engineer, "first_name": ("Александра-Виктория" * 4)[:64],
             "last_name": ("Константинопольская" * 4)[:64], "username": "a_very_long_username_of_32_char"}
    await desk.say(OTHER_GROUP, customer, "Portal is down")
    await desk.say(ENGINEER, named, "/take MEGACORP_HOLDING-1")
    incident = await Incident.get(key="MEGACORP_HOLDING-1")
    dm = {"message_id": 77, "date": int(now.timestamp()), "chat": {"id": LEAD, "type": "private"}, "text": "ping"}
    await desk.press(dm, lead, TakeButton(incident=incident.id).pack())
    popup = desk.stub.find("answerCallbackQuery")[-1].params.get("text", "")
    assert "already taken" in popup
    assert len(popup) <= 200, f"{len(popup)} characters"

"""`/unbind express REF` and `/unbind max REF` on a real bound chat (the eXpress and MAX stand-ins): the card
shows the id to give, the lead unbinds it from Telegram, the chat's open incident stays as it was and what
the chat writes next goes to the unbound inbox, as an unbound Telegram group's words do."""

import pytest

from domain.errors import Named
from domain.models import Conversation, Incident, UnboundMessage
from locales import t
from tests.people import LEAD, lead
from tests.test_express import ANNA, BOT_ID, CHAT, OTHER_CHAT
from tests.test_express import room as express_room  # noqa: F401 (fixture)
from tests.test_max_room import CHAT as MAX_CHAT
from tests.test_max_room import (
    IVAN,
    arrive,
    max_api,  # noqa: F401 (fixture)
)
from tests.test_max_room import bind as bind_max
from tests.test_max_room import room as max_room  # noqa: F401 (fixture)

USAGE = Named("usage", "unbind")


async def test_an_express_chat_is_unbound_by_the_id_its_card_shows(express_room):  # noqa: F811
    room, desk = express_room, express_room.desk
    room.botx.chat_names[CHAT] = "Acme IT"
    await room.bind()
    await room.botx.command(CHAT, ANNA, "The mail server is down")
    await room.settle()
    incident = await Incident.get(key="ACME-1")
    ref = f"{BOT_ID}:{CHAT}"
    await desk.say(LEAD, lead, "/customer ACME")
    assert f"  • express: Acme IT ({ref})" in desk.last_reply(LEAD)

    sent = len(room.botx.sent(CHAT))
    await desk.say(LEAD, lead, f"/unbind express {ref.upper()}")  # as typed: UUIDs in any case
    assert desk.last_reply(LEAD) == t("en", "unbind.done", code="ACME", name="Acme Corp", conversation=f"Acme IT ({ref})",
                                      channel=Named("desk.channel", "express"))
    chat = await Conversation.get(channel="express", ref=ref)
    assert chat.customer_id is None
    assert (await Incident.get(id=incident.id)).status == incident.status  # open, as it was
    await room.settle()
    assert len(room.botx.sent(CHAT)) == sent  # the chat is not told by the lead's command

    status, _ = await room.botx.command(CHAT, ANNA, "Is anyone there?")
    assert status == 202
    await room.settle()
    assert await UnboundMessage.filter(conversation_id=chat.id).values_list("text", flat=True) == ["Is anyone there?"]
    assert await Incident.all().count() == 1
    assert room.botx.sent(CHAT)[-1]["body"] == t("en", "unbound.notice")
    await desk.say(LEAD, lead, "/unbound")
    assert "express: " in desk.last_reply(LEAD) and f"({ref}), 1 message:" in desk.last_reply(LEAD)


async def test_an_express_chat_may_be_named_by_its_chat_uuid_alone(express_room):  # noqa: F811
    desk = express_room.desk
    chat = await express_room.bind()
    await desk.say(LEAD, lead, f"/unbind express {OTHER_CHAT}")  # under the desk's bot, bound to nobody
    assert desk.last_reply(LEAD) == t("en", "unbind.not_bound", channel=Named("desk.channel", "express"),
                                      ref=f"{BOT_ID}:{OTHER_CHAT}", usage=USAGE)
    await desk.say(LEAD, lead, f"/unbind express {CHAT}")
    assert desk.last_reply(LEAD) == t("en", "unbind.done", code="ACME", name="Acme Corp", conversation=chat.ref,
                                      channel=Named("desk.channel", "express"))
    assert (await Conversation.get(id=chat.id)).customer_id is None


@pytest.mark.parametrize("ref", ["not-a-uuid", f"{BOT_ID}:not-a-uuid", f"{BOT_ID}{CHAT}", f"x:{CHAT}"])
async def test_an_express_id_of_the_wrong_shape_is_answered_and_changes_nothing(express_room, ref):  # noqa: F811
    desk = express_room.desk
    await express_room.bind()
    await desk.say(LEAD, lead, f"/unbind express {ref}")
    assert desk.last_reply(LEAD) == t("en", "unbind.bad_ref", channel=Named("desk.channel", "express"), ref=ref,
                                      usage=USAGE)
    assert await Conversation.filter(channel="express", customer_id__isnull=False).count() == 1


async def test_a_max_chat_is_unbound_by_its_chat_id(max_room, max_api):  # noqa: F811
    desk = max_room
    chat = await bind_max(desk, max_api)
    await arrive(desk, max_api.message(MAX_CHAT, IVAN, "Не открывается отчёт", "mid.u1"))
    incident = await Incident.get(key="ACME-1")
    mark = desk.stub.mark()  # the lead is pinged about ACME-1 too: the answers are read among what they got
    await desk.say(LEAD, lead, "/customer ACME")
    assert any(f"  • max: Acme · поддержка ({MAX_CHAT})" in text for text in desk.replies(LEAD, mark))

    mark = desk.stub.mark()
    await desk.say(LEAD, lead, f"/unbind max {MAX_CHAT + 1}")  # another chat: bound to nobody
    assert desk.replies(LEAD, mark) == [t("en", "unbind.not_bound", channel=Named("desk.channel", "max"),
                                      ref=str(MAX_CHAT + 1), usage=USAGE)]
    assert (await Conversation.get(id=chat.id)).customer_id is not None

    mark = desk.stub.mark()
    await desk.say(LEAD, lead, f"/unbind MAX {MAX_CHAT}")
    assert desk.replies(LEAD, mark) == [t("en", "unbind.done", code="ACME", name="Acme",
                                          channel=Named("desk.channel", "max"),
                                          conversation=f"Acme · поддержка ({MAX_CHAT})")]
    assert (await Conversation.get(id=chat.id)).customer_id is None
    assert (await Incident.get(id=incident.id)).status == incident.status

    await arrive(desk, max_api.message(MAX_CHAT, IVAN, "Есть кто?", "mid.u2"))
    assert await UnboundMessage.filter(conversation_id=chat.id).values_list("text", flat=True) == ["Есть кто?"]
    assert await Incident.all().count() == 1

"""The bot's place in a customer group changing under it, as Telegram reports it (`my_chat_member`)."""

import pytest

from domain import customers
from tests.channels import tg
from tests.people import GROUP, LEAD, customer
from tests.stub_api import BOT_ID


@pytest.fixture
async def private_bot(desk):
    """Group privacy on (the README's second option: the bot is an admin of each customer group instead)."""
    desk.stub.can_read_all = False
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    desk.stub.admin_in.add(GROUP)
    return desk


def demoted(desk, owner):
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "DutyDesk", "username": desk.stub.username}
    admin = {"status": "administrator", "user": bot, "can_be_edited": False, "is_anonymous": False,
             "can_manage_chat": True, "can_delete_messages": True, "can_manage_video_chats": True,
             "can_restrict_members": True, "can_promote_members": False, "can_change_info": True,
             "can_invite_users": True, "can_post_stories": False, "can_edit_stories": False,
             "can_delete_stories": False, "can_send_welcome_messages": False}
    return {"my_chat_member": {"chat": desk.stub.chats[GROUP], "from": owner,
                               "date": int(desk.clock.now().timestamp()),
                               "old_chat_member": admin, "new_chat_member": {"status": "member", "user": bot}}}


async def test_bot_demoted_from_admin_with_privacy_on_tells_the_leads(private_bot):
    mark = private_bot.stub.mark()
    private_bot.stub.admin_in.discard(GROUP)
    await private_bot.feed(demoted(private_bot, customer))
    told = private_bot.replies(LEAD, mark)
    assert any("ACME" in text for text in told), told


def muted_until(desk, until: int):
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "DutyDesk", "username": desk.stub.username}
    new = {"status": "restricted", "user": bot, "is_member": True, "until_date": until, "can_send_messages": False}
    for right in ("can_send_audios", "can_send_documents", "can_send_photos", "can_send_videos",
                  "can_send_video_notes", "can_send_voice_notes", "can_send_polls", "can_send_other_messages",
                  "can_add_web_page_previews", "can_change_info", "can_invite_users", "can_pin_messages",
                  "can_manage_topics", "can_react_to_messages", "can_edit_tag"):
        new.setdefault(right, False)
    return {"my_chat_member": {"chat": desk.stub.chats[GROUP], "from": customer,
                               "date": int(desk.clock.now().timestamp()),
                               "old_chat_member": {"status": "member", "user": bot}, "new_chat_member": new}}


async def test_a_temporary_mute_ends(desk):
    from datetime import timedelta
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    await desk.feed(muted_until(desk, int((now + timedelta(hours=1)).timestamp())))
    desk.clock.advance(timedelta(hours=2))  # the mute is over; Telegram says nothing about it
    mark = desk.stub.mark()
    await desk.say(GROUP, customer, "Portal is down", date=int(desk.clock.now().timestamp()))
    assert any("ACME-1" in text for text in desk.replies(GROUP, mark)), "the acknowledgement was never tried"


async def test_a_chat_still_refusing_after_the_retry_is_given_up_again_quietly(desk):
    from datetime import timedelta

    from domain.models import Conversation
    now = desk.clock.now()
    await customers.add_customer("ACME", "24x7", "Acme", now)
    await customers.bind_by_code("ACME", "telegram", str(GROUP), "Acme", "supergroup", LEAD, now)
    desk.stub.chat(GROUP, "Acme")
    desk.stub.kicked_chats.add(GROUP)
    await desk.say(GROUP, customer, "Portal is down")  # the acknowledgement is refused: the chat is lost
    assert (await Conversation.get(**tg(GROUP))).unreachable_since == now
    told = [m for m in desk.stub.delivered if int(m["chat_id"]) == LEAD and "ACME" in m["text"]]
    desk.clock.advance(timedelta(hours=2))
    tries = len(desk.stub.find("sendMessage", among="arrived", where=lambda p: int(p["chat_id"]) == GROUP))
    await desk.say(GROUP, customer, "/new Another one")  # tried once more after an hour: refused again
    await desk.say(GROUP, customer, "/new And another")  # given up again: Telegram is not asked
    after = len(desk.stub.find("sendMessage", among="arrived", where=lambda p: int(p["chat_id"]) == GROUP))
    assert after == tries + 1
    assert (await Conversation.get(**tg(GROUP))).unreachable_since == desk.clock.now()
    lost_notices = [m for m in desk.stub.delivered if int(m["chat_id"]) == LEAD and "can no longer" in m["text"]]
    assert len(lost_notices) == 1 and told  # the leads heard once, not at every retry

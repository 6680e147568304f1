"""Hostile tests, third round: burning of live codes seen in a customer's chat (README "Behaviour decisions":
a live code shown where a customer's people read it is used up). Ways a code stays live though every member
of the chat has read it."""

import pytest

from domain.models import Incident, Invitation
from tests import test_chatroom as base
from tests import test_email_intake as mail_base
from tests.people import ENGINEER, GROUP, LEAD, customer, engineer, lead
from tests.test_burn import staff_invitation
from tests.test_chatroom import bound_chat, msg
from tests.test_max_room import CHAT as MAX_CHAT
from tests.test_max_room import (
    IVAN,
    arrive,
    max_api,  # noqa: F401 (fixture)
)
from tests.test_max_room import bind as bind_max
from tests.test_max_room import room as max_room  # noqa: F401 (fixture)

rdesk = base.rdesk  # its fixture
acme = mail_base.acme

GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Acme group"}
# Words shaped like a code (16+ letters, digits, - and _), as a pasted log, a stack trace or a list of
# licence keys holds them: the desk looks at the first 64 of a text's words only.
PADDING = " ".join(f"licencekey{number:06d}x" for number in range(64))


async def test_a_code_edited_into_a_customer_groups_message_is_burnt(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    first = await rdesk.say(GROUP, customer, "The portal is down", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    # The customer (or anyone in the group) edits the message to hold the staff invitation: everyone reads it.
    await rdesk.feed({"edited_message": {**first, "text": f"The portal is down; t.me/desk_bot?start={token}",
                                         "edit_date": first["date"] + 30}})
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_code_after_a_long_pasted_log_is_burnt(rdesk):
    await bound_chat(rdesk)
    token = await staff_invitation(rdesk)
    await rdesk.room.message(msg(rdesk, f"our licence keys: {PADDING}\nand the link we got: {token}"))
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_code_after_a_long_pasted_log_in_a_telegram_group_is_burnt(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    await rdesk.say(GROUP, customer, f"{PADDING} {token}", chat=GROUP_CHAT)
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_an_answer_with_a_code_after_a_long_list_is_not_sent(rdesk):
    from domain import people
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(GROUP, customer, "Which licence keys are valid?", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    mark = rdesk.stub.mark()
    await rdesk.say(ENGINEER, engineer, f"/reply ACME-1 valid: {PADDING}; join us: {token}")
    assert not any(token in text for text in rdesk.replies(GROUP, mark))
    assert (await Incident.get(key="ACME-1")).responded_at is None


async def test_a_code_in_bold_markdown_is_burnt(rdesk):
    await bound_chat(rdesk)
    token = await staff_invitation(rdesk)
    await rdesk.room.message(msg(rdesk, f"the link is __{token}__ please check"))
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_code_edited_into_a_max_chats_message_is_burnt(max_room, max_api):  # noqa: F811
    await bind_max(max_room, max_api)
    await arrive(max_room, max_api.message(MAX_CHAT, IVAN, "Не работает вход", "mid.e1"))
    token = await staff_invitation(max_room)
    edited = max_api.message(MAX_CHAT, IVAN, f"Не работает вход, вот ссылка: {token}", "mid.e1")
    edited["update_type"] = "message_edited"
    await arrive(max_room, edited)
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_code_in_a_safe_links_url_in_a_mail_is_burnt(acme):
    from domain import invitations, people
    now = mail_base.NOW
    await people.ensure_leads(frozenset({LEAD}), now)
    token = await invitations.create("staff", LEAD, now, role="engineer")
    # Microsoft Defender rewrites every link of a mail the company receives; clicking it still opens the bot.
    wrapped = ("https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Ft.me%2Fdesk_bot%3Fstart%3D"
               f"{token}&data=05%7C02%7Civan%40acme.ru&reserved=0")
    result, _ = await mail_base.take(acme, mail_base.mail(text=f"> Join the desk: {wrapped}\n\nWhat is this?"))
    assert result.outcome == "intake"
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_staff_invitation_shown_in_an_unbound_chat_is_burnt(rdesk):
    from domain.models import UnboundMessage
    token = await staff_invitation(rdesk)
    said = await rdesk.room.message(msg(rdesk, f"someone sent us this, what is it? {token}"))
    kept = await UnboundMessage.all().values_list("text", flat=True)
    assert not any(token in text for text in kept), (kept, [s.text for s in said])
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_code_in_a_reply_mails_subject_is_burnt(acme):
    from domain import invitations, people
    now = mail_base.NOW
    await people.ensure_leads(frozenset({LEAD}), now)
    result, _ = await mail_base.take(acme, mail_base.mail(subject="VPN down"))
    key = result.incident.key
    token = await invitations.create("staff", LEAD, now, role="engineer")
    result, _ = await mail_base.take(acme, mail_base.mail(subject=f"Re: [{key}] VPN down / invite {token}", key=key,
                                                          text="see the subject"))
    assert result.outcome == "joined", result.outcome
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_problem_report_holding_a_code_still_reaches_support_or_says_it_did_not(rdesk):
    from domain.models import IncidentMessage
    from locales import t
    await bound_chat(rdesk)
    token = await staff_invitation(rdesk)
    said = await rdesk.room.message(msg(rdesk, "The production database is down since 9:00, nobody can work! "
                                               f"PS: the link your colleague sent: {token}"))
    texts = [s.text for s in said]
    taken_in = await Incident.exists() and not await IncidentMessage.filter(text__contains=token).exists()
    assert taken_in or texts != [t("en", "burn.shown")], texts


@pytest.mark.parametrize("command", ["/status", "/help", "/lang en"])
async def test_a_code_after_another_command_in_a_telegram_group_is_burnt(rdesk, command):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    await rdesk.say(GROUP, customer, f"{command} the link we were sent: {token}", chat=GROUP_CHAT)
    assert (await Invitation.get(kind="staff")).used_at is not None


async def test_a_resolve_summary_holding_a_live_code_is_not_sent(rdesk):
    from domain import people
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    await people.register_staff(ENGINEER, "engineer", LEAD, rdesk.clock.now())
    await rdesk.say(GROUP, customer, "We need access for our new admin", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    mark = rdesk.stub.mark()
    await rdesk.say(ENGINEER, engineer, f"/resolve ACME-1 done, invite: https://t.me/desk_bot?start={token}")
    await rdesk.flush()
    assert not any(token in text for text in rdesk.replies(GROUP, mark))


async def test_an_announcement_holding_a_live_code_is_not_sent(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    mark = rdesk.stub.mark()
    await rdesk.say(LEAD, lead, f"/announce ACME New portal access: {token}")
    await rdesk.flush()
    assert not any(token in text for text in rdesk.replies(GROUP, mark))

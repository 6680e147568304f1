"""A live code shown where others read it is burnt whole, on every path (README "Behaviour decisions"): one rule
(`invitations.burn_shown`: every 32-character window of every run of the code alphabet) looked at once per message
on each channel's path; what else a person wrote goes on with the code masked; a chat bound to nobody burns too."""

import uuid

from domain import invitations, people
from domain.models import Incident, IncidentMessage, Invitation, Outbox, Staff, UnboundMessage
from locales import t
from tests import test_chatroom as base
from tests import test_email_intake as mail_base
from tests import test_express as express_base
from tests.people import CUSTOMER, GROUP, LEAD, customer, lead
from tests.test_burn import staff_invitation
from tests.test_chatroom import bound_chat, msg

rdesk = base.rdesk  # its fixture
acme = mail_base.acme
room = express_base.room
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Acme group"}
REPORT = "The production database is down since 9:00, nobody can work! PS: the link your colleague sent:"


async def test_a_report_holding_a_code_is_taken_in_with_the_code_masked_and_the_chat_told(rdesk):
    await bound_chat(rdesk)
    token = await staff_invitation(rdesk)
    said = await rdesk.room.message(msg(rdesk, f"{REPORT} https://t.me/desk_bot?start={token}"))
    assert [s.text for s in said] == [t("en", "burn2.shown_taken")]
    assert (await Invitation.get(kind="staff")).burnt_at is not None
    kept = await IncidentMessage.filter(source="customer").values_list("text", flat=True)
    assert kept == [f"{REPORT} https://t.me/desk_bot?start={invitations.MASK}"], kept
    assert (await Incident.get(key="ACME-1")).title.startswith("The production database is down")


async def test_a_report_holding_a_code_in_a_telegram_group_is_taken_in_masked(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    await rdesk.say(GROUP, customer, f"{REPORT} __{token}__", chat=GROUP_CHAT)
    assert t("en", "burn2.shown_taken") in rdesk.replies(GROUP)
    assert await IncidentMessage.filter(source="customer").values_list("text", flat=True) == [f"{REPORT} __{invitations.MASK}__"]
    await rdesk.say(CUSTOMER, customer, f"/start {token}")
    assert not await Staff.exists(user_id=CUSTOMER, active=True)


async def test_a_command_holding_a_code_is_not_run_and_the_code_burnt(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    await rdesk.say(GROUP, customer, f"/status here is what we were sent, please check it {token}", chat=GROUP_CHAT)
    assert rdesk.last_reply(GROUP) == t("en", "burn.shown")
    assert not await Incident.exists()


async def test_a_code_edited_into_a_telegram_message_is_masked_in_the_stored_text(rdesk):
    await rdesk.say(GROUP, lead, "/bind ACME", chat=GROUP_CHAT)
    first = await rdesk.say(GROUP, customer, "The portal is down", chat=GROUP_CHAT)
    token = await staff_invitation(rdesk)
    await rdesk.feed({"edited_message": {**first, "text": f"The portal is down; code {token}",
                                         "edit_date": first["date"] + 30}})
    assert await IncidentMessage.filter(source="customer").values_list("text", flat=True) == [f"The portal is down; code {invitations.MASK}"]
    assert rdesk.last_reply(GROUP) == t("en", "burn.shown")


async def test_a_code_in_an_unbound_chat_is_burnt_its_maker_told_where_and_the_inbox_keeps_it_masked(rdesk):
    token = await staff_invitation(rdesk)
    said = await rdesk.room.message(msg(rdesk, f"someone sent us this, what is it? -{token}-"))
    assert t("en", "burn.shown") in [s.text for s in said]  # kept for the lead to see, no report yet
    assert await UnboundMessage.all().values_list("text", flat=True) == [
        f"someone sent us this, what is it? -{invitations.MASK}-"]
    invitation = await Invitation.get(kind="staff")
    assert invitation.burnt_at is not None and invitation.used_conversation_id is None
    told = await Outbox.get(dedupe=f"burnt:{invitation.id}")
    assert told.params["say"] == "burn2.lead_told_unbound" and told.params["args"]["chat"] == "Acme support"


async def test_a_code_alone_in_an_unbound_telegram_group_after_start_is_answered_as_before(rdesk):
    token = await staff_invitation(rdesk)
    other = {"id": GROUP, "type": "supergroup", "title": "Somewhere"}
    await rdesk.say(GROUP, customer, f"/start {token}", chat=other)
    assert rdesk.last_reply(GROUP) == t("en", "err.invite_wrong_place_staff")
    assert (await Invitation.get(kind="staff")).used_at is None


async def test_a_staff_members_start_code_in_private_is_a_redemption(rdesk):
    token = await staff_invitation(rdesk)
    await rdesk.say(CUSTOMER, customer, f"/start {token}")
    assert await Staff.exists(user_id=CUSTOMER, active=True)
    assert (await Invitation.get(kind="staff")).burnt_at is None


async def test_a_text_with_no_run_of_the_code_alphabet_costs_no_query(db, monkeypatch):
    def no_query(*args, **kwargs):
        raise AssertionError("looked up")
    monkeypatch.setattr(Invitation, "filter", no_query)
    text = "KB4023057-rollback-fails " * 400  # 25 characters each: code-shaped words, none long enough
    assert not await invitations.holds_live_code(text, mail_base.NOW)


async def test_a_code_at_the_end_of_a_long_mail_is_found_and_masked_in_subject_and_body(acme):
    now = mail_base.NOW
    await people.ensure_leads(frozenset({LEAD}), now)
    first = await invitations.create("staff", LEAD, now, role="engineer")
    second = await invitations.create("staff", LEAD, now, role="engineer")
    log = "\n".join(f"licence-{uuid.UUID(int=n).hex}" for n in range(2000))  # 2000 runs of 40 characters
    result, _ = await mail_base.take(acme, mail_base.mail(subject=f"Invite {first}", text=f"{log}\nlast: {second}"))
    assert result.outcome == "intake"
    assert await Invitation.filter(burnt_at__isnull=False).count() == 2
    (kept,) = await IncidentMessage.filter(source="customer").values_list("text", flat=True)
    assert first not in kept and second not in kept and kept.startswith(f"Invite {invitations.MASK}\n\n")
    assert (await Incident.get(id=result.incident.id)).title == f"Invite {invitations.MASK}"


def edit_payload(chat: str, huid: str, sync_id: str, body: str) -> dict:
    """`system:event_edit`, as BotX tells the bot a message in a chat was edited."""
    return {
        "bot_id": express_base.BOT_ID, "sync_id": sync_id, "source_sync_id": None, "proto_version": 4,
        "command": {"body": "system:event_edit", "command_type": "system", "metadata": {}, "data": {"body": body}},
        "attachments": [], "async_files": [], "entities": [],
        "from": {"user_huid": huid, "user_udid": None, "group_chat_id": chat, "chat_type": "group_chat",
                 "ad_login": None, "ad_domain": None, "username": None, "is_admin": None, "is_creator": None,
                 "manufacturer": None, "device": None, "device_software": None,
                 "device_meta": {"pushes": None, "timezone": None, "permissions": None}, "platform": None,
                 "platform_package_id": None, "app_version": None, "locale": "en", "host": "cts.example.com"},
    }


async def test_a_code_edited_into_an_express_message_is_burnt_and_masked(room):
    await room.bind()
    status, sync_id = await room.botx.command(express_base.CHAT, express_base.ANNA, "The mail server is down")
    assert status == 202
    token = await invitations.create("staff", LEAD, room.desk.clock.now(), role="engineer")
    status = await room.botx.post("/express/command", edit_payload(
        express_base.CHAT, express_base.ANNA, sync_id, f"The mail server is down, see {token}"))
    assert status == 202
    await room.settle()
    assert (await Invitation.get(kind="staff")).burnt_at is not None
    kept = await IncidentMessage.filter(source="customer").values_list("text", flat=True)
    assert kept == [f"The mail server is down, see {invitations.MASK}"], kept
    told = room.botx.sent(express_base.CHAT)[-1]["body"]  # quoting the edited message: masked
    assert told.endswith(t("en", "burn.shown")) and token not in told, told

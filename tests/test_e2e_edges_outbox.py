"""End to end with the real program: the bot asks Telegram for its membership updates, follows a group that
became a supergroup, and tells the leads when it is removed from a customer's chat."""


from tests import fixtures
from tests.people import LEAD, customer, lead
from tests.stub_api import BOT_ID

OLD = -4518810793  # a basic group
NEW = -1001234567890  # the supergroup it becomes


running_bot = fixtures.running_bot  # its fixture


async def test_upgrade_and_removal_of_a_customer_group(stub, running_bot):
    polls = stub.find("getUpdates")
    assert "my_chat_member" in polls[-1].params["allowed_updates"]  # else Telegram never sends them

    stub.chat(OLD, "Acme", kind="group")
    mark = stub.mark()
    await stub.send(LEAD, lead, "/customer_add ACME 24x7 Acme")
    await stub.send(OLD, lead, "/bind ACME")
    await stub.wait_text(OLD, "now connected", since=mark)
    await stub.send(OLD, customer, "Портал недоступен")
    await stub.wait_text(OLD, "ACME-1", since=mark)

    # The group becomes a supergroup: the customer's messages there still reach their incidents.
    stub.chat(NEW, "Acme")
    await stub.send(OLD, lead, None, migrate_to_chat_id=NEW)
    await stub.send(NEW, lead, None, migrate_from_chat_id=OLD)
    mark = stub.mark()
    await stub.send(NEW, customer, "/new Второй вопрос")
    await stub.wait_text(NEW, "ACME-2", since=mark)
    await stub.send(LEAD, lead, "/take ACME-1")
    await stub.wait_text(NEW, "ACME-1: an engineer is on it", since=mark)

    # The bot is removed from it: the leads hear it, and a notice for the chat reaches them instead.
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "DutyDesk", "username": stub.username}
    await stub.feed({"my_chat_member": {"chat": stub.chats[NEW], "from": lead, "date": 0,
                                        "old_chat_member": {"status": "member", "user": bot},
                                        "new_chat_member": {"status": "kicked", "user": bot, "until_date": 0}}})
    await stub.wait_text(LEAD, "can no longer write", since=mark)
    mark = stub.mark()
    await stub.send(LEAD, lead, "/resolve ACME-1 Перезапустили")
    await stub.wait_text(LEAD, "Could not deliver", since=mark)
    assert not stub.find("sendMessage", mark, lambda p: int(p["chat_id"]) == NEW)

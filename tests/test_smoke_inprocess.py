from tests.people import GROUP, LEAD, customer, lead


async def test_lead_adds_customer_and_binds_group(desk):
    await desk.say(LEAD, lead, "/customer_add ACME premium Acme Corp")
    assert "ACME" in desk.last_reply(LEAD)
    desk.stub.chat(GROUP, "Acme support")
    await desk.say(GROUP, lead, "/bind ACME")
    assert "ACME" in desk.last_reply(GROUP)
    await desk.say(GROUP, customer, "/help")
    help_text = desk.last_reply(GROUP)
    assert "/status" in help_text and "/new" in help_text  # the customer's commands
    assert "/customer_add" not in help_text and "/take" not in help_text  # nobody else's

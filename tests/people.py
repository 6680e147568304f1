"""The cast of the tests: Telegram ids of a lead, staff, customers, strangers and their chats."""

from tests.stub_api import StubBotAPI

LEAD = 1001
ENGINEER = 2002
ARCHITECT = 2003
CUSTOMER = 3003
CUSTOMER_2 = 3004
STRANGER = 4004
GROUP = -100500
OTHER_GROUP = -100600

lead = StubBotAPI.user(LEAD, "lead_anna")
engineer = StubBotAPI.user(ENGINEER, "eng_boris")
architect = StubBotAPI.user(ARCHITECT, "arch_vera")
customer = StubBotAPI.user(CUSTOMER, "client_cat", lang="ru")
customer_2 = StubBotAPI.user(CUSTOMER_2, "client_dan")
stranger = StubBotAPI.user(STRANGER, "random_eve")

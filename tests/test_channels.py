"""The channel model: identities map to persons under internal ids, conversations to customers; unbinding
keeps a conversation's history, a moved Telegram group keeps its binding and incidents."""

from datetime import UTC, datetime

import pytest

from domain import customers, identities, people
from domain.errors import DeskError
from domain.identities import EMAIL, TELEGRAM
from domain.models import Conversation, Identity, Incident, IncidentMessage, Person

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_telegram_user_keeps_their_id_and_others_get_negative_ones(db):
    first = await identities.person_for(TELEGRAM, 5005, T0, "Tg User")
    assert first.id == 5005 and await identities.person_for(TELEGRAM, "5005", T0) == first
    mail = await identities.person_for(EMAIL, " Ivan@Acme.RU ", T0, "Ivan")
    assert mail.id == -1
    assert (await identities.person_for(EMAIL, "ivan@acme.ru", T0)).id == -1  # addresses compare lower-case
    assert (await identities.person_for(EMAIL, "olga@acme.ru", T0)).id == -2
    assert await Identity.filter(person_id=-1).values_list("ref", flat=True) == ["ivan@acme.ru"]
    assert await Person.all().count() == 3


async def test_a_person_is_reached_through_their_identity_on_a_channel(db):
    tg = await identities.person_for(TELEGRAM, 5005, T0)
    mail = await identities.person_for(EMAIL, "ivan@acme.ru", T0)
    assert await identities.address_of(tg.id, TELEGRAM) == "5005"
    assert await identities.address_of(mail.id, TELEGRAM) is None  # no Telegram identity: no DM
    await Identity.create(channel=EMAIL, ref="boris@vendor.example", person=tg)
    assert await identities.addresses_of(tg.id) == {TELEGRAM: "5005", EMAIL: "boris@vendor.example"}
    assert await identities.person_of(EMAIL, "BORIS@vendor.example") == tg
    assert await identities.person_of(EMAIL, "nobody@vendor.example") is None


async def test_seen_gives_a_person_written_before_identities_their_telegram_identity(db):
    await Person.create(id=7007, username="old_timer", full_name="Old", last_seen=T0)  # a row from before 0011
    person = await people.seen(7007, "old_timer", "Old", T0)
    assert person.id == 7007 and await Person.all().count() == 1
    assert await identities.address_of(7007, TELEGRAM) == "7007"
    assert await people.resolve_person("7007") == 7007
    assert await people.resolve_person("8008") == 8008  # named by a lead before they ever wrote


async def test_unbinding_keeps_the_conversation_and_binding_again_reuses_it(db):
    acme = await customers.add_customer("ACME", "8x5", "Acme", T0)
    await customers.add_customer("BETA", "8x5", "Beta", T0)
    chat = await customers.bind_by_code("ACME", TELEGRAM, "-100500", "Acme", "supergroup", 1, T0)
    incident = await Incident.create(key="ACME-1", number=1, customer=acme, plan="8x5", conversation=chat,
                                     priority="P3", opened_at=T0, last_activity_at=T0)
    assert (await customers.unbind(TELEGRAM, "-100500")).code == "ACME"
    assert await identities.conversation_of(TELEGRAM, "-100500") is None
    with pytest.raises(DeskError):
        await customers.unbind(TELEGRAM, "-100500")
    again = await customers.bind_by_code("BETA", TELEGRAM, "-100500", "Beta chat", "supergroup", 1, T0)
    assert again.id == chat.id and (await identities.conversation_of(TELEGRAM, "-100500")).customer.code == "BETA"
    assert (await Incident.get(id=incident.id)).conversation_id == chat.id  # the old incident stays where it was
    assert await Conversation.all().count() == 1


async def test_a_moved_group_takes_its_binding_and_incidents_and_leaves_its_messages(db):
    acme = await customers.add_customer("ACME", "8x5", "Acme", T0)
    chat = await customers.bind_by_code("ACME", TELEGRAM, "-500", "Acme", "group", 1, T0)
    incident = await Incident.create(key="ACME-1", number=1, customer=acme, plan="8x5", conversation=chat,
                                     priority="P3", opened_at=T0, last_activity_at=T0)
    await IncidentMessage.create(incident=incident, conversation=chat, ref="3", source="customer", sent_at=T0)
    moved = await customers.move_conversation(TELEGRAM, "-500", "-100500")
    assert moved.id == chat.id and moved.kind == "supergroup" and moved.customer.code == "ACME"
    assert (await Incident.get(id=incident.id)).conversation_id == chat.id
    left = await identities.any_conversation(TELEGRAM, "-500")
    assert left.customer_id is None
    assert await IncidentMessage.filter(conversation_id=left.id).values_list("ref", flat=True) == ["3"]
    assert (await customers.move_conversation(TELEGRAM, "-500", "-100500")).id == chat.id  # twice: no change
    assert await Conversation.all().count() == 2

"""The models' lookup tables are made per column on first use (`domain.lookups`, memory, #16): every kind of
filter the ORM offers still works on both databases, relations still go through their joins, an unknown
lookup is still refused, and only the columns asked about are kept."""

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise
from tortoise.exceptions import FieldError
from tortoise.expressions import Q

from bot.db import open_database
from domain.lookups import LookupTable
from domain.models import Conversation, Customer, Incident

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def two_incidents():
    acme = await Customer.create(code="ACME", name="Acme Ltd", plan="premium", created_at=NOW,
                                 contacts=[{"name": "Ann"}])
    beta = await Customer.create(code="BETA", name="Beta", plan="basic", created_at=NOW)
    chat_a = await Conversation.create(channel="telegram", ref="-1", customer=acme, kind="group")
    chat_b = await Conversation.create(channel="email", ref="beta.example", customer=beta, kind="domain")
    first = await Incident.create(key="ACME-1", number=1, customer=acme, plan="premium", conversation=chat_a,
                                  title="Printer on fire", priority="P1", opened_at=NOW, last_activity_at=NOW,
                                  deadline=NOW + timedelta(minutes=15))
    second = await Incident.create(key="BETA-1", number=1, customer=beta, plan="basic", conversation=chat_b,
                                   title="slow login", priority="P3", status="in_progress",
                                   opened_at=NOW + timedelta(hours=1), last_activity_at=NOW)
    return first, second


async def keys(query) -> list[str]:
    return sorted(await query.values_list("key", flat=True))


async def test_every_kind_of_lookup_finds_what_it_did(db):
    first, second = await two_incidents()
    assert await keys(Incident.filter(status="new")) == ["ACME-1"]
    assert await keys(Incident.filter(status__in=("new", "in_progress"))) == ["ACME-1", "BETA-1"]
    assert await keys(Incident.filter(status__not_in=("new",))) == ["BETA-1"]
    assert await keys(Incident.filter(priority__not="P1")) == ["BETA-1"]
    assert await keys(Incident.filter(opened_at__gte=NOW + timedelta(minutes=1))) == ["BETA-1"]
    assert await keys(Incident.filter(opened_at__lt=NOW + timedelta(minutes=1))) == ["ACME-1"]
    assert await keys(Incident.filter(deadline__isnull=True)) == ["BETA-1"]
    assert await keys(Incident.filter(deadline=None)) == ["BETA-1"]  # None becomes `__isnull`
    assert await keys(Incident.filter(deadline__not_isnull=True)) == ["ACME-1"]
    assert await keys(Incident.filter(title__icontains="PRINTER")) == ["ACME-1"]
    assert await keys(Incident.filter(title__startswith="slow")) == ["BETA-1"]
    assert await keys(Incident.filter(title__iexact="SLOW LOGIN")) == ["BETA-1"]
    assert await keys(Incident.filter(number__range=(0, 2), key__endswith="-1")) == ["ACME-1", "BETA-1"]
    assert await keys(Incident.filter(pk=first.pk)) == ["ACME-1"]
    assert await keys(Incident.filter(pk__in=[second.pk])) == ["BETA-1"]
    assert await keys(Incident.filter(id__gt=first.id)) == ["BETA-1"]
    assert await keys(Incident.filter(Q(priority="P1") | Q(status="in_progress"))) == ["ACME-1", "BETA-1"]
    assert await keys(Incident.exclude(status="new")) == ["BETA-1"]
    # Relations: their `*_id` columns, the related row, and a join through them, both ways.
    acme = await Customer.get(code="ACME")
    assert await keys(Incident.filter(customer_id=acme.id)) == ["ACME-1"]
    assert await keys(Incident.filter(customer=acme)) == ["ACME-1"]
    assert await keys(Incident.filter(customer__code="BETA")) == ["BETA-1"]
    assert await keys(Incident.filter(conversation__channel__in=["email"])) == ["BETA-1"]
    assert await Customer.filter(incidents__priority="P1").values_list("code", flat=True) == ["ACME"]
    assert await Customer.filter(conversations__ref="beta.example").count() == 1
    assert await Customer.filter(contract_until__isnull=True).count() == 2
    # Updates and counts go through the same table.
    assert await Incident.filter(key="BETA-1", status__in=("in_progress",)).update(rating=5) == 1
    assert await Incident.filter(rating__gte=5).count() == 1


async def test_an_unknown_lookup_is_still_refused(db):
    with pytest.raises(FieldError):
        await Incident.filter(nosuch=1)
    with pytest.raises(FieldError):
        await Incident.filter(status__nosuch=1)
    assert "nosuch" not in Incident._meta.filters
    assert "customer" not in Incident._meta.filters  # a relation is not a column: it goes through its join


async def test_only_the_columns_asked_about_are_made(db):
    table = Incident._meta.filters
    assert isinstance(table, LookupTable)
    await Incident.filter(priority="P1").count()
    assert "priority" in table.made
    assert "summary" not in table.made and "summary__icontains" not in dict(table)
    assert "summary__icontains" in table  # asked now: made now
    assert "summary" in table.made


async def test_a_new_connection_makes_the_lookups_again(db):
    await Incident.filter(status__in=["new"]).count()
    assert "status" in Incident._meta.filters.made
    await Tortoise.close_connections()
    await open_database(db, apply_migrations=False)
    assert "status" not in Incident._meta.filters.made  # made again for this connection's database
    assert await Incident.filter(status__in=["new"]).count() == 0

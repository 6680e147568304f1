"""How times are shown: local to the customer (or the desk), and time left as a compact duration."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from domain.models import Customer
from locales.format import local, short, time_left

__all__ = ["local", "short", "time_left", "zone_of"]


def zone_of(customer: Customer | None, settings) -> ZoneInfo:
    return ZoneInfo(customer.tz) if customer is not None and customer.tz else settings.timezone

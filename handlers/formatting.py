"""Whose zone a time is shown in: the customer's, else the desk's (see `locales.format` for how)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from domain.models import Customer
from locales.format import time_left

__all__ = ["time_left", "zone_of"]


def zone_of(customer: Customer | None, settings) -> ZoneInfo:
    return ZoneInfo(customer.tz) if customer is not None and customer.tz else settings.timezone

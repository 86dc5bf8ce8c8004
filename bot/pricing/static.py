"""The static price: one number from the identity file, never stale, no window."""

from __future__ import annotations

from datetime import datetime

from bot.pricing.point import PricePoint, require_aware

__all__ = ["StaticSource"]


class StaticSource:
    name = "static"

    def __init__(self, msat_per_kwh: int, origin: str = "static price from the identity file"):
        self.point = PricePoint(msat_per_kwh, self.name, origin, stale=False, valid_until=None)

    async def price_at(self, when: datetime) -> PricePoint:
        require_aware(when)
        return self.point

"""Dynamic pricing: tariff sources behind one interface, and the feeds that drive them.

``point`` (the :class:`PricePoint` every source answers), ``config`` (the ``[pricing]``
table), the sources ``static``, ``schedule``, ``spot`` and ``green``, ``rate`` (fiat per
bitcoin), ``feeds`` and ``book`` (last good data, persisted), ``service`` (the refresh
loops) and ``cli`` (``zapcharge price``). See docs/pricing.md.
"""

from bot.pricing.point import PricePoint, PriceSource

__all__ = ["PricePoint", "PriceSource"]

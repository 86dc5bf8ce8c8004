"""The SQLite store: the only package that runs SQL.

``db.Database`` owns the connection and the migrations; each domain (sessions, outbox,
lightning, ...) gets a small repository module here that takes the ``Database``.
"""

from bot.store.db import Database

__all__ = ["Database"]

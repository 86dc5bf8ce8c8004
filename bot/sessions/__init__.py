"""Charging sessions: the one home of a session's life.

- ``records``: the :class:`~bot.sessions.records.Session` record and every write to it
  (creation from a paid quote or a receipt, the refund-only session of a late top-up,
  each state change through the table); the store below only runs its SQL.
- ``machine``: the transition table, what resumes after a restart, what arrives late.
- ``tariff``, ``quotes``, ``settlement``, ``metering``, ``idle``: the money, without I/O.
- ``service``, ``steps``, ``refunding``: the worker that turns states into actions
  through the seams of :mod:`bot.ports`.
"""

__all__: list[str] = []

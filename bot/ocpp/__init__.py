"""OCPP central system, 1.6-J and 2.0.1 (and simulated charge points) on ``websockets``.

OCPP 2.0.1 lives in :mod:`bot.ocpp.v201` and shares the server and the websocket pump;
the subprotocol a charger negotiates picks the handlers (see :mod:`~bot.ocpp.server`).

Layers, outermost first:

* :mod:`~bot.ocpp.server`: :class:`CentralSystem`, the Service: handshake, registry of
  connected chargers, commands (``ChargerControl``), reconnect reconciliation.
* :mod:`~bot.ocpp.connection`: one websocket, pumping frames between the two below.
* :mod:`~bot.ocpp.handlers` and :mod:`~bot.ocpp.billing`: the answer to each CALL.
* :mod:`~bot.ocpp.frames`, :mod:`~bot.ocpp.readings`, :mod:`~bot.ocpp.commands`,
  :mod:`~bot.ocpp.auth`: protocol logic without I/O.

The ``ocpp`` library supplies the 1.6 schemas and action names here, and the charge point
side of :mod:`~bot.ocpp.simcharger`. Its server-side router is not used: it leaves
malformed frames unanswered, answers with OCPP 2.0 error codes, validates each message in
a thread, and cannot take a command's answer while a handler runs.
"""

from bot.ocpp.server import CentralSystem

__all__ = ["CentralSystem"]

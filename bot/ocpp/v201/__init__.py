"""OCPP 2.0.1 beside 1.6-J, behind the same seams (:mod:`bot.ports`).

* :mod:`~bot.ocpp.v201.frames`: the OCPP-J 2.0.1 error names, frame parsing and schemas.
* :mod:`~bot.ocpp.v201.handlers` and :mod:`~bot.ocpp.v201.billing`: the answer to each
  CALL a station sends; TransactionEvent becomes our transactions and meter log.
* :mod:`~bot.ocpp.v201.status`: connector states and charging states onto the 1.6 words.
* :mod:`~bot.ocpp.v201.readings`: meter values; :mod:`~bot.ocpp.v201.commands` and
  :mod:`~bot.ocpp.v201.control`: what we send.
* :mod:`~bot.ocpp.v201.simcharger`: the simulated 2.0.1 charging station.

The websocket pump (:mod:`bot.ocpp.connection`) and the server are shared; docs/ocpp.md
has the mapping onto the session model.
"""

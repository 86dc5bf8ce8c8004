"""Zaps through an operator's existing zapper: the bot listens for kind 9735 receipts.

- ``pinning``: the zapper's ``nostrPubkey`` from its lightning address, pinned at start.
- ``checks``: what a receipt must match once our own node has looked up its invoice.
- ``listener``: ``ReceiptListener``, the Service that turns confirmed receipts into sessions.

A receipt is only a hint: a session starts only after our own Lightning node reports the
invoice behind it paid, for that amount. The ``[zapper]`` table is parsed in
``bot.config.zapper``. Import the submodules directly.
"""

__all__: list[str] = []

"""Nostr Wallet Connect (NIP-47): a Lightning backend that is a wallet service on nostr.

``protocol`` is the pure codec (events' contents and tags, no I/O, no nostr SDK), shared
by the bot's client and the simulated wallet service; keys, signatures and the NIP-44 /
NIP-04 encryption come from ``bot.nostr.primitives``, the one seam to the nostr SDK.
"""

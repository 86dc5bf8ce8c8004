"""Everything nostr: the only package that imports ``nostr_sdk``."""

"""Zapcharge: pay for EV charging with Lightning zaps over nostr."""

__all__ = ["__version__"]

__version__ = "0.1.0"

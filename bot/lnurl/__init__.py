"""LNURL for chargers: pay (LUD-06/16, with NIP-57 zaps), withdraw (LUD-03), verify (LUD-21).

The pure protocol parts live here without I/O; the HTTP server only feeds them requests.
"""

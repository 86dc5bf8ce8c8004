"""The ``[zapper]`` table of an identity file: an external lightning address and its zapper.

::

    [zapper]
    lightning_address = "cp-001@pay.example.org"
    trusted_pubkeys = ["npub1...", "<64 hex>"]   # who may sign this charger's receipts
    pin_from_address = true                      # look the key up at start and pin it

Without ``pin_from_address`` at least one trusted key is needed: receipts from anyone
else are dropped. The parser lives here; ``bot.config`` only calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.config.keys import npub_to_hex
from bot.errors import ConfigError
from bot.tomlkeys import KeyReader

__all__ = ["ZapperConfig", "parse_zapper"]

# LUD-16: the user part is a-z0-9-_.+ ; the domain a host name, optionally with a port.
_ADDRESS = re.compile(r"^[a-z0-9._+-]+@[a-z0-9.-]+(:\d{1,5})?$")


@dataclass(frozen=True)
class ZapperConfig:
    lightning_address: str
    trusted_pubkeys: tuple[str, ...]  # hex
    pin_from_address: bool = False
    file: str = ""  # the identity file, for errors found at start (a pin that changed)

    @property
    def user(self) -> str:
        return self.lightning_address.split("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.lightning_address.split("@", 1)[1]


def parse_zapper(file: str, raw: Any) -> ZapperConfig | None:
    """The ``[zapper]`` table of ``file``, or None when there is none. Raises ConfigError."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(file, "zapper", "expected a table [zapper]")
    table = KeyReader(file, "zapper.", raw)
    address = table.raw("lightning_address", None)
    if not isinstance(address, str) or not _ADDRESS.match(address.strip().lower()):
        raise ConfigError(
            file, "zapper.lightning_address", f"expected name@domain, got {address!r}"
        )
    pin = table.raw("pin_from_address", False)
    if not isinstance(pin, bool):
        raise ConfigError(file, "zapper.pin_from_address", "expected true or false")
    keys = table.raw("trusted_pubkeys", [])
    table.done()
    if not isinstance(keys, list):
        raise ConfigError(file, "zapper.trusted_pubkeys", "expected an array of public keys")
    trusted: list[str] = []
    for index, key in enumerate(keys):
        try:
            trusted.append(npub_to_hex(key if isinstance(key, str) else ""))
        except ValueError:
            raise ConfigError(
                file, f"zapper.trusted_pubkeys[{index}]", "expected an npub1... or 64 hex key"
            ) from None
    if not trusted and not pin:
        raise ConfigError(
            file,
            "zapper.trusted_pubkeys",
            "list the zapper's nostrPubkey, or set pin_from_address = true",
        )
    return ZapperConfig(address.strip().lower(), tuple(dict.fromkeys(trusted)), pin, file)

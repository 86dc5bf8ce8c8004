"""The ``[console]`` table of ``relays.toml``: who may open the operator's console.

::

    [console]
    operators = ["npub1..."]         # NIP-98 log-in (a signed kind 27235 event)
    token_file = "console.token"     # a bearer token for scripts; mode 0600
    session_minutes = 30             # the log-in cookie's lifetime

Without operators and without a token file the console is closed to everyone (every
request gets 401). The token file is refused, like a charger's key file, when group or
others may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.config.keys import check_private, npub_to_hex
from bot.errors import ConfigError
from bot.tomlkeys import KeyReader, resolve_path

__all__ = ["MIN_TOKEN_CHARS", "ConsoleConfig", "parse_console", "read_token_file"]

MIN_TOKEN_CHARS = 32  # e.g. `openssl rand -hex 32` gives 64


@dataclass(frozen=True)
class ConsoleConfig:
    operators: tuple[str, ...] = ()  # hex public keys
    token_file: Path | None = None
    token: str | None = field(default=None, repr=False)  # the file's content, a bearer secret
    session_minutes: int = 30

    @property
    def open_to_anyone(self) -> bool:
        """False for a console nobody can log in to (the default)."""
        return bool(self.operators) or self.token is not None


def parse_console(table: KeyReader, base: Path) -> ConsoleConfig:
    operators = table.raw("operators", [])
    if not isinstance(operators, list) or not all(isinstance(o, str) for o in operators):
        raise table.fail("operators", 'expected a list of npubs, e.g. ["npub1..."]')
    hex_keys: list[str] = []
    for index, text in enumerate(operators):
        try:
            hex_keys.append(npub_to_hex(text.strip()))
        except (ConfigError, ValueError) as exc:
            raise table.fail(f"operators[{index}]", f"not a valid npub: {text!r}") from exc
    token_name = table.text("token_file", None)
    token_file = resolve_path(base, token_name) if token_name else None
    token = read_token_file(token_file, table.file, table.key("token_file")) if token_file else None
    config = ConsoleConfig(
        operators=tuple(dict.fromkeys(hex_keys)),
        token_file=token_file,
        token=token,
        session_minutes=table.integer("session_minutes", 30, minimum=1, maximum=24 * 60),
    )
    table.done()
    return config


def read_token_file(path: Path, file: str, key: str) -> str:
    """The bearer token in ``path``; ConfigError when missing, too short or readable by others."""
    check_private(path, file, key)
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ConfigError(
            file, key, f"{path}: use one line of at least {MIN_TOKEN_CHARS} characters, no spaces"
        )
    return token

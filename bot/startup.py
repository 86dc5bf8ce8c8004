"""What must hold before ``zapcharge run`` starts its services, and start-up failures as
one line.

:func:`preflight` checks what the config alone cannot: that the listen ports are free and
that Core Lightning's RPC socket is where ``[lightning]`` says, or that the Nostr Wallet
Connect wallet answers (within a bounded wait) with every method the bot needs.
``check-config`` runs the same checks (:func:`problems`), so a wrong ``lightning_dir`` is
caught before a deploy, not by a bot that logs "retrying" forever. :func:`describe` turns
whatever still ends the service group (the TaskGroup's ExceptionGroup) into the one line
the CLI prints.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import socket
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.config import Config, LightningConfig, ListenAddress
from bot.errors import LightningError, StartupError, ZapchargeError

__all__ = ["Problem", "describe", "leaves", "preflight", "problems", "public_url_warnings"]


@dataclass(frozen=True)
class Problem:
    what: str  # the thing: "ocpp listen 0.0.0.0:9000", "lightning socket ..."
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.fix}"


def _port_problem(name: str, listen: ListenAddress) -> Problem | None:
    if listen.port == 0:
        return None  # any free port
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((listen.host, listen.port))
        except OSError as exc:
            return Problem(
                f"[{name}] listen {listen}: {_reason(exc)}",
                f"stop what uses port {listen.port} or set another [{name}] listen",
            )
    return None


WALLET_WAIT_S = 8.0  # how long check-config and run wait for an NWC wallet's first answer


async def _ask_wallet(lightning: LightningConfig, wait_s: float) -> str | None:
    """None when the wallet answers with what the bot needs, else what is wrong."""
    from bot.lightning.nwc.backend import check_wallet
    from bot.lightning.nwc.client import NwcClient

    assert lightning.nwc is not None  # load_config reads it for backend "nwc"
    client = NwcClient(lightning.nwc, info_timeout_s=wait_s)
    try:
        await check_wallet(client, lightning.network, wait_s)
    except LightningError as exc:
        return str(exc)
    finally:
        await client.close()
    return None


def _wallet_problem(config: Config) -> Problem | None:
    lightning = config.lightning
    # Its own thread and event loop: this runs before (or beside) the bot's own loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        wrong = pool.submit(asyncio.run, _ask_wallet(lightning, WALLET_WAIT_S)).result()
    if wrong is None:
        return None
    return Problem(
        f"[lightning] nwc wallet ({lightning.nwc_uri_file}): {wrong}",
        "check that the wallet service runs and the URI is its current one",
    )


def _lightning_problem(config: Config) -> Problem | None:
    lightning = config.lightning
    if lightning.backend == "nwc":
        return _wallet_problem(config)
    if lightning.backend != "cln":
        return None  # the simulated node is started beside the bot (zapcharge simnode)
    where = f"set [lightning] lightning_dir (and network) in {config.path.name}"
    if not lightning.lightning_dir.is_dir():
        return Problem(
            f"[lightning] lightning_dir {lightning.lightning_dir} does not exist",
            f"{where} to lightningd's --lightning-dir",
        )
    try:
        mode = lightning.rpc_path.stat().st_mode
    except OSError:
        return Problem(
            f"no Core Lightning RPC socket at {lightning.rpc_path}",
            f"start lightningd (network {lightning.network}) or {where}",
        )
    if not stat.S_ISSOCK(mode):
        return Problem(f"{lightning.rpc_path} is not a socket", where)
    return None


def problems(config: Config, *, ports: bool = True) -> list[Problem]:
    """Everything that would stop ``run`` now; ``ports=False`` skips the port probes."""
    found = [_lightning_problem(config)]
    if ports:
        found += [
            _port_problem("ocpp", config.ocpp.listen),
            _port_problem("http", config.http.listen),
        ]
    return [p for p in found if p is not None]


def public_url_warnings(config: Config) -> list[str]:
    """What makes nostr clients refuse our NIP-05 names and lightning addresses.

    Common client libraries reject a NIP-05 domain with a ``:port`` and build
    ``https://<domain>/.well-known/...`` from lud16 and nip05 whatever ``public_url`` says.
    """
    parts = urlsplit(config.service.public_url)
    found = []
    if parts.port is not None:
        found.append(
            f"[service] public_url {config.service.public_url} has a port: nostr clients"
            " reject NIP-05 names and lightning addresses on a domain with a port; serve it"
            " on 443 behind a reverse proxy"
        )
    if parts.scheme == "http":
        found.append(
            f"[service] public_url {config.service.public_url} is plain http: wallets and"
            " nostr clients fetch https://<domain>/.well-known/...; use https"
        )
    return found


def preflight(config: Config) -> None:
    """Raise :class:`StartupError` with the first problem, before anything starts."""
    found = problems(config)
    if found:
        raise StartupError(str(found[0]))


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[error]``."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def describe(error: BaseException) -> str:
    """One line for a failure that ended the services: the first cause, named plainly."""
    causes = leaves(error)
    # Our own errors say what and why; prefer them to whatever they caused elsewhere.
    first = next((e for e in causes if isinstance(e, ZapchargeError)), causes[0])
    if isinstance(first, OSError) and first.errno is not None:
        where = f" ({first.filename})" if first.filename else ""
        # aiohttp and websockets put the address into the text: keep it, drop "[Errno N]".
        text = str(first).split("] ", 1)[-1] if str(first).startswith("[Errno") else ""
        return f"{text or _reason(first)}{where}"
    text = str(first).splitlines()[0] if str(first) else type(first).__name__
    return text if isinstance(first, ZapchargeError) else f"{type(first).__name__}: {text}"

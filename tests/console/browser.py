"""A headless Chromium (Debian's package) driven over the DevTools protocol with `websockets`.

Just what the console's end-to-end test needs: open a page, read it, click, wait for a
condition. The browser gets a NIP-07 signer the way an extension gives one: a
``window.nostr`` whose ``signEvent`` hands the event to the test (a DevTools binding),
which signs it with the operator's key and hands it back. Nothing in the console is
bypassed: the page's own script asks, signs and logs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from tests.console.signer import Signer
from tests.helpers import scaled

__all__ = ["Browser", "chromium_path", "headless_chromium"]

_NIP07_SHIM = """
(() => {
  const pending = new Map();
  let next = 0;
  window.__zapchargeSigned = (id, event) => { pending.get(id).resolve(event); pending.delete(id); };
  window.nostr = {
    getPublicKey: async () => %(pubkey)s,
    signEvent: (template) => new Promise((resolve, reject) => {
      next += 1;
      pending.set(next, {resolve, reject});
      window.zapchargeSign(JSON.stringify({id: next, event: template}));
    }),
  };
})();
"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One page of a headless Chromium."""

    def __init__(self, ws: ClientConnection, signer: Signer) -> None:
        self._ws = ws
        self._signer = signer
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._loaded = asyncio.Event()
        self.console_messages: list[str] = []
        self.signed: list[dict[str, Any]] = []

    async def pump(self) -> None:
        """Read DevTools messages: answers to our calls, and the events we care about."""
        async for raw in self._ws:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            method, params = message.get("method"), message.get("params", {})
            if method == "Page.loadEventFired":
                self._loaded.set()
            elif method == "Runtime.consoleAPICalled":
                self.console_messages.append(
                    " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                )
            elif method == "Runtime.bindingCalled" and params["name"] == "zapchargeSign":
                await self._sign(params)

    async def _sign(self, params: dict[str, Any]) -> None:
        request = json.loads(params["payload"])
        event = self._signer.sign(request["event"])
        self.signed.append(event)
        expression = f"window.__zapchargeSigned({request['id']}, {json.dumps(event)})"
        await self._send(
            "Runtime.evaluate",
            {"expression": expression, "contextId": params["executionContextId"]},
            wait=False,
        )

    async def _send(
        self, method: str, params: dict[str, Any] | None = None, *, wait: bool = True
    ) -> dict[str, Any]:
        self._ids += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = future
        await self._ws.send(json.dumps({"id": self._ids, "method": method, "params": params or {}}))
        if not wait:
            return {}
        answer = await asyncio.wait_for(future, scaled(15))
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    async def setup(self) -> None:
        await self._send("Page.enable")
        await self._send("Runtime.enable")
        await self._send("Runtime.addBinding", {"name": "zapchargeSign"})
        shim = _NIP07_SHIM % {"pubkey": json.dumps(self._signer.pubkey)}
        await self._send("Page.addScriptToEvaluateOnNewDocument", {"source": shim})

    async def open(self, url: str) -> None:
        self._loaded.clear()
        await self._send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loaded.wait(), scaled(30))

    async def evaluate(self, expression: str) -> Any:
        result = await self._send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def text(self) -> str:
        return str(await self.evaluate("document.body.innerText"))

    async def url(self) -> str:
        return str(await self.evaluate("location.href"))

    async def click(self, selector: str) -> None:
        """Click the element and wait for the page it leads to (if it leads to one)."""
        self._loaded.clear()
        found = await self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " if (!el) return false; el.click(); return true; })()"
        )
        assert found, f"nothing matches {selector}"

    async def loaded(self) -> None:
        await asyncio.wait_for(self._loaded.wait(), scaled(30))

    async def until(self, what: str, probe: Callable[[], Any], within: float = 20.0) -> None:
        deadline = time.monotonic() + scaled(within)
        while True:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"browser: {what} did not happen; page: {await self.text()}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path: str) -> None:
        import base64

        shot = await self._send("Page.captureScreenshot", {"format": "png"})
        _write(path, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def headless_chromium(signer: Signer) -> AsyncIterator[Browser]:
    binary = chromium_path()
    assert binary is not None
    with (
        # Chromium's helper processes may still write to the profile just after the main
        # one exited: a left-over file there must not fail the test.
        tempfile.TemporaryDirectory(
            prefix="zapcharge-chromium-", ignore_cleanup_errors=True
        ) as profile,
        open(os.path.join(profile, "stderr.log"), "w") as errors,  # noqa: ASYNC230 -- a local file
    ):
        process = subprocess.Popen(  # noqa: ASYNC220 -- started once, ended in finally
            [
                binary,
                "--headless=new",
                "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**os.environ, "HOME": profile},
        )
        try:
            port = await _devtools_port(process, profile)
            page_ws = await _page_target(f"127.0.0.1:{port}")
            async with connect(page_ws, max_size=2**24) as ws:
                browser = Browser(ws, signer)
                pump = asyncio.create_task(browser.pump())
                try:
                    await browser.setup()
                    yield browser
                finally:
                    pump.cancel()
                    await asyncio.gather(pump, return_exceptions=True)
        finally:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, scaled(10))
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)


async def _devtools_port(process: subprocess.Popen[bytes], profile: str) -> int:
    """Chromium writes the port it chose to ``DevToolsActivePort`` in its profile."""
    marker = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + scaled(30)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = _read(os.path.join(profile, "stderr.log"))[-2000:]
            raise AssertionError(f"chromium exited ({process.returncode}):\n{log}")
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(_read(marker).split()[0])
        await asyncio.sleep(0.05)
    raise AssertionError("chromium did not open its DevTools port in time")


async def _page_target(host: str) -> str:
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            async with http.get(f"http://{host}/json/list") as answer:
                targets = await answer.json()
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            await asyncio.sleep(0.05)
    raise AssertionError("chromium opened no page")


def _read(path: str) -> str:
    return Path(path).read_text(encoding="utf-8", errors="replace")


def _write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)

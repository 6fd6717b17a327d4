"""Run the simulator on a loopback port for tests, scripts and `python -m tests.simulator`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web
from aiohttp.log import access_logger

from .app import create_app
from .core import Simulator
from .profiles import PROFILES

SHUTDOWN_TIMEOUT = 2.0
"""Seconds the server waits for in-flight requests when it stops."""


class SimulatorServer:
    """The simulator app served on a free loopback port; use as `async with`."""

    def __init__(
        self,
        sim: Simulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app: web.Application | None = None,
        access_log: bool = False,
    ) -> None:
        """Serve `app` (default create_app(sim)) on host:port (0 = any free port)."""
        self.sim = sim
        self.host = host
        self._requested_port = port
        self._app = app
        self._access_log = access_log
        self._runner: web.AppRunner | None = None
        self.port = port

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    async def start(self) -> None:
        """Bind and start; handler_cancellation ends handlers whose client went away."""
        app = self._app if self._app is not None else create_app(self.sim)
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            access_log=access_logger if self._access_log else None,
        )
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Release requests held by TIMEOUT faults, then shut down."""
        if self._runner is None:
            return
        await self.sim.faults.cancel_hanging()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8800."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def api_url(self, provider: str) -> str:
        """Return the api_url a client of `provider` is configured with."""
        return PROFILES[provider].api_url(self.url)

    def token_url(self, provider: str) -> str | None:
        """Return the provider's token endpoint, where it has one."""
        return PROFILES[provider].token_url(self.url)

    def config(self, provider: str) -> dict[str, str]:
        """Complete config-entry data for `provider` (the sim's current credentials)."""
        return PROFILES[provider].config(
            self.url, self.sim.providers[provider].credentials
        )

"""Fixtures for the simulator core's tests: a tiny fake provider served next to the real ones."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import web
import pytest

from tests.simulator import Simulator, SimulatorServer, create_app, get_sim
from tests.simulator.app import default_provider_modules

FAKE_VEHICLES: list[dict[str, Any]] = [
    {
        "id": "v1",
        "state": "CHARGING",
        "soc": 50,
        "details": {"state": "ONLINE", "brand": "Kia"},
    },
    {
        "id": "v2",
        "state": "DISCONNECTED",
        "soc": 10,
        "details": {"state": "ONLINE", "brand": "BMW"},
    },
]


async def _list_vehicles(request: web.Request) -> web.Response:
    now = get_sim(request).sync()
    return web.json_response({"time": now.isoformat(), "items": FAKE_VEHICLES})


async def _get_vehicle(request: web.Request) -> web.Response:
    vehicle_id = request.match_info["vehicle_id"]
    for vehicle in FAKE_VEHICLES:
        if vehicle["id"] == vehicle_id:
            return web.json_response(vehicle)
    return FakeProvider().error_body(404, "no such vehicle")


async def _echo(request: web.Request) -> web.Response:
    return web.json_response({"received": await request.json()})


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("handler bug")


async def _token(request: web.Request) -> web.Response:
    client_id = (await request.post()).get("client_id")
    assert isinstance(client_id, str)
    return web.json_response({"access_token": f"token-for-{client_id}"})


class FakeProvider:
    """A minimal provider module with its own error shape, to exercise the core."""

    def register(self, app: web.Application, sim: Simulator) -> None:
        """Mount /fake and a root-level token route (like ev.energy's /o/token/)."""
        sub = web.Application()
        sub.router.add_get("/vehicles", _list_vehicles)
        sub.router.add_get("/vehicles/{vehicle_id}", _get_vehicle)
        sub.router.add_post("/vehicles/{vehicle_id}/echo", _echo)
        sub.router.add_get("/boom", _boom)
        app.add_subapp("/fake", sub)
        app.router.add_post("/fake-token/", _token)

    def error_body(self, status: int, detail: str) -> web.Response:
        """Answer in the fake provider's own error shape."""
        return web.json_response(
            {"error": {"code": status, "message": detail}},
            status=status,
            content_type="application/problem+json",
        )


@pytest.fixture
async def fake_server(
    sim: Simulator, socket_enabled: None
) -> AsyncGenerator[SimulatorServer]:
    """Serve the real provider modules plus the fake provider under /fake."""
    app = create_app(sim, {**default_provider_modules(), "fake": FakeProvider()})
    async with SimulatorServer(sim, app=app) as server:
        yield server

"""A tiny Voltly API: two cars, a token check, and a record of every request received."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

TOKEN = "voltly-secret-token-0123456789"
ACCOUNT = "acct-42"


@dataclass(frozen=True, kw_only=True)
class Received:
    """One request as the provider saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(kw_only=True)
class VoltlyWorld:
    """The provider's state: its cars, its token and what it received."""

    token: str = TOKEN
    account: str = ACCOUNT
    cars: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "car-1": {
                "id": "car-1",
                "name": "Blue Hatch",
                "soc": 55.0,
                "plugged": True,
                "target": 90,
            },
            "car-2": {
                "id": "car-2",
                "name": "Red Van",
                "soc": 12.5,
                "plugged": False,
                "target": 70,
            },
        }
    )
    received: list[Received] = field(default_factory=list)

    def writes(self) -> list[Received]:
        """Return the requests that were not reads."""
        return [request for request in self.received if request.method != "GET"]


def create_app(world: VoltlyWorld) -> web.Application:
    """Build the Voltly API around ``world``."""

    @web.middleware
    async def record_and_check(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        world.received.append(
            Received(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=body,
            )
        )
        if request.headers.get("Authorization") != f"Bearer {world.token}":
            return web.json_response({"detail": "invalid token"}, status=401)
        return await handler(request)

    async def me(request: web.Request) -> web.Response:
        return web.json_response({"account": world.account})

    async def list_cars(request: web.Request) -> web.Response:
        return web.json_response(list(world.cars.values()))

    async def put_car(request: web.Request) -> web.Response:
        car = world.cars.get(request.match_info["car_id"])
        if car is None:
            return web.json_response({"detail": "no such car"}, status=404)
        body = await request.json()
        car["target"] = body["target"]
        return web.json_response(car)

    app = web.Application(middlewares=[record_and_check])
    app.router.add_get("/me", me)
    app.router.add_get("/cars", list_cars)
    app.router.add_put("/cars/{car_id}", put_car)
    return app

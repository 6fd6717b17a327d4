"""The aiohttp application: every provider API on one port, plus /_admin for tests and scripts.

One middleware does what every request needs: record it, add the configured latency, apply
faults, turn router misses into the provider's 404 shape, and turn handler bugs into a logged
500 instead of a crash.

Every provider module has the same shape: ``NAME``, ``PROFILE`` (its entry in profiles.py),
``PREFIX``, a ``State`` (core.ProviderState, and core.TokenState where it issues tokens),
``error_body`` (its error shape), ``build_app`` and ``register``. Its handlers answer an error
by raising ``ApiError``, which its middleware renders with its ``error_body``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import functools
import json
import logging
import math
from typing import Any, Final, Protocol, TypeGuard
from urllib.parse import parse_qsl

from aiohttp import web

from .core import (
    WEEKDAYS,
    Fleet,
    RecordedRequest,
    Simulator,
    SimVehicle,
    load_provider_module,
    parse_hhmm,
)
from .faults import ErrorBody, Fault, Handler, plain_error_body
from .profiles import PROVIDER_NAMES

_LOGGER = logging.getLogger(__name__)

ADMIN_PREFIX: Final = "/_admin"


class ApiError(Exception):
    """Raised by a provider's handlers: answer with that provider's error body.

    ``options`` are keyword arguments of the provider's ``error_body`` beyond the status and
    the detail (a title, field errors, headers ...); ``response`` renders the error.
    """

    def __init__(self, status: int, detail: str, **options: Any) -> None:
        """Keep what the error body needs."""
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.options = options

    def response(
        self, error_body: Callable[..., web.Response], **context: Any
    ) -> web.Response:
        """Render with the provider's ``error_body``; ``context`` adds request details."""
        return error_body(self.status, self.detail, **self.options, **context)


class ProviderModule(Protocol):
    """What create_app needs from a provider module (hiven.py, chargeye.py, ...)."""

    def register(self, app: web.Application, sim: Simulator) -> None:
        """Add the provider's sub-apps/routes to the root app."""

    def error_body(self, status: int, detail: str) -> web.Response:
        """Return an error response in the provider's error shape."""


@dataclass
class ProviderRouting:
    """Which provider a path belongs to, learnt from the routes each module registered."""

    prefixes: list[tuple[str, str]] = field(default_factory=list)
    error_bodies: dict[str, ErrorBody] = field(default_factory=dict)

    def add(self, prefix: str, provider: str) -> None:
        """Claim `prefix` (a path or a path prefix) for `provider`; longest prefix wins."""
        if prefix and prefix != "/":
            self.prefixes.append((prefix, provider))
            self.prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def provider_for(self, path: str) -> str | None:
        """Return the provider owning `path`, or None."""
        for prefix, provider in self.prefixes:
            if path == prefix or path.startswith(
                prefix if prefix.endswith("/") else f"{prefix}/"
            ):
                return provider
        return None


SIM_KEY: Final = web.AppKey("simulator", Simulator)
ROUTING_KEY: Final = web.AppKey("provider_routing", ProviderRouting)


def get_sim(request: web.Request) -> Simulator:
    """Return the simulator serving this request (works in provider sub-apps too)."""
    return request.config_dict[SIM_KEY]


def _static_prefix(canonical: str) -> str:
    """Return the fixed start of a route: "/x/{id}" -> "/x/"."""
    return canonical.split("{", 1)[0]


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, dumps=functools.partial(json.dumps, default=_json_default)
    )


def _admin_error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


async def _record(
    request: web.Request, provider: str | None, sim: Simulator
) -> RecordedRequest:
    body = await request.read() if request.can_read_body else b""
    parsed: Any = None
    form: dict[str, str] | None = None
    if body:
        if request.content_type == "application/x-www-form-urlencoded":
            form = dict(
                parse_qsl(body.decode(errors="replace"), keep_blank_values=True)
            )
        else:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
    return RecordedRequest(
        provider=provider,
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        json=parsed,
        form=form,
        body=body,
        time=sim.clock.now(),
    )


async def _guarded(
    request: web.Request,
    *,
    handler: Handler,
    sim: Simulator,
    provider: str | None,
    error_body: ErrorBody,
) -> web.StreamResponse:
    """Run the handler; router misses get the provider's shape, bugs a logged 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if provider is None or request.match_info.http_exception is None:
            raise
        response = error_body(exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        _LOGGER.exception(
            "Simulator handler failed on %s %s", request.method, request.path
        )
        sim.handler_errors.append(f"{request.method} {request.path}: {exc!r}")
        return error_body(500, "Internal server error")


@web.middleware
async def simulator_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Log, delay, fault and guard every request."""
    sim = request.config_dict[SIM_KEY]
    path = request.path
    if path == ADMIN_PREFIX or path.startswith(f"{ADMIN_PREFIX}/"):
        return await _guarded(
            request,
            handler=handler,
            sim=sim,
            provider=None,
            error_body=plain_error_body,
        )
    routing = request.config_dict[ROUTING_KEY]
    provider = routing.provider_for(path)
    sim.requests.record(await _record(request, provider, sim))
    if provider is None:
        return await _guarded(
            request,
            handler=handler,
            sim=sim,
            provider=None,
            error_body=plain_error_body,
        )
    error_body = routing.error_bodies[provider]
    if sim.latency_ms > 0:
        await asyncio.sleep(sim.latency_ms / 1000)
    return await sim.faults.handle(
        request,
        provider,
        functools.partial(
            _guarded, handler=handler, sim=sim, provider=provider, error_body=error_body
        ),
        error_body,
    )


# --- /_admin ---------------------------------------------------------------------------


async def _read_json_object(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as err:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"invalid JSON: {err}"}),
            content_type="application/json",
        ) from err
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}),
            content_type="application/json",
        )
    return data


def _provider_or_404(provider: str) -> str:
    if provider not in PROVIDER_NAMES:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"unknown provider {provider!r}"}),
            content_type="application/json",
        )
    return provider


def _fleet_or_404(sim: Simulator, provider: str) -> Fleet:
    return sim.fleet(_provider_or_404(provider))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_percent(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= 100
    )


def _vehicle_changes(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the vehicle fields /_admin may set (ValueError with the bad field)."""
    checks: dict[str, Any] = {
        "id": lambda v: isinstance(v, str) and v != "",
        "name": lambda v: isinstance(v, str),
        "soc": _is_percent,
        "plugged_in": lambda v: isinstance(v, bool),
        "smart_charging": lambda v: isinstance(v, bool),
        "boost": lambda v: isinstance(v, bool),
        "target_soc": lambda v: _is_int(v) and 0 <= v <= 100,
        "minimal_soc": lambda v: v is None or (_is_int(v) and 0 <= v <= 100),
        "ready_time": lambda v: v is None or (isinstance(v, str) and parse_hhmm(v)),
        "weekday_ready_times": lambda v: (
            isinstance(v, dict)
            and all(
                k in WEEKDAYS and isinstance(t, str) and parse_hhmm(t)
                for k, t in v.items()
            )
        ),
        "battery_wh": lambda v: (
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0
        ),
        "max_power_w": lambda v: (
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        ),
    }
    for key, value in data.items():
        check = checks.get(key)
        if check is None:
            raise ValueError(f"field {key!r} cannot be set")
        if not check(value):
            raise ValueError(f"invalid value for {key!r}: {value!r}")
    return dict(data)


def _apply_changes(vehicle: SimVehicle, changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if key == "plugged_in":
            if value and not vehicle.plugged_in:
                vehicle.plug_in()
            elif not value and vehicle.plugged_in:
                vehicle.unplug()
        else:
            setattr(vehicle, key, value)


async def _admin_state(request: web.Request) -> web.Response:
    sim = get_sim(request)
    provider = request.query.get("provider")
    if provider is not None:
        _provider_or_404(provider)
    sim.sync(provider)
    return _json(sim.state(provider))


async def _admin_variants(request: web.Request) -> web.Response:
    return _json(get_sim(request).variants())


async def _admin_set_variants(request: web.Request) -> web.Response:
    sim = get_sim(request)
    provider = _provider_or_404(request.match_info["provider"])
    try:
        sim.set_variants(provider, await _read_json_object(request))
    except ValueError as err:
        return _admin_error(400, str(err))
    return _json(sim.variants()[provider])


async def _admin_set_strict(request: web.Request) -> web.Response:
    sim = get_sim(request)
    sim.set_strict()
    return _json(sim.variants())


async def _admin_telemetry(request: web.Request) -> web.Response:
    return _json(get_sim(request).telemetry())


async def _admin_set_telemetry(request: web.Request) -> web.Response:
    """Body {"period": seconds or null (live), "jitter": fraction (optional)}."""
    sim = get_sim(request)
    provider = _provider_or_404(request.match_info["provider"])
    data = await _read_json_object(request)
    unknown = sorted(set(data) - {"period", "jitter"})
    if unknown or "period" not in data:
        return _admin_error(400, 'expected {"period": seconds or null, "jitter": f}')
    period, jitter = data["period"], data.get("jitter")
    if not all(value is None or _is_number(value) for value in (period, jitter)):
        return _admin_error(400, '"period" and "jitter" must be numbers')
    try:
        sim.set_telemetry(provider, period, jitter)
    except ValueError as err:
        return _admin_error(400, str(err))
    return _json(sim.telemetry()[provider])


async def _admin_telemetry_reports(request: web.Request) -> web.Response:
    """Vehicle id -> the cloud's capture times, oldest first (?since=ISO: only later ones)."""
    sim = get_sim(request)
    provider = _provider_or_404(request.match_info["provider"])
    since = None
    if "since" in request.query:
        try:
            since = datetime.fromisoformat(request.query["since"])
        except ValueError:
            return _admin_error(400, '"since" must be an ISO 8601 time')
        if since.tzinfo is None:
            return _admin_error(400, '"since" must carry a time zone')
    try:
        return _json(sim.report_times(provider, since))
    except ValueError as err:
        return _admin_error(400, str(err))


async def _admin_get_clock(request: web.Request) -> web.Response:
    sim = get_sim(request)
    return _json({"time": sim.clock.now(), "realtime": sim.clock.realtime})


async def _admin_advance_clock(request: web.Request) -> web.Response:
    sim = get_sim(request)
    data = await _read_json_object(request)
    seconds = data.get("advance")
    if not _is_number(seconds) or seconds < 0:
        return _admin_error(400, '"advance" must be a number of seconds >= 0')
    return _json({"time": sim.advance(seconds)})


async def _admin_list_faults(request: web.Request) -> web.Response:
    return _json([fault.to_json() for fault in get_sim(request).faults])


async def _admin_add_fault(request: web.Request) -> web.Response:
    data = await _read_json_object(request)
    try:
        fault = Fault.from_json(data)
    except (TypeError, ValueError) as err:
        return _admin_error(400, str(err))
    get_sim(request).faults.add(fault)
    return _json({"id": fault.id}, 201)


async def _admin_clear_faults(request: web.Request) -> web.Response:
    faults = get_sim(request).faults
    removed = len(faults)
    faults.clear()
    return _json({"removed": removed})


async def _admin_remove_fault(request: web.Request) -> web.Response:
    if not get_sim(request).faults.remove(request.match_info["fault_id"]):
        return _admin_error(404, "no such fault")
    return _json({"removed": 1})


async def _admin_list_requests(request: web.Request) -> web.Response:
    log = get_sim(request).requests
    provider = request.query.get("provider")
    entries = log.entries if provider is None else log.for_provider(provider)
    return _json([entry.to_json() for entry in entries])


async def _admin_clear_requests(request: web.Request) -> web.Response:
    log = get_sim(request).requests
    removed = len(log)
    log.clear()
    return _json({"removed": removed})


async def _admin_add_vehicle(request: web.Request) -> web.Response:
    sim = get_sim(request)
    provider = request.match_info["provider"]
    fleet = _fleet_or_404(sim, provider)
    data = await _read_json_object(request)
    try:
        changes = _vehicle_changes(data)
    except ValueError as err:
        return _admin_error(400, str(err))
    sim.sync(provider)
    plugged_in = changes.pop("plugged_in", None)
    if "id" in changes and changes["id"] in fleet.vehicles:
        return _admin_error(409, "a vehicle with this id exists")
    vehicle = fleet.add_vehicle(**changes)
    if plugged_in is not None:
        _apply_changes(vehicle, {"plugged_in": plugged_in})
    return _json(vehicle.as_dict(), 201)


def _vehicle_or_404(sim: Simulator, request: web.Request) -> tuple[Fleet, SimVehicle]:
    provider = request.match_info["provider"]
    fleet = _fleet_or_404(sim, provider)
    vehicle = fleet.get(request.match_info["vehicle_id"])
    if vehicle is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such vehicle"}),
            content_type="application/json",
        )
    sim.sync(provider)
    return fleet, vehicle


async def _admin_update_vehicle(request: web.Request) -> web.Response:
    sim = get_sim(request)
    _fleet, vehicle = _vehicle_or_404(sim, request)
    data = await _read_json_object(request)
    try:
        changes = _vehicle_changes(data)
    except ValueError as err:
        return _admin_error(400, str(err))
    if "id" in changes:
        return _admin_error(400, "the id cannot be changed")
    _apply_changes(vehicle, changes)
    sim.sync(request.match_info["provider"])
    return _json(vehicle.as_dict())


async def _admin_remove_vehicle(request: web.Request) -> web.Response:
    fleet, vehicle = _vehicle_or_404(get_sim(request), request)
    fleet.remove_vehicle(vehicle.id)
    return _json({"removed": vehicle.id})


def _add_admin_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{ADMIN_PREFIX}/state", _admin_state)
    router.add_get(f"{ADMIN_PREFIX}/variants", _admin_variants)
    router.add_post(f"{ADMIN_PREFIX}/variants/{{provider}}", _admin_set_variants)
    router.add_post(f"{ADMIN_PREFIX}/strict", _admin_set_strict)
    router.add_get(f"{ADMIN_PREFIX}/telemetry", _admin_telemetry)
    router.add_post(f"{ADMIN_PREFIX}/telemetry/{{provider}}", _admin_set_telemetry)
    router.add_get(
        f"{ADMIN_PREFIX}/telemetry/{{provider}}/reports", _admin_telemetry_reports
    )
    router.add_get(f"{ADMIN_PREFIX}/clock", _admin_get_clock)
    router.add_post(f"{ADMIN_PREFIX}/clock", _admin_advance_clock)
    router.add_get(f"{ADMIN_PREFIX}/faults", _admin_list_faults)
    router.add_post(f"{ADMIN_PREFIX}/faults", _admin_add_fault)
    router.add_delete(f"{ADMIN_PREFIX}/faults", _admin_clear_faults)
    router.add_delete(f"{ADMIN_PREFIX}/faults/{{fault_id}}", _admin_remove_fault)
    router.add_get(f"{ADMIN_PREFIX}/requests", _admin_list_requests)
    router.add_delete(f"{ADMIN_PREFIX}/requests", _admin_clear_requests)
    router.add_post(f"{ADMIN_PREFIX}/vehicles/{{provider}}", _admin_add_vehicle)
    router.add_patch(
        f"{ADMIN_PREFIX}/vehicles/{{provider}}/{{vehicle_id}}", _admin_update_vehicle
    )
    router.add_delete(
        f"{ADMIN_PREFIX}/vehicles/{{provider}}/{{vehicle_id}}", _admin_remove_vehicle
    )


def default_provider_modules() -> dict[str, ProviderModule]:
    """Import the four provider modules, by name."""
    return {name: load_provider_module(name) for name in PROVIDER_NAMES}


def create_app(
    sim: Simulator, providers: Mapping[str, ProviderModule] | None = None
) -> web.Application:
    """Build the application; `providers` replaces the four real modules (core tests)."""
    app = web.Application(middlewares=[simulator_middleware])
    app[SIM_KEY] = sim
    routing = ProviderRouting()
    modules = default_provider_modules() if providers is None else providers
    for name, module in modules.items():
        before = set(app.router.resources())
        module.register(app, sim)
        for resource in app.router.resources():
            if resource not in before and resource.canonical:
                routing.add(_static_prefix(resource.canonical), name)
        routing.error_bodies[name] = module.error_body
    app[ROUTING_KEY] = routing
    _add_admin_routes(app)
    return app

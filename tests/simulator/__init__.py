"""Simulator of the Hiven, ChargEye, Jedlix and ev.energy clouds for tests and development.

Core (provider-neutral): clock, prices, vehicle physics and fleets in core.py, fault injection in
faults.py, the aiohttp app, /_admin and the one API error type (ApiError) in app.py, the loopback server
in testing.py. One module per provider builds its API on them; profiles.py says what tests
and tools know about each provider (one ProviderProfile per provider).

Only profiles.py is imported eagerly: the rest loads on first use of one of its names, so a
process that needs just the profiles (the benchmark's measuring process, scripts/develop)
does not load the simulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .profiles import PROFILES, PROVIDER_NAMES, ProviderProfile

if TYPE_CHECKING:
    from .app import SIM_KEY, ApiError, ProviderModule, create_app, get_sim
    from .core import (
        CAR_MODELS,
        DEFAULT_START,
        DEFAULT_TIMEZONE,
        DEPOT_MODELS,
        WEEKDAYS,
        Fleet,
        IdFactory,
        PriceCurve,
        ProviderState,
        RecordedRequest,
        RequestLog,
        SimClock,
        Simulator,
        SimVehicle,
        TokenState,
        VehicleModel,
        VehicleStatus,
        numbered_ids,
        parse_hhmm,
        prefixed_ids,
        uuid_ids,
    )
    from .faults import ErrorBody, Fault, FaultInjector, FaultKind
    from .testing import SimulatorServer

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ("SIM_KEY", "ApiError", "ProviderModule", "create_app", "get_sim"), ".app"
    ),
    **dict.fromkeys(
        (
            "CAR_MODELS",
            "DEFAULT_START",
            "DEFAULT_TIMEZONE",
            "DEPOT_MODELS",
            "WEEKDAYS",
            "Fleet",
            "IdFactory",
            "PriceCurve",
            "ProviderState",
            "RecordedRequest",
            "RequestLog",
            "SimClock",
            "Simulator",
            "SimVehicle",
            "TokenState",
            "VehicleModel",
            "VehicleStatus",
            "numbered_ids",
            "parse_hhmm",
            "prefixed_ids",
            "uuid_ids",
        ),
        ".core",
    ),
    **dict.fromkeys(("ErrorBody", "Fault", "FaultInjector", "FaultKind"), ".faults"),
    "SimulatorServer": ".testing",
}


def __getattr__(name: str) -> Any:
    """Import the simulator module that defines ``name`` on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CAR_MODELS",
    "DEFAULT_START",
    "DEFAULT_TIMEZONE",
    "DEPOT_MODELS",
    "PROFILES",
    "PROVIDER_NAMES",
    "SIM_KEY",
    "WEEKDAYS",
    "ApiError",
    "ErrorBody",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "Fleet",
    "IdFactory",
    "PriceCurve",
    "ProviderModule",
    "ProviderProfile",
    "ProviderState",
    "RecordedRequest",
    "RequestLog",
    "SimClock",
    "SimVehicle",
    "Simulator",
    "SimulatorServer",
    "TokenState",
    "VehicleModel",
    "VehicleStatus",
    "create_app",
    "get_sim",
    "numbered_ids",
    "parse_hhmm",
    "prefixed_ids",
    "uuid_ids",
]

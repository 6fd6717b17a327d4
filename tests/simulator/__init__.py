"""Simulator of the Hiven, ChargEye, Jedlix and ev.energy clouds for tests and development.

Core (provider-neutral): clock, prices, vehicle physics and fleets in core.py, fault injection in
faults.py, the aiohttp app and /_admin in app.py, the loopback server in testing.py. One module
per provider builds its API on them.
"""

from .app import SIM_KEY, ProviderModule, create_app, get_sim
from .core import (
    CAR_MODELS,
    DEFAULT_START,
    DEFAULT_TIMEZONE,
    DEMO_CREDENTIALS,
    DEPOT_MODELS,
    PROVIDER_NAMES,
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
    VehicleModel,
    VehicleStatus,
    numbered_ids,
    parse_hhmm,
    prefixed_ids,
    uuid_ids,
)
from .faults import ErrorBody, Fault, FaultInjector, FaultKind
from .testing import API_PATHS, SimulatorServer

__all__ = [
    "API_PATHS",
    "CAR_MODELS",
    "DEFAULT_START",
    "DEFAULT_TIMEZONE",
    "DEMO_CREDENTIALS",
    "DEPOT_MODELS",
    "PROVIDER_NAMES",
    "SIM_KEY",
    "WEEKDAYS",
    "ErrorBody",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "Fleet",
    "IdFactory",
    "PriceCurve",
    "ProviderModule",
    "ProviderState",
    "RecordedRequest",
    "RequestLog",
    "SimClock",
    "SimVehicle",
    "Simulator",
    "SimulatorServer",
    "VehicleModel",
    "VehicleStatus",
    "create_app",
    "get_sim",
    "numbered_ids",
    "parse_hhmm",
    "prefixed_ids",
    "uuid_ids",
]

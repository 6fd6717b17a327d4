"""Fault injection: make the simulated clouds fail the way real ones do, on demand.

Faults are added from Python (`sim.faults.add(Fault(...))`) or over `POST /_admin/faults` and
applied by the app middleware to provider requests only (never to /_admin).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from http import HTTPStatus
import itertools
import json
import re
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

if TYPE_CHECKING:
    from .core import SimClock

type ErrorBody = Callable[[int, str], web.Response]
"""A provider's error response factory: (status, detail) -> response in its error shape."""
type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNKNOWN_ENUM_VALUE: Final = "SOMETHING_NEW"
MALFORMED_BODY: Final = b'{"oops": '
HTML_ERROR_PAGE: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
DEFAULT_RETRY_AFTER: Final = "30"


class FaultKind(StrEnum):
    """How a matching request fails."""

    LATENCY = "latency"
    """Sleep `delay` seconds (real time), then answer normally."""
    TIMEOUT = "timeout"
    """Never answer; the handler waits until the client gives up or the server stops."""
    STATUS = "status"
    """Answer `status` (default 503) in the provider's error shape, saying `detail` when
    given (e.g. status=403 with the provider's missing-scope text)."""
    HTML = "html"
    """Answer `status` (default 502) with an HTML error page, as a proxy would."""
    TRUNCATED = "truncated"
    """Run the handler, then send only the first half of its body."""
    MALFORMED = "malformed"
    """Run the handler, then send invalid JSON labelled application/json."""
    UNKNOWN_ENUM = "unknown_enum"
    """Replace every value of the keys in `fields` with "SOMETHING_NEW"."""
    MISSING_FIELDS = "missing_fields"
    """Remove the keys in `fields` wherever they occur."""
    REPLACE_VALUE = "replace_value"
    """Replace every value of the keys in `fields` with `value` (any JSON, default null):
    a field of the wrong type, e.g. ``{"soc": "abc"}`` or ``{"chargePower": {}}``."""
    RATE_LIMIT = "rate_limit"
    """Answer 429 with Retry-After (`retry_after`, default "30")."""
    AUTH = "auth"
    """Answer 401 in the provider's error shape (expired or revoked credentials)."""


_DEFAULT_STATUS: Final = {
    FaultKind.STATUS: 503,
    FaultKind.HTML: 502,
    FaultKind.RATE_LIMIT: 429,
    FaultKind.AUTH: 401,
}
_SHORT_CIRCUIT: Final = frozenset(
    {
        FaultKind.TIMEOUT,
        FaultKind.STATUS,
        FaultKind.HTML,
        FaultKind.RATE_LIMIT,
        FaultKind.AUTH,
    }
)
_JSON_TRANSFORMS: Final = frozenset(
    {FaultKind.UNKNOWN_ENUM, FaultKind.MISSING_FIELDS, FaultKind.REPLACE_VALUE}
)
_BODY_REPLACEMENTS: Final = frozenset({FaultKind.TRUNCATED, FaultKind.MALFORMED})
_ids = itertools.count(1)


def _parse_time(value: Any, name: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        when = datetime.fromisoformat(value)
    else:
        raise TypeError(f"{name} must be an ISO 8601 string")
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


@dataclass(kw_only=True, eq=False)
class Fault:
    """One injected failure and the requests it applies to (all criteria must match)."""

    kind: FaultKind
    provider: str | None = None
    path: str | None = None
    """Regex searched in the full request path."""
    method: str | None = None
    vehicle_id: str | None = None
    """Matches when the id is a path segment or query value; for UNKNOWN_ENUM,
    MISSING_FIELDS and REPLACE_VALUE on list answers, only the JSON objects whose "id"
    is this id change."""
    status: int | None = None
    """None: the kind's default (STATUS 503, HTML 502, RATE_LIMIT 429, AUTH 401)."""
    delay: float = 0.0
    retry_after: str | None = None
    detail: str | None = None
    """The error body's explanation (STATUS and AUTH); None: a generic one."""
    fields: tuple[str, ...] = ()
    value: Any = None
    """What REPLACE_VALUE puts in the `fields` (any JSON)."""
    times: int | None = None
    """Remaining uses; None = until removed. Removed automatically when used up."""
    start: datetime | None = None
    end: datetime | None = None
    """Active window [start, end) on the simulated clock (scheduled outages)."""
    id: str = field(default_factory=lambda: f"fault-{next(_ids)}")
    hits: int = 0
    """How many times the fault was applied."""
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        """Normalise and validate, so a bad fault fails when added, not mid-request."""
        self.kind = FaultKind(self.kind)
        self.fields = tuple(self.fields)
        if self.method is not None:
            self.method = self.method.upper()
        if self.path is not None:
            try:
                self._pattern = re.compile(self.path)
            except re.error as err:
                raise ValueError(f"path is not a valid regex: {err}") from err
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status {self.status} is not an HTTP status")
        if self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.times is not None and self.times < 0:
            raise ValueError("times must not be negative")
        if self.kind in _JSON_TRANSFORMS and not self.fields:
            raise ValueError(f"{self.kind} needs `fields`")
        self.start = _parse_time(self.start, "start")
        self.end = _parse_time(self.end, "end")

    @property
    def effective_status(self) -> int:
        """Status answered by status-type faults."""
        if self.status is not None:
            return self.status
        return _DEFAULT_STATUS.get(self.kind, 503)

    def active(self, now: datetime) -> bool:
        """Whether the fault is usable at simulated time `now`."""
        if self.times is not None and self.times <= 0:
            return False
        if self.start is not None and now < self.start:
            return False
        return self.end is None or now < self.end

    def matches(self, provider: str, method: str, path: str) -> bool:
        """Whether provider, method and path match (the vehicle is checked separately)."""
        return (
            (self.provider is None or self.provider == provider)
            and (self.method is None or self.method == method)
            and (self._pattern is None or self._pattern.search(path) is not None)
        )

    def names_vehicle(self, path: str, query: Mapping[str, str]) -> bool:
        """Whether the request names vehicle_id in its path or query (True when unset)."""
        if self.vehicle_id is None:
            return True
        return self.vehicle_id in path.split("/") or self.vehicle_id in query.values()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        """Build a fault from the JSON of POST /_admin/faults (ValueError/TypeError if bad)."""
        if not isinstance(data, Mapping):
            raise TypeError("a fault must be a JSON object")
        allowed = {
            "kind", "provider", "path", "method", "vehicle_id", "status", "delay",
            "retry_after", "detail", "fields", "value", "times", "start", "end",
        }  # fmt: skip
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if "kind" not in data:
            raise ValueError("kind is required")
        kind = str(data["kind"]).lower()
        for key in (
            "provider", "path", "method", "vehicle_id", "retry_after", "detail",
        ):  # fmt: skip
            if data.get(key) is not None and not isinstance(data[key], str):
                raise TypeError(f"{key} must be a string")
        status, times, delay = (
            data.get("status"),
            data.get("times"),
            data.get("delay", 0),
        )
        for key, value in (("status", status), ("times", times)):
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool)
            ):
                raise TypeError(f"{key} must be an integer")
        if not isinstance(delay, int | float) or isinstance(delay, bool):
            raise TypeError("delay must be a number")
        fields = data.get("fields", [])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise TypeError("fields must be a list of strings")
        return cls(
            kind=FaultKind(kind),
            provider=data.get("provider"),
            path=data.get("path"),
            method=data.get("method"),
            vehicle_id=data.get("vehicle_id"),
            status=status,
            delay=float(delay),
            retry_after=data.get("retry_after"),
            detail=data.get("detail"),
            fields=tuple(fields),
            value=data.get("value"),
            times=times,
            start=_parse_time(data.get("start"), "start"),
            end=_parse_time(data.get("end"), "end"),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form for GET /_admin/faults."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "provider": self.provider,
            "path": self.path,
            "method": self.method,
            "vehicle_id": self.vehicle_id,
            "status": self.status,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "detail": self.detail,
            "fields": list(self.fields),
            "value": self.value,
            "times": self.times,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "hits": self.hits,
        }


def replace_values(
    data: Any, keys: frozenset[str], value: Any = UNKNOWN_ENUM_VALUE
) -> int:
    """Replace, in place and at any depth, the value of every key in `keys`; return count."""
    count = 0
    if isinstance(data, dict):
        for key in data:
            if key in keys:
                data[key] = value
                count += 1
            else:
                count += replace_values(data[key], keys, value)
    elif isinstance(data, list):
        for item in data:
            count += replace_values(item, keys, value)
    return count


def remove_keys(data: Any, keys: frozenset[str]) -> int:
    """Remove, in place and at any depth, every key in `keys`; return count."""
    count = 0
    if isinstance(data, dict):
        for key in [key for key in data if key in keys]:
            del data[key]
            count += 1
        for item in data.values():
            count += remove_keys(item, keys)
    elif isinstance(data, list):
        for item in data:
            count += remove_keys(item, keys)
    return count


def objects_with_id(data: Any, object_id: str) -> list[dict[str, Any]]:
    """JSON objects (at any depth) whose "id" equals object_id: one vehicle in a list."""
    found: list[dict[str, Any]] = []
    if isinstance(data, dict):
        if data.get("id") == object_id:
            return [data]
        for item in data.values():
            found.extend(objects_with_id(item, object_id))
    elif isinstance(data, list):
        for item in data:
            found.extend(objects_with_id(item, object_id))
    return found


def plain_error_body(status: int, detail: str) -> web.Response:
    """Error body for requests that belong to no provider."""
    return web.json_response({"status": status, "detail": detail}, status=status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class FaultInjector:
    """The active faults; the app middleware asks it to handle every provider request."""

    def __init__(self, clock: SimClock) -> None:
        """Windows are evaluated on `clock` (the simulated clock)."""
        self._clock = clock
        self.faults: list[Fault] = []
        self._hung: set[asyncio.Future[None]] = set()

    def __iter__(self) -> Iterator[Fault]:
        """Iterate over the active faults in the order they were added."""
        return iter(list(self.faults))

    def __len__(self) -> int:
        """Return the number of faults."""
        return len(self.faults)

    def add(self, fault: Fault) -> Fault:
        """Activate a fault; returns it (keep it to remove it later)."""
        self.faults.append(fault)
        return fault

    def remove(self, fault: Fault | str) -> bool:
        """Remove a fault (object or id); False if it was already gone."""
        for index, candidate in enumerate(self.faults):
            if candidate is fault or candidate.id == fault:
                del self.faults[index]
                return True
        return False

    def get(self, fault_id: str) -> Fault | None:
        """Return the fault with this id."""
        return next((fault for fault in self.faults if fault.id == fault_id), None)

    def clear(self) -> None:
        """Remove every fault (requests hanging on TIMEOUT keep hanging until cancelled)."""
        self.faults.clear()

    @property
    def hanging(self) -> int:
        """Requests currently held by TIMEOUT faults."""
        return len(self._hung)

    async def cancel_hanging(self) -> None:
        """Cancel the requests held by TIMEOUT faults (server shutdown, test teardown)."""
        for waiter in list(self._hung):
            waiter.cancel()
        while self._hung:
            await asyncio.sleep(0)

    def _use(self, fault: Fault) -> None:
        fault.hits += 1
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.remove(fault)

    async def handle(
        self,
        request: web.Request,
        provider: str,
        handler: Handler,
        error_body: ErrorBody,
    ) -> web.StreamResponse:
        """Answer a provider request, applying the faults that match it."""
        now = self._clock.now()
        method, path, query = request.method, request.path, request.query
        matching = [
            fault
            for fault in self.faults
            if fault.active(now) and fault.matches(provider, method, path)
        ]
        if not matching:
            return await handler(request)
        named = [fault for fault in matching if fault.names_vehicle(path, query)]

        delay = 0.0
        for fault in named:
            if fault.kind is FaultKind.LATENCY:
                self._use(fault)
                delay += fault.delay
        if delay:
            await asyncio.sleep(delay)

        for fault in named:
            if fault.kind in _SHORT_CIRCUIT:
                self._use(fault)
                return await self._short_circuit(fault, error_body)

        response = await handler(request)
        transforms = [fault for fault in matching if fault.kind in _JSON_TRANSFORMS]
        replacement = next(
            (fault for fault in named if fault.kind in _BODY_REPLACEMENTS), None
        )
        if not (transforms or replacement) or not isinstance(response, web.Response):
            return response
        body = response.body
        if not isinstance(body, bytes):
            return response
        if transforms:
            body = self._transform_json(body, transforms, path, query)
        if replacement is not None and replacement in self.faults:
            self._use(replacement)
            if replacement.kind is FaultKind.TRUNCATED:
                body = body[: len(body) // 2]
            else:
                body = MALFORMED_BODY
                response.content_type = "application/json"
        response.body = body
        return response

    def _transform_json(
        self,
        body: bytes,
        faults: list[Fault],
        path: str,
        query: Mapping[str, str],
    ) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:
            return body
        for fault in faults:
            if fault not in self.faults:
                continue  # used up by a concurrent request meanwhile
            if fault.names_vehicle(path, query):
                targets: list[Any] = [data]
            else:
                targets = objects_with_id(data, fault.vehicle_id or "")
                if not targets:
                    continue
            keys = frozenset(fault.fields)
            for target in targets:
                if fault.kind is FaultKind.UNKNOWN_ENUM:
                    replace_values(target, keys)
                elif fault.kind is FaultKind.REPLACE_VALUE:
                    replace_values(target, keys, copy.deepcopy(fault.value))
                else:
                    remove_keys(target, keys)
            self._use(fault)
        return json.dumps(data).encode()

    async def _short_circuit(
        self, fault: Fault, error_body: ErrorBody
    ) -> web.StreamResponse:
        status = fault.effective_status
        if fault.kind is FaultKind.TIMEOUT:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._hung.add(waiter)
            try:
                await waiter
            finally:
                self._hung.discard(waiter)
            raise AssertionError("unreachable: a TIMEOUT waiter is only ever cancelled")
        if fault.kind is FaultKind.HTML:
            response = web.Response(
                status=status,
                text=HTML_ERROR_PAGE.format(status=status, reason=_reason(status)),
                content_type="text/html",
            )
        elif fault.kind is FaultKind.RATE_LIMIT:
            response = error_body(status, "Too many requests, slow down")
            response.headers["Retry-After"] = fault.retry_after or DEFAULT_RETRY_AFTER
        elif fault.kind is FaultKind.AUTH:
            response = error_body(
                status,
                fault.detail or "The credentials are invalid, expired or revoked",
            )
        else:
            response = error_body(
                status, fault.detail or f"Injected failure: {_reason(status)}"
            )
        if fault.retry_after is not None and fault.kind is not FaultKind.RATE_LIMIT:
            response.headers["Retry-After"] = fault.retry_after
        return response

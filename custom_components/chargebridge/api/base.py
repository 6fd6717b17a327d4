"""The Provider interface and the HTTP helpers every client shares.

One ``_request`` does all HTTP for every provider, so timeouts, status mapping, JSON
decoding, Retry-After, rate-limit headers, token renewal and the request counter behave
the same everywhere. One ``async_get_fleet`` reads every provider's fleet (the template
and its hooks are on ``Provider``). Vendor JSON is read with ``payload.Payload``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
import ipaddress
import json as jsonlib
import logging
import math
from typing import Any, ClassVar, Self, cast
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

try:  # Home Assistant ships orjson; the stdlib decoder is the fallback.
    import orjson
except ImportError:  # pragma: no cover
    orjson = None  # type: ignore[assignment]

from .errors import (
    ChargeBridgeError,
    InvalidUrlError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderValueError,
    UnsupportedError,
    detached,
)
from .models import (
    FULL_READ,
    Account,
    Capabilities,
    ChargingPreferences,
    ChargingStatus,
    DepotScheduleRequest,
    Feature,
    Fleet,
    FleetRead,
    PreferencesUpdate,
    ProviderNotice,
    RateLimit,
    Vehicle,
    VehicleSnapshot,
    validate_update,
)
from .payload import Payload

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = 20.0
"""Seconds one HTTP request may take before it counts as a timeout."""
MAX_PAGES = 100
"""Hard upper bound on pages followed in one listing, so a broken server cannot loop us."""
PER_VEHICLE_CONCURRENCY = 8
"""At most this many per-vehicle requests in flight at once (gentle on the provider)."""
TOKEN_RENEW_MARGIN = timedelta(minutes=5)
"""Renew a cached access token this long before the provider says it expires."""
MAX_DETAIL_LENGTH = 200
"""A provider's error detail is cut to this length in messages."""

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

CAR_LINK_BROKEN = "car_link_broken"
"""Notice code for a vehicle whose provider lost its link to the car (``link_broken``)."""
CAR_DISABLED = "car_disabled"
"""Notice code for a vehicle the provider no longer lets anyone control (``disabled``)."""
BOOST_ENDED = frozenset({ChargingStatus.DISCONNECTED, ChargingStatus.COMPLETE})
"""Charge states after which a boost we switched on is over (session ended or car full)."""
NO_CAPABILITIES = Capabilities(features=frozenset())


@dataclass(frozen=True, kw_only=True)
class ConfigField:
    """One field of a provider's configuration (a config-flow form field, an entry key).

    Its ``key`` is also the name of the client's constructor argument.
    """

    key: str
    default: str | None = None
    secret: bool = False
    """Shown as a password, asked again on reauth, redacted in diagnostics and errors."""
    url: bool = False
    """Credentials travel to it: must be https (http only to loopback)."""
    optional: bool = False
    account: bool = False
    """Identifies the account: fixed once the entry exists (not offered on reconfigure)."""


def utcnow() -> datetime:
    """Return the current time (the default clock of every client)."""
    return datetime.now(UTC)


def is_secure_url(url: str) -> bool:
    """Tell whether credentials may be sent to ``url``: https, or http to loopback only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """Scheme, host and port of ``url`` (used to keep paging links on the same server)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Read Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    seconds = header_number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def header_number(value: str | None) -> float | None:
    """Read a header typed ``number`` (``42``, ``42.5``, ``1000.0``).

    None when absent, garbage, negative or not finite. Only plain decimal notation counts
    (no sign, exponent, "nan" or "inf"), so an HTTP date is never taken for a number.
    """
    if not value:
        return None
    value = value.strip()
    whole, dot, fraction = value.partition(".")
    if not (whole or fraction) or not (whole + fraction).isdigit():
        return None
    if not (whole.isascii() and fraction.isascii()):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def header_count(value: str | None) -> int | None:
    """Read a count header (``12`` or ``12.0``) as a whole number; None when unreadable."""
    number = header_number(value)
    return None if number is None else int(number)


def json_loads(body: bytes) -> Any:
    """Decode JSON: orjson for speed, the stdlib for what orjson refuses.

    orjson refuses some JSON the stdlib reads (integers beyond 64 bits, NaN, lone
    surrogates); those take the stdlib's way, so the result never depends on orjson.
    """
    if orjson is not None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return jsonlib.loads(body)


def problem_detail(data: Any) -> str | None:
    """Return the human explanation in an error body (problem+json ``detail``, or similar)."""
    if not isinstance(data, dict):
        return None
    for key in ("detail", "message", "error_description", "title", "error"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:MAX_DETAIL_LENGTH]
    return None


def of_vehicle(
    faults: Iterable[ChargeBridgeError], vehicle_id: str
) -> list[ChargeBridgeError]:
    """Return ``faults`` with each value fault attributed to ``vehicle_id``."""
    return [
        fault.of_vehicle(vehicle_id)
        if isinstance(fault, ProviderValueError) and fault.vehicle_id is None
        else fault
        for fault in faults
    ]


async def read_attributed(
    read: Callable[
        [VehicleSnapshot, list[ChargeBridgeError]], Awaitable[VehicleSnapshot]
    ],
    snapshot: VehicleSnapshot,
    problems: list[ChargeBridgeError],
) -> VehicleSnapshot:
    """Run one vehicle's read; add the value faults it met to ``problems``, naming it."""
    found: list[ChargeBridgeError] = []
    try:
        return await read(snapshot, found)
    finally:
        problems.extend(of_vehicle(found, snapshot.vehicle.id))


@dataclass(frozen=True, slots=True)
class Response:
    """A decoded response: status, headers and JSON (None for an empty body)."""

    status: int
    headers: CIMultiDictProxy[str]
    data: Any


@dataclass(kw_only=True)
class Provider(ABC):
    """A client for one provider account, and the single source of its provider's facts.

    Subclasses are dataclasses whose init fields are exactly ``config_fields``, so the
    integration builds one with ``PROVIDERS[name](session=session, **entry_data)``.
    Secret fields are declared ``field(repr=False)`` and ``ConfigField(secret=True)``.

    Reading the fleet is one template (``async_get_fleet``): list the vehicles, parse each
    item tolerantly, enrich the vehicles that need more than the list (by default a request
    each, bounded concurrency), then add notices. A provider supplies the
    hooks below ``async_get_fleet``; broken items, boost memory and car-link notices are
    handled here once.
    """

    name: ClassVar[str]
    """Stable id: the config entry's ``provider``, the config flow step, id prefixes."""
    title: ClassVar[str]
    """How the provider calls itself (log lines, messages, the default entry title)."""
    api_name: ClassVar[str | None] = None
    """The name of the API the client speaks (the account device's model); None: the
    title followed by "API"."""
    config_fields: ClassVar[tuple[ConfigField, ...]]
    """The configuration the client takes, in form order."""
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    """Derived from ``config_fields``: the keys never shown, logged or sent in clear."""
    default_api_url: ClassVar[str | None] = None
    """Derived from ``config_fields``: the default of ``api_url``."""
    default_scan_interval: ClassVar[timedelta] = timedelta(minutes=5)
    min_scan_interval: ClassVar[timedelta] = timedelta(minutes=1)
    rate_limit_window: ClassVar[timedelta] = timedelta(hours=1)
    """The (rolling) period X-RateLimit-Limit counts, where the provider sends one."""
    uses_access_token: ClassVar[bool] = False
    """True where an access token is obtained and may be renewed once on a 401."""
    estimated: ClassVar[frozenset[Feature]] = frozenset()
    """Values this provider estimates from its charging plan instead of measuring them."""
    message_types: ClassVar[tuple[str, ...]] = ()
    """The types of ``ProviderMessage`` the provider sends (Feature.PROVIDER_MESSAGE)."""
    state_from_plans: ClassVar[bool] = False
    """True where a car's state is derived from its plans, not telemetry (ChargEye): it
    changes at the plans' boundaries, and there is no cloud update rhythm to follow."""
    state_per_vehicle: ClassVar[bool] = False
    """True where each car's state needs a request of its own (Hiven's status): the
    integration may then read each car at its own pace (``FleetRead``)."""
    dismisses_notices: ClassVar[bool] = False
    """Derived: whether the client overrides ``async_dismiss_notice`` (a notice with
    ``message_ids`` can then be dismissed at the provider, a fixable repair issue)."""

    session: aiohttp.ClientSession = field(repr=False)
    api_url: str
    request_timeout: float = REQUEST_TIMEOUT
    clock: Callable[[], datetime] = field(default=utcnow, repr=False)
    requests_made: int = field(default=0, init=False)
    rate_limit: RateLimit | None = field(default=None, init=False)
    _access_token: str | None = field(default=None, init=False, repr=False)
    _token_expires: datetime | None = field(default=None, init=False, repr=False)
    _token_lock: asyncio.Lock = field(
        default_factory=asyncio.Lock, init=False, repr=False
    )
    _secure_prefix: str = field(default="", init=False, repr=False)
    """``api_url`` + "/" once checked: URLs under it need no new check (hot path)."""
    _boost: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    """Boost we set per vehicle, until its session ends (no provider reports it back)."""
    _listed: Sequence[tuple[str, Any]] | None = field(
        default=None, init=False, repr=False
    )
    """The last vehicle list, shown again by a FleetRead that does not read it."""
    _last_reads: dict[str, tuple[VehicleSnapshot, tuple[ChargeBridgeError, ...]]] = (
        field(default_factory=dict, init=False, repr=False)
    )
    """Per car, its last good per-vehicle read and the value faults it met."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Derive the secret keys, the default URL and whether notices can be dismissed."""
        super().__init_subclass__(**kwargs)
        fields_ = cls.__dict__.get("config_fields")
        if fields_ is not None:
            cls.secret_fields = frozenset(f.key for f in fields_ if f.secret)
            cls.default_api_url = next(
                (f.default for f in fields_ if f.key == "api_url"), None
            )
        cls.dismisses_notices = (
            cls.async_dismiss_notice is not Provider.async_dismiss_notice
        )

    def __post_init__(self) -> None:
        """Normalize the base URL and refuse to send credentials over clear text."""
        self.api_url = self.api_url.rstrip("/")
        self._require_secure(self.api_url)
        self._secure_prefix = f"{self.api_url}/"

    def _require_secure(self, url: str, field_name: str = "api_url") -> None:
        # Under the checked api_url means the same scheme, host and port.
        if self._secure_prefix and url.startswith(self._secure_prefix):
            return
        if not is_secure_url(url):
            raise InvalidUrlError(self.name, field_name)

    async def __aenter__(self) -> Self:
        """Allow ``async with`` (the session is the caller's and stays open)."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Nothing to close: the session was injected."""

    # The interface every provider implements.

    @abstractmethod
    async def async_validate(self) -> Account:
        """Check the credentials with one cheap call; return the account's stable identity."""

    async def async_get_fleet(self, read: FleetRead = FULL_READ) -> Fleet:
        """Fetch every vehicle with its state in the fewest requests the API allows.

        Reads are lenient: a value that cannot be read costs that value only (None, and
        a ProviderValueError naming the field and the vehicle in ``Fleet.problems``);
        an unreadable id or structure costs that vehicle (its ``error``). ``read`` may
        spare the list and the per-vehicle reads of cars that are not due.
        """
        problems: list[ChargeBridgeError] = []
        order: dict[str, None] = {}
        """Every vehicle id in the provider's list order (readable or not)."""
        snapshots: dict[str, VehicleSnapshot] = {}
        unreadable: dict[str, VehicleSnapshot] = {}
        if read.account_list or self._listed is None:
            self._listed = await self._async_list_vehicles()
        for path, item in self._listed:
            faults: list[ChargeBridgeError] = []
            try:
                snapshot = self._parse_vehicle(Payload(self.name, item, path, faults))
            except ProviderResponseError as err:
                problems.append(detached(err))
                if (vehicle_id := self._unreadable_item_id(item)) is not None:
                    unreadable.setdefault(vehicle_id, self._unreadable(vehicle_id, err))
                    order.setdefault(vehicle_id)
                continue
            if snapshot is not None:
                snapshots[snapshot.vehicle.id] = snapshot
                order.setdefault(snapshot.vehicle.id)
                problems.extend(of_vehicle(faults, snapshot.vehicle.id))
        self._forget_gone(snapshots, unreadable)

        due = read.vehicles
        wanted = [
            s
            for s in snapshots.values()
            if self._needs_enrichment(
                s, by_age=self.state_per_vehicle or due is None or s.vehicle.id in due
            )
        ]
        if due is not None and self.state_per_vehicle:
            wanted = self._show_last_reads(wanted, due, snapshots, problems)
        if len(wanted) < len(snapshots):
            enriched = {snapshot.vehicle.id for snapshot in wanted}
            for vehicle_id, snapshot in snapshots.items():
                if vehicle_id not in enriched:
                    cached = self._cached_faults(snapshot)
                    problems.extend(of_vehicle(cached, vehicle_id))
        if wanted:
            known = len(problems)
            results = await self._async_enrich_fleet(wanted, problems)
            for snapshot, result in zip(wanted, results, strict=True):
                vehicle_id = snapshot.vehicle.id
                if isinstance(result, ChargeBridgeError):
                    result = detached(result)
                    problems.append(result)
                    self._last_reads.pop(vehicle_id, None)
                    result = replace(snapshot, error=result)
                elif self.state_per_vehicle:
                    self._last_reads[vehicle_id] = (
                        result,
                        tuple(
                            p
                            for p in problems[known:]
                            if isinstance(p, ProviderValueError)
                            and p.vehicle_id == vehicle_id
                        ),
                    )
                snapshots[vehicle_id] = result

        notices = list(await self._async_notices(problems, by_age=read.notices))
        for vehicle_id, boost in self._boost.items():
            if (snapshot := snapshots.get(vehicle_id)) is not None:
                snapshots[vehicle_id] = replace(
                    snapshot, preferences=replace(snapshot.preferences, boost=boost)
                )
        for vehicle_id, snapshot in snapshots.items():
            if snapshot.vehicle.link_broken:
                notices.append(
                    ProviderNotice(code=CAR_LINK_BROKEN, vehicle_id=vehicle_id)
                )
            if snapshot.vehicle.disabled:
                notices.append(ProviderNotice(code=CAR_DISABLED, vehicle_id=vehicle_id))
        _LOGGER.debug(
            "%s fleet: %d vehicles, %d enriched, %d problems",
            self.title,
            len(snapshots),
            len(wanted),
            len(problems),
        )
        return Fleet(
            vehicles={
                vehicle_id: snapshots.get(vehicle_id) or unreadable[vehicle_id]
                for vehicle_id in order
            },
            problems=tuple(problems),
            notices=tuple(notices),
            rate_limit=self.rate_limit,
        )

    # Hooks of the fleet template.

    @abstractmethod
    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        """Read the vehicle list: each raw item with its path for error messages."""

    @abstractmethod
    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot | None:
        """Read one list item (None: not a vehicle); raise ProviderResponseError if broken."""

    def _unreadable_item_id(self, item: Any) -> str | None:
        """Return the id of an item that failed to parse, when even that can be read."""
        if isinstance(item, dict):
            vehicle_id = item.get("id")
            if isinstance(vehicle_id, str) and vehicle_id:
                return vehicle_id
        return None

    def _unreadable_capabilities(self, vehicle_id: str) -> Capabilities:
        """Return what a vehicle whose item could not be read is assumed to offer."""
        return NO_CAPABILITIES

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        """Tell whether a parsed vehicle needs a request of its own this refresh.

        ``by_age`` False: the integration reads this car's details at its own pace and
        they are not due; only a change (never read, a write, a changed state) makes
        data kept from an earlier read worth reading again, not its age.
        """
        return False

    async def _async_enrich_fleet(
        self, wanted: Sequence[VehicleSnapshot], problems: list[ChargeBridgeError]
    ) -> Sequence[VehicleSnapshot | ChargeBridgeError]:
        """Enrich the vehicles that need it, one result (or error) per vehicle, in order.

        By default each vehicle makes its own request (``_async_enrich``, bounded
        concurrency). A provider whose API answers for many vehicles at once (ChargEye's
        depot reads) overrides this; an error in a vehicle's place costs that vehicle only.
        """

        async def enrich(snapshot: VehicleSnapshot) -> VehicleSnapshot:
            return await read_attributed(self._async_enrich, snapshot, problems)

        return await self._gather_per_vehicle(wanted, enrich)

    async def _async_enrich(
        self, snapshot: VehicleSnapshot, problems: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        """Add what only a per-vehicle request tells; raising costs this vehicle only.

        A failure that costs only a value is appended to ``problems`` instead. Read the
        responses leniently, ``Payload(self.name, data, path, problems)``: a value that
        cannot be read is None and its fault joins ``problems`` (the template names the
        vehicle).
        """
        return snapshot

    def _show_last_reads(
        self,
        wanted: Sequence[VehicleSnapshot],
        due: frozenset[str],
        snapshots: dict[str, VehicleSnapshot],
        problems: list[ChargeBridgeError],
    ) -> list[VehicleSnapshot]:
        """Show the last read of each wanted car that is not due; return the cars to read.

        A car shown again brings back the value faults its read met, so they stay logged
        once while they last. The fresh list item wins for what the list says (the car
        and its preferences).
        """
        to_read: list[VehicleSnapshot] = []
        for listed in wanted:
            vehicle_id = listed.vehicle.id
            last = self._last_reads.get(vehicle_id)
            if vehicle_id in due or last is None:
                to_read.append(listed)
                continue
            snapshot, faults = last
            snapshots[vehicle_id] = replace(
                snapshot, vehicle=listed.vehicle, preferences=listed.preferences
            )
            problems.extend(faults)
        return to_read

    def _cached_faults(self, snapshot: VehicleSnapshot) -> Sequence[ChargeBridgeError]:
        """Return the value faults of cached per-vehicle data this refresh shows again.

        Data read by an earlier refresh's ``_async_enrich`` and not re-read this time
        still has the values it could not read: reporting them again keeps the fault
        logged once while it lasts, not "resolved" until the next read.
        """
        return ()

    async def _async_notices(
        self, problems: list[ChargeBridgeError], *, by_age: bool
    ) -> Sequence[ProviderNotice]:
        """Return the account's notices besides broken car links.

        ``by_age`` False: notices kept from an earlier read are shown again, however old.
        """
        return ()

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        """Return the per-vehicle caches to prune when a vehicle is no longer listed."""
        return ()

    def _unreadable(self, vehicle_id: str, err: ChargeBridgeError) -> VehicleSnapshot:
        """Return a vehicle whose item could not be read: known by its id, unavailable."""
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=vehicle_id,
                name=vehicle_id,
                capabilities=self._unreadable_capabilities(vehicle_id),
            ),
            error=err,
        )

    def _forget_gone(
        self,
        snapshots: Mapping[str, VehicleSnapshot],
        unreadable: Mapping[str, VehicleSnapshot],
    ) -> None:
        """Prune caches of vehicles no longer listed, and boosts whose session ended.

        A vehicle whose item could not be read keeps its boost: we cannot tell it ended.
        """
        for cache in (*self._vehicle_caches(), self._boost, self._last_reads):
            for vehicle_id in [
                v for v in cache if v not in snapshots and v not in unreadable
            ]:
                del cache[vehicle_id]
        for vehicle_id in list(self._boost):
            snapshot = snapshots.get(vehicle_id)
            if snapshot is not None and (
                snapshot.state.charging_status in BOOST_ENDED
                or snapshot.state.plugged_in is False
            ):
                del self._boost[vehicle_id]

    # Writing.

    async def async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """Validate a partial update, send only what changes, return the new preferences."""
        validate_update(self.name, snapshot, update)
        vehicle_id = snapshot.vehicle.id
        preferences = snapshot.preferences
        settings = replace(update, boost=None)
        if settings.changed_features():
            preferences = await self._async_update_preferences(snapshot, settings)
        if update.boost is not None:
            await self._async_set_boost(snapshot, update.boost)
            self._boost[vehicle_id] = update.boost
        # The next refresh reads the list (it holds preferences) and this car again,
        # whatever else is due: the write's effect shows at once, never a stale copy.
        self._listed = None
        self._last_reads.pop(vehicle_id, None)
        boost = self._boost.get(vehicle_id, snapshot.preferences.boost)
        if preferences.boost != boost:
            preferences = replace(preferences, boost=boost)
        return preferences

    @abstractmethod
    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """Send an already validated update (never boost)."""

    async def _async_set_boost(self, snapshot: VehicleSnapshot, enabled: bool) -> None:
        """Start or stop charging at full power now, where the provider can."""
        raise UnsupportedError(self.name, "boost is not supported")

    async def async_add_schedules(
        self,
        vehicle_id: str,
        schedules: Sequence[DepotScheduleRequest],
        *,
        replace_future: bool,
    ) -> tuple[list[str], list[str]]:
        """Add depot schedules (Feature.DEPOT_SCHEDULES); return created and removed ids."""
        raise UnsupportedError(self.name, "depot schedules are not supported")

    async def async_dismiss_notice(self, notice: ProviderNotice) -> None:
        """Dismiss the provider's messages behind a notice, so it stops reporting it.

        Optional (``dismisses_notices``): most providers' notices end only when their
        cause does. Raises UnsupportedError where the provider cannot dismiss.
        """
        raise UnsupportedError(self.name, "notices cannot be dismissed")

    # Access tokens (ChargEye, Jedlix, ev.energy).

    async def _async_fetch_token(self) -> tuple[str, datetime]:
        """Obtain a new access token and when it expires (providers with tokens)."""
        raise NotImplementedError

    async def _async_access_token(self) -> str:
        """Return the cached access token, renewed shortly before it expires."""
        async with self._token_lock:
            now = self.clock()
            if (
                self._access_token is None
                or self._token_expires is None
                or now >= self._token_expires - TOKEN_RENEW_MARGIN
            ):
                (
                    self._access_token,
                    self._token_expires,
                ) = await self._async_fetch_token()
            return self._access_token

    def _forget_token(self) -> None:
        """Drop the cached token so the next request obtains a new one."""
        self._access_token = None
        self._token_expires = None

    async def _async_auth_headers(self) -> dict[str, str]:
        """Headers that authenticate a request to the API."""
        return {}

    # HTTP.

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> Response:
        """Send one request and map every failure into the shared error tree.

        With an access token, a 401 drops the token and retries once before the
        credentials are declared bad. A 403 is never retried and keeps the token: it
        refuses a permission (a missing scope), which a fresh token would not grant.
        """
        self._require_secure(url)
        retries = 1 if authenticated and self.uses_access_token else 0
        while True:
            send_headers = (
                dict(await self._async_auth_headers()) if authenticated else {}
            )
            send_headers.update(headers or {})
            token_sent = self._access_token
            status, response_headers, body = await self._send(
                method, url, params=params, json=json, data=data, headers=send_headers
            )
            self._note_rate_limit(response_headers)
            if status == 401 and authenticated and self.uses_access_token:
                if self._access_token == token_sent:
                    # Concurrent requests may have renewed it already: keep that one.
                    self._forget_token()
                if retries:
                    retries -= 1
                    continue
            return self._decode(status, response_headers, body)

    async def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """Do the I/O; connection problems and timeouts become ProviderConnectionError."""
        self.requests_made += 1
        try:
            async with (
                asyncio.timeout(self.request_timeout),
                self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    allow_redirects=False,
                ) as response,
            ):
                return response.status, response.headers, await response.read()
        except TimeoutError:
            raise ProviderTimeoutError(
                self.name, f"no answer within {self.request_timeout:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as err:
            raise ProviderConnectionError(
                self.name, f"cannot reach the API ({type(err).__name__})"
            ) from None

    def _note_rate_limit(self, headers: CIMultiDictProxy[str]) -> None:
        """Remember X-RateLimit-Limit/Remaining when the provider sends them."""
        limit = headers.get("X-RateLimit-Limit")
        remaining = headers.get("X-RateLimit-Remaining")
        if limit is None and remaining is None:
            return
        self.rate_limit = RateLimit(
            limit=header_count(limit), remaining=header_count(remaining)
        )

    def _decode(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes
    ) -> Response:
        """Turn a status and body into a Response or the matching error."""
        if 200 <= status < 300:
            return Response(status, headers, self._json(body, status, strict=True))
        detail = self._redact(problem_detail(self._json(body, status, strict=False)))
        if status == 401:
            raise ProviderAuthError(
                self.name,
                f"credentials refused ({status})" + (f": {detail}" if detail else ""),
            )
        if status == 403:
            raise ProviderForbiddenError(self.name, detail)
        if status == 429:
            retry_after = parse_retry_after(headers.get("Retry-After"), self.clock())
            raise ProviderRateLimitError(
                self.name, "too many requests", retry_after=retry_after
            )
        if status >= 500:
            raise ProviderConnectionError(
                self.name, f"server error {status}", status=status
            )
        raise ProviderRejectedError(self.name, status, detail)

    def _redact(self, text: str | None) -> str | None:
        """Remove our own secrets from text a provider wrote (it may echo what we sent)."""
        if text is None:
            return None
        secrets = [getattr(self, name, None) for name in self.secret_fields]
        secrets.append(self._access_token)
        for secret in secrets:
            if isinstance(secret, str) and secret:
                text = text.replace(secret, "**REDACTED**")
        return text

    def _json(self, body: bytes, status: int, *, strict: bool) -> Any:
        """Decode a JSON body; an empty body is None. Garbage raises only when strict."""
        if not body.strip():
            return None
        try:
            return json_loads(body)
        except (ValueError, UnicodeDecodeError):
            if strict:
                raise ProviderResponseError(
                    self.name, f"response is not valid JSON (HTTP {status})", "body"
                ) from None
            return None

    async def _gather_per_vehicle[T, R](
        self,
        items: Iterable[T],
        call: Callable[[T], Awaitable[R]],
    ) -> list[R | ChargeBridgeError]:
        """Run one call per vehicle, at most PER_VEHICLE_CONCURRENCY at a time.

        A vehicle's own failure is returned in its place so the others carry on; auth,
        permission (403) and rate-limit errors concern the whole account and are raised. A few workers take
        the vehicles in turn (not a task per vehicle): a fleet of a thousand costs eight
        tasks.
        """
        pending = list(enumerate(items))
        results: list[R | ChargeBridgeError | None] = [None] * len(pending)
        queue = iter(pending)

        async def worker() -> None:
            for index, item in queue:
                try:
                    results[index] = await call(item)
                except (
                    ProviderAuthError,
                    ProviderForbiddenError,
                    ProviderRateLimitError,
                ):
                    raise
                except ChargeBridgeError as err:
                    results[index] = err

        workers = [
            asyncio.ensure_future(worker())
            for _ in range(min(PER_VEHICLE_CONCURRENCY, len(pending)))
        ]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            raise
        return cast("list[R | ChargeBridgeError]", results)

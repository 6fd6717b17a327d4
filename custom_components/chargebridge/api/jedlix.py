"""Client for the Jedlix Smart Charging API v2.

Jedlix sells smart charging to energy companies; each company gets its own environment
(``https://<environment>.jedlix.com``), an API key, and OAuth2 client credentials issued by
Auth0. Every call carries the access token *and* the API key.

A steady-state refresh costs one request: the vehicle list embeds each car's charge state,
and the per-vehicle charge settings and the user's messages change rarely, so they are
cached for ``CHARGE_SETTINGS_MAX_AGE`` and ``MESSAGES_MAX_AGE`` and refreshed after writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
import functools
import logging
import re
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .base import MAX_PAGES, ConfigField, Provider
from .errors import (
    ChargeBridgeError,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    UnsupportedError,
)
from .models import (
    Account,
    Capabilities,
    ChargingPreferences,
    ChargingStatus,
    Feature,
    PreferencesUpdate,
    ProviderMessage,
    ProviderNotice,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
    Weekday,
    format_hhmm,
)
from .payload import Payload

_LOGGER = logging.getLogger(__name__)

NAME = "jedlix"

DEFAULT_TOKEN_URL = "https://jedlix-b2e.eu.auth0.com/oauth/token"
"""Jedlix's Auth0 tenant, where client credentials become access tokens."""
API_PATH = "/api/v2"
"""Every endpoint lives under this path of the customer environment."""
CLIENT_NAME = "ChargeBridge"
"""Sent as ``Jedlix-ClientName`` so Jedlix can tell our traffic apart."""
CLIENT_VERSION = "0.1.0"
"""Sent as ``Jedlix-ClientVersion``; kept equal to manifest.json's version (a test checks)."""
PAGE_SIZE = 100
"""The largest page Jedlix serves."""
CHARGE_SETTINGS_MAX_AGE = timedelta(minutes=30)
"""Charge settings change only when someone edits them: re-read them this often."""
MESSAGES_MAX_AGE = timedelta(minutes=15)
"""Messages (the source of repair issues) are re-read this often."""
TOKEN_LIFETIME_FALLBACK = timedelta(hours=1)
"""Used when the token endpoint omits ``expires_in`` (OAuth2 only recommends it)."""
MAX_TOKEN_LIFETIME_S = 366 * 24 * 3600
"""An ``expires_in`` beyond a year is not believed."""
TARGET_SOC_MIN = 50
"""Lowest ``desiredBatteryLevel`` Jedlix accepts."""
TARGET_SOC_MAX = 100
"""Highest ``desiredBatteryLevel`` Jedlix accepts."""
BOOST_SETTING_TYPE = "boostCharging"
"""The session setting that makes the car charge at full power now."""
ACTIVE_SESSION_STATUS = "active"
"""Session status (compared case-insensitively) of a session that can be boosted."""

# [assume] Jedlix does not publish the charge-settings path; GET reads and PUT writes here.
CHARGE_SETTINGS_PATH = "users/{user_id}/vehicles/{vehicle_id}/charge-settings"

# [assume] ``departureTimes`` is an object keyed by lower-case English weekday, "HH:mm" local.
DEPARTURE_DAY_KEYS: Mapping[Weekday, str] = {day: day.value for day in Weekday}

# [assume] The charge settings name their time zone (IANA name) in this key.
TIME_ZONE_KEY = "timeZone"

# [assume] A message about one car names it in this key.
MESSAGE_VEHICLE_ID_KEY = "vehicleId"

# [assume] The v2 notes show ``PATCH /users/{userId}/messages/{messageId}`` but not its body;
# the message object carries ``isDismissed``, so the body sets that. A wrong guess costs only
# the dismissal, never the messages: Jedlix refuses the body (the fix flow says so and the
# issue stays) or ignores it (its answer still says ``isDismissed: false``: the same), and
# at worst the message, and its issue, come back at the next read of the messages.
DISMISS_MESSAGE_BODY: Mapping[str, Any] = {"isDismissed": True}

CHARGE_STATES: Mapping[str, ChargingStatus] = {
    "Complete": ChargingStatus.COMPLETE,
    "Charging": ChargingStatus.CHARGING,
    "Disconnected": ChargingStatus.DISCONNECTED,
    "Stopped": ChargingStatus.PLUGGED_IN,
}
"""Jedlix charge states (compared case-insensitively; older SDKs send lower case)."""

CAPABILITY_FEATURES: Mapping[str, frozenset[Feature]] = {
    "stateofcharge": frozenset({Feature.STATE_OF_CHARGE}),
    "chargestate": frozenset(
        {
            Feature.CHARGING_STATUS,
            Feature.PLUGGED_IN,
            Feature.CHARGING,
            Feature.LAST_UPDATE,
        }
    ),
    "desiredstateofcharge": frozenset({Feature.TARGET_SOC}),
    "departuretimes": frozenset({Feature.WEEKDAY_READY_TIMES, Feature.NEXT_DEPARTURE}),
}
"""Vehicle capability strings (case-folded) and the features they give; others are ignored."""

INFORMATIONAL_MESSAGES: Mapping[str, str] = {
    "startSession": "start_session",
    "endSession": "end_session",
    "readyForPairing": "ready_for_pairing",
}
"""Message types that tell, not ask: events of the car, never repair issues."""

MESSAGE_NOTICE_CODES: Mapping[str, str] = {
    "invalidCredentials": "invalid_credentials",
    "carNotFound": "car_not_found",
    "carNotReachable": "car_not_reachable",
    "reconnectUtilityContract": "reconnect_utility_contract",
    "invalidUtilityContract": "invalid_utility_contract",
    "sessionImpossible": "session_impossible",
    "receivedNoPower": "received_no_power",
    "geoLocationDisabled": "geo_location_disabled",
}
"""Message types with a stable notice code; other types become their snake_case."""


# [assume] Jedlix's OAuth2 audience is the customer environment's URL itself.
def default_audience(api_url: str) -> str:
    """Derive the OAuth2 audience from the API URL when none is configured."""
    return api_url


# [assume] The charge-settings PUT replaces the whole object (no PATCH is known), so a
# write reads the settings, changes only the fields the update sets, and sends it all back.
def merged_charge_settings(
    current: Mapping[str, Any], update: PreferencesUpdate
) -> dict[str, Any]:
    """Build the charge-settings PUT body: the current settings with the update applied."""
    body = dict(current)
    if update.smart_charging is not None:
        body["isSmartChargingEnabled"] = update.smart_charging
    if update.target_soc is not None:
        body["desiredBatteryLevel"] = update.target_soc
    if update.weekday_ready_times:
        existing = current.get("departureTimes")
        departures = dict(existing) if isinstance(existing, dict) else {}
        for day, ready in update.weekday_ready_times.items():
            departures[DEPARTURE_DAY_KEYS[day]] = format_hhmm(ready)
        body["departureTimes"] = departures
    return body


# Parsing: module-level so property-based tests can feed them anything.


def _hhmm(payload: Payload, key: str) -> time | None:
    """Read a provider "HH:mm" (seconds tolerated), or None; garbage is a value fault."""
    value = payload.opt_str(key)
    if value is None or value == "":
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?", value)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        payload.value_fault(key, "not an HH:mm time")
        return None
    return time(int(match[1]), int(match[2]))


def parse_token(data: Any) -> tuple[str, float]:
    """Read the access token and its lifetime in seconds from the token endpoint."""
    payload = Payload(NAME, data, "token")
    token = payload.req_str("access_token")
    expires_in = payload.opt_float("expires_in")
    if expires_in is None:
        return token, TOKEN_LIFETIME_FALLBACK.total_seconds()
    if not 0 <= expires_in <= MAX_TOKEN_LIFETIME_S:
        raise ProviderResponseError(NAME, "wrong type for field", "token.expires_in")
    return token, expires_in


def parse_charge_state(payload: Payload | None) -> VehicleState:
    """Read a vehicle's embedded ``chargeState`` object as a VehicleState."""
    if payload is None:
        return VehicleState()
    status = payload.opt_enum("chargeState", CHARGE_STATES, ChargingStatus.UNKNOWN)
    status = status or ChargingStatus.UNKNOWN
    plugged: bool | None = None
    charging: bool | None = None
    if status is not ChargingStatus.UNKNOWN:
        plugged = status is not ChargingStatus.DISCONNECTED
        charging = status is ChargingStatus.CHARGING
    return VehicleState(
        state_of_charge=payload.opt_float("batteryLevel"),
        range_km=payload.opt_float("range"),
        charging_status=status,
        plugged_in=plugged,
        charging=charging,
        updated_at=payload.opt_datetime("updatedAt"),
    )


def parse_capabilities(payload: Payload, *, has_range: bool) -> Capabilities:
    """Read a vehicle's ``capabilities`` strings (unknown strings are ignored).

    ``isConnectable`` present but unreadable keeps boost: a value we cannot read must not
    take an entity away (its state is unknown, and the provider refuses what it cannot do).
    """
    names = payload.opt_list("capabilities")
    for index, item in enumerate(names):
        if not isinstance(item, str):
            raise ProviderResponseError(
                NAME, "wrong type for field", f"{payload.path}.capabilities[{index}]"
            )
    connectable = payload.opt_bool("isConnectable")
    if connectable is None:
        connectable = payload.has("isConnectable")
    return _capabilities(tuple(names), has_range=has_range, connectable=connectable)


@functools.lru_cache(maxsize=256)
def _capabilities(
    names: tuple[str, ...], *, has_range: bool, connectable: bool
) -> Capabilities:
    """Build the capabilities (cached: a fleet's cars share a handful of combinations)."""
    features: set[Feature] = {Feature.SMART_CHARGING, Feature.PROVIDER_MESSAGE}
    for name in names:
        features |= CAPABILITY_FEATURES.get(name.casefold(), frozenset())
    if has_range and Feature.CHARGING_STATUS in features:
        features.add(Feature.RANGE)
    if connectable:
        features.add(Feature.BOOST)
    return Capabilities(
        features=frozenset(features),
        target_soc_min=TARGET_SOC_MIN,
        target_soc_max=TARGET_SOC_MAX,
    )


def parse_vehicle(payload: Payload) -> tuple[Vehicle, VehicleState]:
    """Read one item of ``GET /users/{userId}/vehicles``."""
    vehicle_id = payload.req_str("id")
    details = payload.opt_obj("details")
    make = details.opt_str("brand") if details else None
    model = details.opt_str("model") if details else None
    version = details.opt_str("version") if details else None
    full_model = " ".join(part for part in (model, version) if part) or None
    charge_state = payload.opt_obj("chargeState")
    state = parse_charge_state(charge_state)
    connected = payload.opt_bool("isConnected")
    # A range that is sent but unreadable keeps its entity: the feature follows the field.
    has_range = charge_state is not None and charge_state.has("range")
    vehicle = Vehicle(
        id=vehicle_id,
        name=" ".join(part for part in (make, model) if part) or vehicle_id,
        capabilities=parse_capabilities(payload, has_range=has_range),
        make=make,
        model=full_model,
        link_broken=connected is False,
    )
    return vehicle, state


@dataclass(frozen=True, kw_only=True)
class ChargeSettings:
    """One vehicle's charge settings: the raw object (for read-merge-write) and its meaning."""

    raw: Mapping[str, Any]
    smart_charging: bool | None
    target_soc: int | None
    departure_times: Mapping[Weekday, time]
    time_zone: str | None
    fetched: datetime
    faults: tuple[ChargeBridgeError, ...] = ()
    """The values a lenient read could not read (reported again while cached)."""
    plugged_in: bool | None = None
    """Whether the car was plugged in when the fleet read them, False once it is listed
    unplugged since (None: not known): plugging in after that reads them again."""

    def preferences(self, boost: bool | None) -> ChargingPreferences:
        """Return the normalized preferences, with the boost state when it is known."""
        return ChargingPreferences(
            smart_charging=self.smart_charging,
            target_soc=self.target_soc,
            weekday_ready_times=dict(self.departure_times),
            boost=boost,
        )

    def next_departure(self, now: datetime) -> datetime | None:
        """Return the next departure after ``now`` (UTC) from the weekly times."""
        return next_departure(self.departure_times, self.time_zone, now)


def parse_charge_settings(
    data: Any,
    path: str,
    fetched: datetime,
    faults: list[ChargeBridgeError] | None = None,
) -> ChargeSettings:
    """Read a charge-settings object (leniently with ``faults``, see ``Payload``)."""
    found: list[ChargeBridgeError] | None = None if faults is None else []
    payload = Payload(NAME, data, path, found)
    departures: dict[Weekday, time] = {}
    times = payload.opt_obj("departureTimes")
    if times is not None:
        for day, key in DEPARTURE_DAY_KEYS.items():
            ready = _hhmm(times, key)
            if ready is not None:
                departures[day] = ready
    settings = ChargeSettings(
        raw=payload.data,
        smart_charging=payload.opt_bool("isSmartChargingEnabled"),
        target_soc=payload.opt_int("desiredBatteryLevel"),
        departure_times=departures,
        time_zone=payload.opt_str(TIME_ZONE_KEY),
        fetched=fetched,
        faults=tuple(found or ()),
    )
    if faults is not None:
        faults.extend(settings.faults)
    return settings


def next_departure(
    departures: Mapping[Weekday, time], time_zone: str | None, now: datetime
) -> datetime | None:
    """Return the first weekly departure after ``now``; None without times or zone."""
    if not departures or not time_zone:
        return None
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    local_now = now.astimezone(zone)
    for offset in range(8):
        day = local_now.date() + timedelta(days=offset)
        ready = departures.get(Weekday.from_index(day.weekday()))
        if ready is None:
            continue
        candidate = datetime.combine(day, ready, zone)
        if candidate > local_now:
            return candidate.astimezone(UTC)
    return None


def notice_code(message_type: str) -> str:
    """Return a stable snake_case notice code for a Jedlix message type."""
    if message_type in MESSAGE_NOTICE_CODES:
        return MESSAGE_NOTICE_CODES[message_type]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", message_type)
    snake = re.sub(r"[^a-z0-9]+", "_", snake.lower()).strip("_")
    return snake or "unknown"


def parse_message(payload: Payload) -> ProviderNotice:
    """Read one message as a notice; without an id it counts but cannot be dismissed."""
    vehicle_id = payload.opt_str(MESSAGE_VEHICLE_ID_KEY)
    message_id = payload.opt_str("id")
    return ProviderNotice(
        code=notice_code(payload.req_str("type")),
        vehicle_id=vehicle_id or None,
        message=payload.opt_str("title") or payload.opt_str("body"),
        message_ids=(message_id,) if message_id else (),
    )


def merge_notices(notices: Sequence[ProviderNotice]) -> tuple[ProviderNotice, ...]:
    """Make one notice per (code, car): the first (newest) one, carrying every message id.

    The user sees one issue per problem and car; dismissing it must dismiss every message
    behind it, or the issue would come back from the next one.
    """
    merged: dict[tuple[str, str | None], ProviderNotice] = {}
    for notice in notices:
        key = (notice.code, notice.vehicle_id)
        first = merged.get(key)
        if first is None:
            merged[key] = notice
        else:
            ids = first.message_ids + tuple(
                i for i in notice.message_ids if i not in first.message_ids
            )
            merged[key] = replace(first, message_ids=ids)
    return tuple(merged.values())


def without_messages(
    notices: Sequence[ProviderNotice], message_ids: Collection[str]
) -> tuple[ProviderNotice, ...]:
    """Remove dismissed messages from notices; a notice left with none of its own is gone."""
    kept: list[ProviderNotice] = []
    for notice in notices:
        remaining = tuple(i for i in notice.message_ids if i not in message_ids)
        if notice.message_ids and not remaining:
            continue
        kept.append(
            notice
            if len(remaining) == len(notice.message_ids)
            else replace(notice, message_ids=remaining)
        )
    return tuple(kept)


def parse_informational(payload: Payload) -> tuple[str | None, ProviderMessage] | None:
    """Read an informational message (its car and itself); None for any other type."""
    kind = INFORMATIONAL_MESSAGES.get(payload.req_str("type"))
    if kind is None:
        return None
    message = ProviderMessage(
        id=payload.req_str("id"),
        type=kind,
        title=payload.opt_str("title") or payload.opt_str("body"),
        created_at=payload.opt_datetime("createdAt"),
    )
    return payload.opt_str(MESSAGE_VEHICLE_ID_KEY) or None, message


def parse_page(data: Any, path: str) -> tuple[list[Payload], int]:
    """Read a paged envelope: its items and how many pages there are."""
    payload = Payload(NAME, data, path)
    total_pages = payload.opt_int("totalPages")
    if total_pages is None or total_pages < 0:
        raise ProviderResponseError(
            NAME, "missing required field", f"{path}.totalPages"
        )
    return payload.objects("items"), total_pages


def parse_session(data: Any) -> tuple[str, bool]:
    """Read a session's id and whether it is active."""
    payload = Payload(NAME, data, "session")
    status = payload.opt_str("status") or ""
    return payload.req_str("id"), status.casefold() == ACTIVE_SESSION_STATUS


@dataclass(kw_only=True)
class JedlixClient(Provider):
    """Jedlix Smart Charging API v2 for one user of one customer environment."""

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "Jedlix"
    api_name: ClassVar[str | None] = "Jedlix Smart Charging API v2"
    message_types: ClassVar[tuple[str, ...]] = tuple(INFORMATIONAL_MESSAGES.values())
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(key="api_url", url=True),
        ConfigField(key="api_key", secret=True),
        ConfigField(key="client_id", account=True),
        ConfigField(key="client_secret", secret=True),
        ConfigField(key="user_id", account=True),
        ConfigField(key="token_url", default=DEFAULT_TOKEN_URL, url=True),
        ConfigField(key="audience", optional=True),
    )
    default_scan_interval: ClassVar[timedelta] = timedelta(minutes=5)
    min_scan_interval: ClassVar[timedelta] = timedelta(minutes=1)
    uses_access_token: ClassVar[bool] = True

    api_key: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    token_url: str = DEFAULT_TOKEN_URL
    audience: str | None = None

    _settings: dict[str, ChargeSettings] = field(
        default_factory=dict, init=False, repr=False
    )
    _notices: tuple[ProviderNotice, ...] = field(default=(), init=False, repr=False)
    _notices_fetched: datetime | None = field(default=None, init=False, repr=False)
    _messages_lock: asyncio.Lock = field(
        default_factory=asyncio.Lock, init=False, repr=False
    )
    """Reading the messages and dismissing one never interleave: a read that began before a
    dismissal cannot put the dismissed message back into the cache after it."""
    _messages: dict[str, tuple[ProviderMessage, ...]] = field(
        default_factory=dict, init=False, repr=False
    )
    """Informational messages per car, as of the last read of the messages."""
    _listed_at: datetime | None = field(default=None, init=False, repr=False)
    """When the current refresh read the list: "now" for its cache ages and departures."""

    def __post_init__(self) -> None:
        """Refuse to send the client secret over clear text too; empty means Auth0."""
        super().__post_init__()
        if not self.token_url:
            self.token_url = DEFAULT_TOKEN_URL
        self._require_secure(self.token_url, "token_url")

    @property
    def effective_audience(self) -> str:
        """The audience asked for in token requests."""
        return self.audience or default_audience(self.api_url)

    def _url(self, *segments: str) -> str:
        """Build an API URL from path segments (each one quoted)."""
        return "/".join(
            [self.api_url + API_PATH, *(quote(part, safe="") for part in segments)]
        )

    def _settings_url(self, vehicle_id: str) -> str:
        """Build the URL of one vehicle's charge settings."""
        path = CHARGE_SETTINGS_PATH.format(
            user_id=quote(self.user_id, safe=""), vehicle_id=quote(vehicle_id, safe="")
        )
        return f"{self.api_url}{API_PATH}/{path}"

    # Auth.

    async def _async_fetch_token(self) -> tuple[str, datetime]:
        """Client credentials at Auth0; a refused request means bad credentials."""
        try:
            response = await self._request(
                "POST",
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "audience": self.effective_audience,
                },
                authenticated=False,
            )
        except (ProviderRejectedError, ProviderForbiddenError) as err:
            # At the token endpoint a 403 too means the credentials are refused.
            status = err.status if isinstance(err, ProviderRejectedError) else 403
            raise ProviderAuthError(
                NAME,
                f"token request refused ({status})"
                + (f": {err.detail}" if err.detail else ""),
            ) from None
        token, lifetime = parse_token(response.data)
        return token, self.clock() + timedelta(seconds=lifetime)

    async def _async_auth_headers(self) -> dict[str, str]:
        """Bearer token, API key and Jedlix's client identification headers."""
        return {
            "Authorization": f"Bearer {await self._async_access_token()}",
            "ApiKey": self.api_key,
            "Jedlix-ClientName": CLIENT_NAME,
            "Jedlix-ClientVersion": CLIENT_VERSION,
            "Jedlix-CorrelationId": str(uuid.uuid4()),
        }

    # Reading.

    async def _async_vehicles(self) -> list[Any]:
        """``GET /users/{userId}/vehicles``: a plain array with embedded charge state."""
        response = await self._request(
            "GET", self._url("users", self.user_id, "vehicles")
        )
        if not isinstance(response.data, list):
            raise ProviderResponseError(NAME, "expected a JSON array", "vehicles")
        return response.data

    async def async_validate(self) -> Account:
        """Obtain a token and list the user's vehicles."""
        await self._async_vehicles()
        host = urlsplit(self.api_url).hostname or self.api_url
        return Account(unique_id=f"{host}_{self.user_id}", title=self.title)

    async def async_get_charge_settings(
        self, vehicle_id: str, faults: list[ChargeBridgeError] | None = None
    ) -> ChargeSettings:
        """Read one vehicle's charge settings (always from the API) and cache them.

        With ``faults`` (the fleet's read) an unreadable value is None and recorded there.
        """
        response = await self._request("GET", self._settings_url(vehicle_id))
        settings = parse_charge_settings(
            response.data,
            f"vehicles[{vehicle_id}].chargeSettings",
            self.clock(),
            faults,
        )
        self._settings[vehicle_id] = settings
        return settings

    async def async_get_notices(
        self,
    ) -> tuple[tuple[ProviderNotice, ...], list[ChargeBridgeError]]:
        """Read every undismissed message (all pages): notices, and the cars' messages.

        Informational types become the cars' ``ProviderMessage``s (kept for the next fleet),
        the rest notices (one per type and car, see ``merge_notices``). A message that
        cannot be read is a problem; the others count.
        """
        async with self._messages_lock:
            return await self._async_read_messages()

    async def _async_read_messages(
        self,
    ) -> tuple[tuple[ProviderNotice, ...], list[ChargeBridgeError]]:
        """Read every undismissed message and cache what they say (under the lock)."""
        notices: list[ProviderNotice] = []
        messages: dict[str, list[ProviderMessage]] = {}
        problems: list[ChargeBridgeError] = []
        url = self._url("users", self.user_id, "messages")
        page = 1
        while True:
            response = await self._request(
                "GET",
                url,
                params={
                    "includeDismissed": "false",
                    "pageSize": str(PAGE_SIZE),
                    "pageIndex": str(page),
                },
            )
            items, total_pages = parse_page(response.data, f"messages[page {page}]")
            for item in items:
                try:
                    informational = parse_informational(item)
                    if informational is not None:
                        vehicle_id, message = informational
                        if vehicle_id is not None:
                            messages.setdefault(vehicle_id, []).append(message)
                        continue
                    notices.append(parse_message(item))
                except ProviderResponseError as err:
                    problems.append(err)
            if not items or page >= total_pages:
                break
            if page >= MAX_PAGES:
                _LOGGER.warning("Jedlix messages: stopped after %d pages", MAX_PAGES)
                break
            page += 1
        self._notices = merge_notices(notices)
        self._messages = {key: tuple(value) for key, value in messages.items()}
        self._notices_fetched = self.clock()
        return self._notices, problems

    # The fleet: the vehicle list, plus settings and messages when their cache is stale.

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        self._listed_at = self.clock()
        return [
            (f"vehicles[{index}]", item)
            for index, item in enumerate(await self._async_vehicles())
        ]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot:
        vehicle, state = parse_vehicle(item)
        settings = self._settings.get(vehicle.id)
        if state.plugged_in is False and settings is not None and settings.plugged_in:
            self._settings[vehicle.id] = replace(settings, plugged_in=False)
        return self._snapshot(vehicle, state)

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        return (self._settings,)

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        """Read settings never read, read before the car was plugged in, or old ones.

        Plugging in starts the session the departure and target are for: the moment
        they matter, and when people set them.
        """
        settings = self._settings.get(snapshot.vehicle.id)
        return (
            settings is None
            or (snapshot.state.plugged_in is True and settings.plugged_in is False)
            or (
                by_age
                and (self._listed_at or self.clock()) - settings.fetched
                >= CHARGE_SETTINGS_MAX_AGE
            )
        )

    async def _async_enrich(
        self, snapshot: VehicleSnapshot, problems: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        settings = await self.async_get_charge_settings(snapshot.vehicle.id, problems)
        self._settings[snapshot.vehicle.id] = replace(
            settings, plugged_in=snapshot.state.plugged_in
        )
        return self._snapshot(snapshot.vehicle, snapshot.state)

    def _cached_faults(self, snapshot: VehicleSnapshot) -> Sequence[ChargeBridgeError]:
        settings = self._settings.get(snapshot.vehicle.id)
        return () if settings is None else settings.faults

    def _snapshot(self, vehicle: Vehicle, state: VehicleState) -> VehicleSnapshot:
        """Build the snapshot with preferences and next departure from cached settings."""
        settings = self._settings.get(vehicle.id)
        messages = self._messages.get(vehicle.id, ())
        if settings is None:
            return VehicleSnapshot(vehicle=vehicle, state=state, messages=messages)
        return VehicleSnapshot(
            vehicle=vehicle,
            state=state,
            messages=messages,
            preferences=settings.preferences(None),
            schedule=Schedule(
                next_departure=settings.next_departure(self._listed_at or self.clock())
            ),
        )

    async def _async_notices(
        self, problems: list[ChargeBridgeError], *, by_age: bool
    ) -> Sequence[ProviderNotice]:
        return await self._async_cached_notices(self.clock(), problems, by_age=by_age)

    async def _async_cached_notices(
        self, now: datetime, problems: list[ChargeBridgeError], *, by_age: bool = True
    ) -> tuple[ProviderNotice, ...]:
        """Return the messages as notices, re-read when older than MESSAGES_MAX_AGE.

        A failure other than auth or rate limiting keeps the previous notices and becomes a
        problem; the fleet itself is unaffected.
        """
        if self._notices_fetched is not None and (
            not by_age or now - self._notices_fetched < MESSAGES_MAX_AGE
        ):
            return self._notices
        try:
            notices, message_problems = await self.async_get_notices()
        except (ProviderAuthError, ProviderForbiddenError, ProviderRateLimitError):
            raise
        except ChargeBridgeError as err:
            problems.append(err)
            return self._notices
        problems.extend(message_problems)
        return notices

    # Writing.

    async def async_dismiss_notice(self, notice: ProviderNotice) -> None:
        """Dismiss every message behind the notice at Jedlix, as the user would in the app.

        The dismissed messages leave the cached notices at once (the issue does not come
        back from the cache), and the next refresh reads the messages afresh. When one
        message fails, those dismissed before it stay dismissed and the error is raised.
        """
        if not notice.message_ids:
            raise UnsupportedError(
                NAME, "this notice is no message that can be dismissed"
            )
        dismissed: list[str] = []
        async with self._messages_lock:
            try:
                for message_id in notice.message_ids:
                    await self._async_dismiss_message(message_id)
                    dismissed.append(message_id)
            finally:
                if dismissed:
                    self._notices = without_messages(self._notices, dismissed)
                    self._notices_fetched = None

    async def _async_dismiss_message(self, message_id: str) -> None:
        """PATCH one message as dismissed; a message Jedlix no longer has is gone anyway."""
        try:
            response = await self._request(
                "PATCH",
                self._url("users", self.user_id, "messages", message_id),
                json=dict(DISMISS_MESSAGE_BODY),
            )
        except ProviderRejectedError as err:
            if err.status == 404:
                return
            raise
        # The answer is the message: an explicit false means the body was not understood.
        if (
            isinstance(response.data, dict)
            and response.data.get("isDismissed") is False
        ):
            raise ProviderResponseError(
                NAME,
                "the message is still not dismissed",
                f"messages[{message_id}].isDismissed",
            )

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """Read the settings, apply the update, PUT the whole object back."""
        vehicle_id = snapshot.vehicle.id
        current = await self.async_get_charge_settings(vehicle_id)
        body = merged_charge_settings(current.raw, update)
        response = await self._request("PUT", self._settings_url(vehicle_id), json=body)
        accepted = parse_charge_settings(
            response.data if response.data is not None else body,
            f"vehicles[{vehicle_id}].chargeSettings",
            self.clock(),
        )
        self._settings[vehicle_id] = accepted
        return accepted.preferences(None)

    async def _async_set_boost(self, snapshot: VehicleSnapshot, enabled: bool) -> None:
        """Switch boost charging on the vehicle's active session.

        Without an active session there is nothing to boost: ProviderRejectedError (409).
        """
        vehicle_id = snapshot.vehicle.id
        try:
            response = await self._request(
                "GET",
                self._url(
                    "users", self.user_id, "vehicles", vehicle_id, "sessions", "last"
                ),
            )
        except ProviderRejectedError as err:
            if err.status == 404:
                raise _no_active_session() from None
            raise
        if response.data is None:
            raise _no_active_session()
        session_id, active = parse_session(response.data)
        if not active:
            raise _no_active_session()
        await self._request(
            "POST",
            self._url(
                "users", self.user_id, "sessions", session_id, "session-settings"
            ),
            json={"type": BOOST_SETTING_TYPE, "enabled": enabled},
        )


def _no_active_session() -> ProviderRejectedError:
    """Boost needs a session in progress: the car must be plugged in and charging."""
    return ProviderRejectedError(NAME, 409, "no active charging session")

"""ev.energy API v2: smart charging app and platform (client credentials for one user).

An OAuth2 client-credentials token from ``/o/token/`` on the API's origin, then every
request carries ``Authorization: Bearer``, ``EvEnergy-User`` (the user we act for) and
``EvEnergy-Version: 2``. One refresh is the vehicle list with the latest status log and the
make/model expanded inline: ``ceil(N / 100)`` requests for N vehicles (at least one), plus
the token call when the cached token is due. Writes are a PATCH of the vehicle; boost acts
on the vehicle's current charging session, which is looked up only when the user boosts.

The charging plan of a plugged-in car is its open sub-session's schedule intervals. They
are read again only when the car's plug, charging or smart-charging state changes, after a
write to that car, or once they are 15 minutes old; then one newest-first pass over the
charging sessions finds every such car's open sub-session, and each is read with one request.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import math
import re
from typing import Any, ClassVar
from urllib.parse import quote, quote_plus, urljoin, urlsplit

from multidict import MultiDict

from .base import MAX_PAGES, ConfigField, Provider, Response, of_vehicle, origin
from .errors import (
    ChargeBridgeError,
    CommandNotDeliveredError,
    InvalidUserIdError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRejectedError,
    ProviderResponseError,
)
from .models import (
    Account,
    Capabilities,
    ChargingPreferences,
    ChargingSlot,
    ChargingStatus,
    Feature,
    PreferencesUpdate,
    Schedule,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from .payload import Payload, payload_list

API_VERSION = "2"
"""Sent as ``EvEnergy-Version`` so a change of the application's default cannot bite us."""

PAGE_SIZE = 100
"""The largest ``page_size`` the API allows (default 25)."""

VEHICLE_EXPANSIONS = ("latest_status_log", "trim.model.make")
"""Inlined in the list: telemetry, and make/model names (``expand`` is exploded)."""

TOKEN_PATH = "/o/token/"
"""The token endpoint, on the scheme, host and port of ``api_url``."""

USER_ID_PATTERN = re.compile(r"user[A-Z0-9]{26}")
"""A user id as the spec gives it (``user`` + 26 upper-case characters)."""

ID_PATTERN = re.compile(r"[a-z]{4}[A-Z0-9]{26}")
"""Every ev.energy resource id: a 4-letter type prefix + 26 upper-case characters."""

TARGET_SOC_MIN = 50
TARGET_SOC_MAX = 100
"""``maximum_charge_limit_percentage`` bounds (spec: minimum 50, maximum 100)."""

BOOST_START = "boost_start"
BOOST_END = "boost_end"

# 1000 vehicles are 10 list requests per refresh; every 60 s that is 600 requests an hour
# (+1 token) against the default budget of 1000/hour, leaving 40 % for writes, boosts and
# plans (each plugged-in car's about 4 times an hour: PLAN_MAX_AGE).
DEFAULT_SCAN_INTERVAL = timedelta(minutes=5)
MIN_SCAN_INTERVAL = timedelta(seconds=60)
RATE_LIMIT_WINDOW = timedelta(hours=1)
"""X-RateLimit-Limit (1000 by default) counts requests per rolling hour."""

# [assume] A token response without ``expires_in`` is good for one hour.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)

INTEGRATION_BROKEN = "INACTIVE"
"""``integrated`` value meaning the car link broke and the user must reconnect it."""

STATUS_BY_STATE: Mapping[str, ChargingStatus] = {
    "DRIVING": ChargingStatus.DISCONNECTED,
    "RECENTLY_FINISHED_DRIVING": ChargingStatus.DISCONNECTED,
    "STATIONARY": ChargingStatus.DISCONNECTED,
    "IN_SERVICE": ChargingStatus.DISCONNECTED,
    "PLUGGED_IN_NOT_CHARGING": ChargingStatus.PLUGGED_IN,
    "PLUGGED_IN_CHARGING": ChargingStatus.CHARGING,
    "PLUGGED_IN_COMPLETE": ChargingStatus.COMPLETE,
}
"""The status log's ``state`` enum, except the two plugged-in states decided below."""

# [assume] PLUGGED_IN_NEAR_READY_BY_TIME and PLUGGED_IN_ALMOST_COMPLETE say the car is
# plugged in but not whether power flows; is_charging decides charging vs plugged_in.
PLUGGED_IN_STATES = frozenset(
    {"PLUGGED_IN_NEAR_READY_BY_TIME", "PLUGGED_IN_ALMOST_COMPLETE"}
)

NO_PLAN = Schedule()
"""The schedule of a car without a plan (unplugged, or none read yet)."""

PLAN_MAX_AGE = timedelta(minutes=15)
"""A plan is read again after this long even when nothing says it changed."""
MAX_PLAN_READS_PER_REFRESH = 25
"""At most this many plans are read in one refresh (the most urgent first); the others
keep the plan last read and are read at the next refresh."""
PLAN_BUDGET_RESERVE = 0.2
"""The share of the hourly request budget plan reads leave for the vehicle list, writes
and boosts: no plan is read once the provider says fewer requests remain."""

INTERVAL_LENGTH = timedelta(seconds=1800)
"""The length of a schedule interval (the spec: "currently always 1800 seconds"); an
open-ended (boost) interval that no later one follows is taken to last this long."""

DISCHARGE_SCHEDULE_TYPES = frozenset({"V2G_DISCHARGE"})
"""Schedule types whose current flows out of the car: not planned charging."""

CAPABILITIES = Capabilities(
    features=frozenset(
        {
            Feature.STATE_OF_CHARGE,
            Feature.CHARGING_STATUS,
            Feature.PLUGGED_IN,
            Feature.CHARGING,
            Feature.CHARGE_POWER,
            Feature.ENERGY_ADDED,
            Feature.BATTERY_CAPACITY,
            Feature.LAST_UPDATE,
            Feature.SMART_CHARGING,
            Feature.TARGET_SOC,
            Feature.BOOST,
            Feature.CHARGING_PLAN,
        }
    ),
    target_soc_min=TARGET_SOC_MIN,
    target_soc_max=TARGET_SOC_MAX,
)
"""Every ev.energy vehicle: target 50–100 %, boost, the charging plan; no range, ready
time or minimal."""

CONTROLS = frozenset({Feature.SMART_CHARGING, Feature.TARGET_SOC, Feature.BOOST})
DISABLED_CAPABILITIES = Capabilities(
    features=CAPABILITIES.features - CONTROLS,
    target_soc_min=TARGET_SOC_MIN,
    target_soc_max=TARGET_SOC_MAX,
)
"""A ``disabled`` vehicle "can no longer be smart-charged or controlled": readings only."""

UNKNOWN_STATE = "UNKNOWN"
"""The status log's own "unknown": its booleans may still say what the car does."""


def normalize_user_id(provider: str, value: str) -> str:
    """Reduce a configured user (id or URL) to the id ``EvEnergy-User`` carries.

    [assume] The spec's header (pattern ``user[A-Z0-9]{26}``) wins over the docs page that
    shows the user's URL; a URL such as ``https://api.ev.energy/v2/users/user…/`` is
    accepted in the configuration and reduced to its id.
    """
    candidate = value.strip()
    if not USER_ID_PATTERN.fullmatch(candidate):
        try:
            segments = [part for part in urlsplit(candidate).path.split("/") if part]
        except ValueError:
            segments = []
        candidate = segments[-1] if segments else ""
    if USER_ID_PATTERN.fullmatch(candidate):
        return candidate
    raise InvalidUserIdError(
        provider, "user id must be user + 26 upper-case characters, or the user's URL"
    )


def token_url(api_url: str) -> str:
    """Build the token endpoint URL on ``api_url``'s scheme, host and port."""
    return origin(api_url) + TOKEN_PATH


def token_request(
    client_id: str, client_secret: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and form of the client-credentials token request.

    [assume] The spec names the token endpoint but not how the client authenticates to
    it: HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1, which every
    server must support), and only ``grant_type`` in the form.
    """
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    basic = base64.b64encode(pair.encode()).decode("ascii")
    return {"Authorization": f"Basic {basic}"}, {"grant_type": "client_credentials"}


def next_link(header: str | None, current_url: str) -> str | None:
    """Return the absolute URL of a Link header's ``rel="next"`` entry, if any."""
    if not header:
        return None
    for match in re.finditer(r"<([^>]*)>([^<]*)", header):
        target, params = match.group(1).strip(), match.group(2)
        rel = re.search(r';\s*rel\s*=\s*"?([^";,]*)"?', params)
        if target and rel and "next" in rel.group(1).lower().split():
            return str(urljoin(current_url, target))
    return None


def resource_id(provider: str, value: Any, where: str) -> str | None:
    """Read the id of a linked resource: a URL (last path segment) or an expanded object."""
    if value is None:
        return None
    if isinstance(value, dict):
        return Payload(provider, value, where).req_str("id")
    if isinstance(value, str):
        try:
            segments = [part for part in urlsplit(value).path.split("/") if part]
        except ValueError:
            segments = []
        if segments and ID_PATTERN.fullmatch(segments[-1]):
            return segments[-1]
    raise ProviderResponseError(provider, "not a resource link", where)


def charging_status(log: Payload) -> ChargingStatus:
    """Map a status log to a ChargingStatus: its ``state``, else its booleans.

    [assume] Without a ``state``, or with ``UNKNOWN``, the booleans decide: complete,
    charging, plugged in or disconnected; nothing known → unknown. A ``state`` string the
    spec does not list stays unknown.
    """
    plugged_in = log.opt_bool("is_plugged_in")
    charging = log.opt_bool("is_charging")
    complete = log.opt_bool("is_complete")
    state = log.opt_str("state")
    if state is not None and state.upper() != UNKNOWN_STATE:
        state = state.upper()
        if state in PLUGGED_IN_STATES:
            return ChargingStatus.CHARGING if charging else ChargingStatus.PLUGGED_IN
        return STATUS_BY_STATE.get(state, ChargingStatus.UNKNOWN)
    if charging:
        return ChargingStatus.CHARGING
    if plugged_in and complete:
        return ChargingStatus.COMPLETE
    if plugged_in:
        return ChargingStatus.PLUGGED_IN
    if plugged_in is False:
        return ChargingStatus.DISCONNECTED
    return ChargingStatus.UNKNOWN


def parse_state(provider: str, vehicle: Payload) -> VehicleState:
    """Telemetry from the expanded ``latest_status_log`` (a bare link or null: nothing)."""
    capacity = vehicle.opt_float("battery_size_watt_hours")
    raw = vehicle.data.get("latest_status_log")
    if not isinstance(raw, dict):
        if raw is not None and not isinstance(raw, str):
            raise ProviderResponseError(
                provider, "wrong type for field", f"{vehicle.path}.latest_status_log"
            )
        return VehicleState(battery_capacity_wh=capacity)
    log = Payload(provider, raw, f"{vehicle.path}.latest_status_log", vehicle.faults)
    return VehicleState(
        state_of_charge=log.opt_float("state_of_charge_percentage"),
        charging_status=charging_status(log),
        plugged_in=log.opt_bool("is_plugged_in"),
        charging=log.opt_bool("is_charging"),
        charge_power_w=log.opt_float("charge_rate_watts"),
        energy_added_wh=log.opt_float("charge_energy_added_watt_hours"),
        battery_capacity_wh=capacity,
        updated_at=log.opt_datetime("sampled_at"),
    )


def parse_preferences(
    vehicle: Payload, boost: bool | None = None
) -> ChargingPreferences:
    """Smart charging and target as the vehicle resource states them."""
    return ChargingPreferences(
        smart_charging=vehicle.opt_bool("smart_charging_enabled"),
        target_soc=vehicle.opt_int("maximum_charge_limit_percentage"),
        boost=boost,
    )


def _make_and_model(provider: str, vehicle: Payload) -> tuple[str | None, str | None]:
    """Names from the expanded ``trim.model.make`` (links only: unknown)."""
    trim = vehicle.data.get("trim")
    if not isinstance(trim, dict):
        return None, None
    model = trim.get("model")
    if not isinstance(model, dict):
        return None, None
    faults = vehicle.faults
    model_payload = Payload(provider, model, f"{vehicle.path}.trim.model", faults)
    make = model_payload.data.get("make")
    make_name = (
        Payload(provider, make, f"{model_payload.path}.make", faults).opt_str("name")
        if isinstance(make, dict)
        else None
    )
    return make_name, model_payload.opt_str("name")


def parse_vehicle(
    provider: str, vehicle: Payload, plans: Mapping[str, PlanRead] | None = None
) -> VehicleSnapshot:
    """One item of the vehicle list (or a single vehicle) as a snapshot.

    With ``plans``, a plugged-in car shows its plan as last read (unplugged: none).
    """
    vehicle_id = vehicle.req_str("id")
    make, model = _make_and_model(provider, vehicle)
    fallback = " ".join(part for part in (make, model) if part)
    name = vehicle.opt_str("description") or fallback or vehicle_id
    integrated = vehicle.opt_str("integrated")
    disabled = vehicle.opt_bool("disabled") is True
    state = parse_state(provider, vehicle)
    plan = None if plans is None else plans.get(vehicle_id)
    return VehicleSnapshot(
        vehicle=Vehicle(
            id=vehicle_id,
            name=name,
            capabilities=DISABLED_CAPABILITIES if disabled else CAPABILITIES,
            make=make,
            model=model,
            link_broken=integrated is not None
            and integrated.upper() == INTEGRATION_BROKEN,
            disabled=disabled,
        ),
        state=state,
        preferences=parse_preferences(vehicle),
        schedule=plan.schedule if plan is not None and state.plugged_in else NO_PLAN,
    )


def parse_token(provider: str, data: Any, now: datetime) -> tuple[str, datetime]:
    """Read the access token and when it expires."""
    token = Payload(provider, data, "token")
    access_token = token.req_str("access_token")
    expires_in = token.opt_float("expires_in")
    lifetime = (
        DEFAULT_TOKEN_LIFETIME
        if expires_in is None or expires_in <= 0
        else timedelta(seconds=min(max(expires_in, 1), 10 * 365 * 86400))
    )
    return access_token, now + lifetime


@dataclass(frozen=True, slots=True)
class OpenSession:
    """A vehicle's plug-in episode in progress and its current charging mode's sub-session."""

    session_id: str
    sub_session_id: str | None


def open_sessions(
    provider: str, sessions: list[Payload], wanted: Collection[str]
) -> dict[str, OpenSession | None]:
    """Search a newest-first page of charging sessions for the wanted vehicles' latest ones.

    Returns each wanted vehicle whose newest session is on this page: its OpenSession
    while that session is still open (``end`` null, the car still plugged in), else None.
    The session lists its sub-sessions newest first: the first is the one in progress.
    """
    found: dict[str, OpenSession | None] = {}
    for session in sessions:
        vehicle_id = resource_id(
            provider, session.data.get("vehicle"), f"{session.path}.vehicle"
        )
        if vehicle_id is None or vehicle_id not in wanted or vehicle_id in found:
            continue
        session_id = session.req_str("id")
        if session.has("end"):
            found[vehicle_id] = None
            continue
        subs = session.opt_list("sub_sessions")
        found[vehicle_id] = OpenSession(
            session_id=session_id,
            sub_session_id=resource_id(
                provider, subs[0], f"{session.path}.sub_sessions[0]"
            )
            if subs
            else None,
        )
    return found


def parse_plan(schedules: Payload) -> tuple[ChargingSlot, ...]:
    """Read a sub-session's schedule intervals as the slots it plans to charge in.

    An interval with current (``current_milliamps`` > 0, not a discharge) is a slot from
    ``started_at`` for ``interval_seconds``; an open-ended one (null: boost) lasts until
    the next interval starts, or one interval when none follows. The API states only the
    current, not the voltage, so a slot has no power or energy. An interval that cannot
    be read costs only itself.
    """
    intervals: list[tuple[datetime, int | None, Payload]] = []
    for item in schedules.objects("schedules"):
        start = item.opt_datetime("started_at")
        if start is None:
            if not item.has("started_at"):
                item.value_fault("started_at", "missing required field")
            continue
        seconds = item.opt_int("interval_seconds")
        if seconds is None and item.has("interval_seconds"):
            continue
        intervals.append((start, seconds, item))
    intervals.sort(key=lambda interval: interval[0])
    slots: list[ChargingSlot] = []
    for index, (start, seconds, item) in enumerate(intervals):
        milliamps = item.opt_float("current_milliamps")
        if not milliamps or milliamps < 0:
            continue
        if item.opt_str("schedule_type") in DISCHARGE_SCHEDULE_TYPES:
            continue
        if seconds is not None:
            end = start + timedelta(seconds=seconds)
        else:
            end = next(
                (later for later, _, _ in intervals[index + 1 :] if later > start),
                start + INTERVAL_LENGTH,
            )
        if end > start:
            slots.append(ChargingSlot(start=start, end=end))
    return tuple(slots)


PlanTrigger = tuple[ChargingStatus, bool | None]
"""What the vehicle list says about a car that a new sub-session would change: its
charging status (plugged in or not, charging, complete) and whether smart charging is on."""


def plan_trigger(snapshot: VehicleSnapshot) -> PlanTrigger:
    """Return the readings whose change makes a car's plan worth reading again."""
    return snapshot.state.charging_status, snapshot.preferences.smart_charging


@dataclass(frozen=True, slots=True)
class PlanRead:
    """A car's plan as last read (or tried): for which sub-session, when, and under what."""

    sub_session_id: str | None
    schedule: Schedule
    """The plan as the car's snapshots show it (built once, shown until read again)."""
    read_at: datetime
    trigger: PlanTrigger
    written: bool = False
    """A write to the car since: its plan may have changed."""
    faults: tuple[ChargeBridgeError, ...] = ()
    """What the read met: shown again while the read is reused."""


@dataclass(kw_only=True)
class EvEnergyClient(Provider):
    """An ev.energy OAuth application acting for one user (client credentials)."""

    name: ClassVar[str] = "evenergy"
    title: ClassVar[str] = "ev.energy"
    api_name: ClassVar[str | None] = "ev.energy API v2"
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(key="api_url", default="https://api.ev.energy/v2", url=True),
        ConfigField(key="client_id", account=True),
        ConfigField(key="client_secret", secret=True),
        ConfigField(key="user_id", account=True),
    )
    default_scan_interval: ClassVar[timedelta] = DEFAULT_SCAN_INTERVAL
    min_scan_interval: ClassVar[timedelta] = MIN_SCAN_INTERVAL
    rate_limit_window: ClassVar[timedelta] = RATE_LIMIT_WINDOW
    uses_access_token: ClassVar[bool] = True

    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    _user: str = field(default="", init=False, repr=False)
    _plans: dict[str, PlanRead] = field(default_factory=dict, init=False, repr=False)
    """Each plugged-in car's plan as last read, reused until it is due again."""

    def __post_init__(self) -> None:
        """Check the URL, and reduce the configured user to the id the header carries."""
        super().__post_init__()
        self._user = normalize_user_id(self.name, self.user_id)

    @property
    def user(self) -> str:
        """The user id sent as ``EvEnergy-User``."""
        return self._user

    async def _async_fetch_token(self) -> tuple[str, datetime]:
        """Client credentials → bearer token; any refusal means bad credentials."""
        headers, form = token_request(self.client_id, self.client_secret)
        try:
            response = await self._request(
                "POST",
                token_url(self.api_url),
                data=form,
                headers=headers,
                authenticated=False,
            )
        except (ProviderRejectedError, ProviderForbiddenError) as err:
            # At the token endpoint a 403 too means the credentials are refused.
            status = err.status if isinstance(err, ProviderRejectedError) else 403
            raise ProviderAuthError(
                self.name,
                f"token refused ({status})" + (f": {err.detail}" if err.detail else ""),
            ) from None
        return parse_token(self.name, response.data, self.clock())

    async def _async_auth_headers(self) -> dict[str, str]:
        """Bearer token, the user we act for, and the API version."""
        return {
            "Authorization": f"Bearer {await self._async_access_token()}",
            "EvEnergy-User": self._user,
            "EvEnergy-Version": API_VERSION,
        }

    def _url(self, *segments: str) -> str:
        return self.api_url + "".join(f"/{quote(part, safe='')}" for part in segments)

    async def _async_pages(
        self, url: str, params: Mapping[str, str]
    ) -> AsyncGenerator[tuple[int, Response]]:
        """Each page of a listing in turn, following Link rel="next" on our origin only.

        Credentials never follow a link to another server: such a link is an error, as is
        a listing longer than MAX_PAGES (a broken server must not loop us).
        """
        next_url: str | None = url
        query: Mapping[str, str] | None = params
        for index in range(MAX_PAGES):
            if next_url is None:
                return
            response = await self._request("GET", next_url, params=query)
            yield index, response
            next_url = next_link(response.headers.get("Link"), next_url)
            query = None
            if next_url is not None and origin(next_url) != origin(self.api_url):
                raise ProviderResponseError(
                    self.name, "next page is on another server", "Link"
                )
        if next_url is not None:
            raise ProviderResponseError(
                self.name, f"more than {MAX_PAGES} pages", "Link"
            )

    async def async_validate(self) -> Account:
        """Get a token, then the user: proves the credentials and that we may act for them."""
        try:
            response = await self._request("GET", self._url("users", self._user))
        except ProviderRejectedError as err:
            if err.status != 404:
                raise
            raise ProviderAuthError(
                self.name, "these credentials cannot act for this user (404)"
            ) from None
        user = Payload(self.name, response.data, "user")
        return Account(unique_id=user.req_str("id"), title=self.title)

    async def _async_list_vehicles(self) -> Sequence[tuple[str, Any]]:
        """Read the vehicle list with status and make/model inline, page by page."""
        params: MultiDict[str] = MultiDict(
            [("expand", expansion) for expansion in VEHICLE_EXPANSIONS]
        )
        params["page_size"] = str(PAGE_SIZE)
        items: list[tuple[str, Any]] = []
        async for index, response in self._async_pages(self._url("vehicles"), params):
            path = f"vehicles[page {index + 1}]"
            if not isinstance(response.data, list):
                raise ProviderResponseError(self.name, "expected a JSON array", path)
            items.extend(
                (f"{path}[{position}]", item)
                for position, item in enumerate(response.data)
            )
        return items

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot:
        """Parse the vehicle with its last-read plan (none while unplugged)."""
        return parse_vehicle(self.name, item, self._plans)

    def _unreadable_capabilities(self, vehicle_id: str) -> Capabilities:
        return CAPABILITIES

    def _vehicle_caches(self) -> Sequence[dict[str, Any]]:
        return (self._plans,)

    # The charging plan.

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        """Read a plugged-in car's plan when it may have changed or is 15 minutes old.

        A plan whose read failed is tried again after 15 minutes, whatever the pace.
        """
        if not snapshot.state.plugged_in:
            return False
        plan = self._plans.get(snapshot.vehicle.id)
        return (
            plan is None
            or plan.written
            or plan.trigger != plan_trigger(snapshot)
            or (
                (by_age or bool(plan.faults))
                and self.clock() - plan.read_at >= PLAN_MAX_AGE
            )
        )

    def _cached_faults(self, snapshot: VehicleSnapshot) -> Sequence[ChargeBridgeError]:
        plan = self._plans.get(snapshot.vehicle.id)
        if plan is None or not snapshot.state.plugged_in:
            return ()
        return plan.faults

    async def _async_enrich_fleet(
        self, wanted: Sequence[VehicleSnapshot], problems: list[ChargeBridgeError]
    ) -> Sequence[VehicleSnapshot | ChargeBridgeError]:
        """Read the due cars' plans: their open sub-sessions at once, then each schedule.

        A plan that cannot be read (refused, failed, or over the rate limit) costs that
        plan only (the last one read stays, or none) and is tried again when due: the car
        keeps its readings. Refused credentials still concern the whole account.
        """
        now = self.clock()
        urgent_first = sorted(wanted, key=lambda snapshot: self._urgency(snapshot, now))
        due = urgent_first[: self._plan_reads_allowed()]
        if not due:
            return wanted
        try:
            found = await self._async_open_sessions(
                [snapshot.vehicle.id for snapshot in due]
            )
        except ProviderAuthError:
            raise
        except ChargeBridgeError as err:
            problems.append(err)
            failed = {s.vehicle.id: self._plan_failed(s, err, now) for s in due}
            return [failed.get(s.vehicle.id, s) for s in wanted]

        async def read(snapshot: VehicleSnapshot) -> VehicleSnapshot:
            session = found.get(snapshot.vehicle.id)
            sub_session_id = None if session is None else session.sub_session_id
            return await self._async_read_plan(snapshot, sub_session_id, now, problems)

        results = await self._gather_per_vehicle(due, read)
        read_now = {
            snapshot.vehicle.id: result
            for snapshot, result in zip(due, results, strict=True)
        }
        # The others keep the plan last read (their snapshots show it) until next time.
        return [read_now.get(s.vehicle.id, s) for s in wanted]

    def _plan_reads_allowed(self) -> int:
        """How many plans this refresh may read: a cap, and what the budget leaves."""
        rate = self.rate_limit
        if rate is None or rate.limit is None or rate.remaining is None:
            return MAX_PLAN_READS_PER_REFRESH
        spare = rate.remaining - math.ceil(rate.limit * PLAN_BUDGET_RESERVE)
        return max(0, min(MAX_PLAN_READS_PER_REFRESH, spare))

    def _urgency(self, snapshot: VehicleSnapshot, now: datetime) -> tuple[int, float]:
        """Order due plans: never read or written to first, then changed, then oldest."""
        plan = self._plans.get(snapshot.vehicle.id)
        if plan is None or plan.written:
            return (0, 0.0)
        if plan.trigger != plan_trigger(snapshot):
            return (1, 0.0)
        return (2, -(now - plan.read_at).total_seconds())

    async def _async_read_plan(
        self,
        snapshot: VehicleSnapshot,
        sub_session_id: str | None,
        now: datetime,
        problems: list[ChargeBridgeError],
    ) -> VehicleSnapshot:
        """Read one car's schedule unless its sub-session's plan is known and fresh."""
        vehicle_id = snapshot.vehicle.id
        previous = self._plans.get(vehicle_id)
        if (
            previous is not None
            and previous.sub_session_id == sub_session_id
            and not previous.written
            and not previous.faults
            and now - previous.read_at < PLAN_MAX_AGE
        ):
            plan = replace(previous, trigger=plan_trigger(snapshot))
        elif sub_session_id is None:
            plan = PlanRead(None, NO_PLAN, now, plan_trigger(snapshot))
        else:
            faults: list[ChargeBridgeError] = []
            try:
                response = await self._request(
                    "GET",
                    self._url("charging_sub_sessions", sub_session_id, "schedules"),
                )
                slots = parse_plan(
                    Payload(
                        self.name, response.data, f"schedules[{vehicle_id}]", faults
                    )
                )
            except ProviderAuthError:
                raise
            except ChargeBridgeError as err:
                problems.append(err)
                return self._plan_failed(snapshot, err, now)
            plan = PlanRead(
                sub_session_id,
                Schedule(slots=slots),
                now,
                plan_trigger(snapshot),
                faults=tuple(of_vehicle(faults, vehicle_id)),
            )
            problems.extend(plan.faults)
        self._plans[vehicle_id] = plan
        return replace(snapshot, schedule=plan.schedule)

    def _plan_failed(
        self, snapshot: VehicleSnapshot, err: ChargeBridgeError, now: datetime
    ) -> VehicleSnapshot:
        """Keep the last plan read (if any) and try again when it is due."""
        vehicle_id = snapshot.vehicle.id
        previous = self._plans.get(vehicle_id)
        self._plans[vehicle_id] = PlanRead(
            None if previous is None else previous.sub_session_id,
            NO_PLAN if previous is None else previous.schedule,
            now,
            plan_trigger(snapshot),
            faults=(err,),
        )
        return snapshot

    def _plan_written(self, vehicle_id: str) -> None:
        """Read the car's plan at the next refresh: a write may change it or its sub-session."""
        plan = self._plans.get(vehicle_id)
        if plan is not None:
            self._plans[vehicle_id] = replace(plan, written=True)

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        """PATCH only smart_charging_enabled and/or maximum_charge_limit_percentage."""
        body: dict[str, Any] = {}
        if update.smart_charging is not None:
            body["smart_charging_enabled"] = update.smart_charging
        if update.target_soc is not None:
            body["maximum_charge_limit_percentage"] = update.target_soc
        response = await self._async_command(
            "PATCH", self._url("vehicles", snapshot.vehicle.id), json=body
        )
        self._plan_written(snapshot.vehicle.id)
        return parse_preferences(Payload(self.name, response.data, "vehicle"))

    async def _async_set_boost(self, snapshot: VehicleSnapshot, enabled: bool) -> None:
        """Start or end boost on the vehicle's open charging session.

        No open session (the car is not plugged in) is refused like the API's own 409.
        The vehicle resource does not say whether a session boosts, so a boost set here
        is remembered and reported until the session ends (or boost is ended here).
        """
        vehicle_id = snapshot.vehicle.id
        session = (await self._async_open_sessions([vehicle_id])).get(vehicle_id)
        if session is None:
            raise ProviderRejectedError(
                self.name, 409, "no charging session in progress (not plugged in)"
            )
        action = BOOST_START if enabled else BOOST_END
        response = await self._async_command(
            "POST", self._url("charging_sessions", session.session_id, action)
        )
        self._plan_written(vehicle_id)
        Payload(self.name, response.data, "charging_session").req_str("id")

    async def _async_command(
        self, method: str, url: str, *, json: Any = None
    ) -> Response:
        """Send a write; a 503 means ev.energy could not pass the command on to the car.

        Reads keep the shared mapping (a 503 there is the API being unavailable).
        """
        try:
            return await self._request(method, url, json=json)
        except ProviderConnectionError as err:
            if err.status == 503:
                raise CommandNotDeliveredError(
                    self.name,
                    "could not deliver the command to the car (503)",
                    status=503,
                ) from err
            raise

    async def _async_open_sessions(
        self, vehicle_ids: Collection[str]
    ) -> dict[str, OpenSession]:
        """Find the vehicles' open sessions: their newest ones in the newest-first list.

        [assume] The spec offers no vehicle filter on /charging_sessions, so we page the
        user's sessions newest first until every vehicle's newest one appeared (one pass
        for all the vehicles a refresh or a boost asks about).
        """
        wanted = set(vehicle_ids)
        found: dict[str, OpenSession] = {}
        pages = self._async_pages(
            self._url("charging_sessions"), {"page_size": str(PAGE_SIZE)}
        )
        async for index, response in pages:
            sessions = payload_list(
                self.name, response.data, f"charging_sessions[page {index + 1}]"
            )
            for vehicle_id, session in open_sessions(
                self.name, sessions, wanted
            ).items():
                wanted.discard(vehicle_id)
                if session is not None:
                    found[vehicle_id] = session
            if not wanted:
                await pages.aclose()
                break
        return found

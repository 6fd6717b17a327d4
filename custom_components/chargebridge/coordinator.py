"""One coordinator per config entry: fetches the whole fleet and applies writes to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import math
import random
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import (
    ChargeBridgeError,
    ChargingPreferences,
    Fleet,
    InvalidInputError,
    PreferencesUpdate,
    Provider,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    UnsupportedError,
    VehicleSnapshot,
)
from .compat import update_failed
from .const import (
    CONF_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    PROVIDER_TITLES,
    RATE_LIMIT_ISSUE_AFTER,
)
from .issues import IssueTracker, RepairIssue, fleet_issues, quota_issue
from .polling import (
    adaptive_interval,
    backoff_interval,
    budget_interval,
    rate_limited_interval,
    refresh_wait,
)

type PreferencesWrite = Callable[
    [Provider, VehicleSnapshot], Awaitable[ChargingPreferences]
]
"""A change sent to the provider; returns the preferences the provider now holds."""

type ChargeBridgeConfigEntry = ConfigEntry[ChargeBridgeData]


@dataclass(kw_only=True)
class ChargeBridgeData:
    """What a loaded config entry keeps at runtime."""

    client: Provider
    coordinator: ChargeBridgeCoordinator


_ERROR_KEYS: tuple[tuple[type[ChargeBridgeError], str], ...] = (
    (ProviderAuthError, "auth_failed"),
    (ProviderRateLimitError, "rate_limited"),
    (ProviderConnectionError, "cannot_connect"),
    (ProviderResponseError, "invalid_response"),
    (ProviderRejectedError, "rejected"),
    (UnsupportedError, "unsupported"),
)


def error_translation(err: ChargeBridgeError) -> dict[str, Any]:
    """Build the translated-exception arguments for a client error (the one mapping table)."""
    key = next(
        (key for cls, key in _ERROR_KEYS if isinstance(err, cls)), "provider_error"
    )
    return {
        "translation_domain": DOMAIN,
        "translation_key": key,
        "translation_placeholders": {
            "provider": PROVIDER_TITLES.get(err.provider, err.provider),
            "error": err.message,
        },
    }


def update_preferences(update: PreferencesUpdate) -> PreferencesWrite:
    """Make a write that changes smart charging preferences."""
    return lambda client, snapshot: client.async_update_preferences(snapshot, update)


def set_boost(enabled: bool) -> PreferencesWrite:
    """Make a write that starts or stops boost charging."""

    async def write(client: Provider, snapshot: VehicleSnapshot) -> ChargingPreferences:
        await client.async_set_boost(snapshot, enabled)
        return replace(snapshot.preferences, boost=enabled)

    return write


class ChargeBridgeCoordinator(DataUpdateCoordinator[Fleet]):
    """Polls one provider account and holds its Fleet.

    Besides the fleet it keeps the request budget's state: consecutive failures (for the
    backoff), how many requests a refresh costs (for the provider's budget), when the
    last refresh ran (for the manual refresh) and until when the provider asked us to
    wait. It also keeps the entry's repair issues in step with each refresh.
    """

    config_entry: ChargeBridgeConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ChargeBridgeConfigEntry,
        client: Provider,
        *,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        """Poll at the user's interval until the first fleet tells us more."""
        self.client = client
        self.jitter = jitter
        """Source of the backoff's randomness (0 ≤ value < 1); tests pin it."""
        self.issues = IssueTracker(hass)
        self.requests_per_refresh = 1
        """What the last successful refresh cost, in HTTP requests (at least 1)."""
        self._problems: set[str] = set()
        self._failures = 0
        self._throttled = 0
        self._last_refresh: datetime | None = None
        self._not_before: datetime | None = None
        self._fleet_issues: dict[str, RepairIssue] = {}
        self._refresh_listeners: list[CALLBACK_TYPE] = []
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"ChargeBridge {PROVIDER_TITLES[client.name]}",
            update_interval=scan_interval(entry, client),
            always_update=False,
        )

    @property
    def provider_title(self) -> str:
        """How the provider calls itself."""
        return PROVIDER_TITLES[self.client.name]

    async def _async_update_data(self) -> Fleet:
        """Fetch the fleet; map client errors to Home Assistant's in this one place."""
        now = dt_util.utcnow()
        self._last_refresh = now
        made = self.client.requests_made
        try:
            fleet = await self.client.async_get_fleet()
        except ProviderAuthError as err:
            raise ConfigEntryAuthFailed(**error_translation(err)) from err
        except ChargeBridgeError as err:
            pause = self._back_off(err, now)
            self._sync_issues()
            raise update_failed(
                retry_after=(
                    pause.total_seconds()
                    if isinstance(err, ProviderRateLimitError)
                    else None
                ),
                **error_translation(err),
            ) from err
        self.requests_per_refresh = max(1, self.client.requests_made - made)
        self._failures = self._throttled = 0
        self._not_before = None
        self._log_problems(fleet)
        fleet = keep_unlisted(self.data, fleet)
        self._remove_stale_devices(fleet)
        self._fleet_issues = fleet_issues(
            fleet,
            provider=self.provider_title,
            account=self.config_entry.title,
            entry_id=self.config_entry.entry_id,
        )
        self._sync_issues()
        self.update_interval = self._interval_for(fleet)
        return fleet

    def _back_off(self, err: ChargeBridgeError, now: datetime) -> timedelta:
        """Count a failed refresh and set the pause before the next one.

        Exponential backoff with jitter from the user's interval, never faster than the
        request budget allows (failed requests count too); after a 429 at least what the
        provider asked for (Retry-After), which a manual refresh honours too.
        """
        self._failures += 1
        minimum = self.client.min_scan_interval
        pause = backoff_interval(
            self._failures,
            base=scan_interval(self.config_entry, self.client),
            minimum=minimum,
            jitter=self.jitter(),
        )
        if (budget := self._budget_interval()) is not None:
            pause = max(pause, budget)
        if isinstance(err, ProviderRateLimitError):
            self._throttled += 1
            pause = rate_limited_interval(
                err.retry_after, current=pause, minimum=minimum
            )
            if err.retry_after is not None:
                self._not_before = now + timedelta(seconds=err.retry_after)
        self.update_interval = pause
        return pause

    def _interval_for(self, fleet: Fleet) -> timedelta:
        """Return the adaptive interval, slowed down where the provider's budget needs it."""
        interval = adaptive_interval(
            fleet,
            scan_interval=scan_interval(self.config_entry, self.client),
            minimum=self.client.min_scan_interval,
        )
        budget = self._budget_interval()
        return interval if budget is None else max(interval, budget)

    def _budget_interval(self) -> timedelta | None:
        """Return the pace the provider's stated request budget needs, if it states one."""
        return budget_interval(
            self.client.rate_limit,
            window=self.client.rate_limit_window,
            requests_per_refresh=self.requests_per_refresh,
        )

    def apply_options(self) -> None:
        """Use a changed scan interval from the next poll on, without a reload."""
        self.update_interval = self._interval_for(self.data)

    @property
    def quota_exhausted(self) -> bool:
        """Whether the provider keeps refusing us (429 in a row) or has no budget left."""
        rate_limit = self.client.rate_limit
        return self._throttled >= RATE_LIMIT_ISSUE_AFTER or (
            rate_limit is not None and rate_limit.remaining == 0
        )

    def _sync_issues(self) -> None:
        """Raise the fleet's issues (as of the last good refresh) and the quota's."""
        wanted = dict(self._fleet_issues)
        if self.quota_exhausted:
            issue = quota_issue(
                provider=self.provider_title, entry_id=self.config_entry.entry_id
            )
            wanted[issue.issue_id] = issue
        self.issues.sync(wanted)

    async def async_manual_refresh(self) -> None:
        """Refresh now, at the user's request, if the provider's limits allow it.

        Never sooner than the provider's minimum interval after the last refresh, nor
        before a Retry-After: ServiceValidationError saying how long to wait. A refresh
        that fails says why.
        """
        wait = refresh_wait(
            dt_util.utcnow(),
            last_refresh=self._last_refresh,
            cooldown=self.client.min_scan_interval,
            not_before=self._not_before,
        )
        if wait > timedelta(0):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="refresh_too_soon",
                translation_placeholders={
                    "provider": self.provider_title,
                    "seconds": str(math.ceil(wait.total_seconds())),
                },
            )
        await self.async_refresh()
        failure = self.last_exception
        if not self.last_update_success and isinstance(failure, HomeAssistantError):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=failure.translation_key or "provider_error",
                translation_placeholders=failure.translation_placeholders
                or {"provider": self.provider_title, "error": str(failure)},
            ) from failure

    @callback
    def async_add_refresh_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` after every refresh, failed or not, changed or not."""
        self._refresh_listeners.append(listener)
        return lambda: self._refresh_listeners.remove(listener)

    @callback
    def _async_refresh_finished(self) -> None:
        """Tell the account entities (request counter, budget) that a refresh ran."""
        for listener in list(self._refresh_listeners):
            listener()

    def _log_problems(self, fleet: Fleet) -> None:
        """Log each non-fatal problem once while it lasts, and once when it is gone.

        A problem of one vehicle names it, so two cars failing alike are two problems.
        """
        names = {
            id(snapshot.error): snapshot.vehicle.name
            for snapshot in fleet.vehicles.values()
            if snapshot.error is not None
        }
        current = {
            f"{problem} ({names[id(problem)]})"
            if id(problem) in names
            else str(problem)
            for problem in fleet.problems
        }
        for message in sorted(current - self._problems):
            LOGGER.warning("Problem reading the fleet: %s", message)
        for message in sorted(self._problems - current):
            LOGGER.info("Problem resolved: %s", message)
        self._problems = current

    def _remove_stale_devices(self, fleet: Fleet) -> None:
        """Detach this entry from devices of vehicles the provider no longer lists."""
        registry = dr.async_get(self.hass)
        current = {
            device_identifier(self.client, vehicle_id) for vehicle_id in fleet.vehicles
        } | {account_identifier(self.config_entry, self.client)}
        for device in dr.async_entries_for_config_entry(
            registry, self.config_entry.entry_id
        ):
            if not any(
                domain == DOMAIN and identifier in current
                for domain, identifier in device.identifiers
            ):
                LOGGER.debug("Removing device %s: vehicle is gone", device.name)
                registry.async_update_device(
                    device.id, remove_config_entry_id=self.config_entry.entry_id
                )

    @asynccontextmanager
    async def provider_errors(self) -> AsyncIterator[None]:
        """Turn client errors in a user's command into translated Home Assistant errors.

        Invalid input becomes a ServiceValidationError, any other client error a
        HomeAssistantError; refused credentials also start reauth.
        """
        try:
            yield
        except InvalidInputError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=err.translation_key,
                translation_placeholders=err.placeholders,
            ) from err
        except ProviderAuthError as err:
            self.config_entry.async_start_reauth(self.hass)
            raise HomeAssistantError(**error_translation(err)) from err
        except ChargeBridgeError as err:
            raise HomeAssistantError(**error_translation(err)) from err

    async def async_write(self, vehicle_id: str, write: PreferencesWrite) -> None:
        """Send a change and show the provider's answer at once; on failure keep the old state."""
        snapshot = self.data.vehicles.get(vehicle_id)
        if snapshot is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="vehicle_not_found",
                translation_placeholders={"vehicle_id": vehicle_id},
            )
        async with self.provider_errors():
            preferences = await write(self.client, snapshot)
        latest = self.data.vehicles.get(vehicle_id)
        if latest is None:
            return
        self.async_set_updated_data(
            replace(
                self.data,
                vehicles={
                    **self.data.vehicles,
                    vehicle_id: replace(latest, preferences=preferences),
                },
            )
        )


def keep_unlisted(previous: Fleet | None, fleet: Fleet) -> Fleet:
    """Keep the vehicles a fleet no longer lists while it has a problem naming no vehicle.

    An item whose id could not be read is only a problem of the fleet (no vehicle
    carries it as its error), and its vehicle is missing from the fleet, though it may
    well still be there. Until a refresh without such a problem confirms that a vehicle
    is gone, it stays (unavailable, with that problem) with its device and entities.
    """
    if previous is None:
        return fleet
    attached = [s.error for s in fleet.vehicles.values() if s.error is not None]
    unattributed = next(
        (p for p in fleet.problems if not any(p is error for error in attached)), None
    )
    if unattributed is None:
        return fleet
    unlisted = {
        vehicle_id: replace(snapshot, error=unattributed)
        for vehicle_id, snapshot in previous.vehicles.items()
        if vehicle_id not in fleet.vehicles
    }
    if not unlisted:
        return fleet
    return replace(fleet, vehicles={**fleet.vehicles, **unlisted})


def scan_interval(entry: ConfigEntry, client: Provider) -> timedelta:
    """Return the user's chosen interval (the provider's default until they choose)."""
    seconds = entry.options.get(CONF_SCAN_INTERVAL)
    if seconds is None:
        return client.default_scan_interval
    return max(timedelta(seconds=seconds), client.min_scan_interval)


def device_identifier(client: Provider, vehicle_id: str) -> str:
    """Return the device identifier of a vehicle: ``<provider>_<vehicle id>``."""
    return f"{client.name}_{vehicle_id}"


def account_id(entry: ConfigEntry, client: Provider) -> str:
    """Return the account's id: the entry's unique id without the provider prefix.

    (The config flow always sets a unique id; an entry without one uses its entry id.)
    """
    return (entry.unique_id or entry.entry_id).removeprefix(f"{client.name}_")


def account_identifier(entry: ConfigEntry, client: Provider) -> str:
    """Return the account device's identifier: ``<provider>_account_<account id>``."""
    return f"{client.name}_account_{account_id(entry, client)}"

"""One coordinator per config entry: fetches the whole fleet and paces the polling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
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
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .api import (
    ChargeBridgeError,
    Fleet,
    FleetRead,
    PreferencesUpdate,
    Provider,
    ProviderAuthError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderValueError,
)
from .cadence import REFRESH_SPACING, FleetCadence
from .compat import update_failed
from .const import CONF_SCAN_INTERVAL, DOMAIN, LOGGER
from .helpers import error_translation, provider_errors
from .issues import AccountIssues
from .polling import RefreshPacer

type ChargeBridgeConfigEntry = ConfigEntry[ChargeBridgeData]

ADAPTIVE_CADENCE = True
"""Read each car at its own pace (``cadence``) instead of the whole account on one clock.

On by default; the day benchmark turns it off for its fixed-polling side (it measures
both, side by side)."""


SCHEDULE_ROUNDING = timedelta(seconds=1)
"""Home Assistant counts a refresh's interval from the whole second before now: a read
aimed at a moment could come up to a second early, before what it waits for."""


@dataclass(frozen=True)
class VehicleContext:
    """The listener context of a vehicle's entities: they hear only that vehicle's updates."""

    vehicle_id: str


@dataclass(kw_only=True)
class ChargeBridgeData:
    """What a loaded config entry keeps at runtime."""

    client: Provider
    coordinator: ChargeBridgeCoordinator


class ChargeBridgeCoordinator(DataUpdateCoordinator[Fleet]):
    """Polls one provider account and holds its Fleet.

    Listeners run after every refresh (account entities count its requests), except those
    of a vehicle's entities (context ``VehicleContext``): they run only when that vehicle
    changed, so a refresh that moved a few cars of a thousand costs only their entities.
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
        self.pacer = RefreshPacer(
            scan_interval=scan_interval(entry, client),
            minimum=client.min_scan_interval,
            window=client.rate_limit_window,
            jitter=jitter,
        )
        self.cadence = FleetCadence(
            per_vehicle=client.state_per_vehicle,
            telemetry=not client.state_from_plans,
        )
        self._read_everything = True
        """The next refresh reads the whole account (first, manual, new options)."""
        self.issues = AccountIssues(
            hass, entry, client.title, can_dismiss=client.dismisses_notices
        )
        self._problems: set[str] = set()
        self._changed: frozenset[str] | None = None
        """Vehicles the last update changed, added or removed; None: maybe all."""
        self._vehicle_listeners: dict[str, list[CALLBACK_TYPE]] = {}
        self._remove_vehicle_dispatch: CALLBACK_TYPE | None = None
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"ChargeBridge {client.title}",
            update_interval=self.pacer.scan_interval,
            always_update=True,
        )

    @property
    def provider_title(self) -> str:
        """How the provider calls itself."""
        return self.client.title

    @property
    def fleet_changed(self) -> bool:
        """Tell whether the last update may have changed, added or removed any vehicle."""
        return self._changed is None or bool(self._changed)

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Listen for updates; with a VehicleContext, only for that vehicle's."""
        if not isinstance(context, VehicleContext):
            return super().async_add_listener(update_callback, context)
        vehicle_id = context.vehicle_id
        self._vehicle_listeners.setdefault(vehicle_id, []).append(update_callback)
        if self._remove_vehicle_dispatch is None:
            self._remove_vehicle_dispatch = super().async_add_listener(
                self._update_vehicle_listeners
            )

        @callback
        def remove_listener() -> None:
            listeners = self._vehicle_listeners[vehicle_id]
            listeners.remove(update_callback)
            if not listeners:
                del self._vehicle_listeners[vehicle_id]
            if not self._vehicle_listeners and self._remove_vehicle_dispatch:
                self._remove_vehicle_dispatch()
                self._remove_vehicle_dispatch = None

        return remove_listener

    @callback
    def _update_vehicle_listeners(self) -> None:
        """Call the listeners of the vehicles the last update may have changed."""
        changed = (
            self._vehicle_listeners.keys() if self._changed is None else self._changed
        )
        for vehicle_id in list(changed):
            for update_callback in list(self._vehicle_listeners.get(vehicle_id, ())):
                update_callback()

    async def _async_update_data(self) -> Fleet:
        """Fetch the fleet; map client errors to Home Assistant's in this one place."""
        now = dt_util.utcnow()
        self.pacer.started(now)
        made = self.client.requests_made
        self._changed = None
        read = FleetRead()
        if ADAPTIVE_CADENCE and not self._read_everything:
            read = self.cadence.read_for(now)
        try:
            fleet = await self.client.async_get_fleet(read)
        except ProviderAuthError as err:
            raise ConfigEntryAuthFailed(**error_translation(err)) from err
        except ChargeBridgeError as err:
            pause = self.pacer.failed(self.client.rate_limit)
            retry_after = None
            if isinstance(err, ProviderRateLimitError):
                pause = self.pacer.throttled_by(now, pause, err.retry_after)
                retry_after = pause.total_seconds()
            self.update_interval = pause
            # A refused permission (403) is no reauth: a repair says what is refused.
            self.issues.sync(
                None,
                quota_exhausted=self.quota_exhausted,
                forbidden=err if isinstance(err, ProviderForbiddenError) else None,
            )
            raise update_failed(
                retry_after=retry_after, **error_translation(err)
            ) from err
        self._log_problems(fleet)
        fleet = keep_unlisted(self.data, fleet)
        if self.last_update_success and self.data is not None:
            previous = self.data.vehicles
            self._changed = frozenset(
                vehicle_id
                for vehicle_id, snapshot in fleet.vehicles.items()
                if previous.get(vehicle_id) != snapshot
            ).union(previous.keys() - fleet.vehicles.keys())
        self._read_everything = False
        fixed = self.pacer.succeeded(
            fleet, self.client.requests_made - made, self.client.rate_limit
        )
        if ADAPTIVE_CADENCE:
            self.cadence.observe(
                fleet,
                read,
                now=now,
                scan_interval=max(self.pacer.scan_interval, self.pacer.minimum),
                minimum=self.pacer.minimum,
                fixed=fixed,
            )
            fixed = self._until_next_read()
        self.update_interval = fixed
        self.issues.sync(fleet, quota_exhausted=self.quota_exhausted)
        return fleet

    def _until_next_read(self) -> timedelta:
        """Return the wait until the next car (or list) is due; within the budget.

        A read of the whole account comes at most once per the provider's minimum
        interval. Where each car has requests of its own, refreshes for different cars
        may come closer (REFRESH_SPACING; each car keeps the minimum): cars due close
        together share a refresh.
        """
        due = self.cadence.next_due()
        wait = (
            self.pacer.scan_interval
            if due is None
            else due - dt_util.utcnow() + SCHEDULE_ROUNDING
        )
        spacing = REFRESH_SPACING if self.cadence.per_vehicle else self.pacer.minimum
        return max(
            wait,
            spacing,
            self.pacer.budget(self.client.rate_limit) or timedelta(0),
        )

    def apply_options(self) -> None:
        """Use a changed scan interval from the next poll on, without a reload."""
        self.pacer.scan_interval = scan_interval(self.config_entry, self.client)
        self._read_everything = True
        self.update_interval = self.pacer.interval_for(
            self.data, self.client.rate_limit
        )

    @property
    def quota_exhausted(self) -> bool:
        """Whether the provider keeps refusing us (429 in a row) or has no budget left."""
        return self.pacer.quota_exhausted(self.client.rate_limit)

    @property
    def reads_everything_next(self) -> bool:
        """Whether the next refresh reads the whole account (setup, Refresh, options)."""
        return self._read_everything

    async def async_refresh_everything(self) -> None:
        """Refresh now and read the whole account: the list, every car, its details.

        A scheduled refresh reads only the cars due (``cadence``).
        """
        self._read_everything = True
        await self.async_refresh()

    async def async_manual_refresh(self) -> None:
        """Refresh now, at the user's request, if the provider's limits allow it.

        Never sooner than the provider's minimum interval after the last refresh, nor
        before a Retry-After: ServiceValidationError saying how long to wait. A refresh
        that fails says why.
        """
        wait = self.pacer.manual_wait(dt_util.utcnow())
        if wait > timedelta(0):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="refresh_too_soon",
                translation_placeholders={
                    "provider": self.provider_title,
                    "seconds": str(math.ceil(wait.total_seconds())),
                },
            )
        await self.async_refresh_everything()
        failure = self.last_exception
        if not self.last_update_success and isinstance(failure, HomeAssistantError):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=failure.translation_key or "provider_error",
                translation_placeholders=failure.translation_placeholders
                or {"provider": self.provider_title, "error": str(failure)},
            ) from failure

    async def async_update_preferences(
        self, vehicle_id: str, update: PreferencesUpdate
    ) -> None:
        """Send a change and show the provider's answer at once; on failure keep the old state."""
        snapshot = self.data.vehicles.get(vehicle_id)
        if snapshot is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="vehicle_not_found",
                translation_placeholders={"vehicle_id": vehicle_id},
            )
        async with provider_errors(self.hass, self.config_entry):
            preferences = await self.client.async_update_preferences(snapshot, update)
        latest = self.data.vehicles.get(vehicle_id)
        if latest is None:
            return
        self._changed = frozenset({vehicle_id})
        if ADAPTIVE_CADENCE:
            # Read the car again soon, to show what the write did (the timer restarts).
            self.cadence.written(vehicle_id, dt_util.utcnow(), self.pacer.minimum)
            self.update_interval = self._until_next_read()
        self.async_set_updated_data(
            replace(
                self.data,
                vehicles={
                    **self.data.vehicles,
                    vehicle_id: replace(latest, preferences=preferences),
                },
            )
        )

    async def async_dismiss_issue(self, issue_id: str) -> None:
        """Dismiss the provider's messages behind a fixable issue, then withdraw the issue.

        The client's error is raised when the provider refuses or cannot be reached: the
        issue then stays. An issue solved (or no longer fixable) meanwhile is only
        withdrawn, as the finished flow deletes it anyway; a refresh raises it again while
        it still applies.
        """
        notice = self.issues.dismissable(issue_id)
        if notice is not None:
            await self.client.async_dismiss_notice(notice)
        self.issues.withdraw(issue_id)

    def _log_problems(self, fleet: Fleet) -> None:
        """Log each non-fatal problem once while it lasts, and once when it is gone.

        A problem of one vehicle names it, so two cars failing alike are two problems.
        A value that cannot be read is one problem per provider and field, however many
        cars send it (``devices[].soc``): one warning with how many and the first car.
        """
        names = {
            id(snapshot.error): snapshot.vehicle.name
            for snapshot in fleet.vehicles.values()
            if snapshot.error is not None
        }
        current: dict[str, str] = {}
        """Problem key (what the resolved line says) → what the warning says."""
        value_faults: dict[str, list[ProviderValueError]] = {}
        for problem in fleet.problems:
            if isinstance(problem, ProviderValueError):
                value_faults.setdefault(value_fault_key(problem), []).append(problem)
                continue
            message = (
                f"{problem} ({names[id(problem)]})"
                if id(problem) in names
                else str(problem)
            )
            current[message] = message
        for key, faults in value_faults.items():
            current[key] = value_fault_warning(key, faults, fleet)
        for key in sorted(current.keys() - self._problems):
            LOGGER.warning("Problem reading the fleet: %s", current[key])
        for key in sorted(self._problems - current.keys()):
            LOGGER.info("Problem resolved: %s", key)
        self._problems = set(current)


def value_fault_key(fault: ProviderValueError) -> str:
    """Name an unreadable field the same for every vehicle: provider, reason, field."""
    return f"{fault.provider}: {fault.reason} ({fault.field_pattern})"


def value_fault_warning(
    key: str, faults: list[ProviderValueError], fleet: Fleet
) -> str:
    """Word the warning of one unreadable field: how many vehicles, and the first.

    Never the value: it could be a secret, and the field says what to look at.
    """
    vehicle_ids = list(dict.fromkeys(f.vehicle_id for f in faults if f.vehicle_id))
    first = ""
    if vehicle_ids:
        snapshot = fleet.vehicles.get(vehicle_ids[0])
        name = snapshot.vehicle.name if snapshot else vehicle_ids[0]
        others = len(vehicle_ids) - 1
        first = f", from {name}" + (
            f" and {others} more vehicle{'s' if others > 1 else ''}" if others else ""
        )
    return f"{key}{first}; only that value reads unknown"


def keep_unlisted(previous: Fleet | None, fleet: Fleet) -> Fleet:
    """Keep the vehicles a fleet no longer lists while it has a problem naming no vehicle.

    An item whose id could not be read is only a problem of the fleet (no vehicle
    carries it as its error), and its vehicle is missing from the fleet, though it may
    well still be there. Until a refresh without such a problem confirms that a vehicle
    is gone, it stays (unavailable, with that problem) with its device and entities.
    A value that could not be read (ProviderValueError) costs only that value: it never
    keeps a vehicle, nor makes one unavailable.
    """
    if previous is None:
        return fleet
    attached = [s.error for s in fleet.vehicles.values() if s.error is not None]
    unattributed = next(
        (
            p
            for p in fleet.problems
            if not isinstance(p, ProviderValueError)
            and not any(p is error for error in attached)
        ),
        None,
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

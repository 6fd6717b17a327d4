"""The base entity (one device per vehicle), device identifiers, adding entities."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Feature, PreferencesUpdate, VehicleSnapshot
from .const import DOMAIN, LOGGER, PLAN_SUFFIX
from .coordinator import (
    ChargeBridgeConfigEntry,
    ChargeBridgeCoordinator,
    VehicleContext,
)
from .plan import next_boundary


def device_identifier(provider: str, vehicle_id: str) -> str:
    """Return the device identifier of a vehicle: ``<provider>_<vehicle id>``."""
    return f"{provider}_{vehicle_id}"


def account_id(entry: ConfigEntry, provider: str) -> str:
    """Return the account's id: the entry's unique id without the provider prefix.

    (The config flow always sets a unique id; an entry without one uses its entry id.)
    """
    return (entry.unique_id or entry.entry_id).removeprefix(f"{provider}_")


def account_identifier(entry: ConfigEntry, provider: str) -> str:
    """Return the account device's identifier: ``<provider>_account_<account id>``."""
    return f"{provider}_account_{account_id(entry, provider)}"


def current_identifiers(entry: ChargeBridgeConfigEntry) -> set[str]:
    """Return the identifiers of the entry's devices as of its latest fleet."""
    data = entry.runtime_data
    provider = data.client.name
    return {
        device_identifier(provider, vehicle_id)
        for vehicle_id in data.coordinator.data.vehicles
    } | {account_identifier(entry, provider)}


def is_current_device(entry: ChargeBridgeConfigEntry, device: dr.DeviceEntry) -> bool:
    """Tell whether a device is one of the entry's current vehicles or its account."""
    current = current_identifiers(entry)
    return any(
        domain == DOMAIN and identifier in current
        for domain, identifier in device.identifiers
    )


@callback
def remove_stale_devices(hass: HomeAssistant, entry: ChargeBridgeConfigEntry) -> None:
    """Detach the entry from devices of vehicles the provider no longer lists."""
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not is_current_device(entry, device):
            LOGGER.debug("Removing device %s: vehicle is gone", device.name)
            registry.async_update_device(
                device.id, remove_config_entry_id=entry.entry_id
            )


def supports(feature: Feature) -> Callable[[VehicleSnapshot], bool]:
    """Make an ``exists_fn``: the entity exists where the vehicle offers ``feature``."""
    return lambda snapshot: snapshot.vehicle.capabilities.supports(feature)


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeEntityDescription(EntityDescription):
    """What every ChargeBridge description has: whether a vehicle offers the entity."""

    exists_fn: Callable[[VehicleSnapshot], bool]
    follows_plan: bool = False
    """What it shows changes at the plan's period boundaries, so it is written there too
    (not only at the next refresh)."""


class ChargeBridgeEntity(CoordinatorEntity[ChargeBridgeCoordinator]):
    """An entity of one vehicle; unavailable while its vehicle is gone or unreadable.

    A refresh writes the entity's state only when what it shows changed (see
    ``_handle_coordinator_update``): a fleet of a thousand cars re-reads every car on
    every poll, but only the few that moved cost a state write.
    """

    _attr_has_entity_name = True
    entity_description: ChargeBridgeEntityDescription
    _written: tuple[object, ...] | None = None
    """What the entity showed when its state was last written by a refresh or command."""
    _cancel_plan_timer: CALLBACK_TYPE | None = None

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        snapshot: VehicleSnapshot,
        description: ChargeBridgeEntityDescription,
    ) -> None:
        """Tie the entity to its vehicle's device (and to its vehicle's updates)."""
        super().__init__(coordinator, context=VehicleContext(snapshot.vehicle.id))
        self.entity_description = description
        vehicle = snapshot.vehicle
        self.vehicle_id = vehicle.id
        client = coordinator.client
        self._attr_unique_id = f"{client.name}_{vehicle.id}_{description.key}"
        if description.key in client.estimated:
            self._attr_translation_key = f"{description.key}{PLAN_SUFFIX}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device_identifier(client.name, vehicle.id))},
            name=vehicle.name,
            manufacturer=vehicle.make,
            model=vehicle.model,
        )

    @property
    def snapshot(self) -> VehicleSnapshot:
        """Return the vehicle's data from the latest refresh (read only while available)."""
        return self.coordinator.data.vehicles[self.vehicle_id]

    @property
    def available(self) -> bool:
        """Available while the fleet has this vehicle, could read it, and it offers this."""
        if not super().available:
            return False
        snapshot = self.coordinator.data.vehicles.get(self.vehicle_id)
        return (
            snapshot is not None
            and snapshot.error is None
            and self.entity_description.exists_fn(snapshot)
        )

    def _shown(self) -> tuple[object, ...]:
        """Return what a state write would show: availability, state and attributes.

        The rest of what Home Assistant writes (name, icon, unit, device class) changes
        only through the entity registry, which writes the state itself.
        """
        if not self.available:
            return (False, self.capability_attributes)
        return (
            True,
            self.capability_attributes,
            self.state,
            self.state_attributes,
            self.extra_state_attributes,
        )

    async def async_added_to_hass(self) -> None:
        """Remember what the first write (right after this) shows."""
        await super().async_added_to_hass()
        self._written = self._shown()
        if self.entity_description.follows_plan:
            self._arm_plan_timer()
            self.async_on_remove(self._stop_plan_timer)

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state after its vehicle changed, if what the entity shows did."""
        if self.entity_description.follows_plan:
            self._arm_plan_timer()
        shown = self._shown()
        if shown == self._written and not self.force_update:
            return
        self._written = shown
        self.async_write_ha_state()

    @callback
    def _arm_plan_timer(self) -> None:
        """Wake at the plan's next period start or end (a new plan replaces the timer)."""
        self._stop_plan_timer()
        if not self.available:
            return
        boundary = next_boundary(self.snapshot)
        if boundary is not None:
            self._cancel_plan_timer = async_track_point_in_utc_time(
                self.hass, self._plan_boundary_reached, boundary
            )

    @callback
    def _stop_plan_timer(self) -> None:
        """Cancel the boundary timer, if one is armed."""
        if self._cancel_plan_timer is not None:
            self._cancel_plan_timer()
            self._cancel_plan_timer = None

    @callback
    def _plan_boundary_reached(self, _now: datetime) -> None:
        """Show what the plan says for the new now, and wait for the next boundary."""
        self._cancel_plan_timer = None
        self._handle_coordinator_update()

    async def async_update_preferences(self, update: PreferencesUpdate) -> None:
        """Send a change for this vehicle through the coordinator's one write path."""
        await self.coordinator.async_update_preferences(self.vehicle_id, update)


def async_add_vehicle_entities[DescriptionT: ChargeBridgeEntityDescription](
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entity_class: Callable[
        [ChargeBridgeCoordinator, VehicleSnapshot, DescriptionT], Entity
    ],
    descriptions: Iterable[DescriptionT],
) -> None:
    """Add a platform's entities now, and after each refresh whatever is new.

    New is a vehicle the provider did not list before, or a feature a vehicle did not
    offer before (a ChargEye target appears with the vehicle's next schedule).
    """
    coordinator = entry.runtime_data.coordinator
    known: set[tuple[str, str]] = set()

    @callback
    def add_new_entities() -> None:
        if not coordinator.fleet_changed:
            return
        vehicles = coordinator.data.vehicles
        known.intersection_update(
            {(vehicle_id, key) for vehicle_id, key in known if vehicle_id in vehicles}
        )
        new = [
            (snapshot, description)
            for snapshot in vehicles.values()
            for description in descriptions
            if (snapshot.vehicle.id, description.key) not in known
            and description.exists_fn(snapshot)
        ]
        if not new:
            return
        known.update(
            (snapshot.vehicle.id, description.key) for snapshot, description in new
        )
        async_add_entities(
            entity_class(coordinator, snapshot, description)
            for snapshot, description in new
        )

    add_new_entities()
    entry.async_on_unload(coordinator.async_add_listener(add_new_entities))

"""The base entity (one device per vehicle) and how platforms add entities as they appear."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import Feature, VehicleSnapshot
from .const import DOMAIN, PLAN_DERIVED_KEYS
from .coordinator import (
    ChargeBridgeConfigEntry,
    ChargeBridgeCoordinator,
    PreferencesWrite,
    device_identifier,
)


def supports(feature: Feature) -> Callable[[VehicleSnapshot], bool]:
    """Make an ``exists_fn``: the entity exists where the vehicle offers ``feature``."""
    return lambda snapshot: snapshot.vehicle.capabilities.supports(feature)


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeEntityDescription(EntityDescription):
    """What every ChargeBridge description has: whether a vehicle offers the entity."""

    exists_fn: Callable[[VehicleSnapshot], bool]


class ChargeBridgeEntity(CoordinatorEntity[ChargeBridgeCoordinator]):
    """An entity of one vehicle; unavailable while its vehicle is gone or unreadable.

    A refresh writes the entity's state only when what it shows changed (see
    ``_handle_coordinator_update``): a fleet of a thousand cars re-reads every car on
    every poll, but only the few that moved cost a state write.
    """

    _attr_has_entity_name = True
    entity_description: ChargeBridgeEntityDescription
    _written: tuple[object, ...] | None = None
    """What the last state write showed; None before the first write."""
    _to_write: tuple[object, ...] | None = None
    """What the write in progress shows, when the caller already worked it out."""

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        snapshot: VehicleSnapshot,
        description: ChargeBridgeEntityDescription,
    ) -> None:
        """Tie the entity to its vehicle's device."""
        super().__init__(coordinator)
        self.entity_description = description
        vehicle = snapshot.vehicle
        self.vehicle_id = vehicle.id
        provider = coordinator.client.name
        self._attr_unique_id = f"{provider}_{vehicle.id}_{description.key}"
        if description.key in PLAN_DERIVED_KEYS.get(provider, ()):
            self._attr_translation_key = f"{description.key}_plan"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device_identifier(coordinator.client, vehicle.id))},
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
        only through the entity registry, which writes through ``async_write_ha_state``
        and is never skipped.
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

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state after a refresh only when what the entity shows changed."""
        shown = self._shown()
        if shown == self._written and not self.force_update:
            return
        self._to_write = shown
        try:
            self.async_write_ha_state()
        finally:
            self._to_write = None

    @callback
    def _async_write_ha_state(self) -> None:
        """Write the state (every path: first write, registry change, refresh, command)."""
        shown = self._to_write if self._to_write is not None else self._shown()
        super()._async_write_ha_state()
        self._written = shown

    async def async_write(self, write: PreferencesWrite) -> None:
        """Send a change for this vehicle through the coordinator's one write path."""
        await self.coordinator.async_write(self.vehicle_id, write)


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

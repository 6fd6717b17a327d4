"""Numbers: charge target and minimal charge, within the range the vehicle allows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Capabilities, Feature, PreferencesUpdate, VehicleSnapshot
from .coordinator import ChargeBridgeConfigEntry, ChargeBridgeCoordinator
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeNumberDescription(
    NumberEntityDescription, ChargeBridgeEntityDescription
):
    """A number backed by a vehicle's charging preferences."""

    range_fn: Callable[[Capabilities], tuple[int, int]]
    value_fn: Callable[[VehicleSnapshot], int | None]
    update_fn: Callable[[int], PreferencesUpdate]


DESCRIPTIONS: tuple[ChargeBridgeNumberDescription, ...] = (
    ChargeBridgeNumberDescription(
        key="target_soc",
        translation_key="target_soc",
        native_unit_of_measurement=PERCENTAGE,
        native_step=1,
        mode=NumberMode.SLIDER,
        exists_fn=supports(Feature.TARGET_SOC),
        range_fn=lambda caps: (caps.target_soc_min, caps.target_soc_max),
        value_fn=lambda snapshot: snapshot.preferences.target_soc,
        update_fn=lambda value: PreferencesUpdate(target_soc=value),
    ),
    ChargeBridgeNumberDescription(
        key="minimal_soc",
        translation_key="minimal_soc",
        native_unit_of_measurement=PERCENTAGE,
        native_step=1,
        mode=NumberMode.SLIDER,
        entity_category=EntityCategory.CONFIG,
        exists_fn=supports(Feature.MINIMAL_SOC),
        range_fn=lambda caps: (caps.minimal_soc_min, caps.minimal_soc_max),
        value_fn=lambda snapshot: snapshot.preferences.minimal_soc,
        update_fn=lambda value: PreferencesUpdate(minimal_soc=value),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the numbers of every vehicle, including vehicles that appear later."""

    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeNumberEntity, DESCRIPTIONS
    )


class ChargeBridgeNumberEntity(ChargeBridgeEntity, NumberEntity):
    """A vehicle number."""

    entity_description: ChargeBridgeNumberDescription

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        snapshot: VehicleSnapshot,
        description: ChargeBridgeNumberDescription,
    ) -> None:
        """Take the bounds from the vehicle's capabilities."""
        super().__init__(coordinator, snapshot, description)
        self._attr_native_min_value, self._attr_native_max_value = description.range_fn(
            snapshot.vehicle.capabilities
        )

    @property
    def native_value(self) -> int | None:
        """The value from the latest refresh or write."""
        return self.entity_description.value_fn(self.snapshot)

    async def async_set_native_value(self, value: float) -> None:
        """Send the new value (whole percent) to the provider."""
        await self.async_update_preferences(
            self.entity_description.update_fn(round(value))
        )

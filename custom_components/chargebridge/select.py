"""Select: Hiven's charging behaviour (off, at my locations, anywhere)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import ChargingBehavior, Feature, PreferencesUpdate, VehicleSnapshot
from .coordinator import ChargeBridgeConfigEntry
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeSelectDescription(
    SelectEntityDescription, ChargeBridgeEntityDescription
):
    """A select backed by a vehicle's charging preferences."""

    value_fn: Callable[[VehicleSnapshot], str | None]
    update_fn: Callable[[str], PreferencesUpdate]


DESCRIPTIONS: tuple[ChargeBridgeSelectDescription, ...] = (
    ChargeBridgeSelectDescription(
        key="charging_behavior",
        translation_key="charging_behavior",
        options=[behavior.value for behavior in ChargingBehavior],
        exists_fn=supports(Feature.CHARGING_BEHAVIOR),
        value_fn=lambda snapshot: (
            behavior.value
            if (behavior := snapshot.preferences.charging_behavior)
            else None
        ),
        update_fn=lambda option: PreferencesUpdate(
            charging_behavior=ChargingBehavior(option)
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the selects of every vehicle, including vehicles that appear later."""

    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeSelectEntity, DESCRIPTIONS
    )


class ChargeBridgeSelectEntity(ChargeBridgeEntity, SelectEntity):
    """A vehicle select."""

    entity_description: ChargeBridgeSelectDescription

    @property
    def current_option(self) -> str | None:
        """The value from the latest refresh or write."""
        return self.entity_description.value_fn(self.snapshot)

    async def async_select_option(self, option: str) -> None:
        """Send the chosen option to the provider."""
        await self.async_update_preferences(self.entity_description.update_fn(option))

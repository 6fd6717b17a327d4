"""Switches: smart charging and boost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Feature, PreferencesUpdate, VehicleSnapshot
from .coordinator import ChargeBridgeConfigEntry
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeSwitchDescription(
    SwitchEntityDescription, ChargeBridgeEntityDescription
):
    """A switch backed by a vehicle's charging preferences."""

    value_fn: Callable[[VehicleSnapshot], bool | None]
    update_fn: Callable[[bool], PreferencesUpdate]


DESCRIPTIONS: tuple[ChargeBridgeSwitchDescription, ...] = (
    ChargeBridgeSwitchDescription(
        key="smart_charging",
        translation_key="smart_charging",
        exists_fn=supports(Feature.SMART_CHARGING),
        value_fn=lambda snapshot: snapshot.preferences.smart_charging,
        update_fn=lambda on: PreferencesUpdate(smart_charging=on),
    ),
    ChargeBridgeSwitchDescription(
        key="boost",
        translation_key="boost",
        exists_fn=supports(Feature.BOOST),
        value_fn=lambda snapshot: snapshot.preferences.boost,
        update_fn=lambda on: PreferencesUpdate(boost=on),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches of every vehicle, including vehicles that appear later."""

    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeSwitchEntity, DESCRIPTIONS
    )


class ChargeBridgeSwitchEntity(ChargeBridgeEntity, SwitchEntity):
    """A vehicle switch."""

    entity_description: ChargeBridgeSwitchDescription

    @property
    def is_on(self) -> bool | None:
        """The value from the latest refresh or write."""
        return self.entity_description.value_fn(self.snapshot)

    @property
    def assumed_state(self) -> bool:
        """Offer both on and off while the provider does not report the state (boost)."""
        return self.available and self.is_on is None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on at the provider."""
        await self.async_update_preferences(self.entity_description.update_fn(True))

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off at the provider."""
        await self.async_update_preferences(self.entity_description.update_fn(False))

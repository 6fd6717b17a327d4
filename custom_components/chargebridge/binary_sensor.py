"""Binary sensors: plugged in and charging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Feature, VehicleSnapshot
from .compat import BinarySensorDeviceClass
from .coordinator import ChargeBridgeConfigEntry
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeBinarySensorDescription(
    BinarySensorEntityDescription, ChargeBridgeEntityDescription
):
    """A binary sensor read from a vehicle snapshot."""

    value_fn: Callable[[VehicleSnapshot], bool | None]


DESCRIPTIONS: tuple[ChargeBridgeBinarySensorDescription, ...] = (
    ChargeBridgeBinarySensorDescription(
        key="plugged_in",
        translation_key="plugged_in",
        device_class=BinarySensorDeviceClass.PLUG,
        exists_fn=supports(Feature.PLUGGED_IN),
        value_fn=lambda snapshot: snapshot.state.plugged_in,
    ),
    ChargeBridgeBinarySensorDescription(
        key="charging",
        translation_key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        exists_fn=supports(Feature.CHARGING),
        value_fn=lambda snapshot: snapshot.state.charging,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors of every vehicle, including vehicles that appear later."""

    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeBinarySensorEntity, DESCRIPTIONS
    )


class ChargeBridgeBinarySensorEntity(ChargeBridgeEntity, BinarySensorEntity):
    """A vehicle binary sensor."""

    entity_description: ChargeBridgeBinarySensorDescription

    @property
    def is_on(self) -> bool | None:
        """The value from the latest refresh."""
        return self.entity_description.value_fn(self.snapshot)

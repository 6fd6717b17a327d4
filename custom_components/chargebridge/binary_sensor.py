"""Binary sensors: plugged in, charging, and what the charging plan says."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
from .plan import in_planned_period, planned_dispatches

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeBinarySensorDescription(
    BinarySensorEntityDescription, ChargeBridgeEntityDescription
):
    """A binary sensor read from a vehicle snapshot."""

    value_fn: Callable[[VehicleSnapshot], bool | None]
    attributes_fn: Callable[[VehicleSnapshot], Mapping[str, Any]] | None = None


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
    ChargeBridgeBinarySensorDescription(
        key="planned_charging",
        translation_key="planned_charging",
        exists_fn=supports(Feature.CHARGING_PLAN),
        follows_plan=True,
        value_fn=in_planned_period,
        attributes_fn=lambda snapshot: {
            "planned_dispatches": planned_dispatches(snapshot)
        },
    ),
    ChargeBridgeBinarySensorDescription(
        key="plan_reaches_target",
        translation_key="plan_reaches_target",
        exists_fn=supports(Feature.PLAN_REACHES_TARGET),
        value_fn=lambda snapshot: (
            None if snapshot.schedule is None else snapshot.schedule.reaches_target
        ),
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
    # The upcoming plan is for automations to read now; its history is worth nothing
    # and would store a new list at every replanning.
    _unrecorded_attributes = frozenset({"planned_dispatches"})

    @property
    def is_on(self) -> bool | None:
        """The value from the latest refresh."""
        return self.entity_description.value_fn(self.snapshot)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The description's attributes, where it has any."""
        attributes_fn = self.entity_description.attributes_fn
        return None if attributes_fn is None else attributes_fn(self.snapshot)

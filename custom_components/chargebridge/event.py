"""Event: what the provider tells about a car that needs no action (Jedlix's messages)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import Feature, VehicleSnapshot
from .coordinator import ChargeBridgeConfigEntry, ChargeBridgeCoordinator
from .entity import (
    ChargeBridgeEntity,
    ChargeBridgeEntityDescription,
    async_add_vehicle_entities,
    supports,
)

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeEventDescription(
    EventEntityDescription, ChargeBridgeEntityDescription
):
    """An event entity of a vehicle."""


DESCRIPTIONS: tuple[ChargeBridgeEventDescription, ...] = (
    ChargeBridgeEventDescription(
        key="provider_message",
        translation_key="provider_message",
        exists_fn=supports(Feature.PROVIDER_MESSAGE),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the event entities of every vehicle, including vehicles that appear later."""
    async_add_vehicle_entities(
        entry, async_add_entities, ChargeBridgeMessageEvent, DESCRIPTIONS
    )


class ChargeBridgeMessageEvent(ChargeBridgeEntity, EventEntity):
    """Fires once for each new message the provider sends about the car.

    Messages already there when the entity is created happened before: they do not fire.
    The event types are the client's ``message_types``.
    """

    entity_description: ChargeBridgeEventDescription

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        snapshot: VehicleSnapshot,
        description: ChargeBridgeEventDescription,
    ) -> None:
        """Know the provider's message types and the messages already sent."""
        super().__init__(coordinator, snapshot, description)
        self._attr_event_types = list(coordinator.client.message_types)
        self._seen = {message.id for message in snapshot.messages}

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire for each message not seen before, oldest first, then write the state."""
        snapshot = self.coordinator.data.vehicles.get(self.vehicle_id)
        if snapshot is not None and snapshot.error is None:
            new = [m for m in snapshot.messages if m.id not in self._seen]
            new.sort(key=lambda m: (m.created_at is None, m.created_at, m.id))
            for message in new:
                if message.type in self._attr_event_types:
                    self._trigger_event(
                        message.type,
                        {"message_id": message.id, "title": message.title},
                    )
            self._seen.update(message.id for message in new)
        super()._handle_coordinator_update()

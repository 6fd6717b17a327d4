"""The account device: one per config entry, for what belongs to the account, not a car.

Its entities (request counter, remaining budget, manual refresh) stay available while the
provider is unreachable: they describe our side of the connection, which is exactly what
one wants to see then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription

from .const import DOMAIN
from .coordinator import ChargeBridgeCoordinator, account_id, account_identifier


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeAccountEntityDescription(EntityDescription):
    """What every account entity description has: whether the account offers it."""

    exists_fn: Callable[[ChargeBridgeCoordinator], bool] = lambda _: True


class ChargeBridgeAccountEntity(Entity):
    """An entity of the account device (not tied to the fleet's data or availability)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: ChargeBridgeAccountEntityDescription

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        description: ChargeBridgeAccountEntityDescription,
    ) -> None:
        """Tie the entity to the account device of the coordinator's entry."""
        self.coordinator = coordinator
        self.entity_description = description
        entry = coordinator.config_entry
        client = coordinator.client
        self._attr_unique_id = (
            f"{client.name}_account_{account_id(entry, client)}_{description.key}"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, account_identifier(entry, client))},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer=coordinator.provider_title,
            translation_key="account",
            translation_placeholders={"provider": coordinator.provider_title},
        )

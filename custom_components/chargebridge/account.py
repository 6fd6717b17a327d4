"""The account device: one per config entry, for what belongs to the account, not a car.

Its entities (request counter, remaining budget, manual refresh) stay available while the
provider is unreachable: they describe our side of the connection, which is exactly what
one wants to see then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import ChargeBridgeCoordinator
from .entity import account_id, account_identifier


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeAccountEntityDescription(EntityDescription):
    """What every account entity description has: whether the account offers it."""

    exists_fn: Callable[[ChargeBridgeCoordinator], bool] = lambda _: True


class ChargeBridgeAccountEntity(CoordinatorEntity[ChargeBridgeCoordinator]):
    """An entity of the account device, updated after every refresh, failed or not."""

    _attr_has_entity_name = True
    entity_description: ChargeBridgeAccountEntityDescription

    def __init__(
        self,
        coordinator: ChargeBridgeCoordinator,
        description: ChargeBridgeAccountEntityDescription,
    ) -> None:
        """Tie the entity to the account device of the coordinator's entry."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        client = coordinator.client
        provider = client.name
        self._attr_unique_id = (
            f"{provider}_account_{account_id(entry, provider)}_{description.key}"
        )
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, account_identifier(entry, provider))},
            entry_type=DeviceEntryType.SERVICE,
            manufacturer=coordinator.provider_title,
            model=client.api_name or f"{client.title} API",
            translation_key="account",
            translation_placeholders={"provider": coordinator.provider_title},
        )

    @property
    def available(self) -> bool:
        """Always: our side of the connection is known even when the provider is not."""
        return True

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write nothing by default: what an account entity shows is not the fleet."""

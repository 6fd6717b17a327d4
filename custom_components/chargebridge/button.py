"""Button: refresh the account now, within the provider's limits."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account import ChargeBridgeAccountEntity, ChargeBridgeAccountEntityDescription
from .coordinator import ChargeBridgeConfigEntry

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeBridgeButtonDescription(
    ButtonEntityDescription, ChargeBridgeAccountEntityDescription
):
    """A button of the account."""


REFRESH = ChargeBridgeButtonDescription(key="refresh", translation_key="refresh")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ChargeBridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's refresh button."""
    async_add_entities(
        [ChargeBridgeRefreshButton(entry.runtime_data.coordinator, REFRESH)]
    )


class ChargeBridgeRefreshButton(ChargeBridgeAccountEntity, ButtonEntity):
    """Fetch the whole account now; refused while the provider's limits say wait."""

    entity_description: ChargeBridgeButtonDescription

    async def async_press(self) -> None:
        """Ask the coordinator for a refresh (it enforces the cooldown)."""
        await self.coordinator.async_manual_refresh()

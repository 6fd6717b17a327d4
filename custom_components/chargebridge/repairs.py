"""Fix flows: the user confirms a provider's message is dealt with, and it is dismissed there.

Only issues from a provider's messages are fixable, and only where the client can dismiss
them (issues.py decides). Confirming dismisses every message behind the issue at the
provider and withdraws the issue; when the provider cannot be reached or refuses, the form
says why and the issue stays, so nothing is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .api import (
    ChargeBridgeError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
)
from .compat import vol
from .const import DOMAIN, LOGGER
from .coordinator import ChargeBridgeConfigEntry, ChargeBridgeCoordinator
from .issues import FIX_ENTRY_ID

if TYPE_CHECKING:
    # Annotations only: the oldest supported release has no RepairsFlowResult.
    from homeassistant.components.repairs import RepairsFlowResult

CONFIRM_STEP = "confirm"
ENTRY_NOT_LOADED = "entry_not_loaded"
"""Abort reason: the account's entry is not loaded, so nobody can talk to the provider."""
UNKNOWN_ERROR = "unknown"
FIX_ERRORS: tuple[tuple[type[ChargeBridgeError], str], ...] = (
    (ProviderAuthError, "auth_failed"),
    (ProviderForbiddenError, "not_permitted"),
    (ProviderRateLimitError, "rate_limited"),
    (ProviderConnectionError, "cannot_connect"),
    (ProviderRejectedError, "rejected"),
)
"""A failed dismissal → the form's error key (first match; the rest: ``unknown``)."""
ERROR_KEYS = frozenset({key for _, key in FIX_ERRORS} | {UNKNOWN_ERROR})
ABORT_REASONS = frozenset({ENTRY_NOT_LOADED})


def fix_error_key(err: ChargeBridgeError) -> str:
    """Return the form error a failed dismissal shows."""
    return next((key for cls, key in FIX_ERRORS if isinstance(err, cls)), UNKNOWN_ERROR)


async def async_create_fix_flow(
    hass: HomeAssistant,
    issue_id: str,
    data: dict[str, str | int | float | None] | None,
) -> RepairsFlow:
    """Create the flow that dismisses the provider's message behind a fixable issue."""
    entry_id = (data or {}).get(FIX_ENTRY_ID)
    return DismissNoticeFlow(issue_id, entry_id if isinstance(entry_id, str) else None)


class DismissNoticeFlow(RepairsFlow):
    """One confirm step: the problem is solved, so dismiss its message at the provider."""

    def __init__(self, issue_id: str, entry_id: str | None) -> None:
        """Remember the issue and its entry (Home Assistant sets its own fields later)."""
        self._fixing = issue_id
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Start at the confirmation (the init data only names the issue)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Show what confirming does; on confirmation dismiss, or say why it failed."""
        placeholders = self._issue_placeholders()
        entry = self._loaded_entry()
        if entry is None:
            return self.async_abort(
                reason=ENTRY_NOT_LOADED, description_placeholders=placeholders
            )
        errors: dict[str, str] = {}
        if user_input is not None:
            coordinator: ChargeBridgeCoordinator = entry.runtime_data.coordinator
            try:
                await coordinator.async_dismiss_issue(self._fixing)
            except ChargeBridgeError as err:
                LOGGER.debug("Could not dismiss %s: %s", self._fixing, err)
                if isinstance(err, ProviderAuthError):
                    entry.async_start_reauth(self.hass)
                errors["base"] = fix_error_key(err)
                placeholders["error"] = err.message
            else:
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id=CONFIRM_STEP,
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _loaded_entry(self) -> ChargeBridgeConfigEntry | None:
        """Return the issue's config entry when it is loaded (its client is running)."""
        if self._entry_id is None:
            return None
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if (
            entry is None
            or entry.domain != DOMAIN
            or entry.state is not ConfigEntryState.LOADED
        ):
            return None
        return entry

    def _issue_placeholders(self) -> dict[str, str]:
        """Return the issue's own placeholders: the fix flow's texts name the same things."""
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self._fixing)
        if issue is None or issue.translation_placeholders is None:
            return {}
        return dict(issue.translation_placeholders)

"""Differences between the Home Assistant versions ChargeBridge supports, in one place.

Supported: 2025.4.4 (the floor in hacs.json) to 2026.10.4. Everything here is feature
detection, never a version check; the rest of the integration imports from this module.
"""

from __future__ import annotations

from collections.abc import Callable
import inspect
from typing import Any

from homeassistant.helpers.update_coordinator import UpdateFailed

# Newer releases validate flow forms with probatio, voluptuous' API-compatible successor.
try:
    import probatio as vol  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    import voluptuous as vol  # type: ignore[no-redef, unused-ignore]

# Newer releases define the device classes in the platform's const module (the old
# import still works there, as an implicit re-export).
try:
    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    from homeassistant.components.binary_sensor import BinarySensorDeviceClass  # type: ignore[attr-defined, no-redef, unused-ignore]

UPDATE_FAILED_TAKES_RETRY_AFTER = (
    "retry_after" in inspect.signature(UpdateFailed.__init__).parameters
)
"""Newer releases let UpdateFailed carry Retry-After; the coordinator then waits that long."""

__all__ = ["BinarySensorDeviceClass", "update_failed", "vol"]


def update_failed(*, retry_after: float | None = None, **kwargs: Any) -> UpdateFailed:
    """Build UpdateFailed, telling Home Assistant about Retry-After where it understands it.

    Where it does not, the coordinator's own interval (polling.rate_limited_interval)
    keeps the pause, so the provider's wish is honoured on every version.
    """
    if retry_after is not None and UPDATE_FAILED_TAKES_RETRY_AFTER:
        # Typed loosely: the oldest release's UpdateFailed has no such parameter.
        factory: Callable[..., UpdateFailed] = UpdateFailed
        return factory(retry_after=retry_after, **kwargs)
    return UpdateFailed(**kwargs)

"""Constants for the ChargeBridge integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "chargebridge"
LOGGER = logging.getLogger(__package__)

PLAN_SUFFIX: Final = "_plan"
"""Translation key suffix of an entity whose value the provider estimates from its plan."""

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]

CONF_PROVIDER: Final = "provider"
CONF_SCAN_INTERVAL: Final = "scan_interval"

MAX_SCAN_INTERVAL: Final = timedelta(hours=1)
"""The slowest poll a user may choose in the options."""

IDLE_FACTOR: Final = 3
"""While no car charges or is plugged in, poll this many times slower than the option."""
MAX_IDLE_INTERVAL: Final = timedelta(minutes=30)
"""Idle slow-down stops here (unless the user chose an even slower interval)."""

BUDGET_RESERVE: Final = 0.2
"""Share of a provider's request limit polling leaves for the user's writes and refreshes."""
BACKOFF_CAP: Final = timedelta(minutes=30)
"""Failed refreshes back off (doubling from the polling interval) up to this pause."""
BACKOFF_JITTER: Final = 0.2
"""A backoff pause is shortened by a random share of up to this much of it."""
RATE_LIMIT_ISSUE_AFTER: Final = 2
"""Refreshes refused with 429 in a row before the quota is reported as a repair issue."""

"""compat.py: both sides of each feature detection work, whichever version runs."""

from __future__ import annotations

import importlib
import sys
from typing import Any
from unittest.mock import patch

from homeassistant.components.binary_sensor import BinarySensorDeviceClass
from homeassistant.helpers.update_coordinator import UpdateFailed
import voluptuous as vol

from custom_components.chargebridge import compat


class NewUpdateFailed(UpdateFailed):
    """UpdateFailed as newer Home Assistant releases define it."""

    def __init__(
        self, *args: Any, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        """Keep retry_after."""
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


def test_update_failed_carries_retry_after_where_supported() -> None:
    """Newer releases get Retry-After on the exception."""
    with (
        patch.object(compat, "UPDATE_FAILED_TAKES_RETRY_AFTER", True),
        patch.object(compat, "UpdateFailed", NewUpdateFailed),
    ):
        err = compat.update_failed(retry_after=30, translation_key="rate_limited")
    assert err.retry_after == 30
    assert err.translation_key == "rate_limited"


def test_update_failed_without_retry_after_support() -> None:
    """Older releases get a plain UpdateFailed; the coordinator keeps the pause."""
    with patch.object(compat, "UPDATE_FAILED_TAKES_RETRY_AFTER", False):
        err = compat.update_failed(retry_after=30, translation_key="rate_limited")
    assert type(err) is UpdateFailed
    assert err.translation_key == "rate_limited"
    assert type(compat.update_failed(translation_key="x")) is UpdateFailed


def test_imports_fall_back_on_older_releases() -> None:
    """Without probatio or binary_sensor.const (2025.4), the older homes are used."""
    hidden = {"probatio": None, "homeassistant.components.binary_sensor.const": None}
    try:
        with patch.dict(sys.modules, hidden):
            importlib.reload(compat)
            assert compat.vol is vol
            assert compat.BinarySensorDeviceClass is BinarySensorDeviceClass
    finally:
        importlib.reload(compat)

"""Client errors as Home Assistant errors: the one table, and the helper every command uses.

The api package raises exception classes that know nothing of Home Assistant; here each
class gets its translation key and placeholders, so every message a user sees comes from
strings.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import (
    ChargeBridgeError,
    CommandNotDeliveredError,
    ConflictingUpdateError,
    DepartureBeforeArrivalError,
    InvalidDatetimeError,
    InvalidInputError,
    InvalidTimeError,
    InvalidUrlError,
    InvalidUserIdError,
    InvalidVehicleError,
    MinimalAboveTargetError,
    NothingToChangeError,
    OutOfRangeError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    UnsupportedError,
    UnsupportedFeatureError,
)
from .const import DOMAIN
from .providers import provider_title

_ERROR_KEYS: tuple[tuple[type[ChargeBridgeError], str], ...] = (
    (ProviderAuthError, "auth_failed"),
    (ProviderForbiddenError, "not_permitted"),
    (ProviderRateLimitError, "rate_limited"),
    (CommandNotDeliveredError, "command_not_delivered"),
    (ProviderConnectionError, "cannot_connect"),
    (ProviderResponseError, "invalid_response"),
    (ProviderRejectedError, "rejected"),
    (UnsupportedError, "unsupported"),
)
"""A provider's failure → translation key (first match; the rest: ``provider_error``)."""


def _no_placeholders(err: Any) -> dict[str, str]:
    return {}


_INPUT_ERROR_KEYS: Mapping[
    type[InvalidInputError], tuple[str, Callable[[Any], dict[str, str]]]
] = {
    InvalidUrlError: ("invalid_url", _no_placeholders),
    InvalidUserIdError: ("invalid_user_id", _no_placeholders),
    InvalidTimeError: ("invalid_time", lambda err: {"value": err.value}),
    InvalidDatetimeError: ("invalid_datetime", lambda err: {"field": err.field}),
    NothingToChangeError: ("nothing_to_change", _no_placeholders),
    ConflictingUpdateError: ("conflicting_update", _no_placeholders),
    UnsupportedFeatureError: (
        "unsupported_feature",
        lambda err: {"feature": err.feature},
    ),
    OutOfRangeError: (
        "out_of_range",
        lambda err: {
            "field": err.field,
            "value": str(err.value),
            "min": str(err.low),
            "max": str(err.high),
        },
    ),
    MinimalAboveTargetError: (
        "minimal_above_target",
        lambda err: {"minimal": str(err.minimal), "target": str(err.target)},
    ),
    DepartureBeforeArrivalError: (
        "departure_before_arrival",
        lambda err: {"arrival": err.arrival, "departure": err.departure},
    ),
    InvalidVehicleError: ("invalid_vehicle", _no_placeholders),
}
"""Input the client refused before sending anything → translation key and placeholders."""


def error_translation(err: ChargeBridgeError) -> dict[str, Any]:
    """Build the translated-exception arguments for a provider's failure."""
    key = next(
        (key for cls, key in _ERROR_KEYS if isinstance(err, cls)), "provider_error"
    )
    return {
        "translation_domain": DOMAIN,
        "translation_key": key,
        "translation_placeholders": {
            "provider": provider_title(err.provider),
            "error": err.message,
        },
    }


def _input_translation(err: InvalidInputError) -> tuple[str, dict[str, str]]:
    """Return the translation key and placeholders of input the client refused."""
    for cls in type(err).__mro__:
        if cls in _INPUT_ERROR_KEYS:
            key, placeholders = _INPUT_ERROR_KEYS[cls]
            return key, placeholders(err)
    return "invalid_input", {"error": err.message}


def input_error_key(err: InvalidInputError) -> str:
    """Return the translation key of input the client refused (form errors)."""
    return _input_translation(err)[0]


def input_error(err: InvalidInputError) -> ServiceValidationError:
    """Build the translated validation error for input the client refused."""
    key, placeholders = _input_translation(err)
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@asynccontextmanager
async def provider_errors(
    hass: HomeAssistant, entry: ConfigEntry
) -> AsyncIterator[None]:
    """Turn client errors in a user's command into translated Home Assistant errors.

    Invalid input becomes a ServiceValidationError, any other client error a
    HomeAssistantError; refused credentials also start reauth. A refused permission
    (403, ``not_permitted``) does not: signing in again would not grant it.
    """
    try:
        yield
    except InvalidInputError as err:
        raise input_error(err) from err
    except ProviderAuthError as err:
        entry.async_start_reauth(hass)
        raise HomeAssistantError(**error_translation(err)) from err
    except ChargeBridgeError as err:
        raise HomeAssistantError(**error_translation(err)) from err

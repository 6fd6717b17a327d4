"""One exception tree shared by every provider client.

The integration maps these classes, never vendor status codes, onto Home Assistant's
behaviour: auth errors start reauth, a refused permission (403) is reported without reauth,
connection errors make entities unavailable, response errors are logged naming the provider and field, invalid input is shown to the user.
Messages never contain secrets: they are built from status codes, field names and the
provider's own problem ``detail``, never from request headers or bodies.
"""

from __future__ import annotations

import re

_INDEX = re.compile(r"\[[^\]]*\]")
"""A list index or a vehicle id in a field path: ``[2]``, ``[page 1]``, ``[abc]``."""


class ChargeBridgeError(Exception):
    """Base class: anything a provider client raises on purpose."""

    def __init__(self, provider: str, message: str) -> None:
        """Keep the provider name so logs and repairs can say who failed."""
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


def detached[E: BaseException](err: E) -> E:
    """Return ``err`` without the tracebacks of it and of what caused it.

    An error kept in a vehicle's snapshot outlives its refresh: its traceback would keep
    the failed read's frames, and the snapshots they hold, alive with it.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return err


class ProviderConnectionError(ChargeBridgeError):
    """The provider could not be reached, or answered with a server error (5xx).

    ``status`` is the server error's HTTP status; None when no answer came.
    """

    def __init__(self, provider: str, message: str, status: int | None = None) -> None:
        """Keep the server error's status."""
        super().__init__(provider, message)
        self.status = status


class ProviderTimeoutError(ProviderConnectionError):
    """The provider did not answer in time."""


class CommandNotDeliveredError(ProviderConnectionError):
    """The provider could not pass a command on to the car (ev.energy: 503 on a write)."""


class ProviderAuthError(ChargeBridgeError):
    """The credentials were refused (401, or a token could not be obtained)."""


class ProviderForbiddenError(ChargeBridgeError):
    """The credentials are valid but lack a permission (403, e.g. a missing scope).

    Not an auth error: signing in again would not help. ``detail`` is the provider's own
    explanation of what is not permitted, when it gave one (secrets redacted).
    """

    def __init__(self, provider: str, detail: str | None) -> None:
        """Keep the provider's explanation."""
        super().__init__(
            provider, "not permitted (403)" + (f": {detail}" if detail else "")
        )
        self.detail = detail


class ProviderRateLimitError(ChargeBridgeError):
    """The provider throttled us (429); ``retry_after`` is in seconds when it said."""

    def __init__(self, provider: str, message: str, retry_after: float | None) -> None:
        """Keep how long the provider asked us to wait."""
        super().__init__(provider, message)
        self.retry_after = retry_after


class ProviderResponseError(ChargeBridgeError):
    """The provider answered with something we cannot read (bad JSON, wrong shape).

    ``field`` names the part of the payload that was wrong, so a log line can point at it.
    """

    def __init__(self, provider: str, message: str, field: str | None = None) -> None:
        """Keep the offending field."""
        super().__init__(provider, message if field is None else f"{message} ({field})")
        self.field = field


class ProviderValueError(ProviderResponseError):
    """One value the provider sent could not be read while reading the fleet.

    It costs that value only (read as None: its entity shows unknown), never the vehicle:
    never a vehicle's ``error``, never a repair issue. ``field`` is the value's dotted path;
    ``vehicle_id`` the vehicle it belongs to, once the fleet template knows it. The value
    itself is never kept: it could be a secret.
    """

    def __init__(
        self, provider: str, reason: str, field: str, vehicle_id: str | None = None
    ) -> None:
        """Keep the reason, the field and the vehicle."""
        super().__init__(provider, reason, field)
        self.reason = reason
        self.field: str = field
        self.vehicle_id = vehicle_id

    @property
    def field_pattern(self) -> str:
        """The field with list indices and ids left out: the same for every vehicle.

        ``devices[2].soc`` and ``devices[7].soc`` are both ``devices[].soc``.
        """
        return _INDEX.sub("[]", self.field)

    def of_vehicle(self, vehicle_id: str) -> ProviderValueError:
        """Return the same fault, attributed to ``vehicle_id``."""
        return ProviderValueError(self.provider, self.reason, self.field, vehicle_id)


class ProviderRejectedError(ChargeBridgeError):
    """The provider understood the request and refused it (400, 404, 409, 422).

    ``detail`` is the provider's own explanation (problem+json ``detail``) when it gave one.
    """

    def __init__(self, provider: str, status: int, detail: str | None) -> None:
        """Keep the status and the provider's explanation."""
        super().__init__(
            provider, f"request refused ({status})" + (f": {detail}" if detail else "")
        )
        self.status = status
        self.detail = detail


class UnsupportedError(ChargeBridgeError):
    """The provider or this vehicle cannot do what was asked."""


class InvalidInputError(ChargeBridgeError, ValueError):
    """The caller asked for something invalid; raised before any request is sent.

    Each kind of mistake has its own subclass carrying the values that explain it, so an
    application can word the message in its own language.
    """


class InvalidUrlError(InvalidInputError):
    """Credentials would travel in clear text: a URL must be https (http only to loopback)."""

    def __init__(self, provider: str, field: str) -> None:
        """Keep which configured URL is refused."""
        super().__init__(provider, f"{field} must use https (http only for localhost)")
        self.field = field


class InvalidUserIdError(InvalidInputError):
    """The configured user is not in the form the provider's API requires."""

    def __init__(self, provider: str, message: str) -> None:
        """Explain the expected form."""
        super().__init__(provider, message)
        self.field = "user_id"


class InvalidTimeError(InvalidInputError):
    """A time of day is not ``HH:MM``."""

    def __init__(self, provider: str, value: str) -> None:
        """Keep the refused text."""
        super().__init__(provider, f"time must be HH:MM, got {value!r}")
        self.value = value


class InvalidDatetimeError(InvalidInputError):
    """A date and time is missing, unreadable or has no time zone."""

    def __init__(self, provider: str, field: str, message: str) -> None:
        """Keep which field is wrong."""
        super().__init__(provider, message)
        self.field = field


class NothingToChangeError(InvalidInputError):
    """The request changes nothing."""


class ConflictingUpdateError(InvalidInputError):
    """Two fields of one update ask for opposite things."""


class UnsupportedFeatureError(InvalidInputError):
    """The vehicle does not offer the feature the update touches."""

    def __init__(self, provider: str, feature: str) -> None:
        """Keep the feature."""
        super().__init__(provider, f"vehicle does not support {feature}")
        self.feature = feature


class OutOfRangeError(InvalidInputError):
    """A number lies outside the range the provider allows."""

    def __init__(
        self, provider: str, field: str, value: object, low: float, high: float
    ) -> None:
        """Keep the field, the value and the bounds."""
        super().__init__(
            provider, f"{field} must be between {low} and {high}, got {value}"
        )
        self.field = field
        self.value = value
        self.low = low
        self.high = high


class MinimalAboveTargetError(InvalidInputError):
    """The minimal charge would exceed the charge target."""

    def __init__(self, provider: str, minimal: int, target: int) -> None:
        """Keep both values."""
        super().__init__(
            provider, f"minimal charge {minimal} % is above the target {target} %"
        )
        self.minimal = minimal
        self.target = target


class DepartureBeforeArrivalError(InvalidInputError):
    """A depot schedule departs before (or when) it arrives."""

    def __init__(self, provider: str, arrival: str, departure: str) -> None:
        """Keep both times (ISO 8601)."""
        super().__init__(provider, "the departure must be after the arrival")
        self.arrival = arrival
        self.departure = departure


class InvalidVehicleError(InvalidInputError):
    """No vehicle id was given where one is needed."""

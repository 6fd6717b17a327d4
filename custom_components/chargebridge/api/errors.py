"""One exception tree shared by every provider client.

The integration maps these classes, never vendor status codes, onto Home Assistant's
behaviour: auth errors start reauth, connection errors make entities unavailable, response
errors are logged naming the provider and field, invalid input is shown to the user.
Messages never contain secrets: they are built from status codes, field names and the
provider's own problem ``detail``, never from request headers or bodies.
"""

from __future__ import annotations


class ChargeBridgeError(Exception):
    """Base class: anything a provider client raises on purpose."""

    def __init__(self, provider: str, message: str) -> None:
        """Keep the provider name so logs and repairs can say who failed."""
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message


class ProviderConnectionError(ChargeBridgeError):
    """The provider could not be reached, or answered with a server error (5xx)."""


class ProviderTimeoutError(ProviderConnectionError):
    """The provider did not answer in time."""


class ProviderAuthError(ChargeBridgeError):
    """The credentials were refused (401/403, or a token could not be obtained)."""


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

    ``translation_key`` and ``placeholders`` let the integration show a translated message.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        translation_key: str,
        placeholders: dict[str, str] | None = None,
    ) -> None:
        """Keep what the user interface needs to explain the problem."""
        super().__init__(provider, message)
        self.translation_key = translation_key
        self.placeholders = placeholders or {}

"""Vendor JSON read tolerantly: missing optional fields give None, wrong types name the field.

Every client parses through ``Payload``, so a bad value is reported the same way for every
provider: ``<provider>: <what> (<dotted path of the field>)``.

Two ways to meet a value that cannot be read. Strict (the default: writes, validation,
tokens) raises ProviderResponseError. Lenient (a ``faults`` list: the fleet's reads) costs
that value only: it reads None and a ProviderValueError joins ``faults``. Ids and structure
(``req_str``, ``opt_obj``, ``opt_list``, ``objects``) raise either way: without them the
parse cannot go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
import math
from typing import Any

from .errors import ChargeBridgeError, ProviderResponseError, ProviderValueError

MAX_EXACT_INT = 2**53
"""Whole numbers up to this size convert to float exactly (and never overflow)."""
WRONG_TYPE = "wrong type for field"
"""The reason of a value of the wrong type or form."""


class Payload:
    """A JSON object read tolerantly: missing optional fields give None.

    A wrong type raises, or (with ``faults``) reads None and is recorded there. Every
    error names the provider and the dotted path of the field, e.g.
    ``hiven: wrong type for field (devices[2].attributes.year)``.
    """

    __slots__ = ("data", "faults", "path", "provider")

    def __init__(
        self,
        provider: str,
        data: Any,
        path: str,
        faults: list[ChargeBridgeError] | None = None,
    ) -> None:
        """Wrap ``data``; it must be a JSON object.

        With ``faults``, a value that cannot be read is None and a ProviderValueError is
        appended (nested payloads share the list); without, it raises.
        """
        if not isinstance(data, dict):
            raise ProviderResponseError(provider, "expected a JSON object", path)
        self.provider = provider
        self.data: dict[str, Any] = data
        self.path = path
        self.faults = faults

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _wrong(self, key: str) -> ProviderResponseError:
        return ProviderResponseError(self.provider, WRONG_TYPE, self._where(key))

    def value_fault(self, key: str, reason: str = WRONG_TYPE) -> None:
        """Report that the value of ``key`` cannot be read: raise, or record it (lenient).

        For a client's own value readers (e.g. an ``HH:mm`` time): after this the value
        reads None. A field is recorded once, however often it is read.
        """
        where = self._where(key)
        if self.faults is None:
            raise ProviderResponseError(self.provider, reason, where)
        for fault in self.faults:
            if isinstance(fault, ProviderValueError) and fault.field == where:
                return
        self.faults.append(ProviderValueError(self.provider, reason, where))

    def has(self, key: str) -> bool:
        """Tell whether ``key`` is present and not null."""
        return self.data.get(key) is not None

    def opt_str(self, key: str) -> str | None:
        """Return a string, or None when missing or null."""
        value = self.data.get(key)
        if value is None or isinstance(value, str):
            return value
        self.value_fault(key)
        return None

    def req_str(self, key: str) -> str:
        """Return a string that must be there (ids): always raises when it is not."""
        value = self.data.get(key)
        if isinstance(value, str) and value:
            return value
        if value is None or value == "":
            raise ProviderResponseError(
                self.provider, "missing required field", self._where(key)
            )
        raise self._wrong(key)

    def opt_float(self, key: str) -> float | None:
        """Return a finite number (ints accepted; numeric strings too, some APIs quote them)."""
        value = self.data.get(key)
        if value is None:
            return None
        # Hot path (every number of every vehicle on every refresh): JSON gives exactly
        # float or int; bool, str and anything else take the careful way below.
        kind = type(value)
        if kind is float and value - value == 0.0:  # finite: inf - inf and nan are nan
            return value  # type: ignore[no-any-return]
        if kind is int and -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.value_fault(key)
            return None
        try:
            number = float(value)
        except (ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number):
            self.value_fault(key)
            return None
        return number

    def opt_int(self, key: str) -> int | None:
        """Return a whole number (a float with no fraction is accepted)."""
        value = self.opt_float(key)
        if value is None:
            return None
        if value != int(value):
            self.value_fault(key)
            return None
        return int(value)

    def opt_bool(self, key: str) -> bool | None:
        """Return a boolean, or None."""
        value = self.data.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.value_fault(key)
        return None

    def opt_datetime(self, key: str) -> datetime | None:
        """Return a timestamp as aware UTC, in any form a plain "string" field may take.

        The documents type these fields as plain strings: ISO 8601 with or without a
        fraction and an offset (``Z`` accepted; naive means UTC), or seconds or
        milliseconds since the epoch, as a number or a numeric string.
        """
        value = self.data.get(key)
        if value is None:
            return None
        when = _timestamp(value)
        if when is None:
            self.value_fault(key)
        return when

    def opt_epoch_ms(self, key: str) -> datetime | None:
        """Milliseconds since the epoch, as aware UTC."""
        value = self.opt_float(key)
        if value is None:
            return None
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            self.value_fault(key)
            return None

    def opt_obj(self, key: str) -> Payload | None:
        """Return a nested object, or None."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key)
        return Payload(self.provider, value, self._where(key), self.faults)

    def opt_list(self, key: str) -> list[Any]:
        """Return a list (empty when missing or null)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key)
        return value

    def objects(self, key: str) -> list[Payload]:
        """Return a list of objects, each wrapped with its index in the path."""
        where, provider, faults = self._where(key), self.provider, self.faults
        return [
            Payload(provider, item, f"{where}[{index}]", faults)
            for index, item in enumerate(self.opt_list(key))
        ]

    def opt_enum[T](
        self, key: str, mapping: Mapping[str, T], unknown: T, *, fold_case: bool = True
    ) -> T | None:
        """Map a vendor enum string; unknown strings give ``unknown`` (enums may grow).

        A value that is no string at all is a wrong type (see ``opt_str``).
        """
        value = self.opt_str(key)
        if value is None:
            return None
        if fold_case:
            if value in mapping:  # the documented spelling: no folding needed
                return mapping[value]
            value = value.casefold()
            for name, member in mapping.items():
                if name.casefold() == value:
                    return member
            return unknown
        return mapping.get(value, unknown)


def payload_list(provider: str, data: Any, path: str) -> list[Payload]:
    """Wrap a top-level JSON array of objects."""
    if not isinstance(data, list):
        raise ProviderResponseError(provider, "expected a JSON array", path)
    return [
        Payload(provider, item, f"{path}[{index}]") for index, item in enumerate(data)
    ]


EPOCH_MS_ABOVE = 10**11
"""An epoch number this large is milliseconds (10**11 s lies in the year 5138)."""


def _timestamp(value: object) -> datetime | None:
    """Read a timestamp as aware UTC (see ``Payload.opt_datetime``); None if unreadable."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            epoch = _epoch_seconds(text)
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            try:
                return parsed.astimezone(UTC)
            except (ValueError, OverflowError):
                return None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        epoch = _epoch_seconds(value)
    else:
        return None
    if epoch is None:
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _epoch_seconds(value: str | float) -> float | None:
    """Read seconds or milliseconds since the epoch (number or numeric string)."""
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    return number / 1000 if abs(number) >= EPOCH_MS_ABOVE else number

"""One profile per simulated provider: what tests and tools need to know about its API.

Every per-provider fact the tests, the benchmark and ``scripts/develop`` use (where the API
is served, its token endpoint, how it is written to, its secrets and demo credentials,
which fields a fault may change) lives here, once. Adding a provider to the test world is
one simulator module (tests/simulator/<name>.py) and one entry in PROFILES.

Standard library only: the benchmark's measuring process and the development scripts import
this without the simulator (see tests/simulator/__init__.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
import re
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderProfile:
    """What tests and tools know about one provider's simulated API.

    Paths named ``*_path`` are relative to the simulator server's URL; those documented as
    patterns are regular expressions searched in a request's path, as ``Fault.path`` and
    ``RequestLog.filter(path=...)`` take them.
    """

    name: str
    """The provider's key (config entries, the simulator, the client registry)."""
    api_path: str
    """Where the client's ``api_url`` points."""
    token_path: str | None
    """The token endpoint; None: the provider issues no access token."""
    token_method: str | None
    """The HTTP method of a token request."""
    fleet_path: str
    """Pattern of the request that lists the fleet (every refresh makes it)."""
    vehicle_path: str | None
    """Pattern of the per-vehicle request a refresh makes; None: the list says it all."""
    write_method: str
    """The HTTP method that writes the charging preferences (e.g. smart charging)."""
    secret_fields: tuple[str, ...]
    """Config fields that are secret (asked again on reauth, never shown)."""
    login_secret: str
    """The secret the provider checks first: a wrong value is refused at once."""
    url_fields: tuple[str, ...]
    """Config fields holding URLs that credentials are sent to."""
    demo_credentials: Mapping[str, str]
    """Credentials the simulator accepts out of the box (scripts/develop uses them)."""
    extra_config: Mapping[str, str] = field(default_factory=dict)
    """More config-entry fields, as templates of ``{url}`` (the server) and ``{api_url}``."""
    form_defaults: Mapping[str, str | None]
    """The fields of the integration's config form, in order, with their defaults (the
    real service's URLs)."""
    status_field: str | None
    """The field carrying the charging status enum (None: the provider has none)."""
    enum_fields: tuple[str, ...]
    """Enum-valued fields a ``FaultKind.UNKNOWN_ENUM`` fault can give a value never seen."""
    optional_fields: tuple[str, ...]
    """Fields the API may leave out; a client reads None for them."""
    harmless_missing_fields: tuple[str, ...]
    """The optional fields whose absence costs only their values, no feature."""
    strict_item_field: str | None
    """A structural field of a vehicle list item (an object the parse needs): a value of
    the wrong type there makes just that item unreadable. None: the item has no
    structure besides the object holding its id."""
    value_field: str
    """A field holding one vehicle's value (in its list item or its own request): a value
    of the wrong type there costs only that value."""
    value_entity: str
    """The key of the entity ``value_field`` feeds (it reads unknown meanwhile)."""

    @property
    def uses_access_token(self) -> bool:
        """Whether a client first obtains an access token."""
        return self.token_path is not None

    @property
    def token_pattern(self) -> str | None:
        """Pattern matching just the token request, where there is one."""
        return None if self.token_path is None else f"^{re.escape(self.token_path)}$"

    def api_url(self, url: str) -> str:
        """Return the client's ``api_url`` for a simulator at ``url``."""
        return f"{url}{self.api_path}"

    def token_url(self, url: str) -> str | None:
        """Return the token endpoint of a simulator at ``url``, where there is one."""
        return None if self.token_path is None else f"{url}{self.token_path}"

    def config(
        self, url: str, credentials: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Return complete config-entry data for a simulator at ``url``.

        ``credentials`` (default: the demo ones) give the values of the credential fields.
        """
        current = self.demo_credentials if credentials is None else credentials
        data: dict[str, str] = {
            "provider": self.name,
            "api_url": self.api_url(url),
        }
        data.update(
            {
                key: current.get(key, value)
                for key, value in self.demo_credentials.items()
            }
        )
        data.update(
            {
                key: template.format(url=url, api_url=data["api_url"])
                for key, template in self.extra_config.items()
            }
        )
        return data


_PROFILES: Final = (
    ProviderProfile(
        name="hiven",
        api_path="/hiven",
        token_path=None,
        token_method=None,
        fleet_path=r"/v2/hiven/devices$",
        vehicle_path=r"/status$",
        write_method="PUT",
        secret_fields=("api_key",),
        login_secret="api_key",
        url_fields=("api_url",),
        demo_credentials=MappingProxyType(
            {"api_key": "demo-hiven-api-key", "user_id": "demo-hiven-user"}
        ),
        form_defaults=MappingProxyType(
            {"api_url": "https://api.hiven.energy", "api_key": None, "user_id": None}
        ),
        status_field="chargingStatus",
        enum_fields=("chargingStatus", "chargingBehavior"),
        optional_fields=(
            "attributes",
            "settings",
            "soc",
            "range",
            "timestamp",
            "chargingStatus",
            "batteryCapacity",
        ),
        harmless_missing_fields=("soc", "range", "timestamp", "batteryCapacity"),
        strict_item_field="attributes",
        value_field="soc",
        value_entity="state_of_charge",
    ),
    ProviderProfile(
        name="chargeye",
        api_path="/chargeye",
        token_path="/chargeye/auth/refreshAccessToken",
        token_method="GET",
        fleet_path=r"/chargeye/vehicles$",
        vehicle_path=None,  # one read per depot (/locations/{uid}/schedules)
        write_method="PATCH",
        secret_fields=("refresh_token",),
        login_secret="refresh_token",
        url_fields=("api_url",),
        demo_credentials=MappingProxyType(
            {"refresh_token": "demo-chargeye-refresh-token"}
        ),
        form_defaults=MappingProxyType(
            {"api_url": "https://kempower.io/api", "refresh_token": None}
        ),
        status_field=None,
        enum_fields=("strategy", "trigger", "type", "interiorHvac", "tag"),
        optional_fields=(
            "name",
            "licensePlate",
            "evModel",
            "vin",
            "fullChargeEnergykWh",
            "enableChargeScheduling",
            "planMeta",
            "targetSoC",
            "energykWh",
        ),
        harmless_missing_fields=(
            "evModel",
            "vin",
            "fullChargeEnergykWh",
            "planMeta",
            "targetSoC",
            "energykWh",
        ),
        strict_item_field=None,
        value_field="fullChargeEnergykWh",
        value_entity="battery_capacity",
    ),
    ProviderProfile(
        name="jedlix",
        api_path="/jedlix",
        token_path="/jedlix-auth/oauth/token",
        token_method="POST",
        fleet_path=r"/jedlix/api/v2/users/[^/]+/vehicles$",
        vehicle_path=r"/charge-settings$",
        write_method="PUT",
        secret_fields=("api_key", "client_secret"),
        login_secret="client_secret",
        url_fields=("api_url", "token_url"),
        demo_credentials=MappingProxyType(
            {
                "api_key": "demo-jedlix-api-key",
                "client_id": "demo-jedlix-client",
                "client_secret": "demo-jedlix-secret",
                "user_id": "demo-jedlix-user",
            }
        ),
        extra_config=MappingProxyType(
            {"token_url": "{url}/jedlix-auth/oauth/token", "audience": "{api_url}"}
        ),
        form_defaults=MappingProxyType(
            {
                "api_url": None,
                "api_key": None,
                "client_id": None,
                "client_secret": None,
                "user_id": None,
                "token_url": "https://jedlix-b2e.eu.auth0.com/oauth/token",
                "audience": None,
            }
        ),
        # The enum sits in an object of the same name, which a key-based fault would
        # replace whole: its simulator serves unknown values instead (State.set_status).
        status_field="chargeState",
        enum_fields=(),
        optional_fields=(
            "batteryLevel",
            "range",
            "updatedAt",
            "details",
            "isConnected",
            "isConnectable",
        ),
        harmless_missing_fields=("batteryLevel", "updatedAt", "details"),
        strict_item_field="details",
        value_field="batteryLevel",
        value_entity="state_of_charge",
    ),
    ProviderProfile(
        name="evenergy",
        api_path="/evenergy/v2",
        token_path="/o/token/",
        token_method="POST",
        fleet_path=r"/evenergy/v2/vehicles$",
        vehicle_path=None,
        write_method="PATCH",
        secret_fields=("client_secret",),
        login_secret="client_secret",
        url_fields=("api_url",),
        demo_credentials=MappingProxyType(
            {
                "client_id": "demo-evenergy-client",
                "client_secret": "demo-evenergy-secret",
                "user_id": "user01DEMO00000000000000000000",  # user + 26 [A-Z0-9]
            }
        ),
        form_defaults=MappingProxyType(
            {
                "api_url": "https://api.ev.energy/v2",
                "client_id": None,
                "client_secret": None,
                "user_id": None,
            }
        ),
        status_field="state",
        enum_fields=("state", "integrated"),
        optional_fields=(
            "state_of_charge_percentage",
            "is_charging",
            "is_plugged_in",
            "is_complete",
            "charge_rate_watts",
            "charge_energy_added_watt_hours",
            "sampled_at",
            "state",
            "trim",
            "description",
            "maximum_charge_limit_percentage",
            "smart_charging_enabled",
            "battery_size_watt_hours",
            "integrated",
        ),
        harmless_missing_fields=(
            "state_of_charge_percentage",
            "charge_rate_watts",
            "sampled_at",
            "trim",
            "description",
            "battery_size_watt_hours",
        ),
        strict_item_field="latest_status_log",
        value_field="state_of_charge_percentage",
        value_entity="state_of_charge",
    ),
)

PROFILES: Final[Mapping[str, ProviderProfile]] = MappingProxyType(
    {profile.name: profile for profile in _PROFILES}
)
"""Provider name -> profile, in the order the integration offers them."""

PROVIDER_NAMES: Final = tuple(PROFILES)


def token_profiles() -> Iterator[ProviderProfile]:
    """Yield the profiles of providers that issue access tokens."""
    return (profile for profile in PROFILES.values() if profile.uses_access_token)

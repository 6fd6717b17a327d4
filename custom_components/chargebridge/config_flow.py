"""Config flow: pick a provider, enter its credentials, test them, one entry per account."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .api import (
    Account,
    ChargeBridgeError,
    ConfigField,
    InvalidInputError,
    InvalidUrlError,
    InvalidUserIdError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    is_secure_url,
)
from .api.registry import PROVIDERS
from .compat import vol
from .const import CONF_PROVIDER, CONF_SCAN_INTERVAL, DOMAIN, LOGGER, MAX_SCAN_INTERVAL
from .coordinator import ChargeBridgeConfigEntry
from .providers import build_client, client_class

_SELECTORS = {
    "url": TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
    "secret": TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD)),
    "text": TextSelector(),
}


def _schema(fields: Iterable[ConfigField], *, all_optional: bool = False) -> vol.Schema:
    """Build a form from field specs (defaults only where the design gives one)."""
    schema: dict[vol.Marker, Any] = {}
    for field in fields:
        marker = vol.Optional if field.optional or all_optional else vol.Required
        key = (
            marker(field.key)
            if field.default is None
            else marker(field.key, default=field.default)
        )
        kind = "url" if field.url else "secret" if field.secret else "text"
        schema[key] = _SELECTORS[kind]
    return vol.Schema(schema)


def _cleaned(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Strip whitespace and drop empty optional fields."""
    return {
        key: value.strip()
        for key, value in user_input.items()
        if isinstance(value, str) and value.strip()
    }


async def _async_validate(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[Account | None, dict[str, str]]:
    """Test the credentials with one cheap call; return the account or the form errors."""
    errors = {
        field.key: "invalid_url"
        for field in client_class(data).config_fields
        if field.url and field.key in data and not is_secure_url(data[field.key])
    }
    if errors:
        return None, errors
    try:
        account = await build_client(hass, data).async_validate()
    except InvalidUrlError:
        return None, {"base": "invalid_url"}
    except InvalidUserIdError as err:
        return None, {err.field: "invalid_user_id"}
    except InvalidInputError:
        return None, {"base": "unknown"}
    except ProviderAuthError:
        error = "invalid_auth"
    except ProviderForbiddenError:
        error = "not_permitted"
    except (ProviderConnectionError, ProviderRateLimitError):
        error = "cannot_connect"
    except ChargeBridgeError as err:
        LOGGER.warning("Unexpected answer while testing the credentials: %s", err)
        error = "unknown"
    except Exception:  # noqa: BLE001 - any failure must end on the form, not crash it
        LOGGER.exception("Unexpected error while testing the credentials")
        error = "unknown"
    else:
        return account, {}
    return None, {"base": error}


class ChargeBridgeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a provider account; reauthenticate or reconfigure it later."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: ChargeBridgeConfigEntry,
    ) -> ChargeBridgeOptionsFlow:
        """Offer the polling interval as an option."""
        return ChargeBridgeOptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user pick a provider: each registered provider is a step."""
        return self.async_show_menu(step_id="user", menu_options=list(PROVIDERS))

    def __getattr__(self, name: str) -> Any:
        """Return ``async_step_<provider>``, the form step of each registered provider."""
        provider = name.removeprefix("async_step_")
        if provider != name and provider in PROVIDERS:
            return partial(self._async_step_provider, provider)
        raise AttributeError(name)

    async def _async_step_provider(
        self, provider: str, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show a provider's form; create the entry once its credentials work."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {CONF_PROVIDER: provider, **_cleaned(user_input)}
            account, errors = await _async_validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(f"{provider}_{account.unique_id}")
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=account.title, data=data)
        return self.async_show_form(
            step_id=provider,
            data_schema=self.add_suggested_values_to_schema(
                _schema(PROVIDERS[provider].config_fields), user_input
            ),
            errors=errors,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start reauthentication when the provider refused the stored secret."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new secrets for the same account."""
        entry = self._get_reauth_entry()
        client = client_class(entry.data)
        fields = [field for field in client.config_fields if field.secret]
        errors: dict[str, str] = {}
        if user_input is not None:
            changes = _cleaned(user_input)
            account, errors = await _async_validate(
                self.hass, {**entry.data, **changes}
            )
            if account is not None:
                await self.async_set_unique_id(f"{client.name}_{account.unique_id}")
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self.async_update_reload_and_abort(entry, data_updates=changes)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=_schema(fields),
            errors=errors,
            description_placeholders={
                "provider": client.title,
                "account": entry.title,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the URLs or secrets of the same account."""
        entry = self._get_reconfigure_entry()
        client = client_class(entry.data)
        fields = [field for field in client.config_fields if not field.account]
        errors: dict[str, str] = {}
        if user_input is not None:
            changes = _cleaned(user_input)
            data = dict(entry.data)
            for field in fields:
                if field.key in changes:
                    data[field.key] = changes[field.key]
                elif not field.secret:
                    data.pop(field.key, None)
            account, errors = await _async_validate(self.hass, data)
            if account is not None:
                await self.async_set_unique_id(f"{client.name}_{account.unique_id}")
                self._abort_if_unique_id_mismatch(reason="wrong_account")
                return self.async_update_reload_and_abort(entry, data=data)
        # Secrets are never shown again: left empty, the stored one is kept.
        schema = vol.Schema(
            {
                **_schema(field for field in fields if not field.secret).schema,
                **_schema(
                    (field for field in fields if field.secret), all_optional=True
                ).schema,
            }
        )
        suggested = {
            field.key: entry.data[field.key]
            for field in fields
            if not field.secret and field.key in entry.data
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or suggested
            ),
            errors=errors,
            description_placeholders={"provider": client.title},
        )


class ChargeBridgeOptionsFlow(OptionsFlow):
    """Let the user choose how often to poll, within the provider's rate limit."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the polling interval in seconds."""
        client = client_class(self.config_entry.data)
        minimum = int(client.min_scan_interval.total_seconds())
        maximum = int(MAX_SCAN_INTERVAL.total_seconds())
        if user_input is not None:
            return self.async_create_entry(
                data={CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL])}
            )
        current = self.config_entry.options.get(
            CONF_SCAN_INTERVAL, int(client.default_scan_interval.total_seconds())
        )
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_SCAN_INTERVAL, default=current): NumberSelector(
                        NumberSelectorConfig(
                            min=minimum,
                            max=maximum,
                            step=1,
                            unit_of_measurement="s",
                            mode=NumberSelectorMode.BOX,
                        )
                    )
                }
            ),
            description_placeholders={"min": str(minimum), "max": str(maximum)},
        )

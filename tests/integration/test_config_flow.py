"""Config flow: menu, one form per provider, errors with recovery, reauth, reconfigure, options.

Credentials are tested for real against the simulator; faults make it fail on purpose.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import InvalidInputError, InvalidUrlError
from custom_components.chargebridge.api.registry import PROVIDERS
from custom_components.chargebridge.compat import vol
from custom_components.chargebridge.config_flow import ChargeBridgeConfigFlow
from custom_components.chargebridge.const import DOMAIN
from tests.simulator import PROFILES, Fault, FaultKind, Simulator, SimulatorServer


def user_input(config: dict[str, Any]) -> dict[str, Any]:
    """Return the form input for a config entry's data."""
    return {key: value for key, value in config.items() if key != "provider"}


async def start_provider_step(hass: HomeAssistant, provider: str) -> str:
    """Open the flow, pick the provider from the menu, return the flow id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": provider}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == provider
    assert result["errors"] == {}
    return result["flow_id"]


async def assert_creates_entry(
    hass: HomeAssistant, flow_id: str, config: dict[str, Any]
) -> None:
    """Submit working credentials and check the entry that is made."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(config))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == config
    assert result["result"].unique_id.startswith(f"{config['provider']}_")


async def test_menu_offers_every_provider(hass: HomeAssistant) -> None:
    """Step user is a menu of the four providers, in the design's order."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == list(PROFILES)


@pytest.mark.parametrize("provider_id", list(PROFILES))
async def test_form_fields_and_defaults(hass: HomeAssistant, provider_id: str) -> None:
    """Each provider's form has exactly the design's fields, defaults and required ones."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": provider_id}
    )
    schema = result["data_schema"].schema
    fields = {
        str(key): None if key.default is vol.UNDEFINED else key.default()
        for key in schema
    }
    defaults = dict(PROFILES[provider_id].form_defaults)
    assert fields == defaults
    assert list(fields) == list(defaults)
    required = {str(key) for key in schema if isinstance(key, vol.Required)}
    assert required == set(defaults) - {"audience"}


async def test_create_entry(
    hass: HomeAssistant, sim: Simulator, provider: str, provider_config: dict[str, Any]
) -> None:
    """Working credentials make an entry titled after the account; the API was asked."""
    flow_id = await start_provider_step(hass, provider)
    await assert_creates_entry(hass, flow_id, provider_config)
    assert sim.requests.for_provider(provider)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.title
    assert entry.state.recoverable


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        (FaultKind.AUTH, "invalid_auth"),
        (FaultKind.STATUS, "cannot_connect"),
        (FaultKind.RATE_LIMIT, "cannot_connect"),
        (FaultKind.MALFORMED, "unknown"),
    ],
)
async def test_provider_errors_then_recover(
    hass: HomeAssistant,
    sim: Simulator,
    provider_config: dict[str, Any],
    kind: FaultKind,
    error: str,
) -> None:
    """A failing provider shows the matching error; once it works the entry is made."""
    provider = provider_config["provider"]
    flow_id = await start_provider_step(hass, provider)
    fault = sim.faults.add(Fault(kind=kind, provider=provider))
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(provider_config)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    sim.faults.remove(fault)
    await assert_creates_entry(hass, flow_id, provider_config)


@pytest.mark.parametrize("provider", ["evenergy", "hiven"])
async def test_refused_permission_is_not_invalid_auth(
    hass: HomeAssistant, sim: Simulator, provider_config: dict[str, Any]
) -> None:
    """A 403 reading the account: the credentials work but lack a permission."""
    provider = provider_config["provider"]
    flow_id = await start_provider_step(hass, provider)
    fault = sim.faults.add(
        Fault(kind=FaultKind.STATUS, status=403, provider=provider, method="GET")
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(provider_config)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "not_permitted"}
    sim.faults.remove(fault)
    await assert_creates_entry(hass, flow_id, provider_config)


async def test_wrong_secret_then_recover(
    hass: HomeAssistant, provider: str, provider_config: dict[str, Any]
) -> None:
    """A secret the provider does not know is invalid_auth."""
    flow_id = await start_provider_step(hass, provider)
    wrong = user_input(provider_config) | dict.fromkeys(
        PROFILES[provider].secret_fields, "wrong"
    )
    result = await hass.config_entries.flow.async_configure(flow_id, wrong)
    assert result["errors"] == {"base": "invalid_auth"}
    await assert_creates_entry(hass, flow_id, provider_config)


async def test_unreachable_then_recover(
    hass: HomeAssistant, provider: str, provider_config: dict[str, Any]
) -> None:
    """Nothing listening at the URL is cannot_connect."""
    flow_id = await start_provider_step(hass, provider)
    closed = user_input(provider_config) | {
        "api_url": "http://127.0.0.1:9/api",
        **{
            field: "http://127.0.0.1:9/token"
            for field in PROFILES[provider].url_fields
            if field != "api_url"
        },
    }
    result = await hass.config_entries.flow.async_configure(flow_id, closed)
    assert result["errors"] == {"base": "cannot_connect"}
    await assert_creates_entry(hass, flow_id, provider_config)


async def test_invalid_url_then_recover(
    hass: HomeAssistant, sim: Simulator, provider: str, provider_config: dict[str, Any]
) -> None:
    """Plain http to another host is refused before any request is sent."""
    flow_id = await start_provider_step(hass, provider)
    insecure = user_input(provider_config) | {"api_url": "http://example.com/api"}
    result = await hass.config_entries.flow.async_configure(flow_id, insecure)
    assert result["errors"] == {"api_url": "invalid_url"}
    more = [field for field in PROFILES[provider].url_fields if field != "api_url"]
    if more:
        insecure |= dict.fromkeys(more, "ftp://example.com/token")
        result = await hass.config_entries.flow.async_configure(flow_id, insecure)
        assert result["errors"] == dict.fromkeys(["api_url", *more], "invalid_url")
    assert not sim.requests.for_provider(provider)
    await assert_creates_entry(hass, flow_id, provider_config)


@pytest.mark.parametrize(
    ("side_effect", "error"),
    [
        (RuntimeError("boom"), {"base": "unknown"}),
        (
            InvalidUrlError("x", "token_url"),
            {"base": "invalid_url"},
        ),
        (
            InvalidInputError("x", "odd"),
            {"base": "unknown"},
        ),
    ],
)
async def test_unexpected_failures_then_recover(
    hass: HomeAssistant,
    provider: str,
    provider_config: dict[str, Any],
    side_effect: Exception,
    error: dict[str, str],
) -> None:
    """Whatever else goes wrong ends on the form, never in a crashed flow."""
    flow_id = await start_provider_step(hass, provider)
    with patch.object(PROVIDERS[provider], "async_validate", side_effect=side_effect):
        result = await hass.config_entries.flow.async_configure(
            flow_id, user_input(provider_config)
        )
    assert result["errors"] == error
    await assert_creates_entry(hass, flow_id, provider_config)


async def test_invalid_user_id_then_recover(
    hass: HomeAssistant, sim_server: SimulatorServer
) -> None:
    """ev.energy refuses a user id of the wrong shape before sending anything."""
    config = sim_server.config("evenergy")
    flow_id = await start_provider_step(hass, "evenergy")
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(config) | {"user_id": "not-a-user"}
    )
    assert result["errors"] == {"user_id": "invalid_user_id"}
    await assert_creates_entry(hass, flow_id, config)


async def test_same_account_twice_aborts(
    hass: HomeAssistant,
    provider: str,
    provider_config: dict[str, Any],
    mock_config_entry: MockConfigEntry,
) -> None:
    """The same account cannot be added twice."""
    mock_config_entry.add_to_hass(hass)
    flow_id = await start_provider_step(hass, provider)
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(provider_config)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def rotate_secrets(sim: Simulator, provider: str) -> dict[str, str]:
    """Make the simulator accept only new secrets; return them."""
    new = {key: f"rotated-{key}" for key in PROFILES[provider].secret_fields}
    sim.providers[provider].credentials.update(new)
    return new


async def test_reauth_asks_only_secrets(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Reauth asks for the secrets only; an old one fails, the new one is stored."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    secret_fields = PROFILES[provider].secret_fields
    assert [str(key) for key in result["data_schema"].schema] == list(secret_fields)

    old = {key: mock_config_entry.data[key] for key in secret_fields}
    new = rotate_secrets(sim, provider)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], old)
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data == {**mock_config_entry.data, **new}
    assert {key: mock_config_entry.data[key] for key in new} == new


async def test_reauth_other_account_aborts(
    hass: HomeAssistant, provider: str, provider_config: dict[str, Any]
) -> None:
    """Credentials of another account cannot replace this entry's."""
    entry = MockConfigEntry(
        domain=DOMAIN, data=provider_config, unique_id=f"{provider}_someone-else"
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    secrets = {key: provider_config[key] for key in PROFILES[provider].secret_fields}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], secrets)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"


async def test_reconfigure_url_and_secret(
    hass: HomeAssistant,
    sim: Simulator,
    provider: str,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Reconfigure offers URLs (prefilled) and secrets (empty); a bad URL is refused first."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"].schema
    suggested = {
        str(key): (key.description or {}).get("suggested_value") for key in schema
    }
    for key in PROFILES[provider].secret_fields:
        assert suggested.pop(key) is None
    assert suggested == {key: mock_config_entry.data.get(key) for key in suggested}
    assert "user_id" not in suggested
    assert "client_id" not in suggested

    urls = {key: value for key, value in suggested.items() if value is not None}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], urls | {"api_url": "http://example.com/api"}
    )
    assert result["errors"] == {"api_url": "invalid_url"}

    new = rotate_secrets(sim, provider)
    moved = urls | {"api_url": urls["api_url"] + "/"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], moved | new
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data["api_url"] == urls["api_url"] + "/"
    assert {key: mock_config_entry.data[key] for key in new} == new


async def test_reconfigure_keeps_secret_left_empty(
    hass: HomeAssistant, provider: str, mock_config_entry: MockConfigEntry
) -> None:
    """An empty secret keeps the stored one."""
    mock_config_entry.add_to_hass(hass)
    before = dict(mock_config_entry.data)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"api_url": before["api_url"]}
        | dict.fromkeys(PROFILES[provider].secret_fields, "")
        | {key: before[key] for key in PROFILES[provider].extra_config},
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data == before


async def test_reconfigure_clears_optional_audience(
    hass: HomeAssistant, sim_server: SimulatorServer
) -> None:
    """Jedlix: emptying the audience removes it, so the client derives it again."""
    config = sim_server.config("jedlix")
    flow_id = await start_provider_step(hass, "jedlix")
    await assert_creates_entry(hass, flow_id, config)
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"api_url": config["api_url"], "token_url": config["token_url"]},
    )
    assert result["reason"] == "reconfigure_successful"
    assert "audience" not in entry.data
    assert entry.data["api_key"] == config["api_key"]


async def test_reconfigure_other_account_aborts(
    hass: HomeAssistant, provider: str, provider_config: dict[str, Any]
) -> None:
    """Reconfigure cannot switch the entry to another account."""
    entry = MockConfigEntry(
        domain=DOMAIN, data=provider_config, unique_id=f"{provider}_someone-else"
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            key: provider_config[key]
            for key in ("api_url", "token_url", "audience")
            if key in provider_config
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"


async def test_options_scan_interval(
    hass: HomeAssistant, provider: str, init_integration: MockConfigEntry
) -> None:
    """The interval defaults to the provider's, is bounded, and applies without reload."""
    client = init_integration.runtime_data.client
    coordinator = init_integration.runtime_data.coordinator
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema
    key = next(iter(schema))
    assert key.default() == int(client.default_scan_interval.total_seconds())
    minimum = int(client.min_scan_interval.total_seconds())
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"scan_interval": minimum - 1}
        )
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"scan_interval": 3601}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 1800}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {"scan_interval": 1800}
    await hass.async_block_till_done()
    assert coordinator.update_interval == timedelta(seconds=1800)
    assert init_integration.state is ConfigEntryState.LOADED


def test_every_registered_provider_is_a_step() -> None:
    """Each registered provider has its form step; other names are not steps."""
    flow = ChargeBridgeConfigFlow()
    for name in PROVIDERS:
        assert callable(getattr(flow, f"async_step_{name}"))
    assert not hasattr(flow, "async_step_nobody")
    with pytest.raises(AttributeError):
        getattr(flow, "not_a_step")


@pytest.mark.parametrize("provider", ["chargeye"])
@pytest.mark.parametrize(
    ("omitted", "identity"),
    [({"org"}, "chargeye_api-client"), ({"org", "sub"}, "chargeye_depots-")],
)
async def test_chargeye_without_an_organisation_claim_is_set_up(
    hass: HomeAssistant,
    sim: Simulator,
    provider_config: dict[str, Any],
    omitted: set[str],
    identity: str,
) -> None:
    """The token's claims are undocumented: setup works without them, once per account."""
    sim.chargeye.omitted_claims = omitted
    flow_id = await start_provider_step(hass, "chargeye")
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(provider_config)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id.startswith(identity)
    await hass.async_block_till_done()
    flow_id = await start_provider_step(hass, "chargeye")
    result = await hass.config_entries.flow.async_configure(
        flow_id, user_input(provider_config)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

"""No secret ever shows: not in logs, exceptions, diagnostics, states, reprs or titles.

For each provider, with every logger at DEBUG (ours, Home Assistant's, aiohttp's), the
entry is set up, refreshed, fed errors (5xx, a timeout, malformed JSON, 429), refused a
write, has its credentials revoked and goes through reauth with new ones, and is
diagnosed. Then none of the secrets may appear anywhere the user, a log file or a bug
report could show them. The secrets are the configured ones (API keys, client secrets,
refresh tokens, old and new), every access token or JWT the simulator issued (taken from
its State), and every credential header value the simulator received (so derived forms
such as HTTP Basic are covered too).

Credentials never travel to a non-https, non-loopback URL: the client refuses such a URL
before sending anything (``test_insecure_urls_are_refused`` below). That a paging link to
another server is not followed with credentials is tested on the client, see
``tests/api/test_evenergy.py::test_next_link_to_another_server_is_not_followed``;
``tests/integration/test_init.py::test_insecure_stored_url_is_refused`` covers a stored
entry with such a URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
import json
import logging
import traceback
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.chargebridge.api import ChargeBridgeError, InvalidInputError
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.simulator import PROFILES, Fault, FaultKind, Simulator, SimulatorServer
from tests.simulator.profiles import token_profiles

from .conftest import reauth_flows, refresh_everything

SECRET_FIELDS = ("api_key", "client_secret", "refresh_token")
CREDENTIAL_HEADERS = ("Authorization", "X-Api-Key", "ApiKey")
"""Headers that carry credentials to the providers."""
LOGGERS = (
    "",
    "custom_components.chargebridge",
    "homeassistant",
    "aiohttp",
    "aiohttp.client",
    "aiohttp.access",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "asyncio",
)


@dataclass
class Evidence:
    """Everything that could carry a secret to a user, a log file or a bug report."""

    exceptions: list[BaseException] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    """Where -> text (diagnostics, states, reprs, titles)."""

    def exception(self, err: BaseException | None) -> None:
        """Keep an exception (and, through it, its causes)."""
        if err is not None:
            self.exceptions.append(err)


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """Yield the exception, its cause and context, recursively (each once)."""
    seen: set[int] = set()
    stack = [err]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e)


def record_texts(record: logging.LogRecord) -> Iterator[str]:
    """Everything a handler could write for a log record."""
    yield record.getMessage()
    yield str(record.msg)
    yield repr(record.args)
    if record.exc_text:
        yield record.exc_text
    if record.exc_info and record.exc_info[1] is not None:
        yield "".join(traceback.format_exception(record.exc_info[1]))
        for err in exception_chain(record.exc_info[1]):
            yield repr(err)
    if record.stack_info:
        yield record.stack_info


def capture_issued_tokens(sim: Simulator) -> set[str]:
    """Record every access token the simulator's token endpoints issue from now on."""
    issued: set[str] = set()
    for profile in token_profiles():
        state: Any = sim.providers[profile.name]
        original = state.issue_token

        def issue(
            *args: Any, _original: Callable[..., Any] = original, **kwargs: Any
        ) -> Any:
            result = _original(*args, **kwargs)
            issued.add(result[0] if isinstance(result, tuple) else result)
            return result

        state.issue_token = issue
    return issued


async def run_through_hangs(
    sim: Simulator,
    freezer: FrozenDateTimeFactory,
    timeout: float,
    work: Awaitable[Any],
) -> Any:
    """Await ``work``; when a request hangs on a TIMEOUT fault, let the client's timeout pass.

    Time is frozen, so the client's timeout only expires when the clocks move past it.
    """
    task = asyncio.ensure_future(work)
    while not task.done():
        for _ in range(50):
            await asyncio.sleep(0)
            if task.done():
                break
        else:
            if sim.faults.hanging:
                sim.clock.advance(timeout + 1)
                freezer.tick(timedelta(seconds=timeout + 1))
    return task.result()


def secrets_of(
    sim: Simulator, provider: str, configured: list[dict[str, Any]], issued: set[str]
) -> set[str]:
    """Every secret the test knows of: configured, issued, and sent in headers."""
    secrets = {
        str(data[key]) for data in configured for key in SECRET_FIELDS if key in data
    }
    state: Any = sim.providers[provider]
    secrets |= set(getattr(state, "tokens", {}))
    secrets |= issued
    for request in sim.requests.for_provider(provider):
        for header in CREDENTIAL_HEADERS:
            value = request.headers.get(header)
            if value:
                secrets.add(value.partition(" ")[2] or value)
        if request.form and "client_secret" in request.form:
            secrets.add(request.form["client_secret"])
    # Nothing that short is a real secret; skipping it avoids accidental matches.
    return {secret for secret in secrets if len(secret) >= 8}


async def test_no_secret_leaks(
    *,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Simulator,
    sim_server: SimulatorServer,
    freezer: FrozenDateTimeFactory,
    provider: str,
    mock_config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup, refreshes, errors, a refused write, reauth, diagnostics: no secret shows.

    Looked for in every log record (message, arguments, traceback), every exception
    raised (and its causes), the diagnostics, every state and attribute, the client's,
    coordinator's and runtime data's repr, the entry's title, the repair issues and the
    reauth and reconfigure forms.
    """
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    issued = capture_issued_tokens(sim)
    evidence = Evidence()
    configured = [dict(mock_config_entry.data)]

    # Setup and a few ordinary refreshes.
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = mock_config_entry.runtime_data.coordinator
    client = mock_config_entry.runtime_data.client
    timeout = client.request_timeout

    async def next_poll() -> None:
        """Refresh as the user may: the provider's minimum interval on, all read.

        A quiet fleet's scheduled refresh comes only after 30 minutes (each car at its
        own pace): a few would outlast the test client's 30-minute access token.
        """
        seconds = client.min_scan_interval.total_seconds() + 1
        sim.clock.advance(seconds)
        freezer.tick(timedelta(seconds=seconds))
        await run_through_hangs(
            sim, freezer, timeout, refresh_everything(hass, mock_config_entry)
        )

    for _ in range(3):
        await next_poll()
    assert coordinator.last_update_success

    # Errors, through the integration and straight from the client.
    for fault in (
        Fault(kind=FaultKind.STATUS, provider=provider, status=500),
        Fault(kind=FaultKind.TIMEOUT, provider=provider, method="GET"),
        Fault(kind=FaultKind.MALFORMED, provider=provider),
        Fault(kind=FaultKind.RATE_LIMIT, provider=provider, retry_after="120"),
    ):
        sim.faults.add(fault)
        await run_through_hangs(
            sim, freezer, timeout, refresh_everything(hass, mock_config_entry)
        )
        assert not coordinator.last_update_success, fault.kind
        evidence.exception(coordinator.last_exception)
        with pytest.raises(ChargeBridgeError) as raised:
            await run_through_hangs(sim, freezer, timeout, client.async_get_fleet())
        evidence.exception(raised.value)
        sim.faults.remove(fault)
        await sim.faults.cancel_hanging()
        await refresh_everything(hass, mock_config_entry)
        assert coordinator.last_update_success, fault.kind

    # A write the provider refuses.
    registry = er.async_get(hass)
    switch = next(
        entity.entity_id
        for entity in er.async_entries_for_config_entry(
            registry, mock_config_entry.entry_id
        )
        if entity.unique_id.endswith("_smart_charging")
        and hass.states.get(entity.entity_id).state != STATE_UNAVAILABLE
    )
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            provider=provider,
            method=PROFILES[provider].write_method,
            status=400,
        )
    )
    turn = "turn_off" if hass.states.get(switch).state == "on" else "turn_on"
    with pytest.raises(HomeAssistantError) as refused:
        await hass.services.async_call(
            "switch", turn, {ATTR_ENTITY_ID: switch}, blocking=True
        )
    evidence.exception(refused.value)
    sim.faults.clear()

    # The provider revokes the credentials: the next poll asks for reauth, which the user
    # completes with new ones.
    new_secrets = {
        key: f"rotated-{provider}-{key}-0123456789"
        for key in SECRET_FIELDS
        if key in mock_config_entry.data
    }
    sim.providers[provider].credentials.update(new_secrets)
    client._forget_token()
    await next_poll()
    evidence.exception(coordinator.last_exception)
    flows = reauth_flows(hass)
    assert len(flows) == 1
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], new_secrets
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    configured.append(dict(mock_config_entry.data))
    coordinator = mock_config_entry.runtime_data.coordinator
    client = mock_config_entry.runtime_data.client
    await next_poll()
    assert coordinator.last_update_success

    # Diagnostics, states, reprs, the title.
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, mock_config_entry
    )
    evidence.texts["diagnostics"] = json.dumps(diagnostics)
    for state in hass.states.async_all():
        evidence.texts[f"state {state.entity_id}"] = (
            f"{state.state} {state.attributes!r} {state.as_dict()!r}"
        )
    evidence.texts["repr(client)"] = repr(client)
    evidence.texts["str(client)"] = str(client)
    evidence.texts["repr(runtime_data)"] = repr(mock_config_entry.runtime_data)
    evidence.texts["repr(coordinator)"] = repr(coordinator)
    evidence.texts["repr(entry)"] = repr(mock_config_entry)
    evidence.texts["title"] = mock_config_entry.title
    evidence.texts["reason"] = str(mock_config_entry.reason)
    evidence.texts["repairs"] = repr(ir.async_get(hass).issues)
    # The forms the frontend is sent: secrets are never shown again (nor suggested).
    reconfigure = await mock_config_entry.start_reconfigure_flow(hass)
    assert reconfigure["type"] is FlowResultType.FORM
    evidence.texts["reconfigure form"] = repr(reconfigure)
    hass.config_entries.flow.async_abort(reconfigure["flow_id"])
    reauth = await mock_config_entry.start_reauth_flow(hass)
    assert reauth["type"] is FlowResultType.FORM
    evidence.texts["reauth form"] = repr(reauth)
    hass.config_entries.flow.async_abort(reauth["flow_id"])

    secrets = secrets_of(sim, provider, configured, issued)
    # The test saw what it must look for: the configured secrets and, with tokens, those.
    assert set(new_secrets.values()) <= secrets
    if PROFILES[provider].uses_access_token:
        assert issued
        assert issued <= secrets

    leaks: list[str] = []
    for record in caplog.records:
        for text in record_texts(record):
            leaks.extend(
                f"log {record.name} {record.levelname}: {secret[:6]}…"
                for secret in secrets
                if secret in text
            )
    for err in evidence.exceptions:
        for link in exception_chain(err):
            text = f"{link!s} {link!r} {link.args!r}"
            leaks.extend(
                f"exception {type(link).__name__}: {secret[:6]}…"
                for secret in secrets
                if secret in text
            )
    for where, text in evidence.texts.items():
        leaks.extend(f"{where}: {secret[:6]}…" for secret in secrets if secret in text)
    assert not leaks, "\n".join(sorted(set(leaks)))
    assert len(caplog.records) > 20  # debug logging was on


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        (profile.name, field)
        for profile in PROFILES.values()
        for field in profile.url_fields
    ],
)
async def test_insecure_urls_are_refused(
    hass: HomeAssistant, sim: Simulator, provider: str, field: str
) -> None:
    """A client refuses plain http to another host before sending anything.

    Both when it is built with such a URL and when asked to send to one (a redirect or
    a link the provider returned).
    """
    config = dict(sim.providers[provider].credentials)
    config["api_url"] = "https://api.example.com"
    if "token_url" in PROFILES[provider].url_fields:
        config["token_url"] = "https://auth.example.com/oauth/token"
    session = async_get_clientsession(hass)
    cls = PROVIDERS[provider]
    with pytest.raises(InvalidInputError):
        cls(session=session, **{**config, field: "http://api.example.com/v2"})

    client = cls(session=session, **config)
    for url in (
        "http://api.example.com/v2/vehicles",
        "http://192.168.1.10/v2/vehicles",
        "ftp://api.example.com/",
    ):
        with pytest.raises(InvalidInputError):
            await client._request("GET", url)
    assert client.requests_made == 0

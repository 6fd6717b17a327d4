"""Repair issues: raised where the user must act, removed when resolved or unloaded."""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from string import Formatter
from typing import Any

from aiohttp.test_utils import TestClient
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.chargebridge.api import (
    Capabilities,
    ChargeBridgeError,
    CommandNotDeliveredError,
    Fleet,
    ProviderForbiddenError,
    ProviderNotice,
    ProviderResponseError,
    ProviderTimeoutError,
    UnsupportedError,
    Vehicle,
    VehicleSnapshot,
)
from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.issues import (
    DISMISSABLE_TRANSLATIONS,
    FIX_ENTRY_ID,
    GENERIC_NOTICE,
    KNOWN_NOTICES,
    PERMISSION_DENIED,
    RATE_LIMIT_EXHAUSTED,
    fleet_issues,
    notice_issue,
    permission_issue,
    quota_issue,
)
from custom_components.chargebridge.repairs import (
    ABORT_REASONS,
    ERROR_KEYS,
    fix_error_key,
)
from tests.simulator import Fault, FaultKind, Simulator

from .conftest import Advance, next_full_poll, next_poll, reauth_flows

PACKAGE = Path(__file__).parents[2] / "custom_components" / "chargebridge"
LANGUAGES = ["en", "nl", "de"]
MESSAGES_MAX_AGE = 15 * 60 + 1
"""Jedlix messages are re-read every 15 minutes."""


async def read_messages_afresh(entry: MockConfigEntry, advance: Advance) -> None:
    """Move past the messages' 15 minutes; refresh as the user would if none came since.

    A fleet whose cars wait is read only every 30 minutes (each car at its own pace), so
    no refresh may have read the messages again yet: the refresh button does. (Waiting
    for the scheduled refresh would outlast the test client's 30-minute access token.)
    """
    stale = dt_util.utcnow() + timedelta(seconds=MESSAGES_MAX_AGE - 1)
    await advance(MESSAGES_MAX_AGE)
    coordinator = entry.runtime_data.coordinator
    if coordinator.pacer.last_refresh is None or coordinator.pacer.last_refresh < stale:
        await coordinator.async_manual_refresh()
        await coordinator.hass.async_block_till_done()


def issue_ids(hass: HomeAssistant) -> set[str]:
    """Return the ids of ChargeBridge's repair issues."""
    return {
        issue_id for domain, issue_id in ir.async_get(hass).issues if domain == DOMAIN
    }


def issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry:
    """Return one of ChargeBridge's issues."""
    entry = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert entry is not None, issue_id
    return entry


def vehicle_name(entry: MockConfigEntry, vehicle_id: str) -> str:
    """Return a vehicle's name as the integration knows it."""
    return entry.runtime_data.coordinator.data.vehicles[vehicle_id].vehicle.name


# --- the texts ---------------------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    """Return the {placeholders} of a string."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@pytest.mark.parametrize("language", ["strings", *LANGUAGES])
def test_every_issue_has_a_text_with_its_placeholders(language: str) -> None:
    """Each issue key has a title and description using only the placeholders given."""
    path = (
        PACKAGE / "strings.json"
        if language == "strings"
        else PACKAGE / "translations" / f"{language}.json"
    )
    texts = json.loads(path.read_text(encoding="utf-8"))["issues"]
    vehicles = {"car": "Lotte's Model Y"}
    given = {
        **{
            code: notice_issue(
                ProviderNotice(code=code, vehicle_id="car"),
                provider="Jedlix",
                account="Jedlix",
                entry_id="entry",
                vehicle_names=vehicles,
            )
            for code in KNOWN_NOTICES
        },
        GENERIC_NOTICE: notice_issue(
            ProviderNotice(code="brand_new", message="Please update the app"),
            provider="Jedlix",
            account="Jedlix",
            entry_id="entry",
            vehicle_names=vehicles,
        ),
        RATE_LIMIT_EXHAUSTED: quota_issue(provider="ev.energy", entry_id="entry"),
        PERMISSION_DENIED: permission_issue(
            ProviderForbiddenError("evenergy", "Missing scope vehicle:write"),
            provider="ev.energy",
            account="ev.energy",
            entry_id="entry",
        ),
    }
    assert texts.keys() == given.keys()
    for key, raised in given.items():
        assert raised.translation_key == key
        for part in ("title", "description"):
            text = texts[key][part]
            assert text.strip()
            assert placeholders(text) <= raised.placeholders.keys(), (key, part)
            assert text.format(**raised.placeholders)


@pytest.mark.parametrize("language", ["strings", *LANGUAGES])
def test_fixable_issues_have_fix_flow_texts(language: str) -> None:
    """Each issue a message can raise has the fix flow's texts; no other issue has them.

    The step and abort texts use the issue's placeholders; the errors may add ``error``.
    """
    path = (
        PACKAGE / "strings.json"
        if language == "strings"
        else PACKAGE / "translations" / f"{language}.json"
    )
    texts = json.loads(path.read_text(encoding="utf-8"))["issues"]
    assert {key for key, text in texts.items() if "fix_flow" in text} == (
        DISMISSABLE_TRANSLATIONS
    )
    for key in DISMISSABLE_TRANSLATIONS:
        given = set(
            notice_issue(
                ProviderNotice(code=key, vehicle_id="car", message="Update the app"),
                provider="Jedlix",
                account="Jedlix",
                entry_id="entry",
                vehicle_names={"car": "Ada"},
            ).placeholders
        )
        flow = texts[key]["fix_flow"]
        assert flow["step"].keys() == {"confirm"}
        assert flow["abort"].keys() == ABORT_REASONS
        assert flow["error"].keys() == ERROR_KEYS
        for text in (*flow["step"]["confirm"].values(), *flow["abort"].values()):
            assert text.strip()
            assert placeholders(text) <= given, (key, text)
        assert flow["step"]["confirm"].keys() == {"title", "description"}
        for text in flow["error"].values():
            assert placeholders(text) <= given | {"error"}, (key, text)


# --- which issues a fleet calls for (pure) -----------------------------------------------


def snapshot(
    vehicle_id: str, name: str, *, link_broken: bool = False
) -> VehicleSnapshot:
    """Return a bare vehicle snapshot."""
    return VehicleSnapshot(
        vehicle=Vehicle(
            id=vehicle_id,
            name=name,
            capabilities=Capabilities(features=frozenset()),
            link_broken=link_broken,
        )
    )


def test_fleet_issues() -> None:
    """One issue per (code, vehicle): known codes translated, others generic."""
    fleet = Fleet(
        vehicles={
            "a": snapshot("a", "Ada", link_broken=True),
            "b": snapshot("b", "Bo"),
        },
        notices=(
            ProviderNotice(code="car_link_broken", vehicle_id="a"),
            ProviderNotice(code="car_not_reachable", vehicle_id="b"),
            ProviderNotice(code="car_not_reachable", vehicle_id="gone"),
            ProviderNotice(code="reconnect_utility_contract"),
            ProviderNotice(code="shiny_new_thing", message="Update the app"),
            ProviderNotice(code="shiny_new_thing"),
        ),
    )
    issues = fleet_issues(fleet, provider="Jedlix", account="Home", entry_id="e1")
    assert {
        issue_id: (raised.translation_key, dict(raised.placeholders))
        for issue_id, raised in issues.items()
    } == {
        "car_link_broken_a": (
            "car_link_broken",
            {"provider": "Jedlix", "vehicle": "Ada"},
        ),
        "car_not_reachable_b": (
            "car_not_reachable",
            {"provider": "Jedlix", "vehicle": "Bo"},
        ),
        "car_not_reachable_gone": (
            "car_not_reachable",
            {"provider": "Jedlix", "vehicle": "gone"},
        ),
        "reconnect_utility_contract_e1": (
            "reconnect_utility_contract",
            {"provider": "Jedlix", "vehicle": "Home"},
        ),
        "shiny_new_thing_e1": (
            "provider_notice",
            {"provider": "Jedlix", "vehicle": "Home", "message": "Update the app"},
        ),
    }


def test_fixable_only_where_the_client_dismisses_a_message() -> None:
    """A message notice is fixable when the client can dismiss; states of cars never."""
    fleet = Fleet(
        vehicles={"a": snapshot("a", "Ada", link_broken=True)},
        notices=(
            ProviderNotice(
                code="car_not_reachable", vehicle_id="a", message_ids=("m1",)
            ),
            ProviderNotice(
                code="car_not_reachable", vehicle_id="a", message_ids=("m2",)
            ),
            ProviderNotice(code="car_not_found"),
            ProviderNotice(code="car_link_broken", vehicle_id="a"),
            ProviderNotice(code="car_link_broken", vehicle_id="a", message_ids=("m3",)),
            ProviderNotice(code="shiny_new_thing", message_ids=("m4",)),
        ),
    )
    issues = fleet_issues(
        fleet, provider="Jedlix", account="Home", entry_id="e1", can_dismiss=True
    )
    dismissable = {
        issue_id: raised.dismiss.message_ids
        for issue_id, raised in issues.items()
        if raised.dismiss is not None
    }
    assert dismissable == {
        "car_not_reachable_a": ("m1", "m2"),
        "shiny_new_thing_e1": ("m4",),
    }
    assert not issues["car_not_found_e1"].is_fixable
    assert not issues["car_link_broken_a"].is_fixable
    unable = fleet_issues(fleet, provider="Hiven", account="Home", entry_id="e1")
    assert not any(raised.is_fixable for raised in unable.values())


def test_broken_link_without_a_notice() -> None:
    """A vehicle marked link_broken gets its issue even when no notice came with it."""
    fleet = Fleet(vehicles={"a": snapshot("a", "Ada", link_broken=True)})
    issues = fleet_issues(fleet, provider="ev.energy", account="x", entry_id="e1")
    assert list(issues) == ["car_link_broken_a"]


def test_unknown_notice_without_a_message_shows_its_code() -> None:
    """The generic text needs something to show: the code when there is no message."""
    raised = notice_issue(
        ProviderNotice(code="odd_one", vehicle_id="a"),
        provider="Jedlix",
        account="x",
        entry_id="e1",
        vehicle_names={"a": "Ada"},
    )
    assert raised.placeholders["message"] == "odd_one"


# --- through Home Assistant --------------------------------------------------------------


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_evenergy_car_link_broken(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Integrated INACTIVE raises a per-vehicle issue; ACTIVE again removes it."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    assert not issue_ids(hass)
    sim.evenergy.set_integrated(vehicle_id, "INACTIVE")
    await next_poll(init_integration, advance)
    assert issue_ids(hass) == {f"car_link_broken_{vehicle_id}"}
    raised = issue(hass, f"car_link_broken_{vehicle_id}")
    assert raised.translation_key == "car_link_broken"
    assert raised.translation_placeholders == {
        "provider": "ev.energy",
        "vehicle": vehicle_name(init_integration, vehicle_id),
    }
    assert raised.severity is ir.IssueSeverity.WARNING
    assert not raised.is_fixable
    assert raised.data is None
    assert not raised.is_persistent

    await next_poll(init_integration, advance)
    assert issue_ids(hass) == {f"car_link_broken_{vehicle_id}"}

    sim.evenergy.set_integrated(vehicle_id, "ACTIVE")
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_evenergy_disabled_car(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A disabled car keeps its readings, loses its controls and says why; undone after."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    registry = er.async_get(hass)

    def entity(domain: str, key: str) -> str:
        found = registry.async_get_entity_id(
            domain, DOMAIN, f"evenergy_{vehicle_id}_{key}"
        )
        assert found is not None
        return found

    switch = entity("switch", "smart_charging")
    target = entity("number", "target_soc")
    soc = entity("sensor", "state_of_charge")
    sim.evenergy.set_disabled(vehicle_id, True)
    await next_poll(init_integration, advance)
    assert issue_ids(hass) == {f"car_disabled_{vehicle_id}"}
    raised = issue(hass, f"car_disabled_{vehicle_id}")
    assert raised.translation_key == "car_disabled"
    assert raised.translation_placeholders == {
        "provider": "ev.energy",
        "vehicle": vehicle_name(init_integration, vehicle_id),
    }
    assert hass.states.get(switch).state == STATE_UNAVAILABLE
    assert hass.states.get(target).state == STATE_UNAVAILABLE
    assert hass.states.get(soc).state != STATE_UNAVAILABLE
    sim.requests.clear()
    await hass.services.async_call(  # an unavailable entity ignores commands
        "switch", "turn_off", {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert not [r for r in sim.requests.for_provider("evenergy") if r.method != "GET"]

    sim.evenergy.set_disabled(vehicle_id, False)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)
    assert hass.states.get(switch).state in ("on", "off")


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_jedlix_car_link_broken(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Jedlix's isConnected false is the same issue."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    sim.jedlix.set_connected(vehicle_id, False)
    await next_poll(init_integration, advance)
    assert issue_ids(hass) == {f"car_link_broken_{vehicle_id}"}
    assert not issue(hass, f"car_link_broken_{vehicle_id}").is_fixable, "no message"
    sim.jedlix.set_connected(vehicle_id, True)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_jedlix_messages(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Each message is an issue for its vehicle (or the account) until dismissed."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    reach = sim.jedlix.add_message("carNotReachable", vehicle_id)
    login = sim.jedlix.add_message("invalidCredentials", vehicle_id)
    contract = sim.jedlix.add_message("reconnectUtilityContract")
    new = sim.jedlix.add_message("brandNewThing", title="Please update the app")
    await read_messages_afresh(init_integration, advance)
    entry_id = init_integration.entry_id
    assert issue_ids(hass) == {
        f"car_not_reachable_{vehicle_id}",
        f"invalid_credentials_{vehicle_id}",
        f"reconnect_utility_contract_{entry_id}",
        f"brand_new_thing_{entry_id}",
    }
    name = vehicle_name(init_integration, vehicle_id)
    assert issue(hass, f"car_not_reachable_{vehicle_id}").translation_placeholders == {
        "provider": "Jedlix",
        "vehicle": name,
    }
    generic = issue(hass, f"brand_new_thing_{entry_id}")
    assert generic.translation_key == "provider_notice"
    assert generic.translation_placeholders == {
        "provider": "Jedlix",
        "vehicle": init_integration.title,
        "message": "Please update the app",
    }

    for message in (reach, login, contract):
        sim.jedlix.dismiss_message(message.id)
    await read_messages_afresh(init_integration, advance)
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}
    sim.jedlix.dismiss_message(new.id)
    await read_messages_afresh(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_issues_stay_through_an_outage(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """A failed refresh proves nothing solved: the issues of the last good one stay."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    sim.evenergy.set_integrated(vehicle_id, "INACTIVE")
    await next_poll(init_integration, advance)
    fault = sim.faults.add(Fault(kind=FaultKind.STATUS, provider="evenergy"))
    await next_poll(init_integration, advance)
    assert not init_integration.runtime_data.coordinator.last_update_success
    assert issue_ids(hass) == {f"car_link_broken_{vehicle_id}"}
    sim.faults.remove(fault)
    sim.evenergy.set_integrated(vehicle_id, "ACTIVE")
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_issues_removed_on_unload(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Unloading withdraws the entry's issues; the first refresh after setup raises them."""
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    sim.evenergy.set_integrated(vehicle_id, "INACTIVE")
    await next_poll(init_integration, advance)
    assert issue_ids(hass)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not issue_ids(hass)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert issue_ids(hass) == {f"car_link_broken_{vehicle_id}"}
    assert await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_quota_used_up(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """No budget left (X-RateLimit-Remaining 0) is an issue until requests come back."""
    issue_id = f"rate_limit_exhausted_{init_integration.entry_id}"
    sim.evenergy.set_rate_limit(1)
    sim.evenergy.reset_rate_limit()
    await next_poll(init_integration, advance)
    assert init_integration.runtime_data.client.rate_limit.remaining == 0
    assert issue_ids(hass) == {issue_id}
    raised = issue(hass, issue_id)
    assert raised.translation_key == "rate_limit_exhausted"
    assert raised.translation_placeholders == {"provider": "ev.energy"}
    assert not raised.is_fixable
    # Nothing left: wait the whole window before asking again.
    interval = init_integration.runtime_data.coordinator.update_interval
    assert interval.total_seconds() == 3600

    sim.evenergy.set_rate_limit(1000)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["hiven"])
async def test_quota_refused_twice(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """One 429 is throttling; a second in a row is a used-up quota (no headers needed)."""
    issue_id = f"rate_limit_exhausted_{init_integration.entry_id}"
    fault = sim.faults.add(Fault(kind=FaultKind.RATE_LIMIT, provider="hiven"))
    await next_full_poll(init_integration, advance)
    assert fault.hits == 1
    assert not issue_ids(hass)
    await next_poll(init_integration, advance)
    assert fault.hits == 2
    assert issue_ids(hass) == {issue_id}
    sim.faults.remove(fault)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["evenergy"])
async def test_quota_refused_by_the_provider(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """ev.energy's own 429 says 0 remaining: that is an issue at once."""
    issue_id = f"rate_limit_exhausted_{init_integration.entry_id}"
    sim.evenergy.set_rate_limit(0)
    await next_poll(init_integration, advance)
    assert sim.evenergy.rate_limited == 1
    assert issue_ids(hass) == {issue_id}
    assert not init_integration.runtime_data.coordinator.last_update_success
    sim.evenergy.set_rate_limit(1000)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_jedlix_informational_messages_are_events_not_issues(
    hass: HomeAssistant,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """startSession, endSession, readyForPairing fire the car's event; no repair issue.

    A message is read with Jedlix's messages (every 15 minutes) and fires at the next
    poll; one that was already there when the entity was made does not fire.
    """
    coordinator = init_integration.runtime_data.coordinator
    vehicle_id = next(iter(coordinator.data.vehicles))
    event = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"jedlix_{vehicle_id}_provider_message"
    )
    assert event is not None
    assert hass.states.get(event).state == STATE_UNKNOWN
    assert hass.states.get(event).attributes["event_types"] == [
        "start_session",
        "end_session",
        "ready_for_pairing",
    ]
    started = sim.jedlix.add_message("startSession", vehicle_id, title="Charging")
    reachable = sim.jedlix.add_message("carNotReachable", vehicle_id)
    await read_messages_afresh(init_integration, advance)
    await next_poll(init_integration, advance)
    assert issue_ids(hass) == {f"car_not_reachable_{vehicle_id}"}
    state = hass.states.get(event)
    assert state.state != STATE_UNKNOWN
    assert state.attributes["event_type"] == "start_session"
    assert state.attributes["message_id"] == started.id
    assert state.attributes["title"] == "Charging"
    fired_at = state.state

    await next_poll(init_integration, advance)
    assert hass.states.get(event).state == fired_at, "a message fires once"

    sim.jedlix.dismiss_message(reachable.id)
    ended = sim.jedlix.add_message("endSession", vehicle_id)
    await read_messages_afresh(init_integration, advance)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)
    state = hass.states.get(event)
    assert state.attributes["event_type"] == "end_session"
    assert state.attributes["message_id"] == ended.id


# --- fixing a Jedlix message through Home Assistant's repairs flow -----------------------


async def start_fix(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, issue_id: str
) -> tuple[TestClient, dict[str, Any]]:
    """Open the issue's fix flow the way the frontend does (repairs' HTTP API)."""
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert response.status == 200, await response.text()
    return client, await response.json()


async def submit(client: TestClient, flow_id: str) -> dict[str, Any]:
    """Confirm the flow's form, as the dialog's submit button does."""
    response = await client.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


def dismissed(sim: Simulator) -> set[str]:
    """Return the ids of the simulated Jedlix messages that are dismissed."""
    return {m.id for m in sim.jedlix.messages.values() if m.dismissed_at is not None}


def fix_flow_text(issue_entry: ir.IssueEntry, *path: str) -> str:
    """Return one English fix-flow text of an issue."""
    text: Any = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
    for part in ("issues", issue_entry.translation_key, "fix_flow", *path):
        text = text[part]
    assert isinstance(text, str)
    return text


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_jedlix_message_fixed_by_the_user(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """Confirming dismisses every message behind the issue at Jedlix; the issue is gone.

    It stays gone through cached and fresh reads of the messages and a failed refresh;
    other issues stay, and informational messages are neither issues nor dismissed.
    """
    vehicle_id = next(iter(init_integration.runtime_data.coordinator.data.vehicles))
    entry_id = init_integration.entry_id
    first = sim.jedlix.add_message("carNotReachable", vehicle_id)
    again = sim.jedlix.add_message("carNotReachable", vehicle_id)
    other = sim.jedlix.add_message("brandNewThing", title="Please update the app")
    started = sim.jedlix.add_message("startSession", vehicle_id)
    await read_messages_afresh(init_integration, advance)
    fixing = f"car_not_reachable_{vehicle_id}"
    assert issue_ids(hass) == {fixing, f"brand_new_thing_{entry_id}"}
    raised = issue(hass, fixing)
    assert raised.is_fixable
    assert raised.data == {FIX_ENTRY_ID: entry_id}
    assert issue(hass, f"brand_new_thing_{entry_id}").is_fixable

    client, form = await start_fix(hass, hass_client, fixing)
    assert form["type"] == "form"
    assert form["step_id"] == "confirm"
    assert form["errors"] in ({}, None)
    assert form["description_placeholders"] == raised.translation_placeholders
    assert fix_flow_text(raised, "step", "confirm", "description").format(
        **form["description_placeholders"]
    )
    assert not sim.requests.filter(method="PATCH"), "nothing sent before confirming"

    done = await submit(client, form["flow_id"])
    assert done["type"] == "create_entry"
    patches = sim.requests.filter(method="PATCH")
    user = f"/jedlix/api/v2/users/{sim.jedlix.user_id}"
    assert sorted(r.path for r in patches) == sorted(
        f"{user}/messages/{m.id}" for m in (first, again)
    )
    assert all(r.json == {"isDismissed": True} for r in patches)
    assert dismissed(sim) == {first.id, again.id}
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}

    await next_poll(init_integration, advance)  # from the messages' cache
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="jedlix", times=1))
    await next_poll(init_integration, advance)
    assert not init_integration.runtime_data.coordinator.last_update_success
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}
    sim.requests.clear()
    await read_messages_afresh(init_integration, advance)  # read afresh
    assert sim.requests.count(path="/messages$")
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}
    assert started.id not in dismissed(sim)
    assert other.id not in dismissed(sim)


@pytest.mark.parametrize("provider", ["jedlix"])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(kind=FaultKind.STATUS, method="PATCH"), "cannot_connect"),
        (
            Fault(kind=FaultKind.STATUS, method="PATCH", status=403, detail="No."),
            "not_permitted",
        ),
        (Fault(kind=FaultKind.STATUS, method="PATCH", status=400), "rejected"),
        (Fault(kind=FaultKind.RATE_LIMIT, method="PATCH"), "rate_limited"),
        (Fault(kind=FaultKind.AUTH, method="PATCH"), "auth_failed"),
    ],
    ids=["5xx", "403", "400", "429", "401"],
)
async def test_jedlix_fix_that_fails_keeps_the_issue(
    *,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
    fault: Fault,
    error: str,
) -> None:
    """The form says why (translated); the issue and the message stay; a retry works."""
    message = sim.jedlix.add_message("receivedNoPower")
    await read_messages_afresh(init_integration, advance)
    fixing = f"received_no_power_{init_integration.entry_id}"
    client, form = await start_fix(hass, hass_client, fixing)
    sim.faults.add(fault)

    failed = await submit(client, form["flow_id"])
    assert failed["type"] == "form"
    assert failed["errors"] == {"base": error}
    raised = issue(hass, fixing)
    text = fix_flow_text(raised, "error", error)
    assert text.format(**failed["description_placeholders"])
    assert not dismissed(sim)
    assert raised.is_fixable
    reauth = reauth_flows(hass)
    assert bool(reauth) == (error == "auth_failed"), "only refused credentials"

    sim.faults.remove(fault)
    done = await submit(client, failed["flow_id"])
    assert done["type"] == "create_entry"
    assert dismissed(sim) == {message.id}
    assert fixing not in issue_ids(hass)


@pytest.mark.parametrize(
    ("err", "key"),
    [
        (ProviderTimeoutError("jedlix", "no answer"), "cannot_connect"),
        (CommandNotDeliveredError("jedlix", "asleep"), "cannot_connect"),
        (ProviderResponseError("jedlix", "not dismissed", "isDismissed"), "unknown"),
        (UnsupportedError("jedlix", "no message"), "unknown"),
    ],
)
def test_other_failures_have_a_form_error(err: ChargeBridgeError, key: str) -> None:
    """Every failure has a translated form error (timeouts are connection problems)."""
    assert fix_error_key(err) == key


@pytest.mark.parametrize("provider", ["jedlix"])
async def test_jedlix_fix_needs_a_loaded_entry(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Simulator,
    init_integration: MockConfigEntry,
    advance: Advance,
) -> None:
    """An unloaded account cannot dismiss: the flow aborts, saying why; nothing is sent."""
    message = sim.jedlix.add_message("geoLocationDisabled")
    await read_messages_afresh(init_integration, advance)
    fixing = f"geo_location_disabled_{init_integration.entry_id}"
    raised = issue(hass, fixing)
    client, form = await start_fix(hass, hass_client, fixing)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()

    aborted = await submit(client, form["flow_id"])
    assert aborted["type"] == "abort"
    assert aborted["reason"] == "entry_not_loaded"
    assert fix_flow_text(raised, "abort", "entry_not_loaded")
    assert not sim.requests.filter(method="PATCH")
    assert message.id not in dismissed(sim)

    ir.async_create_issue(  # a leftover fixable issue of an entry that is not loaded
        hass,
        DOMAIN,
        fixing,
        data={FIX_ENTRY_ID: init_integration.entry_id},
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key=raised.translation_key,
        translation_placeholders=raised.translation_placeholders,
    )
    _, aborted = await start_fix(hass, hass_client, fixing)
    assert aborted["type"] == "abort"
    assert aborted["reason"] == "entry_not_loaded"

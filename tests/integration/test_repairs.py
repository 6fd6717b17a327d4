"""Repair issues: raised where the user must act, removed when resolved or unloaded."""

from __future__ import annotations

import json
from pathlib import Path
from string import Formatter

from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.chargebridge.api import (
    Capabilities,
    Fleet,
    ProviderForbiddenError,
    ProviderNotice,
    Vehicle,
    VehicleSnapshot,
)
from custom_components.chargebridge.const import DOMAIN
from custom_components.chargebridge.issues import (
    GENERIC_NOTICE,
    KNOWN_NOTICES,
    PERMISSION_DENIED,
    RATE_LIMIT_EXHAUSTED,
    fleet_issues,
    notice_issue,
    permission_issue,
    quota_issue,
)
from tests.simulator import Fault, FaultKind, Simulator

from .conftest import Advance

PACKAGE = Path(__file__).parents[2] / "custom_components" / "chargebridge"
LANGUAGES = ["en", "nl", "de"]
MESSAGES_MAX_AGE = 15 * 60 + 1
"""Jedlix messages are re-read every 15 minutes."""


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


async def next_poll(entry: MockConfigEntry, advance: Advance) -> None:
    """Move time to the coordinator's next refresh."""
    interval = entry.runtime_data.coordinator.update_interval
    assert interval is not None
    await advance(interval.total_seconds() + 1)


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
    await advance(MESSAGES_MAX_AGE)
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
    await advance(MESSAGES_MAX_AGE)
    assert issue_ids(hass) == {f"brand_new_thing_{entry_id}"}
    sim.jedlix.dismiss_message(new.id)
    await advance(MESSAGES_MAX_AGE)
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
    await next_poll(init_integration, advance)
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
    await advance(MESSAGES_MAX_AGE)
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
    await advance(MESSAGES_MAX_AGE)
    await next_poll(init_integration, advance)
    assert not issue_ids(hass)
    state = hass.states.get(event)
    assert state.attributes["event_type"] == "end_session"
    assert state.attributes["message_id"] == ended.id

"""The real Home Assistant frontend in a real browser, against the provider simulator.

One scenario in order (each test builds on the one before): log in, add a Hiven entry
through the UI config flow (a wrong API key first), read a car's state of charge on its
device page, switch its smart charging off and see the write reach the simulator, and find
another car's planned charging in the calendar panel. A screenshot of each step goes to
``screenshots/`` (CHARGEBRIDGE_SCREENSHOTS moves it).

Run with ``scripts/browser``; the unit-test run does not collect this file (``e2e_*.py``,
its own ``pytest.ini``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
import json
import os
from pathlib import Path
import re
import time
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from playwright import sync_api
from playwright.sync_api import expect
import pytest

from tests.simulator.profiles import PROFILES

from .harness import (
    CHROMIUM_NAMES,
    DEMO_PASSWORD,
    DEMO_USER,
    REPO_ROOT,
    HomeAssistant,
    Simulator,
    configured_time_zone,
    find_chromium,
    home_assistant,
    http_json,
    simulator,
)

CHROMIUM = find_chromium()

TIMEOUT_MS = 60_000
"""Bound for every browser action and expectation: generous (on two busy cores a page can
take seconds), yet a missing element fails the step within a minute."""

SCREENSHOTS = Path(
    os.environ.get("CHARGEBRIDGE_SCREENSHOTS", REPO_ROOT / "screenshots")
)
HIVEN = PROFILES["hiven"]
TRANSLATIONS = json.loads(
    (REPO_ROOT / "custom_components/chargebridge/translations/en.json").read_text()
)
TIME_ZONE = ZoneInfo(configured_time_zone())
"""The browser's time zone: Home Assistant's, so both speak of the same days."""
DEVICE_CAR_SOC = 57
"""The state of charge the device page must show (set in the simulator; unplugged, so it
does not move)."""


@dataclass(frozen=True)
class Cars:
    """The two Hiven cars the scenario uses: the device car's id and name, the plan car's name."""

    device_id: str
    device_name: str
    plan_name: str


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """Skip each step, before anything starts, where there is no Chromium to drive."""
    if CHROMIUM is None:
        pytest.skip(
            f"no Chromium found (CHARGEBRIDGE_CHROMIUM, else {', '.join(CHROMIUM_NAMES)} "
            "on PATH): install it (Debian/Ubuntu: apt-get install chromium) or set "
            "CHARGEBRIDGE_CHROMIUM to its path"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """Run the provider simulator for the whole scenario."""
    with simulator() as running:
        yield running


@pytest.fixture(scope="module")
def cars(sim: Simulator) -> Cars:
    """Prepare two Hiven cars before the entry exists, so its first refresh sees them.

    The device car is unplugged at a known state of charge with smart charging on (to be
    switched off); the plan car is plugged in below its target with smart charging on, so
    Hiven publishes a schedule for it.
    """
    device, plan = sim.vehicles("hiven")[:2]
    sim.admin(
        "PATCH",
        f"/vehicles/hiven/{device['id']}",
        {"plugged_in": False, "smart_charging": True, "soc": DEVICE_CAR_SOC},
    )
    sim.admin(
        "PATCH",
        f"/vehicles/hiven/{plan['id']}",
        {"plugged_in": True, "smart_charging": True, "soc": 30, "target_soc": 80},
    )
    return Cars(device["id"], device["name"], plan["name"])


@pytest.fixture(scope="module")
def hass(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HomeAssistant]:
    """Run Home Assistant, seeded like scripts/develop, for the whole scenario.

    After a failure the end of its log is shown: what the browser saw is often explained
    only there.
    """
    with home_assistant(tmp_path_factory.mktemp("hass")) as running:
        yield running
    if request.session.testsfailed:
        tail = running.log_tail()
        print(f"Home Assistant {running.version}, end of its log:\n{tail}")  # noqa: T201


@pytest.fixture(scope="module")
def token(hass: HomeAssistant) -> str:
    """Return an access token of the demo owner, for checks through the REST API."""
    return hass.token()


@pytest.fixture(scope="module")
def page(hass: HomeAssistant, chromium: str) -> Iterator[Any]:
    """One browser page for the whole scenario (the login carries over)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for stale in (
        *SCREENSHOTS.glob("[0-9][0-9]*-*.png"),
        *SCREENSHOTS.glob("failed-*.png"),
    ):
        stale.unlink()  # a previous run's, which would pass for this one's
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id=TIME_ZONE.key,
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        expect.set_options(timeout=TIMEOUT_MS)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture(autouse=True)
def shot_on_failure(request: pytest.FixtureRequest, page: Any) -> Iterator[None]:
    """Save what the browser showed when a step failed (its report is logged by then)."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        shot(page, f"failed-{request.node.name}")


def shot(page: Any, name: str) -> None:
    """Save a screenshot of the current step."""
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def entity_state(hass: HomeAssistant, token: str, friendly_name: str) -> dict[str, Any]:
    """Return the state whose friendly name is given (REST API)."""
    matches = [
        s
        for s in hass.states(token)
        if s["attributes"].get("friendly_name") == friendly_name
    ]
    assert len(matches) == 1, f"{len(matches)} entities named {friendly_name!r}"
    return dict(matches[0])


def sidebar(page: Any, item: str) -> Any:
    """Return a sidebar item (links in newer frontends, list options in older ones)."""
    return page.locator("ha-sidebar").get_by_text(item, exact=True)


def open_integrations(page: Any) -> None:
    """Go to Settings → Devices & services through the sidebar."""
    sidebar(page, "Settings").click()
    page.get_by_text("Devices & services", exact=True).click()


def open_device(page: Any, name: str) -> None:
    """Open a ChargeBridge device page the way a user does, from the integration page."""
    open_integrations(page)
    page.get_by_role("link", name=re.compile("ChargeBridge")).click()
    page.get_by_role("link", name=re.compile(r"^\d+ devices?$")).first.click()
    page.get_by_text(name, exact=True).click()
    expect(page.get_by_role("heading", name="Sensors")).to_be_visible()


def card(page: Any, heading: str) -> Any:
    """Return the device page's card with this heading (Controls, Sensors ...)."""
    return page.locator("ha-card").filter(has=page.get_by_role("heading", name=heading))


def row(container: Any, name: str) -> Any:
    """Return the entity row with this name (every row type renders this element)."""
    return container.locator("hui-generic-entity-row").filter(has_text=name)


def test_login(page: Any, hass: HomeAssistant) -> None:
    """The demo owner seeded like scripts/develop logs in through the login page."""
    page.goto(hass.url)
    page.get_by_role("textbox", name="Username").fill(DEMO_USER)
    page.get_by_role("textbox", name="Password").fill(DEMO_PASSWORD)
    shot(page, "01-login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/auth/" not in url and "auth_callback" not in url)
    expect(sidebar(page, "Settings")).to_be_visible()
    shot(page, "01-logged-in")


def test_add_hiven_entry(
    page: Any, hass: HomeAssistant, sim: Simulator, cars: Cars, token: str
) -> None:
    """Settings → Devices & services → Add integration → ChargeBridge → Hiven, wrong key first."""
    open_integrations(page)
    page.get_by_role("button", name="Add integration").click()
    # A placeholder in newer frontends, a label in older ones.
    search = "Search for a brand name"
    page.get_by_placeholder(search).or_(page.get_by_label(search)).fill("ChargeBridge")
    page.get_by_text("ChargeBridge", exact=True).click()
    user_step = TRANSLATIONS["config"]["step"]["user"]
    expect(page.get_by_text(user_step["title"])).to_be_visible()
    shot(page, "02-provider-menu")
    page.get_by_text(user_step["menu_options"]["hiven"], exact=True).click()

    labels = TRANSLATIONS["config"]["step"]["hiven"]["data"]
    credentials = HIVEN.demo_credentials
    page.get_by_role("textbox", name=labels["api_url"]).fill(HIVEN.api_url(sim.url))
    page.get_by_role("textbox", name=labels["user_id"]).fill(credentials["user_id"])
    api_key = page.get_by_role("textbox", name=labels["api_key"])
    api_key.fill("not-the-demo-key")
    page.get_by_role("button", name="Submit").click()
    expect(
        page.get_by_text(TRANSLATIONS["config"]["error"]["invalid_auth"])
    ).to_be_visible()
    shot(page, "03-wrong-api-key")

    api_key.fill(credentials["api_key"])
    page.get_by_role("button", name="Submit").click()
    finish = page.get_by_role("button", name=re.compile(r"^(Skip and finish|Finish)$"))
    expect(finish).to_be_visible()
    shot(page, "04-entry-created")
    finish.click()

    entries = http_json(
        "GET",
        f"{hass.url}/api/config/config_entries/entry?domain=chargebridge",
        token=token,
    )
    assert [(e["domain"], e["state"]) for e in entries] == [("chargebridge", "loaded")]


def test_device_page_shows_state_of_charge(
    page: Any, hass: HomeAssistant, cars: Cars, token: str
) -> None:
    """The device car's page shows the state of charge the simulator reports."""
    open_device(page, cars.device_name)
    expect(page.get_by_text(cars.device_name).first).to_be_visible()
    label = TRANSLATIONS["entity"]["sensor"]["state_of_charge"]["name"]
    state = entity_state(hass, token, f"{cars.device_name} {label}")
    assert float(state["state"]) == DEVICE_CAR_SOC
    expect(row(card(page, "Sensors"), label)).to_contain_text(
        re.compile(rf"\b{DEVICE_CAR_SOC}\s?%")
    )
    shot(page, "05-device-state-of-charge")


def test_switch_smart_charging_off(page: Any, sim: Simulator, cars: Cars) -> None:
    """Switching smart charging off on the device page writes it to Hiven."""
    label = TRANSLATIONS["entity"]["switch"]["smart_charging"]["name"]
    toggle = row(card(page, "Controls"), label).locator("ha-entity-toggle")
    switch = toggle.get_by_role("switch")
    expect(switch).to_be_checked()
    before = len(sim.requests("hiven"))
    toggle.click()  # where a user clicks; the switch's own input lies under its drawing
    expect(switch).not_to_be_checked()

    path = re.compile(
        rf"/devices/{re.escape(cars.device_id)}/smart-charging/ev-preferences$"
    )
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    writes: list[dict[str, Any]] = []
    while not writes and time.monotonic() < deadline:
        writes = [
            request
            for request in sim.requests("hiven")[before:]
            if request["method"] == HIVEN.write_method and path.search(request["path"])
        ]
        time.sleep(0.5)
    assert writes, "the simulator received no preferences write for the car"
    assert writes[-1]["json"].get("chargingBehavior") == "SMART_CHARGE_OFF"
    car = next(v for v in sim.vehicles("hiven") if v["id"] == cars.device_id)
    assert car["preferences"]["smart_charging"] is False
    shot(page, "06-smart-charging-off")


def test_calendar_shows_planned_charging(
    page: Any, hass: HomeAssistant, cars: Cars, token: str
) -> None:
    """The calendar panel lists the plan car's planned charging of the coming week."""
    plan_label = TRANSLATIONS["entity"]["calendar"]["charging_plan"]["name"]
    plan_calendar = f"{cars.plan_name} {plan_label}"
    calendar = entity_state(hass, token, plan_calendar)
    # The list view shows today and the six days after it, in the browser's time zone.
    today = datetime.now(TIME_ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    events = http_json(
        "GET",
        f"{hass.url}/api/calendars/{calendar['entity_id']}?"
        + urlencode(
            {"start": today.isoformat(), "end": (today + timedelta(days=7)).isoformat()}
        ),
        token=token,
    )
    assert events, "Home Assistant has no planned charging for the plan car"

    sidebar(page, "Calendar").click()
    expect(page.get_by_text(plan_calendar, exact=True)).to_be_visible()
    # Only the plan car's calendar: deselect the others.
    for state in hass.states(token):
        name = state["attributes"].get("friendly_name", "")
        if state["entity_id"].startswith("calendar.") and name != plan_calendar:
            page.get_by_text(name, exact=True).click()
    page.get_by_role("button", name="List (7 days)").click()
    listed = page.get_by_text(events[0]["summary"], exact=True)
    expect(listed).to_have_count(len(events))
    shot(page, "07-calendar-planned-charging")
    listed.first.click()
    # The event's dialog names its calendar (older frontends with the car's name).
    detail = page.locator("dialog-calendar-event-detail")
    expect(detail).to_contain_text(events[0]["summary"])
    expect(detail).to_contain_text(plan_label)
    shot(page, "08-planned-charging-event")

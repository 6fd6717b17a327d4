"""Tests of the app: request log, routing to providers, error guard, /_admin, server, CLI."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
import os
from pathlib import Path
import re
import selectors
import signal
import subprocess
import sys

import aiohttp
import pytest

from tests.simulator import (
    DEFAULT_START,
    PROFILES,
    PROVIDER_NAMES,
    Fault,
    FaultKind,
    Simulator,
    SimulatorServer,
    create_app,
)
from tests.simulator.app import ROUTING_KEY

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- request log -------------------------------------------------------------------------


async def test_request_log_records_what_the_client_sent(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Method, full path, query, headers, JSON body and sim time are recorded."""
    sim.advance(120)
    async with client_session.post(
        f"{fake_server.url}/fake/vehicles/v1/echo?expand=a&expand=b&x=1",
        json={"target": 80},
        headers={"X-Api-Key": "secret"},
    ) as response:
        assert response.status == 200
    entry = sim.requests.last()
    assert entry.provider == "fake"
    assert entry.method == "POST"
    assert entry.path == "/fake/vehicles/v1/echo"
    assert entry.query["x"] == "1"
    assert entry.query.getall("expand") == ["a", "b"]
    assert entry.headers["x-api-key"] == "secret"
    assert entry.headers["X-API-KEY"] == "secret"
    assert entry.json == {"target": 80}
    assert entry.form is None
    assert entry.time == DEFAULT_START + timedelta(seconds=120)


async def test_request_log_records_forms_and_root_routes(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Form bodies are parsed; a root-level route (token endpoint) belongs to its provider."""
    async with client_session.post(
        f"{fake_server.url}/fake-token/",
        data={"grant_type": "client_credentials", "client_id": "abc"},
    ) as response:
        assert await response.json() == {"access_token": "token-for-abc"}
    entry = sim.requests.last()
    assert entry.provider == "fake"
    assert entry.form == {"grant_type": "client_credentials", "client_id": "abc"}
    assert entry.json is None


async def test_request_log_counts_filters_and_includes_failed_requests(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Failed (faulted) requests are logged too; count() filters; admin is not logged."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, path="/v2$", times=1))
    for path in (
        "/fake/vehicles",
        "/fake/vehicles/v1",
        "/fake/vehicles/v2",
        "/nowhere",
    ):
        async with client_session.get(f"{fake_server.url}{path}"):
            pass
    async with client_session.get(f"{fake_server.url}/_admin/state"):
        pass
    log = sim.requests
    assert len(log) == 4
    assert log.count(provider="fake") == 3
    assert log.count(provider=None) == 4
    assert log.count(method="get", path=r"^/fake/vehicles/v\d$") == 2
    assert log.count(path="/v2$") == 1
    assert [entry.path for entry in log.for_provider("fake")] == [
        "/fake/vehicles",
        "/fake/vehicles/v1",
        "/fake/vehicles/v2",
    ]
    assert log.last(path="/nowhere").provider is None
    with pytest.raises(AssertionError):
        log.last(provider="hiven")
    log.clear()
    assert log.count() == 0


async def test_requests_over_the_admin_api(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """GET /_admin/requests?provider= lists them as JSON; DELETE clears."""
    async with client_session.get(
        f"{fake_server.url}/fake/vehicles?page=2", headers={"Authorization": "Bearer t"}
    ):
        pass
    async with client_session.get(f"{fake_server.url}/hiven/v2/hiven/devices"):
        pass
    async with client_session.get(
        f"{fake_server.url}/_admin/requests", params={"provider": "fake"}
    ) as response:
        entries = await response.json()
    assert len(entries) == 1
    assert entries[0]["path"] == "/fake/vehicles"
    assert entries[0]["query"] == {"page": "2"}
    assert entries[0]["headers"]["Authorization"] == "Bearer t"
    assert entries[0]["time"] == DEFAULT_START.isoformat()
    async with client_session.get(f"{fake_server.url}/_admin/requests") as response:
        assert [e["provider"] for e in await response.json()] == ["fake", "hiven"]
    async with client_session.delete(f"{fake_server.url}/_admin/requests") as response:
        assert await response.json() == {"removed": 2}
    assert len(sim.requests) == 0


# --- routing and the error guard ---------------------------------------------------------


async def test_unknown_path_under_a_provider_answers_in_its_shape(
    fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Router misses under a provider's prefix use that provider's error body."""
    async with client_session.get(f"{fake_server.url}/fake/nothing/here") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert (await response.json())["error"]["code"] == 404
    async with client_session.delete(f"{fake_server.url}/fake/vehicles") as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == 405
        assert "GET" in response.headers["Allow"]
    async with client_session.get(f"{fake_server.url}/nowhere") as response:
        assert response.status == 404


async def test_handler_bug_is_a_logged_500_and_the_server_lives_on(
    sim: Simulator,
    fake_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exception in a handler becomes a 500 in the provider's shape, logged and recorded."""
    with caplog.at_level(logging.ERROR):
        async with client_session.get(f"{fake_server.url}/fake/boom") as response:
            assert response.status == 500
            assert (await response.json())["error"]["code"] == 500
    assert "Simulator handler failed on GET /fake/boom" in caplog.text
    assert sim.handler_errors == ["GET /fake/boom: RuntimeError('handler bug')"]
    async with client_session.get(f"{fake_server.url}/fake/vehicles") as response:
        assert response.status == 200
    sim.handler_errors.clear()


def test_provider_modules_claim_their_prefixes(sim: Simulator) -> None:
    """Requests are attributed to providers by the routes their modules registered."""
    routing = create_app(sim)[ROUTING_KEY]
    assert set(routing.error_bodies) == set(PROVIDER_NAMES)
    assert routing.provider_for("/hiven/v2/hiven/devices") == "hiven"
    assert routing.provider_for("/chargeye/vehicles") == "chargeye"
    assert routing.provider_for("/jedlix/api/v2/users/u/vehicles") == "jedlix"
    assert routing.provider_for("/jedlix-auth/oauth/token") == "jedlix"
    assert routing.provider_for("/evenergy/v2/vehicles") == "evenergy"
    assert routing.provider_for("/hivenx") is None
    assert routing.provider_for("/_admin/state") is None


async def test_latency_ms_applies_to_provider_requests(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """sim.latency_ms delays every provider request (lower bound only, never flaky)."""
    sim.latency_ms = 30
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    async with client_session.get(f"{fake_server.url}/fake/vehicles") as response:
        assert response.status == 200
    assert loop_time() - started >= 0.03


# --- /_admin -----------------------------------------------------------------------------


async def test_admin_state_shows_the_truth_per_provider(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """GET /_admin/state: every provider's vehicles with soc, status and preferences."""
    async with client_session.get(f"{sim_server.url}/_admin/state") as response:
        state = await response.json()
    assert state["time"] == DEFAULT_START.isoformat()
    assert list(state["providers"]) == list(PROVIDER_NAMES)
    for name, provider_state in state["providers"].items():
        vehicles = provider_state["vehicles"]
        assert [v["id"] for v in vehicles] == list(sim.fleet(name).vehicles)
        for vehicle in vehicles:
            assert 0 <= vehicle["soc"] <= 100
            assert vehicle["status"] in {
                "charging",
                "plugged_in",
                "complete",
                "disconnected",
            }
            assert {"smart_charging", "target_soc", "ready_time"} <= set(
                vehicle["preferences"]
            )
    async with client_session.get(
        f"{sim_server.url}/_admin/state", params={"provider": "jedlix"}
    ) as response:
        assert list((await response.json())["providers"]) == ["jedlix"]
    async with client_session.get(
        f"{sim_server.url}/_admin/state", params={"provider": "tesla"}
    ) as response:
        assert response.status == 404


async def test_admin_variants_list_set_and_strict(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """/_admin/variants shows every provider's variants; POST sets them, strict too."""
    url = f"{sim_server.url}/_admin/variants"
    async with client_session.get(url) as response:
        variants = await response.json()
    assert list(variants) == list(PROVIDER_NAMES)
    assert variants["hiven"]["strict_preferences"]["value"] is False
    assert variants["hiven"]["strict_preferences"]["description"]
    assert "vehicle:write" in variants["evenergy"]["scopes"]["value"]

    async with client_session.post(
        f"{url}/evenergy", json={"scopes": ["vehicle:read"], "decimal_headers": True}
    ) as response:
        assert response.status == 200
        assert (await response.json())["scopes"]["value"] == ["vehicle:read"]
    assert sim.evenergy.scopes == {"vehicle:read"}
    assert sim.evenergy.decimal_headers is True

    for provider, body, status in (
        ("evenergy", {"scopes": "vehicle:read"}, 400),
        ("evenergy", {"nonsense": True}, 400),
        ("tesla", {}, 404),
    ):
        async with client_session.post(f"{url}/{provider}", json=body) as response:
            assert response.status == status, (provider, body)
    assert sim.evenergy.scopes == {"vehicle:read"}

    async with client_session.post(f"{sim_server.url}/_admin/strict") as response:
        assert response.status == 200
    assert sim.hiven.strict_preferences is True
    assert Simulator(vehicles=1, strict=True).hiven.strict_preferences is True


async def test_admin_clock_advances_time_and_physics(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """POST /_admin/clock {"advance": s} moves the clock and syncs every fleet."""
    url = f"{sim_server.url}/_admin/clock"
    vehicle = next(iter(sim.hiven.fleet))
    vehicle.routine = False
    vehicle.smart_charging = False
    vehicle.plug_in()
    vehicle.soc, vehicle.target_soc = 20.0, 100
    async with client_session.post(url, json={"advance": 1800}) as response:
        assert await response.json() == {
            "time": (DEFAULT_START + timedelta(minutes=30)).isoformat()
        }
    assert vehicle.soc > 20
    assert vehicle.last_sampled == DEFAULT_START + timedelta(minutes=30)
    async with client_session.get(url) as response:
        assert (await response.json())["realtime"] is False
    for bad in ({"advance": -5}, {"advance": "10"}, {"advance": True}, {}, None):
        async with client_session.post(url, json=bad) as response:
            assert response.status == 400
    async with client_session.post(url, data=b"{oops") as response:
        assert response.status == 400
    assert sim.clock.now() == DEFAULT_START + timedelta(minutes=30)


async def test_admin_vehicles_add_update_remove(
    sim: Simulator, sim_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """scripts/develop can add, change (plug, soc, preferences) and remove vehicles."""
    base = f"{sim_server.url}/_admin/vehicles/jedlix"
    async with client_session.post(base, json={"id": "extra", "soc": 33.5}) as response:
        assert response.status == 201
        assert (await response.json())["soc"] == 33.5
    assert sim.jedlix.fleet.get("extra") is not None
    async with client_session.post(base, json={"id": "extra"}) as response:
        assert response.status == 409
    async with client_session.patch(
        f"{base}/extra",
        json={
            "plugged_in": False,
            "target_soc": 90,
            "weekday_ready_times": {"MONDAY": "06:45"},
        },
    ) as response:
        data = await response.json()
    assert data["status"] == "disconnected"
    assert data["preferences"]["target_soc"] == 90
    assert data["preferences"]["weekday_ready_times"] == {"MONDAY": "06:45"}
    for bad in ({"soc": 101}, {"ready_time": "25:00"}, {"colour": "red"}, {"id": "x"}):
        async with client_session.patch(f"{base}/extra", json=bad) as response:
            assert response.status == 400
    async with client_session.delete(f"{base}/extra") as response:
        assert await response.json() == {"removed": "extra"}
    async with client_session.delete(f"{base}/extra") as response:
        assert response.status == 404
    async with client_session.post(
        f"{sim_server.url}/_admin/vehicles/tesla"
    ) as response:
        assert response.status == 404


# --- server and command line -------------------------------------------------------------


async def test_server_urls_and_config(
    sim: Simulator, sim_server: SimulatorServer
) -> None:
    """api_url and config() follow PLAN.md so a client cannot tell it from the cloud."""
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim_server.url)
    assert sim_server.port > 0
    url = sim_server.url
    assert sim_server.api_url("hiven") == f"{url}/hiven"
    assert sim_server.api_url("chargeye") == f"{url}/chargeye"
    assert sim_server.api_url("jedlix") == f"{url}/jedlix"
    assert sim_server.api_url("evenergy") == f"{url}/evenergy/v2"
    assert sim_server.token_url("evenergy") == f"{url}/o/token/"
    assert sim_server.token_url("hiven") is None
    for provider in PROVIDER_NAMES:
        config = sim_server.config(provider)
        assert config["provider"] == provider
        assert config["api_url"] == sim_server.api_url(provider)
        assert set(PROFILES[provider].demo_credentials) <= set(config)
    assert sim_server.config("jedlix")["token_url"] == f"{url}/jedlix-auth/oauth/token"
    assert sim_server.config("jedlix")["audience"] == f"{url}/jedlix"
    assert set(sim_server.config("hiven")) == {
        "provider",
        "api_url",
        "api_key",
        "user_id",
    }
    sim.hiven.credentials["api_key"] = "rotated"
    assert sim_server.config("hiven")["api_key"] == "rotated"
    with pytest.raises(KeyError):
        sim_server.config("tesla")


def test_command_line_serves_and_stops_cleanly() -> None:
    """`python -m tests.simulator` prints its URL and credentials and stops on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.simulator", "--port", "0", "--vehicles", "50"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "the simulator printed nothing"
        first_line = process.stdout.readline()
        assert re.match(
            r"ChargeBridge simulator on http://127\.0\.0\.1:\d+ ", first_line
        )
        process.send_signal(signal.SIGTERM)
        output = first_line + process.stdout.read()
        assert process.stderr is not None
        errors = process.stderr.read()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert "demo-hiven-api-key" in output
    assert "50 vehicles per provider" in output

"""Tests of fault injection, over real HTTP against the fake provider in conftest.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import time

import aiohttp
import pytest

from tests.simulator import Fault, FaultKind, Simulator, SimulatorServer
from tests.simulator.faults import MALFORMED_BODY, UNKNOWN_ENUM_VALUE

from .conftest import FAKE_VEHICLES


async def _get(
    session: aiohttp.ClientSession, server: SimulatorServer, path: str
) -> tuple[int, str, bytes, aiohttp.ClientResponse]:
    async with session.get(f"{server.url}{path}") as response:
        return response.status, response.content_type, await response.read(), response


async def test_no_fault_answers_normally(
    fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Without faults the handler's answer passes through unchanged."""
    status, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    assert status == 200
    assert json.loads(body)["items"] == FAKE_VEHICLES


async def test_latency_delays_then_answers(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """LATENCY sleeps (real time) and then gives the normal answer."""
    fault = sim.faults.add(Fault(kind=FaultKind.LATENCY, delay=0.05))
    started = time.monotonic()
    status, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles/v1")
    assert time.monotonic() - started >= 0.05
    assert status == 200
    assert json.loads(body) == FAKE_VEHICLES[0]
    assert fault.hits == 1


async def test_timeout_never_answers_and_is_cancelled_when_the_client_leaves(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """TIMEOUT holds the request until the client gives up; nothing is left behind."""
    sim.faults.add(Fault(kind=FaultKind.TIMEOUT, path="/vehicles$"))
    with pytest.raises(TimeoutError):
        async with client_session.get(
            f"{fake_server.url}/fake/vehicles", timeout=aiohttp.ClientTimeout(total=0.2)
        ):
            pass
    for _ in range(200):
        if not sim.faults.hanging:
            break
        await asyncio.sleep(0.01)
    assert sim.faults.hanging == 0
    status, _, _, _ = await _get(client_session, fake_server, "/fake/vehicles/v1")
    assert status == 200


async def test_timeout_is_released_when_the_server_stops(
    sim: Simulator, socket_enabled: None
) -> None:
    """Stopping the server ends requests held by TIMEOUT (test teardown never hangs)."""
    sim.faults.add(Fault(kind=FaultKind.TIMEOUT))
    async with SimulatorServer(sim) as server, aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(session.get(f"{server.url}/hiven/anything"))
        for _ in range(200):
            if sim.faults.hanging:
                break
            await asyncio.sleep(0.01)
        assert sim.faults.hanging == 1
        await server.stop()
        assert sim.faults.hanging == 0
        with pytest.raises(aiohttp.ClientError):
            await request


async def test_status_uses_the_provider_error_shape(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """STATUS answers 503 by default, in the provider's own error body."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, provider="fake", times=1))
    status, content_type, body, _ = await _get(
        client_session, fake_server, "/fake/vehicles"
    )
    assert status == 503
    assert content_type == "application/problem+json"
    assert json.loads(body)["error"]["code"] == 503
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=500, retry_after="5", times=1))
    status, _, body, response = await _get(
        client_session, fake_server, "/fake/vehicles"
    )
    assert status == 500
    assert response.headers["Retry-After"] == "5"
    status, _, _, _ = await _get(client_session, fake_server, "/fake/vehicles")
    assert status == 200


async def test_html_error_page(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """HTML answers 502 with a proxy's HTML page."""
    sim.faults.add(Fault(kind=FaultKind.HTML))
    status, content_type, body, _ = await _get(
        client_session, fake_server, "/fake/vehicles"
    )
    assert status == 502
    assert content_type == "text/html"
    assert b"<html>" in body
    assert b"502 Bad Gateway" in body


async def test_truncated_body(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """TRUNCATED sends the first half of the real body."""
    _, _, full, _ = await _get(client_session, fake_server, "/fake/vehicles/v2")
    sim.faults.add(Fault(kind=FaultKind.TRUNCATED))
    status, content_type, body, _ = await _get(
        client_session, fake_server, "/fake/vehicles/v2"
    )
    assert status == 200
    assert content_type == "application/json"
    assert body == full[: len(full) // 2]
    with pytest.raises(ValueError):
        json.loads(body)


async def test_malformed_body(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """MALFORMED sends invalid JSON labelled application/json."""
    sim.faults.add(Fault(kind=FaultKind.MALFORMED, method="get"))
    status, content_type, body, _ = await _get(
        client_session, fake_server, "/fake/vehicles"
    )
    assert status == 200
    assert content_type == "application/json"
    assert body == MALFORMED_BODY


async def test_unknown_enum_replaces_values_everywhere(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """UNKNOWN_ENUM replaces the named keys' values at any depth."""
    sim.faults.add(Fault(kind=FaultKind.UNKNOWN_ENUM, fields=("state",)))
    _, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    items = json.loads(body)["items"]
    assert [item["state"] for item in items] == [UNKNOWN_ENUM_VALUE] * 2
    assert [item["details"]["state"] for item in items] == [UNKNOWN_ENUM_VALUE] * 2
    assert [item["soc"] for item in items] == [50, 10]


async def test_missing_fields_removes_keys_everywhere(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """MISSING_FIELDS removes the named keys at any depth."""
    sim.faults.add(Fault(kind=FaultKind.MISSING_FIELDS, fields=("soc", "brand")))
    _, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    for item in json.loads(body)["items"]:
        assert "soc" not in item
        assert "brand" not in item["details"]
        assert item["state"] in {"CHARGING", "DISCONNECTED"}


async def test_replace_value_puts_any_json_in_one_vehicles_field(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """REPLACE_VALUE gives the named keys a value of any type; vehicle_id narrows it.

    Set over the admin API too, as JSON; each answer gets its own copy of the value.
    """
    sim.faults.add(
        Fault(kind=FaultKind.REPLACE_VALUE, vehicle_id="v2", fields=("soc",), value={})
    )
    _, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    assert [item["soc"] for item in json.loads(body)["items"]] == [50, {}]
    sim.faults.clear()
    async with client_session.post(
        f"{fake_server.url}/_admin/faults",
        json={"kind": "replace_value", "fields": ["state", "brand"], "value": [1]},
    ) as response:
        assert response.status == 201
        fault = sim.faults.get((await response.json())["id"])
    assert fault is not None
    assert fault.to_json()["value"] == [1]
    _, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles/v1")
    item = json.loads(body)
    assert (item["state"], item["details"]["brand"], item["soc"]) == ([1], [1], 50)


async def test_faults_for_one_vehicle_only(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """vehicle_id limits a fault to that car: its URLs, or its object in a list."""
    sim.faults.add(Fault(kind=FaultKind.STATUS, vehicle_id="v1"))
    sim.faults.add(
        Fault(kind=FaultKind.MISSING_FIELDS, vehicle_id="v2", fields=("soc",))
    )
    assert (await _get(client_session, fake_server, "/fake/vehicles/v1"))[0] == 503
    status, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles/v2")
    assert status == 200
    assert "soc" not in json.loads(body)
    status, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    assert status == 200
    first, second = json.loads(body)["items"]
    assert first["soc"] == 50
    assert "soc" not in second


async def test_rate_limit_and_auth(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """RATE_LIMIT answers 429 with Retry-After; AUTH answers 401; both in provider shape."""
    sim.faults.add(Fault(kind=FaultKind.RATE_LIMIT, times=1))
    status, _, body, response = await _get(
        client_session, fake_server, "/fake/vehicles"
    )
    assert status == 429
    assert response.headers["Retry-After"] == "30"
    assert json.loads(body)["error"]["code"] == 429
    sim.faults.add(Fault(kind=FaultKind.RATE_LIMIT, retry_after="120", times=1))
    _, _, _, response = await _get(client_session, fake_server, "/fake/vehicles")
    assert response.headers["Retry-After"] == "120"
    sim.faults.add(Fault(kind=FaultKind.AUTH, times=1))
    status, _, body, _ = await _get(client_session, fake_server, "/fake/vehicles")
    assert status == 401
    assert json.loads(body)["error"]["code"] == 401


async def test_matching_by_provider_method_path_and_times(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """Only matching requests fail, and `times` uses a fault up."""
    other = sim.faults.add(Fault(kind=FaultKind.STATUS, provider="hiven"))
    post_only = sim.faults.add(Fault(kind=FaultKind.STATUS, method="POST"))
    boom_only = sim.faults.add(Fault(kind=FaultKind.STATUS, path=r"/boom$"))
    assert (await _get(client_session, fake_server, "/fake/vehicles"))[0] == 200
    async with client_session.post(
        f"{fake_server.url}/fake/vehicles/v1/echo", json={"a": 1}
    ) as response:
        assert response.status == 503
    sim.faults.remove(post_only)
    sim.faults.remove(boom_only.id)
    assert not sim.faults.remove(boom_only)
    assert list(sim.faults) == [other]

    twice = sim.faults.add(Fault(kind=FaultKind.AUTH, provider="fake", times=2))
    statuses = [
        (await _get(client_session, fake_server, "/fake/vehicles"))[0] for _ in range(3)
    ]
    assert statuses == [401, 401, 200]
    assert twice.hits == 2
    assert twice not in list(sim.faults)


async def test_scheduled_outage_follows_the_simulated_clock(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """start/end are on the simulated clock: an outage from +1 h to +2 h."""
    now = sim.clock.now()
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            start=now + timedelta(hours=1),
            end=now + timedelta(hours=2),
        )
    )
    statuses = []
    for _ in range(3):
        statuses.append((await _get(client_session, fake_server, "/fake/vehicles"))[0])
        sim.advance(3600)
    assert statuses == [200, 503, 200]


async def test_latency_and_status_stack(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """A slow failure: latency applies first, then the error."""
    latency = sim.faults.add(Fault(kind=FaultKind.LATENCY, delay=0.01))
    sim.faults.add(Fault(kind=FaultKind.STATUS, status=504))
    assert (await _get(client_session, fake_server, "/fake/vehicles"))[0] == 504
    assert latency.hits == 1


async def test_faults_never_touch_admin(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """A catch-all fault leaves /_admin usable (so tests can always clear faults)."""
    sim.faults.add(Fault(kind=FaultKind.TIMEOUT))
    async with client_session.delete(f"{fake_server.url}/_admin/faults") as response:
        assert response.status == 200
        assert await response.json() == {"removed": 1}
    assert (await _get(client_session, fake_server, "/fake/vehicles"))[0] == 200


async def test_faults_over_the_admin_api(
    sim: Simulator, fake_server: SimulatorServer, client_session: aiohttp.ClientSession
) -> None:
    """POST /_admin/faults takes a Fault as JSON; GET lists; DELETE by id removes."""
    url = f"{fake_server.url}/_admin/faults"
    async with client_session.post(
        url,
        json={"kind": "rate_limit", "provider": "fake", "retry_after": "7", "times": 1},
    ) as response:
        assert response.status == 201
        fault_id = (await response.json())["id"]
    status, _, _, response = await _get(client_session, fake_server, "/fake/vehicles")
    assert (status, response.headers["Retry-After"]) == (429, "7")
    assert (await _get(client_session, fake_server, "/fake/vehicles"))[0] == 200
    assert sim.faults.get(fault_id) is None

    start = (sim.clock.now() + timedelta(hours=1)).isoformat()
    async with client_session.post(
        url, json={"kind": "MISSING_FIELDS", "fields": ["soc"], "start": start}
    ) as response:
        fault_id = (await response.json())["id"]
    async with client_session.get(url) as response:
        listed = await response.json()
    assert [(f["id"], f["kind"], f["fields"], f["start"]) for f in listed] == [
        (fault_id, "missing_fields", ["soc"], start)
    ]
    async with client_session.delete(f"{url}/{fault_id}") as response:
        assert response.status == 200
    async with client_session.delete(f"{url}/{fault_id}") as response:
        assert response.status == 404
    assert len(sim.faults) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"kind": "explode"},
        {"kind": "status", "status": 42},
        {"kind": "status", "status": "500"},
        {"kind": "latency", "delay": -1},
        {"kind": "unknown_enum"},
        {"kind": "status", "path": "("},
        {"kind": "status", "start": "yesterday"},
        {"kind": "status", "colour": "red"},
        {"kind": "missing_fields", "fields": "soc"},
        {"kind": "replace_value", "value": 1},
        ["status"],
    ],
)
async def test_bad_faults_are_rejected_with_400(
    fake_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
    body: object,
) -> None:
    """Invalid faults are refused when added, never when a request arrives."""
    async with client_session.post(
        f"{fake_server.url}/_admin/faults", json=body
    ) as response:
        assert response.status == 400
        assert "error" in await response.json()

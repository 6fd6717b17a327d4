"""The contract every provider client keeps, checked for each against its simulator.

Each test runs once per provider in the simulator's profiles (tests/simulator/profiles.py),
over real loopback HTTP, with a client built as the integration builds it:
``PROVIDERS[name](session=..., clock=..., **config entry data)``. What a test needs to
know about a provider's API (its fleet, vehicle and token requests, secrets, URL fields,
fields a fault may change) comes from the profile. What one provider does beyond this
contract is tested in its own module (tests/api/test_<provider>.py).
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from email.utils import format_datetime
from http import HTTPStatus
import logging
import re
import socket
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
import pytest

from custom_components.chargebridge.api import (
    ChargeBridgeError,
    ChargingStatus,
    Feature,
    InvalidInputError,
    InvalidUrlError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderValueError,
    VehicleSnapshot,
    VehicleState,
)
from custom_components.chargebridge.api.base import Provider
from custom_components.chargebridge.api.registry import PROVIDERS
from tests.api.parser_cases import PARSER_CASES, ParserCase
from tests.simulator import (
    PROFILES,
    Fault,
    FaultKind,
    ProviderProfile,
    RecordedRequest,
    Simulator,
    SimulatorServer,
)

type ClientFactory = Callable[..., Provider]

TOKEN_RENEW_MARGIN = timedelta(minutes=5)
"""A token is renewed this long before it expires (every provider's documented margin)."""
CREDENTIAL_HEADERS = ("Authorization", "X-Api-Key", "ApiKey")
"""Headers that carry credentials to the providers."""
TOKEN_REASON = "issues no access token: a 401 is final (test_persistent_401)"


@pytest.fixture(params=list(PROFILES.values()), ids=list(PROFILES))
def profile(request: pytest.FixtureRequest) -> ProviderProfile:
    """Each provider's profile in turn."""
    return request.param


@pytest.fixture
def state(sim: Simulator, profile: ProviderProfile) -> Any:
    """Return the provider's simulated account (its State)."""
    return sim.providers[profile.name]


@pytest.fixture
def make_client(
    profile: ProviderProfile,
    sim: Simulator,
    sim_server: SimulatorServer,
    client_session: aiohttp.ClientSession,
) -> ClientFactory:
    """Build clients of the demo account on the simulated clock (keywords override)."""

    def factory(**overrides: Any) -> Provider:
        config: dict[str, Any] = sim_server.config(profile.name)
        name = config.pop("provider")
        config.update(overrides)
        return PROVIDERS[name](session=client_session, clock=sim.clock.now, **config)

    return factory


@pytest.fixture
def client(make_client: ClientFactory) -> Provider:
    """Return a client with the demo credentials."""
    return make_client()


def needs_token(profile: ProviderProfile) -> None:
    """Skip for a provider without access tokens."""
    if not profile.uses_access_token:
        pytest.skip(f"{profile.name} {TOKEN_REASON}")


def sent(sim: Simulator, profile: ProviderProfile) -> list[RecordedRequest]:
    """Every request the provider's API received."""
    return sim.requests.for_provider(profile.name)


def kind_of(profile: ProviderProfile, entry: RecordedRequest) -> str:
    """Name a request: token, fleet, vehicle or other."""
    if profile.token_pattern is not None and re.search(
        profile.token_pattern, entry.path
    ):
        assert entry.method == profile.token_method
        return "token"
    if re.search(profile.fleet_path, entry.path):
        return "fleet"
    if profile.vehicle_path is not None and re.search(profile.vehicle_path, entry.path):
        return "vehicle"
    return "other"


def kinds(sim: Simulator, profile: ProviderProfile) -> list[str]:
    """Return the kind of every request the provider received, in order."""
    return [kind_of(profile, entry) for entry in sent(sim, profile)]


def bearer(entry: RecordedRequest) -> str:
    """Return the access token a request carried."""
    scheme, _, token = entry.headers.get("Authorization", "").partition(" ")
    assert scheme == "Bearer"
    return token


def newest_token(state: Any) -> str:
    """Return the token the simulator issued last."""
    return max(state.tokens, key=state.tokens.__getitem__)


def vehicle_ids(state: Any) -> list[str]:
    """Return the simulated vehicles' ids, in fleet order."""
    return list(state.fleet.vehicles)


async def call(client: Provider, method: str) -> object:
    """Call async_validate or async_get_fleet by name."""
    return await getattr(client, method)()


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "ftp"])
def test_insecure_url_refused(
    profile: ProviderProfile, client_session: aiohttp.ClientSession, scheme: str
) -> None:
    """Credentials never travel in clear text to a host that is not loopback.

    Every URL a client sends credentials to is checked when the client is built; https
    works.
    """
    config: dict[str, Any] = profile.config("https://api.example.com")
    name = config.pop("provider")
    PROVIDERS[name](session=client_session, **config)
    for field in profile.url_fields:
        insecure = config | {field: f"{scheme}://api.example.com/v2"}
        with pytest.raises(InvalidInputError) as err:
            PROVIDERS[name](session=client_session, **insecure)
        assert type(err.value) is InvalidUrlError
        assert err.value.field == field


# --- connection errors -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["async_validate", "async_get_fleet"])
async def test_connection_refused(
    profile: ProviderProfile,
    client_session: aiohttp.ClientSession,
    socket_enabled: None,
    method: str,
) -> None:
    """Nothing listening is a connection error (not a timeout) that names no secret."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config: dict[str, Any] = profile.config(f"http://127.0.0.1:{port}")
    client = PROVIDERS[config.pop("provider")](session=client_session, **config)
    with pytest.raises(ProviderConnectionError) as err:
        await call(client, method)
    assert not isinstance(err.value, ProviderTimeoutError)
    for field in profile.secret_fields:
        assert config[field] not in str(err.value)
    assert client.requests_made == 1


async def test_timeout(
    profile: ProviderProfile, sim: Simulator, make_client: ClientFactory
) -> None:
    """No answer within request_timeout is a timeout."""
    sim.faults.add(
        Fault(kind=FaultKind.TIMEOUT, provider=profile.name, path=profile.fleet_path)
    )
    with pytest.raises(ProviderTimeoutError):
        await make_client(request_timeout=0.2).async_get_fleet()


@dataclass(frozen=True)
class ListFault:
    """A failure of the fleet list and the error it must become."""

    fault: Fault
    error: type[ChargeBridgeError]
    text: str
    """In the error's message."""

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.fault.kind}-{self.fault.effective_status}"


LIST_FAULTS = [
    ListFault(Fault(kind=FaultKind.STATUS, status=503), ProviderConnectionError, "503"),
    ListFault(Fault(kind=FaultKind.STATUS, status=500), ProviderConnectionError, "500"),
    ListFault(Fault(kind=FaultKind.HTML), ProviderConnectionError, "502"),
    ListFault(Fault(kind=FaultKind.HTML, status=200), ProviderResponseError, "(body)"),
    ListFault(Fault(kind=FaultKind.MALFORMED), ProviderResponseError, "(body)"),
    ListFault(Fault(kind=FaultKind.TRUNCATED), ProviderResponseError, "(body)"),
    ListFault(Fault(kind=FaultKind.STATUS, status=400), ProviderRejectedError, "400"),
    ListFault(Fault(kind=FaultKind.STATUS, status=404), ProviderRejectedError, "404"),
    ListFault(Fault(kind=FaultKind.STATUS, status=422), ProviderRejectedError, "422"),
]


@pytest.mark.parametrize("case", LIST_FAULTS, ids=lambda case: case.id)
async def test_fleet_list_errors(
    profile: ProviderProfile, sim: Simulator, client: Provider, case: ListFault
) -> None:
    """A failing fleet list fails the refresh with the mapped error; it is not retried.

    A refusal keeps the provider's status and detail; an unreadable answer names the body.
    """
    fault = Fault(
        kind=case.fault.kind,
        status=case.fault.status,
        provider=profile.name,
        path=profile.fleet_path,
    )
    sim.faults.add(fault)
    with pytest.raises(case.error) as err:
        await client.async_get_fleet()
    assert type(err.value) is case.error
    assert case.text in str(err.value)
    if isinstance(err.value, ProviderResponseError):
        assert err.value.field == "body"
    if isinstance(err.value, ProviderRejectedError):
        assert err.value.status == fault.effective_status
        assert err.value.detail == f"Injected failure: {fault_reason(fault)}"
        assert err.value.detail in str(err.value)
    assert kinds(sim, profile) == (["token"] if profile.uses_access_token else []) + [
        "fleet"
    ]


def fault_reason(fault: Fault) -> str:
    """Return the reason phrase the fault injector gives a status."""
    return HTTPStatus(fault.effective_status).phrase


# --- rate limits -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryAfter:
    """A Retry-After header and the seconds it means."""

    header: str | None
    """The header's value; "date" stands for an HTTP date, None for the default."""
    seconds: float

    def value(self, sim: Simulator) -> str | None:
        """Return the header: an HTTP date is two minutes ahead on the simulated clock."""
        if self.header != "date":
            return self.header
        return format_datetime(sim.clock.now() + timedelta(seconds=120), usegmt=True)


RETRY_AFTER = [
    pytest.param(RetryAfter("17", 17), id="seconds"),
    pytest.param(RetryAfter("date", 120), id="http_date"),
    pytest.param(RetryAfter(None, 30), id="default"),
]


@pytest.mark.parametrize("method", ["async_validate", "async_get_fleet"])
@pytest.mark.parametrize("retry", RETRY_AFTER)
async def test_retry_after(
    profile: ProviderProfile,
    sim: Simulator,
    client: Provider,
    method: str,
    retry: RetryAfter,
) -> None:
    """429: a rate-limit error; Retry-After in seconds or as an HTTP date on our clock."""
    await client.async_validate()
    sim.faults.add(
        Fault(
            kind=FaultKind.RATE_LIMIT,
            provider=profile.name,
            retry_after=retry.value(sim),
            times=1,
        )
    )
    with pytest.raises(ProviderRateLimitError) as err:
        await call(client, method)
    assert err.value.retry_after == retry.seconds


@pytest.mark.parametrize("retry", RETRY_AFTER)
async def test_rate_limit_on_one_vehicle_fails_the_refresh(
    profile: ProviderProfile,
    sim: Simulator,
    state: Any,
    client: Provider,
    retry: RetryAfter,
) -> None:
    """429 concerns the whole account, even when one vehicle's request meets it."""
    if profile.vehicle_path is None:
        pytest.skip(f"{profile.name} makes no per-vehicle request")
    sim.faults.add(
        Fault(
            kind=FaultKind.RATE_LIMIT,
            provider=profile.name,
            path=profile.vehicle_path,
            vehicle_id=vehicle_ids(state)[1],
            retry_after=retry.value(sim),
        )
    )
    with pytest.raises(ProviderRateLimitError) as err:
        await client.async_get_fleet()
    assert err.value.retry_after == retry.seconds


# --- access tokens and refused credentials -----------------------------------------------


async def test_token_cached_and_renewed_before_expiry(
    profile: ProviderProfile, sim: Simulator, state: Any, client: Provider
) -> None:
    """One token for many calls; a new one TOKEN_RENEW_MARGIN before it expires, not after.

    The renewed token goes with the very next request, which asks what it asked before.
    """
    needs_token(profile)
    await client.async_validate()
    await client.async_get_fleet()
    await client.async_get_fleet()
    assert kinds(sim, profile).count("token") == 1
    (first,) = state.tokens
    expires = state.tokens[first]

    sim.advance(
        (expires - TOKEN_RENEW_MARGIN - timedelta(seconds=1) - sim.clock.now())
        / timedelta(seconds=1)
    )
    sim.requests.clear()
    await client.async_get_fleet()
    assert "token" not in kinds(sim, profile)
    [before] = [e for e in sent(sim, profile) if kind_of(profile, e) == "fleet"]
    assert bearer(before) == first

    sim.advance(2)
    sim.requests.clear()
    await client.async_get_fleet()
    assert kinds(sim, profile)[:2] == ["token", "fleet"]
    assert kinds(sim, profile).count("token") == 1
    assert kinds(sim, profile).count("fleet") == 1
    assert len(state.tokens) == 2
    after = sent(sim, profile)[1]
    assert bearer(after) == newest_token(state) != first
    assert sorted(after.query.items()) == sorted(before.query.items())


@pytest.mark.parametrize("how", ["expire_tokens", "revoke_tokens"])
async def test_token_renewed_once_on_401(
    profile: ProviderProfile,
    sim: Simulator,
    state: Any,
    client: Provider,
    how: str,
) -> None:
    """A token the provider no longer accepts: 401, a new token, the call again; success.

    That costs exactly one token request and the repeated fleet request.
    """
    needs_token(profile)
    await client.async_get_fleet()
    sim.advance(60)
    sim.requests.clear()
    await client.async_get_fleet()
    steady = len(sent(sim, profile))

    getattr(state, how)()
    sim.advance(60)
    sim.requests.clear()
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert len(fleet.vehicles) == len(state.fleet)
    assert kinds(sim, profile)[:3] == ["fleet", "token", "fleet"]
    assert len(sent(sim, profile)) == steady + 2
    assert bearer(sent(sim, profile)[2]) == newest_token(state)
    if how == "revoke_tokens":
        assert len(state.tokens) == 1


async def test_persistent_401(
    profile: ProviderProfile, sim: Simulator, client: Provider
) -> None:
    """401 on every request: an auth error, after renewing the token once (if it has one)."""
    sim.faults.add(
        Fault(kind=FaultKind.AUTH, provider=profile.name, path=profile.fleet_path)
    )
    with pytest.raises(ProviderAuthError, match="401"):
        await client.async_get_fleet()
    if profile.uses_access_token:
        assert kinds(sim, profile) == ["token", "fleet", "token", "fleet"]
    else:
        assert kinds(sim, profile) == ["fleet"]


async def test_403_is_a_refused_permission(
    profile: ProviderProfile, sim: Simulator, client: Provider
) -> None:
    """403 on the fleet: ProviderForbiddenError with the provider's detail, not retried.

    A permission (a missing scope) is not an expired token: the token is not renewed.
    """
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            status=403,
            detail="missing scope vehicle:read",
            provider=profile.name,
            path=profile.fleet_path,
        )
    )
    with pytest.raises(ProviderForbiddenError, match="403") as err:
        await client.async_get_fleet()
    assert not isinstance(err.value, ProviderAuthError)
    assert err.value.detail == "missing scope vehicle:read"
    if profile.uses_access_token:
        assert kinds(sim, profile) == ["token", "fleet"]
    else:
        assert kinds(sim, profile) == ["fleet"]


async def test_403_from_the_token_endpoint_refuses_the_credentials(
    profile: ProviderProfile, sim: Simulator, client: Provider
) -> None:
    """At the token endpoint a 403 still means the credentials are refused (reauth)."""
    needs_token(profile)
    sim.faults.add(
        Fault(
            kind=FaultKind.STATUS,
            status=403,
            provider=profile.name,
            path=profile.token_pattern,
        )
    )
    with pytest.raises(ProviderAuthError):
        await client.async_get_fleet()
    assert kinds(sim, profile) == ["token"]


async def test_revoked_credentials(
    profile: ProviderProfile, sim: Simulator, state: Any, client: Provider
) -> None:
    """Revoked credentials are an auth error; a refused token request is not repeated."""
    await client.async_get_fleet()
    state.revoke_credentials()
    sim.requests.clear()
    with pytest.raises(ProviderAuthError) as err:
        await client.async_get_fleet()
    if profile.uses_access_token:
        assert kinds(sim, profile) == ["fleet", "token"]
        assert "refused" in str(err.value)
    else:
        assert kinds(sim, profile) == ["fleet"]
    with pytest.raises(ProviderAuthError):
        await client.async_validate()


# --- secrets -----------------------------------------------------------------------------


def credential_values(entry: RecordedRequest) -> set[str]:
    """Every credential a request carried in its headers (Bearer and Basic values)."""
    found: set[str] = set()
    for name in CREDENTIAL_HEADERS:
        value = entry.headers.get(name)
        if value:
            found.add(value.split(" ", 1)[-1].strip())
    return {value for value in found if value}


async def test_secrets_never_leak(
    profile: ProviderProfile,
    sim: Simulator,
    state: Any,
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No secret in a repr, an exception or a log record (DEBUG), whatever happens.

    The secrets: the configured ones, wrong ones tried, every token the simulator issued
    and every credential header value it received (so derived forms such as HTTP Basic).
    """
    caplog.set_level(logging.DEBUG)
    client = make_client()
    config = dict(state.credentials)
    errors: list[BaseException] = []
    tokens: set[str] = set()

    def keep_tokens() -> None:
        tokens.update(getattr(state, "tokens", ()))

    await client.async_validate()
    fleet = await client.async_get_fleet()
    writable = [
        snapshot
        for snapshot in fleet.vehicles.values()
        if snapshot.error is None
        and snapshot.vehicle.capabilities.supports(Feature.TARGET_SOC)
    ]
    assert writable
    try:
        await client.async_update_preferences(
            writable[0], PreferencesUpdate(target_soc=70)
        )
    except ChargeBridgeError as err:
        errors.append(err)
    keep_tokens()
    if profile.uses_access_token:
        state.expire_tokens()
        await client.async_get_fleet()
        keep_tokens()
    if profile.vehicle_path is not None:
        sim.faults.add(
            Fault(
                kind=FaultKind.STATUS,
                status=404,
                provider=profile.name,
                path=profile.vehicle_path,
                times=1,
            )
        )
        sim.advance(3600)  # past every cache: each vehicle's request is made again
        errors.extend((await client.async_get_fleet()).problems)
        sim.faults.clear()
    for fault in (
        Fault(kind=FaultKind.STATUS, status=503, times=1),
        Fault(kind=FaultKind.STATUS, status=400, times=1),
        Fault(kind=FaultKind.MALFORMED, times=1),
        Fault(kind=FaultKind.RATE_LIMIT, times=1),
        Fault(kind=FaultKind.AUTH, path=profile.fleet_path),
    ):
        sim.faults.add(replace(fault, provider=profile.name))
        with pytest.raises(ChargeBridgeError) as raised:
            await client.async_get_fleet()
        errors.append(raised.value)
        sim.faults.clear()
        keep_tokens()
    wrong = {field: f"wrong-{field}-0123456789" for field in profile.secret_fields}
    for field, value in wrong.items():
        with pytest.raises(ProviderAuthError) as refused:
            await make_client(**{field: value}).async_validate()
        errors.append(refused.value)
        keep_tokens()
    state.revoke_credentials()
    with pytest.raises(ProviderAuthError) as revoked:
        await client.async_get_fleet()
    errors.append(revoked.value)

    headers = set().union(*map(credential_values, sent(sim, profile)))
    secrets = (
        {config[field] for field in profile.secret_fields}
        | set(wrong.values())
        | tokens
        | headers
    )
    assert {
        profile.demo_credentials[field] for field in profile.secret_fields
    } <= secrets
    assert headers
    if profile.uses_access_token:
        assert len(tokens) >= 2
    assert len(errors) >= 6
    assert caplog.records
    shown = [repr(client), str(client), caplog.text]
    shown += [text for error in errors for text in (str(error), repr(error))]
    shown += [
        text
        for record in caplog.records
        for text in (record.getMessage(), str(record.args))
    ]
    for secret in secrets:
        for text in shown:
            assert secret not in text


# --- payloads: unknown values, missing fields, one vehicle failing -----------------------


async def test_unknown_enums(
    profile: ProviderProfile, sim: Simulator, client: Provider
) -> None:
    """Enum values never seen before are no error: a status reads unknown, nothing else."""
    if not profile.enum_fields:
        pytest.skip(
            f"{profile.name} nests its status enum in an object of the same name; "
            "its module serves unknown values through the simulator instead"
        )
    before = await client.async_get_fleet()
    sim.faults.add(
        Fault(
            kind=FaultKind.UNKNOWN_ENUM,
            provider=profile.name,
            fields=profile.enum_fields,
        )
    )
    after = await client.async_get_fleet()
    assert after.problems == ()
    assert set(after.vehicles) == set(before.vehicles)
    for vehicle_id, snapshot in after.vehicles.items():
        assert snapshot.error is None
        if profile.status_field in profile.enum_fields:
            assert snapshot.state.charging_status is ChargingStatus.UNKNOWN
        else:
            assert snapshot.state == before.vehicles[vehicle_id].state


async def test_missing_optional_fields(
    profile: ProviderProfile, sim: Simulator, client: Provider
) -> None:
    """Optional fields left out are no error: None, and the id stands in for a name."""
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider=profile.name,
            fields=profile.optional_fields,
        )
    )
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert fleet.vehicles
    for vehicle_id, snapshot in fleet.vehicles.items():
        assert snapshot.error is None
        assert snapshot.vehicle.name == vehicle_id
        assert snapshot.state.updated_at is None


@dataclass(frozen=True)
class VehicleFault:
    """A failure of one vehicle's own request and the error that vehicle carries."""

    kind: FaultKind
    status: int | None
    error: type[ChargeBridgeError]

    @property
    def id(self) -> str:
        """Return the test id."""
        return f"{self.kind}-{self.status}" if self.status else str(self.kind)


VEHICLE_FAULTS = [
    VehicleFault(FaultKind.STATUS, 503, ProviderConnectionError),
    VehicleFault(FaultKind.STATUS, 404, ProviderRejectedError),
    VehicleFault(FaultKind.STATUS, 409, ProviderRejectedError),
    VehicleFault(FaultKind.MALFORMED, None, ProviderResponseError),
    VehicleFault(FaultKind.TRUNCATED, None, ProviderResponseError),
    VehicleFault(FaultKind.HTML, None, ProviderConnectionError),
]


@pytest.mark.parametrize("case", VEHICLE_FAULTS, ids=lambda case: case.id)
async def test_one_vehicle_failing_leaves_the_others(
    profile: ProviderProfile,
    sim: Simulator,
    state: Any,
    make_client: ClientFactory,
    case: VehicleFault,
) -> None:
    """A vehicle whose own request fails carries the error; the rest of the fleet is fine.

    It stays in the fleet with what the list said about it; the refresh succeeds.
    """
    if profile.vehicle_path is None:
        pytest.skip(
            f"{profile.name} makes no per-vehicle request (the list says it all)"
        )
    healthy = await make_client().async_get_fleet()
    broken = vehicle_ids(state)[1]
    fault = Fault(
        kind=case.kind,
        status=case.status,
        provider=profile.name,
        path=profile.vehicle_path,
        vehicle_id=broken,
    )
    sim.faults.add(fault)

    fleet = await make_client().async_get_fleet()

    assert fault.hits == 1
    assert set(fleet.vehicles) == set(vehicle_ids(state))
    error = fleet.vehicles[broken].error
    assert isinstance(error, case.error)
    assert fleet.problems == (error,)
    assert fleet.vehicles[broken].vehicle.id == broken
    assert fleet.vehicles[broken].vehicle.name == healthy.vehicles[broken].vehicle.name
    if isinstance(error, ProviderRejectedError):
        assert error.status == case.status
        assert error.detail == f"Injected failure: {fault_reason(fault)}"
    for vehicle_id, snapshot in fleet.vehicles.items():
        if vehicle_id != broken:
            assert snapshot.error is None
            assert snapshot.state.state_of_charge is not None


STRUCTURE_BREAKER = 42
"""A number where an object belongs: the parse cannot go on inside it."""


async def test_one_garbled_list_item_leaves_the_others(
    profile: ProviderProfile, sim: Simulator, state: Any, client: Provider
) -> None:
    """A structure of one list item that cannot be read: that vehicle carries the error.

    The error names the field; the vehicle is still listed; the others are fine.
    """
    if profile.strict_item_field is None:
        pytest.skip(f"{profile.name}'s items hold nothing but the object with the id")
    broken = vehicle_ids(state)[0]
    sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            provider=profile.name,
            path=profile.fleet_path,
            vehicle_id=broken,
            fields=(profile.strict_item_field,),
            value=STRUCTURE_BREAKER,
        )
    )
    fleet = await client.async_get_fleet()
    assert set(fleet.vehicles) == set(vehicle_ids(state))
    (problem,) = fleet.problems
    assert type(problem) is ProviderResponseError
    assert problem.field is not None
    assert re.search(
        rf"\]\.(\w+\.)?{re.escape(profile.strict_item_field)}$", problem.field
    ), "an item of the list, by its index"
    assert fleet.vehicles[broken].error is problem
    assert fleet.vehicles[broken].vehicle.id == broken
    for vehicle_id, snapshot in fleet.vehicles.items():
        if vehicle_id != broken:
            assert snapshot.error is None
            assert snapshot.state.state_of_charge is not None


VALUE_OF: dict[str, Callable[[VehicleSnapshot], object]] = {
    "state_of_charge": lambda snapshot: snapshot.state.state_of_charge,
    "battery_capacity": lambda snapshot: snapshot.state.battery_capacity_wh,
}
"""Where a snapshot holds the value of each profile's ``value_entity``."""
WRONG_VALUES = [
    pytest.param("abc", id="text"),
    pytest.param({}, id="object"),
    pytest.param([1.5], id="list"),
    pytest.param(True, id="bool"),
]
"""Values of the wrong type for a number field (the profiles' ``value_field``)."""


@pytest.mark.parametrize("wrong", WRONG_VALUES)
async def test_one_unreadable_value_costs_only_that_value(
    profile: ProviderProfile,
    sim: Simulator,
    state: Any,
    client: Provider,
    wrong: object,
) -> None:
    """A value of the wrong type costs that value: None, never the vehicle.

    One ProviderValueError names the provider, the field and the vehicle, never the
    value; the vehicle keeps its other values and its capabilities (the entity stays,
    unknown); the rest of the fleet is untouched. Gone with the fault.
    """
    value_of = VALUE_OF[profile.value_entity]
    before = await client.async_get_fleet()
    broken = vehicle_ids(state)[0]
    assert value_of(before.vehicles[broken]) is not None
    fault = sim.faults.add(
        Fault(
            kind=FaultKind.REPLACE_VALUE,
            provider=profile.name,
            vehicle_id=broken,
            fields=(profile.value_field,),
            value=wrong,
        )
    )

    for _ in range(2):
        fleet = await client.async_get_fleet()
        (problem,) = fleet.problems
        assert type(problem) is ProviderValueError
        assert problem.provider == profile.name
        assert problem.vehicle_id == broken
        assert problem.field.endswith(f".{profile.value_field}")
        assert "[]" in problem.field_pattern
        assert "abc" not in str(problem)
        snapshot = fleet.vehicles[broken]
        assert snapshot.error is None
        assert value_of(snapshot) is None
        assert snapshot.vehicle == before.vehicles[broken].vehicle
        for field in fields(VehicleState):
            if getattr(snapshot.state, field.name) != getattr(
                before.vehicles[broken].state, field.name
            ):
                assert getattr(snapshot.state, field.name) is None, field.name
        assert snapshot.preferences == before.vehicles[broken].preferences
        for vehicle_id, other in fleet.vehicles.items():
            if vehicle_id != broken:
                assert other == before.vehicles[vehicle_id]
    assert fault.hits >= 2

    sim.faults.remove(fault)
    fleet = await client.async_get_fleet()
    assert fleet.problems == ()
    assert value_of(fleet.vehicles[broken]) == value_of(before.vehicles[broken])


async def test_list_item_without_id_is_left_out(
    profile: ProviderProfile, sim: Simulator, state: Any, client: Provider
) -> None:
    """A list item whose id cannot be read is left out and reported; the others carry on."""
    broken, *others = vehicle_ids(state)
    sim.faults.add(
        Fault(
            kind=FaultKind.MISSING_FIELDS,
            provider=profile.name,
            path=profile.fleet_path,
            vehicle_id=broken,
            fields=("id",),
        )
    )
    fleet = await client.async_get_fleet()
    assert set(fleet.vehicles) == set(others)
    (problem,) = fleet.problems
    assert isinstance(problem, ProviderResponseError)
    assert problem.field is not None
    assert re.search(r"\]\.(\w+\.)?id$", problem.field), "an item of the list"
    for snapshot in fleet.vehicles.values():
        assert snapshot.error is None


# --- parsers against arbitrary JSON ------------------------------------------------------


@pytest.mark.parametrize("case", PARSER_CASES, ids=lambda case: case.id)
def test_parsers_raise_only_response_errors(case: ParserCase) -> None:
    """Whatever JSON arrives, a parser gives its model or a ProviderResponseError."""

    @settings(
        max_examples=case.examples,
        deadline=case.deadline,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(data=case.data)
    def run(data: Any) -> None:
        if not case.may_refuse:
            case.check(data)
            return
        with contextlib.suppress(ProviderResponseError):
            case.check(data)

    run()

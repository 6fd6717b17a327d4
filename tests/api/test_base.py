"""Tests of the shared HTTP helper and tolerant parsing, against a tiny loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import ClientSession, web
from hypothesis import given, strategies as st
import pytest

from custom_components.chargebridge.api import (
    Account,
    Capabilities,
    ChargeBridgeError,
    ChargingPreferences,
    Feature,
    InvalidInputError,
    InvalidUrlError,
    PreferencesUpdate,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderForbiddenError,
    ProviderNotice,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderValueError,
    UnsupportedError,
    Vehicle,
    VehicleSnapshot,
    VehicleState,
)
from custom_components.chargebridge.api.base import (
    Provider,
    is_secure_url,
    origin,
    parse_retry_after,
    problem_detail,
)
from custom_components.chargebridge.api.payload import Payload, payload_list
from custom_components.chargebridge.api.registry import PROVIDERS

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
Handler = Callable[[web.Request], web.StreamResponse]


@dataclass(kw_only=True)
class _TokenClient(Provider):
    """A minimal provider: a bearer token from /token, then API calls."""

    name: ClassVar[str] = "evenergy"
    uses_access_token: ClassVar[bool] = True
    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret"})
    secret: str = field(repr=False)
    tokens_issued: int = 0

    async def _async_fetch_token(self) -> tuple[str, datetime]:
        response = await self._request(
            "POST", f"{self.api_url}/token", authenticated=False
        )
        self.tokens_issued += 1
        return response.data["token"], self.clock() + timedelta(hours=1)

    async def _async_auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._async_access_token()}"}

    async def async_validate(self) -> Account:
        return Account(unique_id="u", title="t")

    async def _async_list_vehicles(self) -> list[tuple[str, Any]]:
        return []

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot | None:
        return None

    async def _async_update_preferences(
        self, snapshot: VehicleSnapshot, update: PreferencesUpdate
    ) -> ChargingPreferences:
        return ChargingPreferences()


@dataclass
class _Server:
    """Routes a test can swap, and what the server saw."""

    api: Handler
    seen: list[web.Request] = field(default_factory=list)
    token_value: str = "tok-1"


@pytest.fixture
async def server() -> AsyncIterator[tuple[_Server, str]]:
    """Serve /token and /api on loopback."""
    state = _Server(api=lambda request: web.json_response({"ok": True}))

    async def token(request: web.Request) -> web.StreamResponse:
        return web.json_response({"token": state.token_value})

    async def api(request: web.Request) -> web.StreamResponse:
        state.seen.append(request)
        result = state.api(request)
        if hasattr(result, "__await__"):
            return await result  # type: ignore[no-any-return]
        return result

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_route("*", "/api", api)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[ClientSession]:
    """Give an aiohttp session, closed after the test."""
    async with ClientSession() as client_session:
        yield client_session


def _client(session: ClientSession, url: str, **kwargs: Any) -> _TokenClient:
    return _TokenClient(
        session=session, api_url=url, secret="s3cret", clock=lambda: NOW, **kwargs
    )


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://api.example.com/v2", True),
        ("http://127.0.0.1:8800/hiven", True),
        ("http://localhost/x", True),
        ("http://[::1]:8800/x", True),
        ("http://127.5.5.5/x", True),
        ("http://api.example.com", False),
        ("http://192.168.1.10", False),
        ("ftp://example.com", False),
        ("not a url", False),
        ("https://", False),
        ("http://[::1", False),
    ],
)
def test_is_secure_url(url: str, secure: bool) -> None:
    """Credentials go to https, or over http to loopback only."""
    assert is_secure_url(url) is secure


def test_origin_keeps_scheme_host_and_port() -> None:
    """Paging links are compared by origin."""
    assert origin("https://api.ev.energy:8443/v2/vehicles?x=1") == (
        "https://api.ev.energy:8443"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        (" 5 ", 5.0),
        ("42.5", 42.5),
        ("1000.0", 1000.0),
        (".5", 0.5),
        ("-5", None),
        ("1e3", None),
        ("nan", None),
        ("inf", None),
        ("4.2.5", None),
        (".", None),
        ("٣", None),
        ("Mon, 02 Nov 2026 06:01:00 GMT", 60.0),
        ("Mon, 02 Nov 2026 05:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as seconds (a number, decimals too) or as an HTTP date."""
    assert parse_retry_after(value, NOW) == expected


def test_problem_detail_prefers_detail() -> None:
    """The provider's own explanation is kept, cut to a sane length."""
    assert problem_detail({"title": "Bad", "detail": "targetSoC too high"}) == (
        "targetSoC too high"
    )
    assert problem_detail({"message": "x" * 500}) == "x" * 200
    assert problem_detail(["no"]) is None
    assert problem_detail({"detail": 5}) is None


def test_payload_reads_tolerantly_and_names_fields() -> None:
    """Missing optional fields give None; wrong types name the dotted path."""
    payload = Payload(
        "hiven",
        {
            "id": "a",
            "n": 5,
            "f": "2.5",
            "b": True,
            "t": "2026-11-02T06:00:00Z",
            "naive": "2026-11-02T06:00:00",
            "ms": 1793512800000,
            "early": "0001-01-01T00:00:00+01:00",
            "inf": "1e999",
            "o": {"x": "y"},
            "l": [{"k": 1}],
            "e": "charging",
        },
        "devices[0]",
    )
    assert payload.req_str("id") == "a"
    assert payload.opt_str("missing") is None
    assert payload.opt_int("n") == 5
    assert payload.opt_float("f") == 2.5
    assert payload.opt_bool("b") is True
    assert payload.opt_datetime("t") == NOW
    assert payload.opt_datetime("naive") == NOW
    assert payload.opt_epoch_ms("ms") == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    nested = payload.opt_obj("o")
    assert nested is not None
    assert nested.path == "devices[0].o"
    assert [item.path for item in payload.objects("l")] == ["devices[0].l[0]"]
    assert payload.opt_list("missing") == []
    assert payload.has("id")
    assert not payload.has("missing")
    mapping = {"CHARGING": 1, "DONE": 2}
    assert payload.opt_enum("e", mapping, 0) == 1
    assert payload.opt_enum("e", mapping, 0, fold_case=False) == 0
    assert payload.opt_enum("missing", mapping, 0) is None
    for getter, key in [
        (payload.opt_str, "n"),
        (payload.opt_float, "b"),
        (payload.opt_float, "id"),
        (payload.opt_float, "o"),
        (payload.opt_int, "f"),
        (payload.opt_bool, "n"),
        (payload.opt_datetime, "id"),
        (payload.opt_datetime, "early"),
        (payload.opt_float, "inf"),
        (payload.opt_int, "inf"),
        (payload.opt_obj, "l"),
        (payload.opt_list, "o"),
    ]:
        with pytest.raises(ProviderResponseError) as err:
            getter(key)
        assert err.value.field == f"devices[0].{key}"
        assert "hiven" in str(err.value)
    with pytest.raises(ProviderResponseError, match=r"missing required field"):
        payload.req_str("missing")


def test_lenient_payload_costs_one_value() -> None:
    """With a faults list a value that cannot be read is None and one ProviderValueError.

    Nested payloads share the list; a field read twice is one fault. Ids and structure
    (an object or list the parse needs) still raise, as plain ProviderResponseError.
    """
    faults: list[ChargeBridgeError] = []
    payload = Payload(
        "hiven",
        {
            "id": 5,
            "n": 5,
            "f": "2.5",
            "text": "secret-ish",
            "inf": "1e999",
            "early": "0001-01-01T00:00:00+01:00",
            "o": {"soc": "abc"},
            "l": [{"power": {}}],
            "e": 3,
        },
        "devices[0]",
        faults,
    )
    for getter, key in [
        (payload.opt_str, "n"),
        (payload.opt_float, "text"),
        (payload.opt_float, "text"),
        (payload.opt_int, "f"),
        (payload.opt_bool, "n"),
        (payload.opt_datetime, "text"),
        (payload.opt_datetime, "early"),
        (payload.opt_epoch_ms, "inf"),
        (payload.opt_int, "inf"),
    ]:
        assert getter(key) is None
    assert payload.opt_enum("e", {"CHARGING": 1}, 0) is None
    nested = payload.opt_obj("o")
    assert nested is not None
    assert nested.opt_float("soc") is None
    [item] = payload.objects("l")
    assert item.opt_float("power") is None
    assert all(type(fault) is ProviderValueError for fault in faults)
    reported = [
        fault.field for fault in faults if isinstance(fault, ProviderValueError)
    ]
    assert reported == [
        "devices[0].n",
        "devices[0].text",
        "devices[0].f",
        "devices[0].early",
        "devices[0].inf",
        "devices[0].e",
        "devices[0].o.soc",
        "devices[0].l[0].power",
    ]
    assert all("secret-ish" not in str(fault) for fault in faults)
    assert all(fault.provider == "hiven" for fault in faults)
    for getter, key in [
        (payload.req_str, "id"),
        (payload.req_str, "missing"),
        (payload.opt_obj, "l"),
        (payload.opt_list, "o"),
        (payload.objects, "o"),
    ]:
        with pytest.raises(ProviderResponseError) as err:
            getter(key)  # type: ignore[operator]
        assert type(err.value) is ProviderResponseError
    assert len(faults) == len(reported)
    payload.value_fault("x", "not an HH:mm time")
    assert str(faults[-1]) == "hiven: not an HH:mm time (devices[0].x)"
    with pytest.raises(ProviderResponseError, match=r"HH:mm time \(status\.x\)$"):
        Payload("hiven", {}, "status").value_fault("x", "not an HH:mm time")


def test_value_fault_pattern_and_vehicle() -> None:
    """A value fault names its field the same for every vehicle, and its vehicle."""
    fault = ProviderValueError(
        "evenergy", "wrong type for field", "vehicles[page 2][7].x"
    )
    assert fault.field_pattern == "vehicles[][].x"
    assert fault.vehicle_id is None
    mine = fault.of_vehicle("v1")
    assert (mine.vehicle_id, mine.field, str(mine)) == ("v1", fault.field, str(fault))
    assert ProviderValueError("hiven", "r", "status[car-1].soc").field_pattern == (
        "status[].soc"
    )


def test_payload_rejects_non_objects() -> None:
    """A list where an object belongs is a payload error naming the place."""
    with pytest.raises(ProviderResponseError) as err:
        Payload("jedlix", [1], "items[3]")
    assert err.value.field == "items[3]"
    with pytest.raises(ProviderResponseError):
        payload_list("jedlix", {"items": []}, "body")
    assert [p.path for p in payload_list("jedlix", [{}, {}], "body")] == [
        "body[0]",
        "body[1]",
    ]


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(data=_JSON, key=st.sampled_from(["a", "", "id"]))
def test_lenient_value_getters_never_raise(data: Any, key: str) -> None:
    """Leniently a value getter gives what the strict one gives, or None and one fault."""
    for name in (
        "opt_str",
        "opt_float",
        "opt_int",
        "opt_bool",
        "opt_datetime",
        "opt_epoch_ms",
    ):
        faults: list[ChargeBridgeError] = []
        lenient = getattr(Payload("hiven", {key: data}, "x", faults), name)(key)
        refused: ProviderResponseError | None = None
        strict = None
        try:
            strict = getattr(Payload("hiven", {key: data}, "x"), name)(key)
        except ProviderResponseError as err:
            refused = err
        if refused is None:
            assert not faults
            assert lenient == strict
            continue
        assert lenient is None
        [fault] = faults
        assert isinstance(fault, ProviderValueError)
        assert (fault.field, fault.message) == (refused.field, refused.message)


@given(data=_JSON, key=st.sampled_from(["a", "", "id"]))
def test_payload_getters_raise_only_payload_errors(data: Any, key: str) -> None:
    """Arbitrary JSON never escapes as KeyError, TypeError or ValueError."""
    try:
        payload = Payload("hiven", {key: data}, "x")
        for getter in (
            payload.opt_str,
            payload.opt_float,
            payload.opt_int,
            payload.opt_bool,
            payload.opt_datetime,
            payload.opt_epoch_ms,
            payload.opt_obj,
            payload.opt_list,
            payload.objects,
        ):
            with contextlib.suppress(ProviderResponseError):
                getter(key)
    except ProviderResponseError:
        pass


def test_client_refuses_clear_text_credentials(session: ClientSession) -> None:
    """An http URL to another host is refused before anything is sent."""
    with pytest.raises(InvalidInputError) as err:
        _client(session, "http://api.example.com")
    assert type(err.value) is InvalidUrlError
    assert err.value.field == "api_url"


async def test_secret_not_in_repr(session: ClientSession) -> None:
    """Secrets and tokens never show in repr."""
    client = _client(session, "https://api.example.com/")
    assert client.api_url == "https://api.example.com"
    assert "s3cret" not in repr(client)


async def test_token_cached_and_renewed_once_on_401(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """One token serves many calls; a 401 renews it once, then succeeds."""
    state, url = server
    client = _client(session, url)
    await client._request("GET", f"{url}/api")
    await client._request("GET", f"{url}/api")
    assert client.tokens_issued == 1
    assert state.seen[-1].headers["Authorization"] == "Bearer tok-1"

    def reject_old(request: web.Request) -> web.StreamResponse:
        if request.headers["Authorization"] != "Bearer tok-2":
            return web.json_response({"detail": "expired"}, status=401)
        return web.json_response({"ok": True})

    state.api = reject_old
    state.token_value = "tok-2"
    response = await client._request("GET", f"{url}/api")
    assert response.data == {"ok": True}
    assert client.tokens_issued == 2
    assert client.requests_made == 3 + 3  # 2 tokens + 4 API calls


async def test_persistent_401_is_an_auth_error(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """When a fresh token is refused too, the credentials are bad."""
    state, url = server
    state.api = lambda request: web.json_response({"detail": "revoked"}, status=401)
    client = _client(session, url)
    with pytest.raises(ProviderAuthError, match="revoked"):
        await client._request("GET", f"{url}/api")
    assert len(state.seen) == 2
    assert client._access_token is None


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (
            lambda: web.json_response({}, status=429, headers={"Retry-After": "12"}),
            ProviderRateLimitError,
            "too many",
        ),
        (lambda: web.Response(status=503), ProviderConnectionError, "server error 503"),
        (
            lambda: web.Response(
                status=502, text="<html>Bad gateway</html>", content_type="text/html"
            ),
            ProviderConnectionError,
            "502",
        ),
        (
            lambda: web.json_response({"detail": "no session"}, status=409),
            ProviderRejectedError,
            "no session",
        ),
        (
            lambda: web.Response(
                status=200, text='{"oops": ', content_type="application/json"
            ),
            ProviderResponseError,
            "not valid JSON",
        ),
        (
            lambda: web.Response(status=302, headers={"Location": "https://evil"}),
            ProviderRejectedError,
            "302",
        ),
    ],
)
async def test_status_mapping(
    server: tuple[_Server, str],
    session: ClientSession,
    response: Callable[[], web.Response],
    error: type[Exception],
    text: str,
) -> None:
    """Each kind of failure maps into the shared tree with a useful message."""
    state, url = server
    state.api = lambda request: response()
    with pytest.raises(error, match=text) as err:
        await _client(session, url)._request("GET", f"{url}/api")
    if isinstance(err.value, ProviderRateLimitError):
        assert err.value.retry_after == 12.0


@pytest.mark.parametrize(
    ("limit", "remaining", "expected"),
    [
        ("1000.0", "12.0", (1000, 12)),
        ("1000", "12.5", (1000, 12)),
        ("-1", "nan", (None, None)),
        ("inf", "lots", (None, None)),
        ("", "3", (None, 3)),
    ],
)
async def test_decimal_rate_limit_headers(
    server: tuple[_Server, str],
    session: ClientSession,
    limit: str,
    remaining: str,
    expected: tuple[int | None, int | None],
) -> None:
    """X-RateLimit-* are typed number: decimals read as whole counts, garbage ignored."""
    state, url = server
    state.api = lambda request: web.Response(
        status=204,
        headers={"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining},
    )
    client = _client(session, url)
    await client._request("GET", f"{url}/api")
    assert client.rate_limit is not None
    assert (client.rate_limit.limit, client.rate_limit.remaining) == expected


async def test_403_is_forbidden_not_auth_and_not_retried(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """403 refuses a permission: ProviderForbiddenError, sent once, the token kept."""
    state, url = server
    state.api = lambda request: web.json_response(
        {"detail": "missing scope vehicle:write"}, status=403
    )
    client = _client(session, url)
    with pytest.raises(ProviderForbiddenError, match="missing scope") as raised:
        await client._request("GET", f"{url}/api")
    assert not isinstance(raised.value, ProviderAuthError)
    assert raised.value.detail == "missing scope vehicle:write"
    assert len(state.seen) == 1
    assert client._access_token is not None


async def test_rate_limit_headers_are_recorded(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """X-RateLimit headers update the client's budget view; empty bodies are None."""
    state, url = server
    state.api = lambda request: web.Response(
        status=204, headers={"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "7"}
    )
    client = _client(session, url)
    response = await client._request("GET", f"{url}/api")
    assert response.data is None
    assert client.rate_limit is not None
    assert (client.rate_limit.limit, client.rate_limit.remaining) == (1000, 7)


async def test_timeout_and_unreachable(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """A slow server is a timeout; a closed port is a connection error."""
    state, url = server

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.json_response({})

    state.api = slow
    client = _client(session, url)
    await client._async_access_token()
    client.request_timeout = 0.05
    with pytest.raises(ProviderTimeoutError):
        await client._request("GET", f"{url}/api")
    closed = _client(session, "http://127.0.0.1:9")
    with pytest.raises(ProviderConnectionError, match="cannot reach"):
        await closed._request("GET", "http://127.0.0.1:9/api", authenticated=False)


async def test_gather_per_vehicle_isolates_failures(session: ClientSession) -> None:
    """One vehicle's failure is returned in its place; auth errors are raised."""
    client = _client(session, "https://api.example.com")

    async def call(item: int) -> int:
        if item == 2:
            raise ProviderConnectionError("evenergy", "down")
        if item == 9:
            raise ProviderAuthError("evenergy", "refused")
        return item * 10

    results = await client._gather_per_vehicle([1, 2, 3], call)
    assert results[0] == 10
    assert isinstance(results[1], ProviderConnectionError)
    assert results[2] == 30
    with pytest.raises(ProviderAuthError):
        await client._gather_per_vehicle([1, 9], call)


@dataclass(kw_only=True)
class _ListedClient(_TokenClient):
    """A provider whose list, enrichment and cache are given (the fleet template alone)."""

    title: ClassVar[str] = "Listed"
    items: list[Any] = field(default_factory=list)
    enrichment: dict[str, Any] = field(default_factory=dict)
    """Vehicle id → the JSON its own request answers (only these are enriched)."""
    cached: dict[str, ProviderValueError] = field(default_factory=dict)

    async def _async_list_vehicles(self) -> list[tuple[str, Any]]:
        return [(f"cars[{index}]", item) for index, item in enumerate(self.items)]

    def _parse_vehicle(self, item: Payload) -> VehicleSnapshot | None:
        item.opt_obj("shape")
        return VehicleSnapshot(
            vehicle=Vehicle(
                id=item.req_str("id"),
                name=item.req_str("id"),
                capabilities=Capabilities(features=frozenset({Feature.CHARGE_POWER})),
            ),
            state=VehicleState(state_of_charge=item.opt_float("soc")),
        )

    def _needs_enrichment(self, snapshot: VehicleSnapshot, *, by_age: bool) -> bool:
        return snapshot.vehicle.id in self.enrichment

    async def _async_enrich(
        self, snapshot: VehicleSnapshot, problems: list[ChargeBridgeError]
    ) -> VehicleSnapshot:
        vehicle_id = snapshot.vehicle.id
        answer = Payload(
            self.name, self.enrichment[vehicle_id], f"power[{vehicle_id}]", problems
        )
        return replace(
            snapshot,
            state=replace(snapshot.state, charge_power_w=answer.opt_float("watts")),
        )

    def _cached_faults(self, snapshot: VehicleSnapshot) -> list[ChargeBridgeError]:
        cached = self.cached.get(snapshot.vehicle.id)
        return [] if cached is None else [cached]


async def test_fleet_template_reads_values_leniently(session: ClientSession) -> None:
    """A value costs that value, attributed to its vehicle; structure costs the vehicle.

    The value faults of an item that fails anyway are left out (its error says it); those
    of per-vehicle answers and of cached data (a vehicle not read again) are kept.
    """
    old = ProviderValueError("evenergy", "wrong type for field", "settings[a].target")
    client = _ListedClient(
        session=session,
        api_url="https://api.example.com",
        secret="s3cret",
        items=[
            {"id": "a", "soc": "abc"},
            {"id": "b", "soc": "abc", "shape": 5},
            {"id": "c", "soc": 50},
        ],
        enrichment={"c": {"watts": {}}},
        cached={"a": old},
    )
    fleet = await client.async_get_fleet()
    a, b, c = (fleet.vehicles[vehicle_id] for vehicle_id in "abc")
    assert (a.error, a.state.state_of_charge) == (None, None)
    assert type(b.error) is ProviderResponseError
    assert b.error.field == "cars[1].shape"
    assert c.error is None
    assert (c.state.state_of_charge, c.state.charge_power_w) == (50, None)
    soc, structure, cached, power = fleet.problems
    assert structure is b.error
    assert isinstance(soc, ProviderValueError)
    assert (soc.field, soc.vehicle_id) == ("cars[0].soc", "a")
    assert isinstance(cached, ProviderValueError)
    assert (cached.field, cached.vehicle_id) == (old.field, "a")
    assert isinstance(power, ProviderValueError)
    assert (power.field, power.vehicle_id) == ("power[c].watts", "c")


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-02T06:00:00Z",
        "2026-11-02T06:00:00.000Z",
        "2026-11-02T07:00:00.123456+01:00",
        "2026-11-02T06:00:00",
        NOW.timestamp(),
        int(NOW.timestamp()),
        int(NOW.timestamp() * 1000),
        str(int(NOW.timestamp())),
        str(int(NOW.timestamp() * 1000)),
        f" {NOW.timestamp()} ",
    ],
)
def test_timestamps_in_every_form_a_plain_string_may_take(value: object) -> None:
    """ISO 8601 with or without fraction and offset; epoch s or ms, number or string."""
    read = Payload("hiven", {"t": value}, "status").opt_datetime("t")
    assert read is not None
    assert abs(read - NOW) < timedelta(seconds=1)
    assert read.tzinfo is UTC


@pytest.mark.parametrize("value", [True, "soon", "NaN", "1e999", [1], {"s": 1}])
def test_timestamps_that_are_none_of_those_name_the_field(value: object) -> None:
    """Anything else is a response error naming the field."""
    with pytest.raises(ProviderResponseError) as err:
        Payload("hiven", {"t": value}, "status").opt_datetime("t")
    assert err.value.field == "status.t"


async def test_boost_unsupported_by_default(session: ClientSession) -> None:
    """Providers without boost say so clearly."""
    client = _client(session, "https://api.example.com")
    snapshot = VehicleSnapshot(
        vehicle=Vehicle(
            id="car1",
            name="Car",
            capabilities=Capabilities(features=frozenset({Feature.BOOST})),
        )
    )
    with pytest.raises(UnsupportedError):
        await client.async_update_preferences(snapshot, PreferencesUpdate(boost=True))


async def test_depot_schedules_unsupported_by_default(session: ClientSession) -> None:
    """A provider without depot schedules refuses to add them, sending nothing."""
    client = _client(session, "https://api.example.com")
    with pytest.raises(UnsupportedError):
        await client.async_add_schedules("car1", [], replace_future=True)
    assert client.requests_made == 0


async def test_notices_cannot_be_dismissed_by_default(session: ClientSession) -> None:
    """Only a client that implements dismissing says it can; the rest refuse, sending nothing."""
    client = _client(session, "https://api.example.com")
    assert not client.dismisses_notices
    with pytest.raises(UnsupportedError):
        await client.async_dismiss_notice(
            ProviderNotice(code="car_not_reachable", message_ids=("m1",))
        )
    assert client.requests_made == 0
    assert {name for name, cls in PROVIDERS.items() if cls.dismisses_notices} == {
        "jedlix"
    }


async def test_provider_detail_never_echoes_our_secrets(
    server: tuple[_Server, str], session: ClientSession
) -> None:
    """A provider that echoes the secret or token in its error detail is redacted."""
    state, url = server
    state.api = lambda request: web.json_response(
        {"detail": "bad key s3cret with token tok-1"}, status=400
    )
    client = _client(session, url)
    with pytest.raises(ProviderRejectedError) as err:
        await client._request("GET", f"{url}/api")
    assert "s3cret" not in str(err.value)
    assert "tok-1" not in str(err.value)
    assert "**REDACTED**" in str(err.value)

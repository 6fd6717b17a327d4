"""The provider profiles say what the simulator serves, and every provider module has one shape."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from aiohttp import web
import pytest

from tests.simulator import (
    PROFILES,
    PROVIDER_NAMES,
    ApiError,
    ProviderProfile,
    ProviderState,
    Simulator,
    TokenState,
    create_app,
)
from tests.simulator.core import load_provider_module

MODULE_NAMES = ("NAME", "PROFILE", "PREFIX", "State", "error_body", "build_app")


def protocol_methods(protocol: type) -> set[str]:
    """Names of the methods a protocol declares (its own and inherited)."""
    return {
        name
        for klass in protocol.__mro__
        if klass.__module__ == ProviderState.__module__
        for name, value in vars(klass).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }


def routes(app: web.Application) -> set[tuple[str, str]]:
    """Return (method, path) of every route, sub-apps included; {name} reads as ``x``."""
    found: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            found |= routes(sub)  # its routes already carry the prefix
            continue
        path = re.sub(r"\{[^}]+\}", "x", resource.canonical)
        found |= {(route.method, path) for route in resource}
    return found


@pytest.fixture(scope="module")
def served() -> set[tuple[str, str]]:
    """Every route the simulator serves."""
    return routes(create_app(Simulator(vehicles=1)))


def test_one_profile_per_simulator_module() -> None:
    """The profiles name the provider modules, in the integration's order."""
    assert PROVIDER_NAMES == ("hiven", "chargeye", "jedlix", "evenergy")
    assert list(PROFILES) == list(PROVIDER_NAMES)
    for name, profile in PROFILES.items():
        assert profile.name == name


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
def test_module_shape(profile: ProviderProfile) -> None:
    """Same entry points in every provider module; its State offers the core's methods."""
    module = load_provider_module(profile.name)
    for name in MODULE_NAMES:
        assert hasattr(module, name), name
    assert callable(module.register)
    assert profile.name == module.NAME
    assert module.PROFILE is profile
    assert profile.api_path == module.PREFIX
    methods = protocol_methods(
        TokenState if profile.uses_access_token else ProviderState
    )
    for name in methods:
        assert callable(getattr(module.State, name, None)), name
    state: Any = getattr(Simulator(vehicles=1), profile.name)
    assert isinstance(state, module.State)
    assert state.credentials == dict(profile.demo_credentials)
    assert hasattr(state, "tokens") is profile.uses_access_token
    for method in ("expire_tokens", "revoke_tokens", "issue_token", "token_valid"):
        assert hasattr(state, method) is profile.uses_access_token, method


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
def test_api_error_renders_the_provider_error_body(profile: ProviderProfile) -> None:
    """ApiError answers exactly what the provider's error_body answers."""
    module = load_provider_module(profile.name)
    response = ApiError(409, "Taken").response(module.error_body)
    expected = module.error_body(409, "Taken")
    assert response.status == expected.status == 409
    assert response.text == expected.text
    assert response.content_type == expected.content_type
    assert "Taken" in json.dumps(json.loads(response.text))


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
def test_profile_paths_are_served(
    profile: ProviderProfile, served: set[tuple[str, str]]
) -> None:
    """The token, fleet and vehicle requests and the write method exist in the simulator."""
    own = {
        (method, path)
        for method, path in served
        if path.startswith(profile.api_path)
        or (profile.token_path is not None and path == profile.token_path)
    }
    assert any(
        method == "GET" and re.search(profile.fleet_path, path) for method, path in own
    )
    if profile.vehicle_path is not None:
        assert any(
            method == "GET" and re.search(profile.vehicle_path, path)
            for method, path in own
        )
    assert any(method == profile.write_method for method, _ in own)
    if profile.token_path is None:
        assert profile.token_method is None
        assert profile.token_pattern is None
    else:
        assert profile.token_pattern is not None
        assert (profile.token_method, profile.token_path) in served
        assert re.search(profile.token_pattern, profile.token_path)


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
def test_profile_fields_agree(profile: ProviderProfile) -> None:
    """Secrets are config fields, the harmless fields are optional ones, and so on."""
    config = profile.config("http://127.0.0.1:1")
    assert set(profile.form_defaults) == set(config) - {"provider"}
    assert list(config)[:2] == ["provider", "api_url"]
    assert set(profile.secret_fields) <= set(config)
    assert profile.login_secret in profile.secret_fields
    assert set(profile.url_fields) <= set(config)
    assert "api_url" in profile.url_fields
    assert set(profile.harmless_missing_fields) <= set(profile.optional_fields)
    if profile.status_field in profile.enum_fields:
        assert profile.status_field in profile.optional_fields
    assert profile.token_url("http://h") == (
        None if profile.token_path is None else f"http://h{profile.token_path}"
    )
    assert config["api_url"] == profile.api_url("http://127.0.0.1:1")

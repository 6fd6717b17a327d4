"""Seed the development Home Assistant that scripts/develop runs.

Two steps, both idempotent:

``storage``  (before Home Assistant starts) marks onboarding done, creates the demo owner
             account and sets where Home Assistant listens (127.0.0.1 and a port), through
             Home Assistant's own auth manager, onboarding and HTTP stores, so the files match
             whichever Home Assistant version runs. Since 2026.10 Home Assistant keeps its HTTP
             settings in ``.storage/http`` and asks to confirm any it finds in YAML (a dialog,
             a repair issue, and a revert to every address after five minutes): there the
             settings are seeded as already confirmed; older versions read them from YAML, so
             there they go to ``packages/http.yaml``, which configuration.yaml includes.
``entries``  (after Home Assistant is up) logs in through the auth login flow, the same way the
             frontend does, and adds one ChargeBridge config entry per provider through the
             REST config-flow API, each pointing at the provider simulator. It skips the
             entries while the integration has no config flow or the simulator is not running.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
import json
import logging
from pathlib import Path
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FLOW = REPO_ROOT / "custom_components" / "chargebridge" / "config_flow.py"
DOMAIN = "chargebridge"

_LOGGER = logging.getLogger("develop_seed")

HTTP_HOST = "127.0.0.1"
HTTP_PACKAGE = Path("packages") / "http.yaml"
"""Where a Home Assistant without HTTP storage reads the seeded HTTP settings (YAML)."""


# --- storage: onboarding and the owner account -------------------------------------------


async def _seed_storage(hass: Any, provider: Any, args: argparse.Namespace) -> None:
    """Create the owner account and mark every onboarding step done."""
    # Imported here so that the `entries` step runs without Home Assistant's import cost.
    from homeassistant.auth.const import GROUP_ID_ADMIN  # noqa: PLC0415
    from homeassistant.auth.providers import homeassistant as hass_auth  # noqa: PLC0415
    from homeassistant.components import onboarding  # noqa: PLC0415
    from homeassistant.components.onboarding.const import STEPS  # noqa: PLC0415

    people = [
        user for user in await hass.auth.async_get_users() if not user.system_generated
    ]
    if people:
        _LOGGER.info(
            "Users already exist (%s); leaving accounts alone",
            ", ".join(user.name or user.id for user in people),
        )
    else:
        # What onboarding's user step does: the first user made becomes the owner.
        user = await hass.auth.async_create_user(args.name, group_ids=[GROUP_ID_ADMIN])
        try:
            await provider.async_add_auth(args.username, args.password)
        except hass_auth.InvalidUser:
            await provider.async_change_password(args.username, args.password)
        credentials = await provider.async_get_or_create_credentials(
            {"username": args.username}
        )
        await hass.auth.async_link_user(user, credentials)
        _LOGGER.info("Created owner %r with login %r", args.name, args.username)

    store = onboarding.OnboardingStorage(
        hass, onboarding.STORAGE_VERSION, onboarding.STORAGE_KEY, private=True
    )
    data = await store.async_load() or {"done": []}
    if set(STEPS) <= set(data["done"]):
        _LOGGER.info("Onboarding already done")
    else:
        await store.async_save({"done": list(STEPS)})
        _LOGGER.info("Marked onboarding done: %s", ", ".join(STEPS))

    await _seed_http(hass, Path(hass.config.config_dir), args.http_port)

    # The auth store saves with a delay; only a full stop flushes it (Home Assistant's
    # own auth script stops a never-started instance, which is a no-op).
    await hass.async_stop(force=True)


async def _seed_http(hass: Any, config_dir: Path, port: int) -> None:
    """Make Home Assistant listen on HTTP_HOST:port from its first start, unasked."""
    package = config_dir / HTTP_PACKAGE
    try:
        # Home Assistant 2026.10 and newer: the HTTP settings live in .storage/http.
        from homeassistant.components.http.config import (  # noqa: PLC0415
            HTTP_STORAGE_SCHEMA,
            async_get_and_load_store,
        )
    except ImportError:
        package.parent.mkdir(exist_ok=True)
        package.write_text(
            "# Written by scripts/develop_seed.py: this Home Assistant reads its HTTP\n"
            "# settings from YAML (newer ones keep them in .storage/http instead).\n"
            f"http:\n  server_host: {HTTP_HOST}\n  server_port: {port}\n",
            encoding="utf-8",
        )
        _LOGGER.info("HTTP settings (%s:%s) in %s", HTTP_HOST, port, HTTP_PACKAGE)
        return

    # YAML left over from an older Home Assistant would raise "still in YAML" repairs.
    package.unlink(missing_ok=True)
    store = await async_get_and_load_store(hass)
    wanted = HTTP_STORAGE_SCHEMA({"server_host": [HTTP_HOST], "server_port": port})
    # Through the store's own steps, so the file has this version's format: a pending
    # config equal to the stable one is dropped, a different one is promoted (confirmed).
    await store.async_set_pending(dict(wanted))
    if store.pending is not None:
        await store.async_promote_pending()
    if not store.yaml_migration_done:
        await store.async_mark_yaml_migration_done()
    _LOGGER.info("HTTP settings (%s:%s) in .storage/http", HTTP_HOST, port)


def cmd_storage(args: argparse.Namespace) -> int:
    """Seed config/.storage before Home Assistant starts."""
    # Home Assistant's `hass --script auth` knows how to bring up the auth manager offline
    # for its own version (registries, config entries); reuse it with our step as its command.
    from homeassistant.scripts import auth as auth_script  # noqa: PLC0415

    config_dir = Path(args.config).resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        auth_script.run_command(
            argparse.Namespace(
                config=str(config_dir),
                func=_seed_storage,
                name=args.name,
                username=args.username,
                password=args.password,
                http_port=args.http_port,
            )
        )
    )
    return 0


# --- entries: one config entry per provider, through the REST API ------------------------


class SeedError(Exception):
    """Seeding cannot go on."""


def _call(
    method: str,
    url: str,
    *,
    body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
    token: str | None = None,
    timeout: float = 30,
) -> tuple[int, Any]:
    """Make one HTTP request and return (status, decoded JSON body or text)."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def _wait_for(url: str, what: str, deadline: float) -> bool:
    """Wait until url gives any HTTP answer; False when the deadline passed first."""
    while time.monotonic() < deadline:
        try:
            _call("GET", url, timeout=5)
        except (OSError, urllib.error.URLError):
            time.sleep(1)
        else:
            return True
    _LOGGER.error("%s did not answer at %s in time", what, url)
    return False


def login(base_url: str, username: str, password: str) -> str:
    """Log in through the auth login flow like the frontend does; return an access token."""
    client_id = f"{base_url}/"
    status, flow = _call(
        "POST",
        f"{base_url}/auth/login_flow",
        body={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{base_url}/?auth_callback=1",
        },
    )
    if status != 200 or not isinstance(flow, dict) or "flow_id" not in flow:
        raise SeedError(f"starting the login flow failed: HTTP {status} {flow}")
    status, result = _call(
        "POST",
        f"{base_url}/auth/login_flow/{flow['flow_id']}",
        body={"client_id": client_id, "username": username, "password": password},
    )
    if (
        status != 200
        or not isinstance(result, dict)
        or result.get("type") != "create_entry"
    ):
        raise SeedError(f"logging in as {username!r} failed: HTTP {status} {result}")
    status, tokens = _call(
        "POST",
        f"{base_url}/auth/token",
        form={
            "grant_type": "authorization_code",
            "code": result["result"],
            "client_id": client_id,
        },
    )
    if status != 200 or not isinstance(tokens, dict) or "access_token" not in tokens:
        raise SeedError(f"exchanging the login code failed: HTTP {status} {tokens}")
    return str(tokens["access_token"])


def demo_entries(simulator_url: str) -> dict[str, dict[str, str]]:
    """Config flow input per provider: the simulator's URLs and its demo credentials."""
    # The simulator's provider profiles (tests/simulator/profiles.py) say where each API is
    # served and which demo credentials it accepts. scripts/develop runs this file from the
    # repository root, with scripts/ (not the root) on sys.path; importing the profiles
    # loads neither the simulator nor Home Assistant.
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.simulator.profiles import PROFILES  # noqa: PLC0415

    return {
        name: {
            key: value
            for key, value in profile.config(simulator_url).items()
            if key != "provider"
        }
        for name, profile in PROFILES.items()
    }


def add_entry(
    base_url: str, token: str, provider: str, values: Mapping[str, str]
) -> bool:
    """Run the config flow for one provider; True when the entry exists afterwards."""
    flows = f"{base_url}/api/config/config_entries/flow"
    status, step = _call(
        "POST",
        flows,
        body={"handler": DOMAIN, "show_advanced_options": False},
        token=token,
    )
    if status != 200 or not isinstance(step, dict):
        _LOGGER.error(
            "%s: starting the config flow failed: HTTP %s %s", provider, status, step
        )
        return False
    flow_id = step["flow_id"]
    try:
        if step.get("type") == "menu":
            status, step = _call(
                "POST",
                f"{flows}/{flow_id}",
                body={"next_step_id": provider},
                token=token,
            )
        if status == 200 and isinstance(step, dict) and step.get("type") == "form":
            fields = {field["name"] for field in step.get("data_schema", [])}
            status, step = _call(
                "POST",
                f"{flows}/{flow_id}",
                body={key: value for key, value in values.items() if key in fields},
                token=token,
            )
        if status == 200 and isinstance(step, dict):
            if step.get("type") == "create_entry":
                _LOGGER.info("%s: created config entry %r", provider, step.get("title"))
                return True
            if (
                step.get("type") == "abort"
                and step.get("reason") == "already_configured"
            ):
                _LOGGER.info("%s: config entry already there", provider)
                return True
        if isinstance(step, dict) and step.get("type") == "form":
            _LOGGER.error(
                "%s: the config flow refused the demo entry at step %r: %s",
                provider,
                step.get("step_id"),
                step.get("errors"),
            )
        else:
            _LOGGER.error(
                "%s: the config flow did not create an entry: HTTP %s %s",
                provider,
                status,
                step,
            )
        return False
    finally:
        if isinstance(step, dict) and step.get("type") in ("form", "menu"):
            _call("DELETE", f"{flows}/{flow_id}", token=token)


def cmd_entries(args: argparse.Namespace) -> int:
    """Wait for Home Assistant, check the demo login, add the demo config entries."""
    base_url = args.url.rstrip("/")
    deadline = time.monotonic() + args.timeout
    # manifest.json needs no login, so waiting does not log failed authentications.
    if not _wait_for(f"{base_url}/manifest.json", "Home Assistant", deadline):
        return 1
    try:
        token = login(base_url, args.username, args.password)
    except SeedError as err:
        _LOGGER.error("Demo login does not work: %s", err)
        return 1
    _LOGGER.info(
        "Home Assistant is up at %s; log in as %r, password %r",
        base_url,
        args.username,
        args.password,
    )
    if not CONFIG_FLOW.exists():
        _LOGGER.info(
            "Skipping demo config entries: %s has no config flow yet",
            CONFIG_FLOW.relative_to(REPO_ROOT),
        )
        return 0
    if args.simulator_url is None:
        _LOGGER.info(
            "Skipping demo config entries: the provider simulator is not running"
        )
        return 0
    simulator_url = args.simulator_url.rstrip("/")
    if not _wait_for(f"{simulator_url}/", "The provider simulator", deadline):
        return 1
    results = [
        add_entry(base_url, token, provider, values)
        for provider, values in demo_entries(simulator_url).items()
    ]
    return 0 if all(results) else 1


def main() -> int:
    """Parse the command line and run one step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--username", default="demo")
    parser.add_argument("--password", default="demo1234")
    steps = parser.add_subparsers(dest="step", required=True)

    storage = steps.add_parser("storage", help="seed .storage before the first start")
    storage.add_argument("--config", default=str(REPO_ROOT / "config"))
    storage.add_argument("--name", default="Demo")
    storage.add_argument(
        "--http-port", type=int, default=8123, help="where Home Assistant listens"
    )
    storage.set_defaults(func=cmd_storage)

    entries = steps.add_parser(
        "entries", help="add the demo config entries once HA is up"
    )
    entries.add_argument("--url", default="http://127.0.0.1:8123")
    entries.add_argument(
        "--simulator-url", help="omit when the simulator is not running"
    )
    entries.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for HA"
    )
    entries.set_defaults(func=cmd_entries)

    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="develop_seed: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

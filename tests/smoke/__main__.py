"""Run the smoke check: ``python -m tests.smoke [--keep]`` with a target's Python.

In a temporary config directory, seeded like scripts/develop's (onboarding done, an owner,
HTTP on 127.0.0.1), it starts the provider simulator and a real ``hass``, then through Home
Assistant's REST and websocket APIs, as the frontend would:

1. adds one config entry per provider (the config flow), which waits for the first refresh;
2. checks every enabled ChargeBridge entity has a state other than unavailable;
3. switches each provider's first smart charging off or on and checks the simulator
   received the write and the switch shows it;
4. reloads every entry (entities come back), reads its diagnostics (no secret in them),
   and removes it (its devices and entities go);
5. checks Home Assistant listened on 127.0.0.1 only and raised no repair issue;
6. after a clean stop, checks home-assistant.log (and hass's own output, where Python
   prints deprecation warnings) holds no WARNING or ERROR from or about chargebridge, and
   no secret. The one exception is Home Assistant's notice that chargebridge is a custom
   integration it has not tested (it says that of every custom integration).

Exit status 0 when every check passed, 1 otherwise (each failure is listed).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
import contextlib
import importlib.util
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "chargebridge"
USERNAME = "smoke"
PASSWORD = "smoke-check-1234"
START_TIMEOUT = 120.0
"""Seconds Home Assistant may take to answer (a cold start compiles its imports)."""
STEP_TIMEOUT = 60.0
"""Seconds an entry may take to load or reload, and hass to stop."""
TOLERATED = (
    re.compile(r"We found a custom integration chargebridge which has not been tested"),
)
"""Log records about chargebridge that are not problems (see the module docstring)."""
LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)? ([A-Z]+) "
)
"""The start of a log record and its level (2026.11 added the UTC offset to the time)."""

CONFIGURATION = """\
# Written by tests/smoke: the integrations the check talks through, and nothing that
# discovers, downloads or calls out (no frontend: it is not ChargeBridge's to test).
homeassistant:
  name: ChargeBridge smoke
  unit_system: metric
  time_zone: Europe/Amsterdam
  country: NL
  currency: EUR
  latitude: 52.3676
  longitude: 4.9041
  elevation: 0
  packages: !include_dir_named packages

logger:
  default: warning
  logs:
    custom_components.chargebridge: debug

api:
auth:
config:
diagnostics:
repairs:
websocket_api:
"""


def _load_seed() -> ModuleType:
    """Load scripts/develop_seed.py: seeding, login and the config flow live there."""
    spec = importlib.util.spec_from_file_location(
        "develop_seed", REPO_ROOT / "scripts" / "develop_seed.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seed = _load_seed()


def say(text: str) -> None:
    """Print a line now (the run is slow enough to be watched)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_addresses(port: int) -> list[str]:
    """Return the local addresses listening on TCP ``port`` (Linux; empty elsewhere)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state != "0A" or int(hex_port, 16) != port:
                    continue
                if len(address) == 8:
                    found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    found.append(f"[{address}]")
    return found


def stop_process(
    process: subprocess.Popen[bytes], timeout: float = STEP_TIMEOUT
) -> int | None:
    """Stop a process cleanly (SIGTERM), killing it after ``timeout`` seconds.

    Return its exit status, None when it had to be killed.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


class SmokeError(Exception):
    """A step failed so that the next ones cannot run."""


class Smoke:
    """One smoke run: the processes it started, what it found, how long it took."""

    def __init__(self, config_dir: Path, ha_port: int, sim_port: int) -> None:
        """Remember where things go; nothing starts yet."""
        self.config_dir = config_dir
        self.ha_port = ha_port
        self.sim_port = sim_port
        self.ha_url = f"http://127.0.0.1:{self.ha_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.started = time.monotonic()
        self.problems: list[str] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.token = ""
        self.secrets: set[str] = set()

    # --- reporting ---------------------------------------------------------------------

    def step(self, message: str) -> None:
        """Print what is being done, with the time since the start."""
        say(f"  [{time.monotonic() - self.started:6.1f} s] {message}")

    def check(self, ok: bool, problem: str) -> bool:
        """Record ``problem`` unless ``ok``; return ``ok``."""
        if not ok:
            self.problems.append(problem)
            say(f"    FAILED: {problem}")
        return ok

    # --- processes ---------------------------------------------------------------------

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a process of this Python, its output in ``<config>/<name>.out``."""
        env = {**os.environ, "PYTHONWARNINGS": "default::DeprecationWarning"}
        with (self.config_dir / f"{name}.out").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> int | None:
        """Stop a process cleanly (SIGTERM), killing it after STEP_TIMEOUT."""
        return stop_process(process)

    def stop_all(self) -> None:
        """Stop whatever is still running (newest first)."""
        for process in reversed(self.processes):
            self.stop(process)

    # --- Home Assistant's APIs ---------------------------------------------------------

    def rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call Home Assistant's REST API; raise SmokeError unless it answers 200."""
        status, answer = seed._call(
            method, f"{self.ha_url}{path}", body=body, token=self.token
        )
        if status != 200:
            raise SmokeError(f"{method} {path}: HTTP {status} {answer}")
        return answer

    def ws(self, *commands: dict[str, Any]) -> list[Any]:
        """Send websocket commands; return their results (SmokeError on an error)."""
        return asyncio.run(self._ws(commands))

    async def _ws(self, commands: tuple[dict[str, Any], ...]) -> list[Any]:
        import aiohttp  # noqa: PLC0415 - Home Assistant's, like this check

        results = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{self.ha_url}/api/websocket") as conn,
        ):
            await conn.receive_json()
            await conn.send_json({"type": "auth", "access_token": self.token})
            if (await conn.receive_json()).get("type") != "auth_ok":
                raise SmokeError("the websocket refused the access token")
            for number, command in enumerate(commands, 1):
                await conn.send_json({"id": number, **command})
                answer = await conn.receive_json()
                if not answer.get("success"):
                    raise SmokeError(f"websocket {command}: {answer.get('error')}")
                results.append(answer["result"])
        return results

    def entries(self) -> dict[str, dict[str, Any]]:
        """Return ChargeBridge's config entries by entry id."""
        listed = self.rest("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        return {entry["entry_id"]: entry for entry in listed}

    def wait_loaded(self, entry_ids: list[str]) -> bool:
        """Wait until the entries are loaded; False (recorded) if one is not in time."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            states = {key: e["state"] for key, e in self.entries().items()}
            waiting = {key: states.get(key) for key in entry_ids}
            if all(state == "loaded" for state in waiting.values()):
                return True
            if time.monotonic() > deadline or any(
                state not in ("loaded", "setup_in_progress", "not_loaded")
                for state in waiting.values()
            ):
                return self.check(False, f"entries not loaded: {waiting}")
            time.sleep(0.5)

    def registry(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Return ChargeBridge's (entities, devices) from Home Assistant's registries."""
        entities, devices = self.ws(
            {"type": "config/entity_registry/list"},
            {"type": "config/device_registry/list"},
        )
        return (
            [e for e in entities if e["platform"] == DOMAIN],
            [
                d
                for d in devices
                if any(domain == DOMAIN for domain, _ in d["identifiers"])
            ],
        )

    def states(self) -> dict[str, str]:
        """Return every entity's state by entity id."""
        return {s["entity_id"]: s["state"] for s in self.rest("GET", "/api/states")}

    # --- the steps ---------------------------------------------------------------------

    def start(self) -> None:
        """Seed the config directory, start the simulator and hass, log in."""
        if importlib.util.find_spec("hass_frontend") is None:
            # Without it Home Assistant starts in recovery mode, without custom integrations.
            raise SmokeError(
                "home-assistant-frontend is not installed: run scripts/setup for this target"
            )
        (self.config_dir / "configuration.yaml").write_text(CONFIGURATION)
        (self.config_dir / "custom_components").mkdir()
        (self.config_dir / "custom_components" / DOMAIN).symlink_to(
            REPO_ROOT / "custom_components" / DOMAIN
        )
        seeded = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "develop_seed.py"),
                f"--username={USERNAME}",
                f"--password={PASSWORD}",
                "storage",
                f"--config={self.config_dir}",
                f"--http-port={self.ha_port}",
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if seeded.returncode != 0:
            raise SmokeError(f"seeding failed: {seeded.stderr.strip()}")
        self.step(f"seeded {self.config_dir} (owner, onboarding, HTTP settings)")

        self.spawn(
            "simulator",
            *("-m", "tests.simulator", "--host", "127.0.0.1"),
            *("--port", str(self.sim_port)),
        )
        hass = self.spawn(
            "hass", "-m", "homeassistant", "-c", str(self.config_dir), "--skip-pip"
        )
        deadline = time.monotonic() + START_TIMEOUT
        if not seed._wait_for(f"{self.sim_url}/_admin/state", "simulator", deadline):
            raise SmokeError("the simulator did not start")
        # /auth/providers needs no login: waiting logs no failed authentication.
        if not seed._wait_for(f"{self.ha_url}/auth/providers", "hass", deadline):
            raise SmokeError(f"hass did not answer (exit status {hass.poll()})")
        self.token = seed.login(self.ha_url, USERNAME, PASSWORD)
        self.step(f"Home Assistant up at {self.ha_url}, simulator at {self.sim_url}")

    def add_entries(self) -> list[str]:
        """Add one entry per provider; return their ids (loaded: first refresh done)."""
        from custom_components.chargebridge.api.registry import PROVIDERS  # noqa: PLC0415

        for provider, values in seed.demo_entries(self.sim_url).items():
            self.secrets |= {
                values[key]
                for key in PROVIDERS[provider].secret_fields
                if key in values
            }
            self.check(
                seed.add_entry(self.ha_url, self.token, provider, values),
                f"{provider}: the config flow did not create an entry",
            )
        entry_ids = list(self.entries())
        if len(entry_ids) != len(PROVIDERS):
            raise SmokeError(f"{len(entry_ids)} entries, not {len(PROVIDERS)}")
        if not self.wait_loaded(entry_ids):
            raise SmokeError("the entries did not load")
        self.step(f"{len(entry_ids)} entries added and loaded (first refresh done)")
        return entry_ids

    def check_states(self, when: str) -> None:
        """Every enabled ChargeBridge entity has a state, and none is unavailable."""
        entities, devices = self.registry()
        states = self.states()
        enabled = [e["entity_id"] for e in entities if e["disabled_by"] is None]
        missing = [e for e in enabled if e not in states]
        unavailable = [e for e in enabled if states.get(e) == "unavailable"]
        vehicles = [d for d in devices if d["entry_type"] != "service"]
        self.check(bool(vehicles), f"{when}: no vehicle device")
        self.check(not missing, f"{when}: entities without a state: {missing}")
        self.check(not unavailable, f"{when}: unavailable entities: {unavailable}")
        unnamed = [
            d["name"] for d in devices if not d["manufacturer"] or not d["model"]
        ]
        self.check(not unnamed, f"{when}: devices without maker or model: {unnamed}")
        self.step(
            f"{when}: {len(enabled)} entities of {len(devices)} devices"
            f" ({len(vehicles)} vehicles), all with a state"
        )

    def round_trip(self, entry_ids: list[str]) -> None:
        """Toggle each entry's first smart charging switch; the provider must get it."""
        entities, _ = self.registry()
        entries = self.entries()
        for entry_id in entry_ids:
            provider = entries[entry_id]["title"]
            switches = sorted(
                e["entity_id"]
                for e in entities
                if e["config_entry_id"] == entry_id
                and e["unique_id"].endswith("_smart_charging")
            )
            if not self.check(bool(switches), f"{provider}: no smart_charging switch"):
                continue
            switch = switches[0]
            before = self.states()[switch]
            service = "turn_off" if before == "on" else "turn_on"
            seed._call("DELETE", f"{self.sim_url}/_admin/requests")
            self.rest("POST", f"/api/services/switch/{service}", {"entity_id": switch})
            _, received = seed._call("GET", f"{self.sim_url}/_admin/requests")
            writes = [
                f"{r['method']} {r['path']}"
                for r in received
                if r["method"] != "GET" and "token" not in r["path"].lower()
            ]
            after = self.states()[switch]
            self.check(bool(writes), f"{provider}: {service} {switch} sent no write")
            self.check(
                after == ("off" if service == "turn_off" else "on"),
                f"{provider}: {switch} is {after} after {service}",
            )
            self.step(f"{provider}: {service} {switch} -> {after}; sent {writes}")

    def reload_and_remove(self, entry_ids: list[str]) -> None:
        """Reload each entry, read its diagnostics, then remove it."""
        for entry_id in entry_ids:
            self.rest("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
        self.wait_loaded(entry_ids)
        self.check_states("after reload")
        for entry_id in entry_ids:
            text = json.dumps(
                self.rest("GET", f"/api/diagnostics/config_entry/{entry_id}")
            )
            leaked = [name for name, secret in self.named_secrets() if secret in text]
            self.check(not leaked, f"diagnostics of {entry_id} hold secrets: {leaked}")
        self.step("diagnostics of every entry read, no secret in them")
        for entry_id in entry_ids:
            self.rest("DELETE", f"/api/config/config_entries/entry/{entry_id}")
        entities, devices = self.registry()
        self.check(not self.entries(), f"entries left: {list(self.entries())}")
        self.check(not entities, f"entities left: {[e['entity_id'] for e in entities]}")
        self.check(not devices, f"devices left: {[d['name'] for d in devices]}")
        self.step("every entry removed with its devices and entities")

    def named_secrets(self) -> Iterator[tuple[str, str]]:
        """Yield (a printable hint, the secret) for each secret used; never print it."""
        for secret in sorted(self.secrets):
            yield f"{secret[:2]}…({len(secret)} chars)", secret

    def check_server(self) -> None:
        """Home Assistant listens on 127.0.0.1 only and raised no repair issue."""
        addresses = listening_addresses(self.ha_port)
        if addresses:
            self.check(
                set(addresses) == {"127.0.0.1"},
                f"hass listens on {addresses}, not only 127.0.0.1",
            )
        (issues,) = self.ws({"type": "repairs/list_issues"})
        found = [f"{i['domain']}/{i['issue_id']}" for i in issues["issues"]]
        self.check(not found, f"repair issues: {found}")
        self.step(
            f"listening on {addresses or '(unknown here)'}; repair issues: {found}"
        )

    def check_logs(self) -> None:
        """No WARNING or ERROR from or about chargebridge; no secret anywhere."""
        log = (self.config_dir / "home-assistant.log").read_text(errors="replace")
        output = (self.config_dir / "hass.out").read_text(errors="replace")
        ours = [
            record
            for level, record in log_records(log)
            if level in ("WARNING", "ERROR", "CRITICAL") and DOMAIN in record.lower()
        ]
        # Home Assistant always says it loaded a custom integration: if that is not
        # found, the log's format is not what this check reads.
        self.check(
            any(TOLERATED[0].search(record) for record in ours),
            "home-assistant.log: the custom integration notice is missing; "
            "is its format still the one LOG_RECORD reads?",
        )
        problems = [
            record.splitlines()[0]
            for record in ours
            if not any(pattern.search(record) for pattern in TOLERATED)
        ]
        problems += [
            line
            for line in output.splitlines()
            if "Warning" in line and DOMAIN in line.lower()
        ]
        self.check(
            not problems,
            "log lines about chargebridge:\n      " + "\n      ".join(problems),
        )
        leaked = [
            hint for hint, secret in self.named_secrets() if secret in log + output
        ]
        self.check(not leaked, f"secrets in the log: {leaked}")
        self.step(f"home-assistant.log: {len(log.splitlines())} lines, none about us")


def log_records(log: str) -> Iterator[tuple[str, str]]:
    """Split home-assistant.log into (level, record); a traceback is part of its record."""
    level, record = "", []
    for line in log.splitlines():
        if match := LOG_RECORD.match(line):
            if record:
                yield level, "\n".join(record)
            level, record = match.group(1), []
        record.append(line)
    if record:
        yield level, "\n".join(record)


def run(smoke: Smoke) -> None:
    """Run every step; a SmokeError ends the run early (recorded as a problem)."""
    try:
        smoke.start()
        entry_ids = smoke.add_entries()
        smoke.check_states("after setup")
        smoke.round_trip(entry_ids)
        smoke.reload_and_remove(entry_ids)
        smoke.check_server()
    except (SmokeError, seed.SeedError, OSError) as err:
        smoke.check(False, str(err))
    finally:
        hass = next((p for p in smoke.processes if "homeassistant" in p.args), None)
        status = None if hass is None else smoke.stop(hass)
        smoke.stop_all()
    if hass is not None:
        smoke.check(status == 0, f"hass stopped with status {status}")
        smoke.check_logs()


def main() -> int:
    """Run the smoke check once; print the result and return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.smoke", description=__doc__)
    parser.add_argument(
        "--keep", action="store_true", help="keep the config directory (logs)"
    )
    args = parser.parse_args()
    from homeassistant.const import __version__  # noqa: PLC0415

    label = f"Home Assistant {__version__}, Python {sys.version.split()[0]}"
    config_dir = Path(tempfile.mkdtemp(prefix="chargebridge-smoke-"))
    smoke = Smoke(config_dir, ha_port=free_port(), sim_port=free_port())
    say(f"==> smoke check on {label}")
    run(smoke)
    seconds = time.monotonic() - smoke.started
    if args.keep or smoke.problems:
        say(f"  logs kept in {config_dir}")
    else:
        shutil.rmtree(config_dir, ignore_errors=True)
    if smoke.problems:
        say(
            f"smoke FAILED on {label} in {seconds:.0f} s: {len(smoke.problems)} problem(s)"
        )
        return 1
    say(f"smoke ok on {label} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

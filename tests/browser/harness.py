"""Start the provider simulator and a real Home Assistant for the browser test, and stop them.

Home Assistant runs from the virtual environment of the Python that runs the test (so
``.venv/floor/bin/python`` tests the oldest supported Home Assistant), in a temporary config
directory seeded the way ``scripts/develop`` seeds ``config/``: the same configuration.yaml,
the integration linked from the working tree, and ``scripts/develop_seed.py storage`` for
onboarding, the demo owner and HTTP on 127.0.0.1 at a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import time
from typing import Any
import urllib.request

from tests.simulator.process import SimulatorProcess
from tests.smoke.__main__ import (
    free_port,
    seed as develop_seed,  # scripts/develop_seed.py, by path
    stop_process,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_USER = "demo"
DEMO_PASSWORD = "demo1234"  # the documented demo login (README)


CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
"""What Chromium is called on PATH: Debian, Ubuntu's older packages, Google's builds (the
GitHub runners have Google Chrome)."""


def find_chromium() -> str | None:
    """Return the Chromium to drive: CHARGEBRIDGE_CHROMIUM (a path or a name), else PATH's."""
    explicit = os.environ.get("CHARGEBRIDGE_CHROMIUM")
    for name in (explicit,) if explicit else CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until url answers HTTP 200; fail early when the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def http_json(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    """Send one JSON request and return the decoded answer (HTTP errors raise)."""
    status, answer = develop_seed._call(method, url, body=body, token=token)
    if status >= 400:
        raise RuntimeError(f"{method} {url}: HTTP {status} {answer}")
    return answer


@dataclass
class Simulator:
    """The provider simulator at url, with its /_admin endpoints."""

    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call one /_admin endpoint."""
        return http_json(method, f"{self.url}/_admin{path}", body)

    def requests(self, provider: str) -> list[dict[str, Any]]:
        """Return the provider requests the simulator received (headers hold secrets)."""
        return list(self.admin("GET", f"/requests?provider={provider}"))

    def vehicles(self, provider: str) -> list[dict[str, Any]]:
        """Return the provider's simulated vehicles as /_admin/state shows them."""
        state = self.admin("GET", f"/state?provider={provider}")
        return list(state["providers"][provider]["vehicles"])


@contextmanager
def simulator() -> Iterator[Simulator]:
    """Run the simulator (realtime clock, demo fleet) until the block ends."""
    with SimulatorProcess() as process:
        yield Simulator(process.url)


def _wait_started(hass: HomeAssistant, deadline: float) -> None:
    """Wait until Home Assistant has started all it loads (core state RUNNING).

    The HTTP server answers long before: on a first start (nothing compiled yet) the
    frontend then shows "Loading..." for a minute or more, as a user would see it too.
    """
    token = hass.token()
    while time.monotonic() < deadline:
        if hass.process.poll() is not None:
            raise RuntimeError(f"hass exited with {hass.process.returncode}")
        config = http_json("GET", f"{hass.url}/api/config", token=token)
        if config.get("state") == "RUNNING":
            return
        time.sleep(1)
    raise TimeoutError(f"Home Assistant at {hass.url} did not finish starting")


@dataclass
class HomeAssistant:
    """A `hass` process serving config_dir on url."""

    url: str
    config_dir: Path
    process: subprocess.Popen[bytes]
    version: str

    def token(self) -> str:
        """Log in as the demo owner through the auth flow; return an access token."""
        return str(develop_seed.login(self.url, DEMO_USER, DEMO_PASSWORD))

    def states(self, token: str) -> list[dict[str, Any]]:
        """Return every entity state (REST API)."""
        return list(http_json("GET", f"{self.url}/api/states", token=token))

    def log_tail(self, lines: int = 60) -> str:
        """Return the end of home-assistant.log, for failure reports."""
        log = self.config_dir / "home-assistant.log"
        if not log.exists():
            return "(no home-assistant.log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def configured_time_zone() -> str:
    """Return the time zone config/configuration.yaml gives Home Assistant."""
    text = (REPO_ROOT / "config" / "configuration.yaml").read_text()
    found = re.search(r"^\s*time_zone:\s*(\S+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError("config/configuration.yaml no longer sets time_zone")
    return found.group(1)


@contextmanager
def home_assistant(
    config_dir: Path, port: int | None = None, start_timeout: float = 600
) -> Iterator[HomeAssistant]:
    """Seed config_dir like scripts/develop does and run `hass -c config_dir` in it."""
    port = port or free_port()
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "config" / "configuration.yaml", config_dir)
    (config_dir / "custom_components").mkdir(exist_ok=True)
    link = config_dir / "custom_components" / "chargebridge"
    if not link.exists():
        link.symlink_to(REPO_ROOT / "custom_components" / "chargebridge")
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "develop_seed.py"),
            "--username",
            DEMO_USER,
            "--password",
            DEMO_PASSWORD,
            "storage",
            "--config",
            str(config_dir),
            "--http-port",
            str(port),
        ],
        check=True,
        capture_output=True,
    )
    version = subprocess.run(
        [
            sys.executable,
            "-c",
            "from homeassistant.const import __version__; print(__version__)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with (config_dir / "hass.out").open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "hass"), "-c", str(config_dir)],
            cwd=config_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout
            _wait_http(f"{url}/manifest.json", process, timeout=start_timeout)
            running = HomeAssistant(url, config_dir, process, version)
            _wait_started(running, deadline)
            yield running
        finally:
            stop_process(process)

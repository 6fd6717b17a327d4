"""Run the benchmark: ``python -m tests.bench [--quick] [--sizes 1,10,100,1000]``.

For each fleet size the simulator runs in its own process (``python -m tests.simulator
--vehicles N --latency-ms 50 --seed 1 --frozen``), and each provider is measured in a fresh
Home Assistant process (``python -m tests.bench one ...``), so neither the simulator's CPU
nor another provider's memory is counted. Prints one Markdown table per provider.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
import cProfile
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any

from tests.simulator.process import SimulatorProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES = (1, 10, 100, 1000)
QUICK_SIZES = (1, 10, 100)
START = "2026-11-03T01:00:00+00:00"
"""Simulated start: the night to a Tuesday, 02:00 in Amsterdam, when smart charging runs
in the cheap hours: most cars and buses plugged in, many charging. Fixed, with the seed,
so every run sees the same fleet in the same state."""
ONE_TIMEOUT = 900.0
"""Seconds one provider at one size may take (setup and every refresh)."""


def _refreshes_for(size: int) -> int:
    """Return how many refreshes to measure: fewer for the slowest, largest fleets."""
    return 3 if size >= 1000 else 5


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be whole numbers >= 1")
    return sizes


def _parse_providers(text: str) -> tuple[str, ...]:
    from .harness import PROVIDERS  # noqa: PLC0415

    providers = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = set(providers) - set(PROVIDERS)
    if unknown or not providers:
        raise argparse.ArgumentTypeError(
            f"unknown provider(s) {sorted(unknown)}; known: {', '.join(PROVIDERS)}"
        )
    return providers


# --- one provider at one size, in this process --------------------------------------------


def simulator_config(provider: str, url: str) -> dict[str, Any]:
    """Config entry data for the simulator at ``url`` (as SimulatorServer.config gives)."""
    from tests.simulator import PROFILES  # noqa: PLC0415

    return dict(PROFILES[provider].config(url))


@asynccontextmanager
async def _bench_hass() -> AsyncIterator[Any]:
    """Home Assistant's test instance, as the hass fixture makes it, with custom_components."""
    from unittest.mock import patch  # noqa: PLC0415

    from aiohttp.resolver import ThreadedResolver  # noqa: PLC0415
    from homeassistant import loader  # noqa: PLC0415
    from pytest_homeassistant_custom_component.common import async_test_home_assistant  # noqa: PLC0415

    # What pytest-homeassistant-custom-component's mock_zeroconf_resolver fixture does:
    # a plain resolver instead of Home Assistant's mDNS one (the simulator is 127.0.0.1).
    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]
    # What the disable_http_server fixture does: calendar needs http, which would bind
    # port 8123 (and fail while another Home Assistant holds it).
    with (
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=resolver,
        ),
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        async with async_test_home_assistant() as hass:
            # What the enable_custom_integrations fixture does: load custom_components/.
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            try:
                yield hass
            finally:
                await hass.async_stop(force=True)


async def _measure_one(args: argparse.Namespace) -> dict[str, Any]:
    from .harness import RemoteSimulator, measure  # noqa: PLC0415

    profile = cProfile.Profile(time.process_time) if args.profile else None
    async with _bench_hass() as hass, RemoteSimulator(args.simulator) as sim:
        result = await measure(
            hass,
            sim,
            args.config or simulator_config(args.provider, args.simulator),
            vehicles=args.vehicles,
            refreshes=args.refreshes,
            warmup=args.warmup,
            rtt_ms=args.rtt_ms,
            profile=profile,
        )
    if profile is not None:
        profile.dump_stats(args.profile)
    return result.to_json()


def run_one(argv: Sequence[str]) -> int:
    """``python -m tests.bench one``: measure one provider, print the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench one")
    parser.add_argument("--provider", required=True)
    parser.add_argument("--simulator", required=True, help="simulator base URL")
    parser.add_argument(
        "--config",
        type=json.loads,
        help="config entry data as JSON (default: the simulator's demo account); the"
        " driver passes it so this process need not import the simulator",
    )
    parser.add_argument("--vehicles", type=int, required=True)
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument(
        "--profile",
        type=Path,
        help="write cProfile stats of the measured refreshes here",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    result = asyncio.run(_measure_one(args))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


# --- a simulated day of one provider at one size, in this process ------------------------


def _prepare_time_travel() -> None:
    """Let freezegun move Home Assistant's clock, as pytest-homeassistant-custom-component does.

    Its time patches must come before Home Assistant is imported (they replace
    ``dt_util.utcnow``); then freezegun gets the plugin's Home Assistant-aware classes.
    """
    import freezegun  # noqa: PLC0415
    from pytest_homeassistant_custom_component import patch_time  # noqa: PLC0415

    api: Any = freezegun.api
    api.FakeDate = patch_time.HAFakeDate
    api.datetime_to_fakedatetime = patch_time.ha_datetime_to_fakedatetime
    api.FakeDatetime = patch_time.HAFakeDatetime
    api._get_module_attributes = patch_time.ha_get_module_attributes
    api._get_module_attributes_hash = patch_time.ha_get_module_attributes_hash
    api._should_use_real_time = patch_time.ha_should_use_real_time
    api.get_current_time = patch_time.ha_get_current_time


async def _day_one(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Live the day twice on the same simulated world: fixed polling, then adaptive."""
    from freezegun import freeze_time  # noqa: PLC0415

    from tests.simulator import SimulatorServer  # noqa: PLC0415

    from .day import day_simulator, run_day  # noqa: PLC0415

    runs = []
    for adaptive in (False, True):
        sim = day_simulator(args.vehicles, args.seed)
        with freeze_time(sim.clock.now()) as freezer:
            async with _bench_hass() as hass, SimulatorServer(sim) as server:
                run = await run_day(
                    hass,
                    freezer,
                    sim,
                    server.config(args.provider),
                    vehicles=args.vehicles,
                    adaptive=adaptive,
                    hours=args.hours,
                )
        if sim.handler_errors:
            raise RuntimeError(f"the simulator failed: {sim.handler_errors[:3]}")
        runs.append(run.to_json())
    return runs


def run_day_one(argv: Sequence[str]) -> int:
    """``python -m tests.bench day-one``: one provider's day, both modes, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m tests.bench day-one")
    parser.add_argument("--provider", required=True)
    parser.add_argument("--vehicles", type=int, required=True)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    _prepare_time_travel()
    runs = asyncio.run(_day_one(args))
    sys.stdout.write(json.dumps(runs) + "\n")
    return 0


# --- the driver: one simulator per size, one process per provider ------------------------


def _progress(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _child(arguments: list[str], what: str) -> Any:
    """Run ``python -m tests.bench <arguments>``; return the JSON of its last line."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.bench", *arguments],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=ONE_TIMEOUT,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed (exit {completed.returncode})")
    return json.loads(lines[-1])


def _measure_in_child(
    provider: str, size: int, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    refreshes = args.refreshes or _refreshes_for(size)
    return _child(  # type: ignore[no-any-return]
        [
            "one",
            "--provider",
            provider,
            "--simulator",
            url,
            "--config",
            json.dumps(simulator_config(provider, url)),
            "--vehicles",
            str(size),
            "--refreshes",
            str(refreshes),
            "--rtt-ms",
            f"{args.rtt_ms:g}",
        ],
        f"{provider} with {size} vehicles",
    )


def _versions() -> str:
    """Name what ran: Home Assistant's and Python's versions."""
    import platform  # noqa: PLC0415

    from homeassistant.const import __version__ as ha_version  # noqa: PLC0415

    return f"Home Assistant {ha_version}, Python {platform.python_version()}"


def _machine(started: float, load_before: float) -> str:
    """Name where it ran and how long it took: CPUs, load average, wall time."""
    return (
        f"{os.cpu_count()} CPUs, load average {load_before:.1f} before and "
        f"{os.getloadavg()[0]:.1f} after; {time.monotonic() - started:.0f} s"
    )


def _run_day(args: argparse.Namespace, sizes: Sequence[int]) -> int:
    """``--day``: each provider's simulated day per size, fixed and adaptive side by side."""
    from .day import DAY_COLUMNS, DAY_START, DayRun, day_row  # noqa: PLC0415
    from .harness import markdown_table  # noqa: PLC0415

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    rows: list[dict[str, str]] = []
    raw: list[dict[str, Any]] = []
    for size in sizes:
        for provider in args.providers:
            runs = _child(
                [
                    "day-one",
                    "--provider",
                    provider,
                    "--vehicles",
                    str(size),
                    "--hours",
                    f"{args.hours:g}",
                    "--seed",
                    str(args.seed),
                ],
                f"the day of {provider} with {size} vehicles",
            )
            raw.extend(runs)
            fixed, adaptive = (DayRun.from_json(run) for run in runs)
            rows.append(day_row(adaptive, fixed))
            _progress(
                "    "
                + ", ".join(f"{title} {text}" for title, text in rows[-1].items())
            )
    out = sys.stdout
    out.write(
        f"\nChargeBridge day: {_versions()}, seed {args.seed}, {args.hours:g} simulated"
        f" hours from {DAY_START.isoformat()}, every cloud at its default telemetry"
        f" period; {_machine(started, load_before)}\n\n"
    )
    out.write(markdown_table(rows) + "\n\nColumns:\n")
    for title, meaning in DAY_COLUMNS.items():
        out.write(f"- {title}: {meaning}\n")
    if args.json is not None:
        args.json.write_text(json.dumps(raw, indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["one"]:
        return run_one(argv[1:])
    if argv[:1] == ["day-one"]:
        return run_day_one(argv[1:])

    from .harness import (  # noqa: PLC0415
        COLUMNS,
        MINIMUM_REQUESTS,
        PROVIDERS,
        ROUND_TRIPS,
        Measurement,
        format_table,
    )

    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark ChargeBridge in Home Assistant against the simulator.",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES} only"
    )
    parser.add_argument(
        "--sizes", type=_parse_sizes, help="comma-separated fleet sizes, e.g. 1,50"
    )
    parser.add_argument(
        "--providers",
        type=_parse_providers,
        default=PROVIDERS,
        help="comma-separated providers (default: all four)",
    )
    parser.add_argument(
        "--refreshes",
        type=int,
        default=0,
        help="refreshes measured per size (default 5, 3 at 1000 vehicles)",
    )
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="simulated RTT")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--start", default=START, help=f"simulated start time (default {START})"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--day",
        action="store_true",
        help="a simulated day per provider and size (default sizes "
        f"{QUICK_SIZES}): requests and lag, fixed polling and adaptive side by side",
    )
    parser.add_argument(
        "--hours", type=float, default=24.0, help="--day: simulated hours (24)"
    )
    args = parser.parse_args(argv)
    if args.day:
        return _run_day(args, args.sizes or QUICK_SIZES)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    results: dict[str, list[Measurement]] = {
        provider: [] for provider in args.providers
    }
    for size in sizes:
        with SimulatorProcess(
            *("--vehicles", str(size), "--latency-ms", f"{args.rtt_ms:g}"),
            *("--seed", str(args.seed), "--start", args.start, "--frozen"),
        ) as simulator:
            _progress(f"==> {size} vehicles per provider: simulator at {simulator.url}")
            for provider in args.providers:
                measured = Measurement.from_json(
                    _measure_in_child(provider, size, simulator.url, args)
                )
                results[provider].append(measured)
                row = measured.row()
                _progress(
                    f"    {provider:9} setup {row['setup s']} s, refresh "
                    f"{row['refresh ms']} ms, {row['requests']} requests "
                    f"(minimum {row['minimum']}), CPU {row['CPU ms']} ms, writes "
                    f"{row['writes unchanged']}, ratio {row['ratio']}"
                )
    out = sys.stdout
    out.write(
        f"\nChargeBridge benchmark: {_versions()}, RTT {args.rtt_ms:g} ms (simulated),"
        f" seed {args.seed}, simulated time {args.start}, median of "
        f"{args.refreshes or '5 (3 at 1000)'} refreshes; "
        f"{_machine(started, load_before)}\n"
    )
    for provider, measurements in results.items():
        out.write(f"\n### {provider}\n\n")
        out.write(f"Minimum requests: {MINIMUM_REQUESTS[provider]}. ")
        out.write(f"Minimum dependent round trips: {ROUND_TRIPS[provider]}.")
        if provider == "hiven":
            scheduled = ", ".join(
                f"N={m.vehicles}: S={m.scheduled}" for m in measurements
            )
            out.write(f" ({scheduled})")
        if provider == "chargeye":
            depots = ", ".join(f"N={m.vehicles}: L={m.depots}" for m in measurements)
            out.write(f" ({depots})")
        out.write("\n\n" + format_table(measurements) + "\n")
    out.write("\nColumns:\n")
    for title, meaning in COLUMNS.items():
        out.write(f"- {title}: {meaning}\n")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {p: [m.to_json() for m in ms] for p, ms in results.items()}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

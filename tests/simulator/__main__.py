"""Run the simulator: `python -m tests.simulator --port 8800 --vehicles 1000`.

Serves all four provider APIs on one port with a realtime clock, for scripts/develop and for
trying a client by hand. Prints the base URL and the demo credentials.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
import signal
import sys
import time

from .core import SimClock, Simulator, default_telemetry
from .profiles import PROVIDER_NAMES
from .testing import SimulatorServer


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator",
        description="Serve simulated Hiven, ChargEye, Jedlix and ev.energy APIs.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--vehicles", type=int, default=3, help="vehicles per provider")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--frozen",
        action="store_true",
        help="stop the clock: time moves only through POST /_admin/clock (benchmarks)",
    )
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="simulated start time (ISO 8601, default: now)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="enforce the documents' strictest readings (also POST /_admin/strict)",
    )
    parser.add_argument(
        "--telemetry",
        type=_telemetry,
        default={},
        help="how often each cloud refreshes a car's telemetry: default (each provider's "
        "own), off (live, the default) or PROVIDER=SECONDS,… (also POST "
        "/_admin/telemetry/PROVIDER)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    if args.vehicles < 0:
        parser.error("--vehicles must be >= 0")
    if args.speed <= 0:
        parser.error("--speed must be > 0")
    return args


def _telemetry(value: str) -> dict[str, float]:
    """Parse --telemetry: "default", "off" or "hiven=300,jedlix=600"."""
    if value == "default":
        return default_telemetry()
    if value == "off":
        return {}
    periods: dict[str, float] = {}
    for item in value.split(","):
        name, _, seconds = item.partition("=")
        if name.strip() not in default_telemetry():
            raise argparse.ArgumentTypeError(
                f"no telemetry provider {name.strip()!r} (one of "
                f"{', '.join(default_telemetry())})"
            )
        try:
            periods[name.strip()] = float(seconds)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not seconds: {seconds!r}") from None
    return periods


def _banner(server: SimulatorServer, seconds: float) -> str:
    sim = server.sim
    lines = [
        f"ChargeBridge simulator on {server.url} (ready in {seconds:.2f} s)",
        (
            f"  {sim.vehicle_count} vehicles per provider, seed {sim.seed}, "
            f"latency {sim.latency_ms:g} ms, clock "
            f"{f'x{sim.clock.speed:g}' if sim.clock.realtime else 'frozen'} at "
            f"{sim.clock.now().isoformat(timespec='seconds')}"
        ),
        f"  admin: {server.url}/_admin/state, variants: {server.url}/_admin/variants",
        "  telemetry: "
        + ", ".join(
            f"{name} {'live' if setting['period'] is None else f'{setting["period"]:g} s'}"
            for name, setting in sim.telemetry().items()
        ),
    ]
    for provider in PROVIDER_NAMES:
        config = server.config(provider)
        fields = ", ".join(
            f"{key}={value}" for key, value in config.items() if key != "provider"
        )
        lines.append(f"  {provider}: {fields}")
    return "\n".join(lines) + "\n"


async def _serve(args: argparse.Namespace, started: float) -> None:
    start = args.start or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    sim = Simulator(
        vehicles=args.vehicles,
        seed=args.seed,
        clock=SimClock(start, realtime=not args.frozen, speed=args.speed),
        latency_ms=args.latency_ms,
        strict=args.strict,
        telemetry=args.telemetry,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatorServer(
        sim, args.host, args.port, access_log=args.access_log
    ) as server:
        sys.stdout.write(_banner(server, time.perf_counter() - started))
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    started = time.perf_counter()
    args = _parse_args(argv)
    asyncio.run(_serve(args, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())

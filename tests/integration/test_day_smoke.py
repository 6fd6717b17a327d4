"""The day benchmark, run in-process on one car for a few hours: it works and counts.

``scripts/bench --day`` measures a whole day per fleet size; this test only checks that a
shorter day with each mode runs against every provider, counts requests, sees every
charging capture shown, and renders every column. No lag or timing is asserted.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from tests.bench.day import DAY_COLUMNS, DayRun, day_row, day_simulator, run_day
from tests.simulator import PROVIDER_NAMES, Simulator, SimulatorServer

HOURS = 3.0


@pytest.fixture
def sim() -> Simulator:
    """Return the day's world with one car per provider (the conftest freezes time at it)."""
    return day_simulator(1)


async def _day(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: Simulator,
    provider: str,
    *,
    adaptive: bool,
) -> DayRun:
    async with SimulatorServer(sim) as server:
        run = await run_day(
            hass,
            freezer,
            sim,
            server.config(provider),
            vehicles=1,
            adaptive=adaptive,
            hours=HOURS,
        )
    assert not sim.handler_errors
    return run


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_day_smoke(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: Simulator,
    socket_enabled: None,
    provider: str,
) -> None:
    """Fixed polling, then adaptive (on a fresh world from where the first ended)."""
    fixed = await _day(hass, freezer, sim, provider, adaptive=False)
    adaptive = await _day(
        hass, freezer, day_simulator(1, start=sim.clock.now()), provider, adaptive=True
    )

    for run in (fixed, adaptive):
        assert run.hours == HOURS
        assert run.requests > 0
        assert run.refreshes > 0
        assert run.missed == 0
        assert run.telemetry == (provider != "chargeye")
        if not run.telemetry:
            assert not run.lags_s
        assert all(lag >= 0 for lag in run.lags_s)
    assert fixed.requests_per_vehicle_day == fixed.requests * 24 / HOURS

    row = day_row(adaptive, fixed)
    assert list(row) == list(DAY_COLUMNS)
    assert all(row.values())
    assert row["provider"] == provider
    if provider == "chargeye":
        assert row["lag mean s adaptive"] == row["captures"] == "n/a"

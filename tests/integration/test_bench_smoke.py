"""The benchmark harness, run in-process on tiny fleets: it works and its counts hold.

``scripts/bench`` measures speed; this test only checks that the harness produces every
column and that a steady-state refresh makes the provider's minimum number of requests
and no state writes. No timing is asserted (time is frozen here anyway).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
import pytest

from tests.bench.harness import (
    COLUMNS,
    LocalSimulator,
    Measurement,
    format_table,
    measure,
    minimum_requests,
)
from tests.simulator import PROVIDER_NAMES, Simulator, SimulatorServer

SIZES = (1, 10)


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_bench_smoke(
    hass: HomeAssistant, socket_enabled: None, provider: str
) -> None:
    """One table for 1 and 10 vehicles: all columns, minimum requests, zero writes."""
    results: list[Measurement] = []
    for size in SIZES:
        sim = Simulator(vehicles=size, seed=1)
        async with SimulatorServer(sim) as server:
            results.append(
                await measure(
                    hass,
                    LocalSimulator(sim),
                    server.config(provider),
                    vehicles=size,
                    refreshes=2,
                )
            )
        assert not sim.handler_errors

    table = format_table(results).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == list(COLUMNS)
    assert len(table) == 2 + len(SIZES)
    for line, result in zip(table[2:], results, strict=True):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == len(COLUMNS)
        assert all(cells)
        assert cells[0] == str(result.vehicles)

    for result in results:
        assert result.entities > 0
        minimum = minimum_requests(
            provider, result.vehicles, result.scheduled, result.depots
        )
        assert result.min_requests == minimum
        if provider == "chargeye":
            assert 1 <= result.depots <= result.vehicles
        assert result.requests == [minimum] * 2
        assert result.client_requests == result.requests
        assert result.writes == [0, 0]
        assert result.state_changed == [0, 0]
        assert result.state_reported == [0, 0]
        assert result.min_round_trips >= 1

"""Tests of the normalized models: input validation happens before any request."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from custom_components.chargebridge.api import (
    Capabilities,
    ChargingPreferences,
    Feature,
    InvalidInputError,
    InvalidTimeError,
    MinimalAboveTargetError,
    NothingToChangeError,
    OutOfRangeError,
    PreferencesUpdate,
    UnsupportedFeatureError,
    Vehicle,
    VehicleSnapshot,
    Weekday,
)
from custom_components.chargebridge.api.models import (
    ChargingPeriod,
    ChargingSlot,
    charging_periods,
    format_hhmm,
    parse_hhmm,
    validate_update,
)


def _snapshot(
    *features: Feature,
    target: tuple[int, int] = (0, 100),
    preferences: ChargingPreferences | None = None,
) -> VehicleSnapshot:
    return VehicleSnapshot(
        vehicle=Vehicle(
            id="car1",
            name="Car",
            capabilities=Capabilities(
                features=frozenset(features),
                target_soc_min=target[0],
                target_soc_max=target[1],
            ),
        ),
        preferences=preferences or ChargingPreferences(),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("00:00", time(0, 0)), ("07:30", time(7, 30)), ("23:59", time(23, 59))],
)
def test_parse_hhmm_accepts_24h_times(value: str, expected: time) -> None:
    """Valid HH:MM strings parse and format back unchanged."""
    assert parse_hhmm("hiven", value) == expected
    assert format_hhmm(expected) == value


@pytest.mark.parametrize(
    "value", ["25:00", "7:30", "07:60", "0730", "", "07:3a", "ab:cd", "07:30:00"]
)
def test_parse_hhmm_rejects_everything_else(value: str) -> None:
    """Anything but HH:MM is refused with a translatable error."""
    with pytest.raises(InvalidInputError) as err:
        parse_hhmm("hiven", value)
    assert type(err.value) is InvalidTimeError
    assert err.value.value == value


def test_effective_ready_time_prefers_the_weekday() -> None:
    """A weekday's own time wins; other days fall back to the general time."""
    preferences = ChargingPreferences(
        ready_time=time(7, 0), weekday_ready_times={Weekday.SATURDAY: time(10, 0)}
    )
    assert preferences.effective_ready_time(Weekday.SATURDAY) == time(10, 0)
    assert preferences.effective_ready_time(Weekday.MONDAY) == time(7, 0)
    assert Weekday.from_index(5) is Weekday.SATURDAY


def test_validate_update_accepts_a_supported_change() -> None:
    """A change within the vehicle's capabilities passes."""
    validate_update(
        "hiven",
        _snapshot(Feature.TARGET_SOC, Feature.MINIMAL_SOC),
        PreferencesUpdate(target_soc=80, minimal_soc=20),
    )


def test_validate_update_rejects_an_empty_update() -> None:
    """An update that changes nothing is a caller error."""
    with pytest.raises(InvalidInputError) as err:
        validate_update("hiven", _snapshot(Feature.TARGET_SOC), PreferencesUpdate())
    assert type(err.value) is NothingToChangeError


def test_validate_update_rejects_an_unsupported_feature() -> None:
    """ev.energy has no ready time: setting one is refused before any request."""
    with pytest.raises(InvalidInputError) as err:
        validate_update(
            "evenergy",
            _snapshot(Feature.TARGET_SOC),
            PreferencesUpdate(ready_time=time(7, 0)),
        )
    assert type(err.value) is UnsupportedFeatureError
    assert err.value.feature == "ready_time"


@pytest.mark.parametrize("target", [49, 101])
def test_validate_update_rejects_a_target_outside_the_range(target: int) -> None:
    """The provider's range (50–100 for ev.energy) bounds the target."""
    with pytest.raises(InvalidInputError) as err:
        validate_update(
            "evenergy",
            _snapshot(Feature.TARGET_SOC, target=(50, 100)),
            PreferencesUpdate(target_soc=target),
        )
    assert type(err.value) is OutOfRangeError
    assert err.value.low == 50
    assert err.value.high == 100


def test_validate_update_rejects_minimal_above_current_target() -> None:
    """The minimal charge is checked against the target already set."""
    with pytest.raises(InvalidInputError) as err:
        validate_update(
            "hiven",
            _snapshot(
                Feature.TARGET_SOC,
                Feature.MINIMAL_SOC,
                preferences=ChargingPreferences(target_soc=60),
            ),
            PreferencesUpdate(minimal_soc=70),
        )
    assert type(err.value) is MinimalAboveTargetError


def test_validate_update_rejects_target_below_current_minimal() -> None:
    """Lowering the target under the minimal charge is refused as well."""
    with pytest.raises(InvalidInputError):
        validate_update(
            "hiven",
            _snapshot(
                Feature.TARGET_SOC,
                Feature.MINIMAL_SOC,
                preferences=ChargingPreferences(minimal_soc=40),
            ),
            PreferencesUpdate(target_soc=30),
        )


def test_changed_features_ignores_an_empty_weekday_map() -> None:
    """An empty weekday map changes nothing."""
    assert PreferencesUpdate(weekday_ready_times={}).changed_features() == set()
    assert PreferencesUpdate(
        weekday_ready_times={Weekday.MONDAY: time(8, 0)}, smart_charging=False
    ).changed_features() == {Feature.WEEKDAY_READY_TIMES, Feature.SMART_CHARGING}


# --- charging periods ----------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 22, 0, tzinfo=UTC)


def _slot(start_h: float, end_h: float, **values: float | None) -> ChargingSlot:
    return ChargingSlot(
        start=T0 + timedelta(hours=start_h), end=T0 + timedelta(hours=end_h), **values
    )


def test_charging_periods_merge_adjacent_slots_and_sum_their_energy() -> None:
    """Back-to-back slots are one period; a gap starts another; energy adds up."""
    periods = charging_periods(
        [
            _slot(2, 3, energy_wh=7000, power_w=7000),
            _slot(0, 1, energy_wh=5000, power_w=5000),
            _slot(1, 2, energy_wh=6000, power_w=6500),
        ],
        T0 - timedelta(hours=1),
    )
    assert periods == (
        ChargingPeriod(
            start=T0, end=T0 + timedelta(hours=3), energy_wh=18000, power_w=7000
        ),
    )
    split = charging_periods([_slot(0, 1), _slot(1.5, 2)], T0)
    assert [(p.start, p.end) for p in split] == [
        (T0, T0 + timedelta(hours=1)),
        (T0 + timedelta(hours=1.5), T0 + timedelta(hours=2)),
    ]


def test_charging_periods_keep_current_and_upcoming_only() -> None:
    """A period that has ended is left out; the one under way stays whole."""
    slots = [_slot(0, 1), _slot(2, 4)]
    assert [p.start for p in charging_periods(slots, T0 + timedelta(hours=1))] == [
        T0 + timedelta(hours=2)
    ]
    (current,) = charging_periods(slots, T0 + timedelta(hours=3))
    assert (current.start, current.end) == (
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=4),
    )
    assert charging_periods(slots, T0 + timedelta(hours=4)) == ()


def test_charging_periods_energy_unknown_if_any_slot_does_not_say() -> None:
    """An energy that is only partly known is not shown as the sum of the known part."""
    (period,) = charging_periods(
        [_slot(0, 1, energy_wh=5000), _slot(1, 2), _slot(2, 2)], T0
    )
    assert period.energy_wh is None
    assert period.power_w is None
    assert period.end == T0 + timedelta(hours=2)

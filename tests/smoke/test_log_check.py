"""The smoke check's log reading: it must see what it is meant to refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.smoke.__main__ import Smoke, log_records

NOTICE = (
    "WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration "
    "chargebridge which has not been tested by Home Assistant."
)


@pytest.mark.parametrize(
    "stamp", ["2026-12-03 16:20:16.832", "2026-12-03 16:23:12.542+00:00"]
)
def test_records_in_both_time_formats(stamp: str) -> None:
    """A record starts at its time (2026.11 added the offset); a traceback stays in it."""
    log = (
        f"{stamp} ERROR (MainThread) [custom_components.chargebridge] Boom\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        f"{stamp} INFO (MainThread) [homeassistant.setup] Setting up sun\n"
    )
    assert [
        (level, len(record.splitlines())) for level, record in log_records(log)
    ] == [
        ("ERROR", 3),
        ("INFO", 1),
    ]


def _problems(tmp_path: Path, log: str, output: str = "") -> list[str]:
    smoke = Smoke(tmp_path, ha_port=0, sim_port=0)
    (tmp_path / "home-assistant.log").write_text(log)
    (tmp_path / "hass.out").write_text(output)
    smoke.check_logs()
    return smoke.problems


def test_only_the_custom_integration_notice_is_tolerated(tmp_path: Path) -> None:
    """The notice passes; a warning about chargebridge from anyone does not."""
    stamp = "2026-12-03 16:20:16.832"
    assert _problems(tmp_path, f"{stamp} {NOTICE}\n") == []
    problems = _problems(
        tmp_path,
        f"{stamp} {NOTICE}\n"
        f"{stamp} WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
        "custom integration 'chargebridge' calls a deprecated function\n"
        f"{stamp} ERROR (MainThread) [homeassistant.components.sensor] Boom\n"
        '  File "custom_components/chargebridge/sensor.py", line 3\n',
        "custom_components/chargebridge/entity.py:9: DeprecationWarning: old\n",
    )
    assert len(problems) == 1
    assert "Detected that custom integration" in problems[0]
    assert "components.sensor] Boom" in problems[0]
    assert "entity.py:9: DeprecationWarning" in problems[0]


def test_an_unreadable_log_fails(tmp_path: Path) -> None:
    """A log whose records the check cannot find fails instead of passing empty."""
    problems = _problems(tmp_path, f"[16:20:16] {NOTICE}\n")
    assert any("notice is missing" in problem for problem in problems)


def test_secrets_in_the_log_fail_without_being_shown(tmp_path: Path) -> None:
    """A secret in the log is named by a hint, never printed."""
    smoke = Smoke(tmp_path, ha_port=0, sim_port=0)
    smoke.secrets = {"sk-live-0123456789"}
    (tmp_path / "home-assistant.log").write_text(
        f"2026-12-03 16:20:16.832 {NOTICE}\n"
        "2026-12-03 16:20:17.000 DEBUG (MainThread) [x] key sk-live-0123456789\n"
    )
    (tmp_path / "hass.out").write_text("")
    smoke.check_logs()
    assert len(smoke.problems) == 1
    assert "sk-live-0123456789" not in smoke.problems[0]

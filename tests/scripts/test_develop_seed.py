"""develop_seed.py tells each Home Assistant to listen on 127.0.0.1 where it looks.

Since 2026.10 Home Assistant keeps its HTTP settings in ``.storage/http`` and treats YAML
ones as a trial to confirm (a dialog, a repair issue, a revert after five minutes); older
versions read only YAML. These tests run Home Assistant's own HTTP config loader on what
the seed left, on whichever version is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.yaml import load_yaml
import pytest

from tests.smoke.__main__ import seed  # scripts/develop_seed.py, loaded by path

PORT = 18123

try:
    from homeassistant.components.http import config as http_config
except ImportError:  # Home Assistant before 2026.10
    http_config = None


@pytest.mark.skipif(http_config is not None, reason="HTTP settings live in .storage")
async def test_yaml_where_there_is_no_http_storage(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """Older versions get the settings as a YAML package configuration.yaml includes."""
    await seed._seed_http(hass, tmp_path, PORT)
    assert load_yaml(str(tmp_path / "packages" / "http.yaml")) == {
        "http": {"server_host": "127.0.0.1", "server_port": PORT}
    }


@pytest.mark.skipif(http_config is None, reason="HTTP settings live in YAML")
@pytest.mark.parametrize(
    "earlier",
    [
        None,
        {"server_host": ["127.0.0.1"], "server_port": PORT},
        {"server_host": ["127.0.0.1"], "server_port": 8123},
    ],
    ids=["fresh", "same-yaml-on-trial", "other-yaml-on-trial"],
)
async def test_storage_confirmed_without_a_trial(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    tmp_path: Path,
    earlier: dict[str, Any] | None,
) -> None:
    """Stable from the first start: no pending trial, no revert, no repair issue.

    ``earlier`` is YAML an earlier demo migrated into a pending trial, the state the old
    configuration.yaml left; a YAML package from an older version is removed.
    """
    assert http_config is not None
    (tmp_path / "packages").mkdir()
    (tmp_path / "packages" / "http.yaml").write_text("http:\n  server_port: 8123\n")
    if earlier is not None:
        store = await http_config.async_get_and_load_store(hass)
        await store.async_migrate_yaml(earlier)
        assert store.pending is not None
    hass.data.pop(http_config.DATA_STORE, None)  # the seed runs in its own process

    await seed._seed_http(hass, tmp_path, PORT)
    await seed._seed_http(hass, tmp_path, PORT)  # idempotent

    hass.data.pop(http_config.DATA_STORE, None)  # then Home Assistant starts
    conf = await http_config.async_load_config(hass, {})
    store = hass.data[http_config.DATA_STORE]
    assert (conf["server_host"], conf["server_port"]) == (["127.0.0.1"], PORT)
    assert store.active_config_type is http_config.ActiveConfigType.STABLE
    assert store.pending is None
    assert store.revert_deadline is None
    assert ir.async_get(hass).issues == {}
    assert hass_storage["http"]["data"]["yaml_migration_done"] is True
    assert not (tmp_path / "packages" / "http.yaml").exists()

"""Every user-facing string exists, in every language, with the same placeholders."""

from __future__ import annotations

import json
from pathlib import Path
import re
from string import Formatter
from typing import Any

import pytest

from custom_components.chargebridge import (
    binary_sensor,
    button,
    number,
    select,
    sensor,
    switch,
    time,
)
from custom_components.chargebridge.api.registry import PROVIDERS
from custom_components.chargebridge.helpers import _ERROR_KEYS, _INPUT_ERROR_KEYS

PACKAGE = Path(__file__).parents[2] / "custom_components" / "chargebridge"
STRINGS = json.loads((PACKAGE / "strings.json").read_text(encoding="utf-8"))
LANGUAGES = ["en", "nl", "de"]
PLATFORMS = {
    "binary_sensor": binary_sensor,
    "number": number,
    "select": select,
    "sensor": sensor,
    "switch": switch,
    "time": time,
}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Return path → string for every leaf."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat |= flatten(value, path)
        else:
            flat[path] = value
    return flat


def placeholders(text: str) -> set[str]:
    """Return the {placeholders} of a string."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def translation(language: str) -> dict[str, Any]:
    """Return a translation file."""
    path = PACKAGE / "translations" / f"{language}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_english_is_strings_json() -> None:
    """translations/en.json is strings.json (custom integrations read the former)."""
    assert translation("en") == STRINGS


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_and_placeholders(language: str) -> None:
    """Each language has every string, with the same placeholders, none left empty."""
    english = flatten(STRINGS)
    other = flatten(translation(language))
    assert other.keys() == english.keys()
    for path, text in other.items():
        assert text.strip(), path
        assert placeholders(text) == placeholders(english[path]), path


def test_every_raised_translation_key_exists() -> None:
    """Every translation_key in the code (clients and integration) has a message."""
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for path in [
            *(PACKAGE / "api").glob("*.py"),
            *(
                PACKAGE / name
                for name in (
                    "__init__.py",
                    "coordinator.py",
                    "services.py",
                    "helpers.py",
                )
            ),
        ]
    )
    raised = set(re.findall(r'translation_key="([a-z_]+)"', source))
    raised |= {key for _, key in _ERROR_KEYS} | {"provider_error", "vehicle_not_found"}
    raised |= {key for key, _ in _INPUT_ERROR_KEYS.values()} | {"invalid_input"}
    assert raised <= STRINGS["exceptions"].keys()


def test_every_entity_has_a_name_and_every_state_a_word() -> None:
    """Every description's translation key (and ChargEye's plan variant) is named."""
    entity = STRINGS["entity"]
    plan_keys = set().union(*(client.estimated for client in PROVIDERS.values()))
    for platform, module in PLATFORMS.items():
        for description in module.DESCRIPTIONS:
            keys = [description.translation_key]
            if description.key in plan_keys:
                keys.append(f"{description.key}_plan")
            for key in keys:
                assert entity[platform][key]["name"], key
                options = getattr(description, "options", None)
                if options:
                    assert set(entity[platform][key]["state"]) == set(options), key


def test_account_entities_and_device_are_named() -> None:
    """The account's sensors and button, and its device, have names."""
    entity = STRINGS["entity"]
    for description in sensor.ACCOUNT_DESCRIPTIONS:
        assert entity["sensor"][description.translation_key]["name"]
    assert entity["button"][button.REFRESH.translation_key]["name"]
    assert placeholders(STRINGS["device"]["account"]["name"]) == {"provider"}


def test_icons_belong_to_entities() -> None:
    """icons.json names only translation keys that exist."""
    icons = json.loads((PACKAGE / "icons.json").read_text(encoding="utf-8"))
    for platform, keys in icons["entity"].items():
        assert set(keys) <= set(STRINGS["entity"][platform]), platform

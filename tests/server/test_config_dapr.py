"""How the settings decide whether the service uses a Dapr sidecar."""

from __future__ import annotations

import pytest

from taskora.cli.settings import build_settings
from taskora.config import Settings
from taskora.errors import TaskoraError


@pytest.fixture(autouse=True)
def no_dapr_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TASKORA_DAPR", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("environment", "enabled"),
    [
        ({}, False),
        ({"DAPR_HTTP_PORT": "3500"}, True),
        ({"DAPR_GRPC_PORT": "50001"}, True),
        ({"TASKORA_DAPR": "on"}, True),
        ({"TASKORA_DAPR": "1"}, True),
        ({"TASKORA_DAPR": "false", "DAPR_HTTP_PORT": "3500"}, False),
        ({"TASKORA_DAPR": "off", "DAPR_GRPC_PORT": "50001"}, False),
    ],
)
def test_dapr_mode_from_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], enabled: bool
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert Settings().dapr_enabled is enabled


def test_dapr_setting_names_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKORA_DAPR", "maybe")

    with pytest.raises(TaskoraError) as caught:
        build_settings()

    assert caught.value.message == (
        "invalid settings: TASKORA_DAPR: 'maybe' is not on or off: use 1, true, yes or on to "
        "use the Dapr sidecar, or 0, false, no or off to keep it off"
    )

"""How the settings read TASKORA_EVENT_RETENTION and TASKORA_IDEMPOTENCY_TTL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from taskora.cli.settings import build_settings
from taskora.config import Settings
from taskora.errors import ExitCode, TaskoraError

FORMS = "whole seconds such as 3600 or an ISO 8601 duration such as PT1H"


@pytest.fixture(autouse=True)
def no_duration_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TASKORA_EVENT_RETENTION", "TASKORA_IDEMPOTENCY_TTL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("variable", ["TASKORA_EVENT_RETENTION", "TASKORA_IDEMPOTENCY_TTL"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3600", timedelta(hours=1)),
        ("60", timedelta(minutes=1)),
        ("1", timedelta(seconds=1)),
        (" 90 ", timedelta(seconds=90)),
        ("PT1H", timedelta(hours=1)),
        ("P7D", timedelta(days=7)),
        ("PT24H", timedelta(hours=24)),
        ("P1DT30M", timedelta(days=1, minutes=30)),
        ("3153600000", timedelta(days=36500)),
        ("P36500D", timedelta(days=36500)),
    ],
)
def test_duration_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, variable: str, text: str, expected: timedelta
) -> None:
    monkeypatch.setenv(variable, text)

    settings = Settings()

    field = variable.removeprefix("TASKORA_").lower()
    assert getattr(settings, field) == expected


def test_duration_defaults() -> None:
    settings = Settings()

    assert settings.event_retention == timedelta(days=7)
    assert settings.idempotency_ttl == timedelta(hours=24)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0", f"use a duration longer than zero, as {FORMS}"),
        ("-5", f"use a duration longer than zero, as {FORMS}"),
        ("PT0S", f"use a duration longer than zero, as {FORMS}"),
        ("-PT1H", f"use a duration longer than zero, as {FORMS}"),
        ("1.5", f"use {FORMS}"),
        ("1h", f"use {FORMS}"),
        ("abc", f"use {FORMS}"),
        ("", f"use {FORMS}"),
        ("3153600001", "use at most 100 years (P36500D or 3153600000 seconds)"),
        ("P36501D", "use at most 100 years (P36500D or 3153600000 seconds)"),
        ("9" * 40, "use at most 100 years (P36500D or 3153600000 seconds)"),
    ],
)
def test_duration_rejects_value(monkeypatch: pytest.MonkeyPatch, text: str, reason: str) -> None:
    monkeypatch.setenv("TASKORA_EVENT_RETENTION", text)

    with pytest.raises(TaskoraError) as caught:
        build_settings()

    assert str(caught.value) == (
        f"invalid settings: TASKORA_EVENT_RETENTION: invalid duration {text!r}: {reason}"
    )
    assert caught.value.exit_code == ExitCode.USAGE


def test_duration_error_names_ttl_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKORA_IDEMPOTENCY_TTL", "-5")

    with pytest.raises(TaskoraError) as caught:
        build_settings()

    assert str(caught.value) == (
        "invalid settings: TASKORA_IDEMPOTENCY_TTL: invalid duration '-5': "
        f"use a duration longer than zero, as {FORMS}"
    )

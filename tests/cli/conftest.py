"""Fixtures for the client command tests: an isolated environment and a scripted HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from cli_helpers import ScriptedServer, build_cli
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def isolated_client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the config file at an empty temp path and clear the client's variables."""
    config = tmp_path / "config" / "taskora.toml"
    monkeypatch.setenv("TASKORA_CONFIG", str(config))
    monkeypatch.delenv("TASKORA_URL", raising=False)
    monkeypatch.delenv("TASKORA_TOKEN", raising=False)
    return config


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A :class:`ScriptedServer`, stopped after the test."""
    server = ScriptedServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli() -> typer.Typer:
    return build_cli()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()

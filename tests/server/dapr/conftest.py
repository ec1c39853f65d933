"""Fixtures of the Dapr tests: the service started beside the test sidecar.

The sidecar is a test double (tests/support/dapr_sidecar.py) because daprd cannot be
installed on the machines that run these tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from taskora.config import Settings
from taskora.server.runner import add_user
from tests.support.dapr_sidecar import TestSidecar
from tests.support.servers import ServerProcess

WAIT_SECONDS = 15.0
SECRET_STORE = "secretstore"


def wait_for(condition: Callable[[], bool], description: str) -> None:
    """Poll ``condition`` until it holds, failing with ``description`` after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {description}")


@dataclass
class DaprService:
    """The service, its sidecar and a user's API client."""

    server: ServerProcess
    sidecar: TestSidecar
    database_url: str

    @property
    def url(self) -> str:
        return self.server.url

    def create_user(self, name: str) -> httpx.Client:
        """Create the user ``name`` in the service's database and return its client."""
        token = add_user(Settings(database_url=self.database_url), name)[1]
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )


def start_dapr_service(
    home: Path,
    sidecar: TestSidecar,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> DaprService:
    """Start ``taskora serve`` with the Dapr variables pointing at ``sidecar``."""
    url = database_url or f"sqlite:///{home / 'service.db'}"
    server = ServerProcess(
        home=home,
        database_url=url,
        extra_env={**sidecar.env, **(extra_env or {})},
    )
    server.start()
    sidecar.connect_app(server.url)
    return DaprService(server=server, sidecar=sidecar, database_url=url)


@pytest.fixture
def sidecar() -> Iterator[TestSidecar]:
    """A running test sidecar with an empty secret store."""
    double = TestSidecar()
    double.recorder.secrets[SECRET_STORE] = {}
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def service(tmp_path: Path, sidecar: TestSidecar) -> Iterator[DaprService]:
    """The service on SQLite beside ``sidecar``."""
    running = start_dapr_service(tmp_path, sidecar)
    try:
        yield running
    finally:
        running.server.stop()

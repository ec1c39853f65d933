"""Fixtures shared by every test suite: real servers on free loopback ports, real databases."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.postgres import temporary_database
from tests.support.servers import ServerProcess

_user_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _drop_command_log_handlers() -> Iterator[None]:
    """Remove the stream handlers that a command run in this process added to the root logger.

    `taskora serve` and the other server-side commands call logging.basicConfig, whose
    handler keeps the stderr of the CliRunner that ran them. Once that runner closes it,
    every later log line in the process would fail with "I/O operation on closed file".
    """
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before and type(handler) is logging.StreamHandler:
            root.removeHandler(handler)


@dataclass
class LiveServer:
    """A running ``taskora serve`` and what a client needs to reach it."""

    server: ServerProcess
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        """Environment for ``taskora`` subprocesses: the server's config file and directories."""
        return self.server.env

    def create_user(self, name: str | None = None) -> str:
        """Create a user (a unique name when none is given) and return its token."""
        return self.server.create_user(name or f"user{next(_user_numbers)}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server for this test session."""
    with temporary_database() as url:
        yield url


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``taskora serve`` on the embedded default database, first started as a new user would.

    Its token is the one the first start saved in the CLI config file.
    """
    server = ServerProcess(home=tmp_path_factory.mktemp("live-server"))
    server.start()
    try:
        yield LiveServer(server=server, token=server.saved_token())
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``taskora serve`` on SQLite and on PostgreSQL; each test makes its own users."""
    home: Path = tmp_path_factory.mktemp(f"api-server-{request.param}")
    database_url = (
        f"sqlite:///{home / 'api.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    server = ServerProcess(home=home, database_url=database_url)
    server.start()
    try:
        yield LiveServer(server=server, token=server.create_user("owner"))
    finally:
        server.stop()

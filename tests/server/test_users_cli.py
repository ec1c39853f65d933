"""``taskora users list``, ``token`` and ``edit``, on the embedded database and a live server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess, isolated_env, taskora_command


def run_taskora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        taskora_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def status_with(server: ServerProcess, token: str) -> int:
    response = httpx.get(
        f"{server.url}/api/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.status_code


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An isolated home whose embedded database has the user alice."""
    env = isolated_env(tmp_path)
    created = run_taskora(env, "users", "create", "alice", "--timezone", "Europe/Berlin")
    assert created.returncode == 0, created.stderr
    return env


def test_token_revokes_earlier_tokens(tmp_path: Path) -> None:
    """The old token is never used before the reissue, so no server cache can hold it."""
    server = ServerProcess(home=tmp_path)
    server.start()
    try:
        old = json.loads(run_taskora(server.env, "users", "create", "bob", "--json").stdout)
        result = run_taskora(server.env, "users", "token", "bob", "--json")
        reissued = json.loads(result.stdout)

        assert result.returncode == 0, result.stderr
        assert reissued["name"] == "bob"
        assert reissued["revoked"] == 1
        assert reissued["token"] != old["token"]
        assert status_with(server, old["token"]) == 401
        assert status_with(server, reissued["token"]) == 200
    finally:
        server.stop()


def test_token_keep_others(env: dict[str, str]) -> None:
    result = run_taskora(env, "users", "token", "alice", "--keep-others")
    listed = json.loads(run_taskora(env, "users", "list", "--json").stdout)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "New API token for alice (0 earlier tokens revoked):"
    assert lines[1].startswith("tko_")
    assert lines[2] == "It is shown only this once; store it now."
    assert [(user["name"], user["tokens"]) for user in listed] == [("alice", 2)]


def test_edit_sets_timezone(env: dict[str, str]) -> None:
    result = run_taskora(env, "users", "edit", "alice", "--timezone", "America/New_York")
    listed = json.loads(run_taskora(env, "users", "list", "--json").stdout)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "User alice now has the time zone America/New_York."
    assert listed[0]["timezone"] == "America/New_York"


def test_list_table(env: dict[str, str]) -> None:
    run_taskora(env, "users", "create", "carol")

    result = run_taskora(env, "users", "list")

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["ID", "NAME", "TIME", "ZONE", "TOKENS", "CREATED"]
    assert [row[:4] for row in rows[1:]] == [
        ["1", "alice", "Europe/Berlin", "1"],
        ["2", "carol", "UTC", "1"],
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("token", "bob"),
            5,
            "Error: user 'bob' not found: list the users with `taskora users list`",
        ),
        (
            ("edit", "bob", "--timezone", "UTC"),
            5,
            "Error: user 'bob' not found: list the users with `taskora users list`",
        ),
        (
            ("edit", "alice", "--timezone", "Mars/Base"),
            2,
            (
                "Error: unknown time zone 'Mars/Base': use an IANA name such as "
                "'Europe/Berlin' or 'UTC'"
            ),
        ),
    ],
    ids=["token-unknown-user", "edit-unknown-user", "edit-bad-zone"],
)
def test_users_errors(env: dict[str, str], args: tuple[str, ...], code: int, message: str) -> None:
    result = run_taskora(env, "users", *args)
    listed = json.loads(run_taskora(env, "users", "list", "--json").stdout)

    assert result.returncode == code
    assert result.stderr.strip() == message
    assert [(user["name"], user["timezone"], user["tokens"]) for user in listed] == [
        ("alice", "Europe/Berlin", 1)
    ]


def test_list_without_database(tmp_path: Path) -> None:
    result = run_taskora(isolated_env(tmp_path), "users", "list")

    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        f"Error: no database at {tmp_path / 'data' / 'taskora' / 'taskora.db'}"
    )
    assert not (tmp_path / "data" / "taskora" / "taskora.db").exists()

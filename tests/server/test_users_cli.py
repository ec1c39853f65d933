"""``taskora users list``, ``token`` and ``edit``, on the embedded database and a live server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from taskora.server.store.database import describe_url
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
    assert lines[0] == "New API token for alice (earlier tokens kept):"
    assert lines[1].startswith("tko_")
    assert lines[2] == "It is shown only this once; store it now."
    assert [(user["name"], user["tokens"]) for user in listed] == [("alice", 2)]


def test_token_of_config_user_updates_config(tmp_path: Path) -> None:
    """Reissuing the local user's token keeps the CLI working: the config gets the new one."""
    server = ServerProcess(home=tmp_path)
    server.start()
    try:
        config_file = Path(server.env["TASKORA_CONFIG"])
        result = run_taskora(server.env, "users", "token", "local")
        new_token = result.stdout.splitlines()[1]
        listed = run_taskora(server.env, "tasks", "list", "--url", server.url)

        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[3] == (
            f"The CLI config {config_file} contained a revoked token of local; it now "
            "contains the new one."
        )
        assert server.saved_token() == new_token
        assert listed.returncode == 0, listed.stderr
    finally:
        server.stop()


def test_token_of_other_user_leaves_config(env: dict[str, str]) -> None:
    config_file = Path(env["TASKORA_CONFIG"])
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text('url = "http://127.0.0.1:9"\ntoken = "tko_not-alice"\n')

    result = run_taskora(env, "users", "token", "alice", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config_updated"] is False
    assert config_file.read_text() == 'url = "http://127.0.0.1:9"\ntoken = "tko_not-alice"\n'


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


def test_describe_url_relative_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert describe_url("sqlite:///rel/a.db") == f"sqlite:///{tmp_path / 'rel' / 'a.db'}"
    assert describe_url("sqlite:////srv/a.db") == "sqlite:////srv/a.db"
    assert describe_url("postgresql://u:secret@127.0.0.1/db") == "postgresql://u:***@127.0.0.1/db"

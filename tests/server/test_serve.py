"""``taskora serve`` and ``taskora users create`` as a new user runs them."""

from __future__ import annotations

import json
import signal
import sqlite3
import stat
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess, free_port, isolated_env, taskora_command


def latest_revision() -> str:
    from alembic.script import ScriptDirectory

    from taskora.server.store.database import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def run_taskora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        taskora_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(home=tmp_path)
    yield process
    process.stop()


def test_first_start_saves_working_token(server: ServerProcess) -> None:
    server.start()
    config_file = Path(server.env["TASKORA_CONFIG"])
    config = tomllib.loads(config_file.read_text())

    response = httpx.get(
        f"{server.url}/api/users/me",
        headers={"Authorization": f"Bearer {config['token']}"},
        timeout=10,
    )

    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert config["url"] == server.url
    assert config["token"].startswith("tko_")
    assert response.json()["name"] == "local"


def test_first_start_uses_data_directory(server: ServerProcess) -> None:
    server.start()
    database = server.home / "data" / "taskora" / "taskora.db"

    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        token_hashes = [row[0] for row in connection.execute("SELECT token_hash FROM api_tokens")]

    token = server.saved_token()
    assert {"users", "api_tokens", "tasks", "task_tags", "events"} <= tables
    assert version == latest_revision()
    assert len(token_hashes) == 1
    assert token not in token_hashes[0]
    assert len(token_hashes[0]) == 64


def test_restart_keeps_saved_token(server: ServerProcess) -> None:
    server.start()
    first_token = server.saved_token()
    assert server.stop() == 0

    server.start()

    assert server.saved_token() == first_token


def test_deleted_database_gets_new_token(server: ServerProcess) -> None:
    server.start()
    first_token = server.saved_token()
    server.stop()
    for path in (server.home / "data" / "taskora").iterdir():
        path.unlink()

    server.start()
    new_token = server.saved_token()
    response = httpx.get(
        f"{server.url}/api/users/me", headers={"Authorization": f"Bearer {new_token}"}, timeout=10
    )

    assert new_token != first_token
    assert response.status_code == 200


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(server: ServerProcess, sig: signal.Signals) -> None:
    server.start()

    code = server.stop(sig)

    assert code == 0
    assert "Service stopped" in server.log


def test_start_logs_database_and_address(server: ServerProcess) -> None:
    server.start()
    database = server.home / "data" / "taskora" / "taskora.db"

    assert f"Database: embedded SQLite at {database}" in server.log
    assert f"Listening on http://127.0.0.1:{server.port}" in server.log


def test_serve_rejects_unsupported_database_url(tmp_path: Path) -> None:
    result = run_taskora(
        isolated_env(tmp_path), "serve", "--database-url", "mysql://root@127.0.0.1/x"
    )

    assert result.returncode == 2
    assert "unsupported database URL scheme 'mysql'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_accepts_retention_seconds(tmp_path: Path) -> None:
    server = ServerProcess(home=tmp_path, extra_env={"TASKORA_EVENT_RETENTION": "3600"})
    try:
        server.start()
        response = httpx.get(f"{server.url}/readyz", timeout=10)
    finally:
        exit_code = server.stop()

    assert response.status_code == 200
    assert exit_code == 0


def test_serve_rejects_negative_retention(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    env["TASKORA_EVENT_RETENTION"] = "-5"

    result = run_taskora(env, "serve", "--port", str(free_port()))

    assert result.returncode == 2
    assert result.stderr == (
        "Error: invalid settings: TASKORA_EVENT_RETENTION: invalid duration '-5': use a "
        "duration longer than zero, as whole seconds such as 3600 or an ISO 8601 duration "
        "such as PT1H\n"
    )


def test_serve_reports_unreachable_database(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://nobody:secret-password@127.0.0.1:{port}/none"

    result = run_taskora(
        isolated_env(tmp_path), "serve", "--database-url", url, "--port", str(free_port())
    )

    assert result.returncode == 1
    assert (
        f"Error: cannot open the database postgresql://nobody:***@127.0.0.1:{port}/none"
        in result.stderr
    )
    assert "secret-password" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_users_create_prints_token_once(server: ServerProcess) -> None:
    server.start()

    result = run_taskora(server.env, "users", "create", "bob")
    token = result.stdout.splitlines()[2]
    response = httpx.get(
        f"{server.url}/api/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "Created user bob (id 2)."
    assert response.json()["name"] == "bob"


def test_users_create_json(tmp_path: Path) -> None:
    result = run_taskora(isolated_env(tmp_path), "users", "create", "carol", "--json")
    created = json.loads(result.stdout)

    assert result.returncode == 0
    assert created["name"] == "carol"
    assert created["id"] == 1
    assert created["token"].startswith("tko_")


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("local", 6, "Error: user 'local' already exists: choose another name"),
        (
            "bad name",
            2,
            "Error: invalid user name 'bad name': use 1 to 64 letters, digits, '.', '_' or '-'",
        ),
    ],
)
def test_users_create_rejects_name(
    server: ServerProcess, name: str, code: int, message: str
) -> None:
    server.start()

    result = run_taskora(server.env, "users", "create", name)

    assert result.returncode == code
    assert result.stderr.strip() == message


def test_sigterm_with_open_stream_stops_cleanly(server: ServerProcess) -> None:
    server.start()
    token = server.saved_token()
    with httpx.stream(
        "GET",
        f"{server.url}/api/events/stream",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10, read=30),
    ) as response:
        assert response.status_code == 200
        code = server.stop(signal.SIGTERM)

    # stop() kills the process after 15 s, which would show as -9 here.
    assert code == 0
    assert "Service stopped" in server.log


def test_database_file_is_private(server: ServerProcess) -> None:
    server.start()
    data = server.home / "data" / "taskora"

    assert stat.S_IMODE((data / "taskora.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_busy_port_fails_before_start(server: ServerProcess, tmp_path: Path) -> None:
    server.start()

    result = run_taskora(isolated_env(tmp_path / "second"), "serve", "--port", str(server.port))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: cannot listen on 127.0.0.1:{server.port}: Address already in use. "
        "Stop the program using it or pass another --port."
    )
    assert "Database:" not in result.stderr


def test_second_server_leaves_config_alone(server: ServerProcess, tmp_path: Path) -> None:
    server.start()
    config_file = Path(server.env["TASKORA_CONFIG"])
    before = config_file.read_text()
    second = ServerProcess(home=server.home, extra_args=("--data-dir", str(tmp_path / "other")))

    second.start()
    second.stop()

    assert config_file.read_text() == before
    assert "is left unchanged" in second.log


def test_second_port_same_database_keeps_config(server: ServerProcess) -> None:
    """A second server on the same database does not take the CLI from the running one."""
    server.start()
    config_file = Path(server.env["TASKORA_CONFIG"])
    before = config_file.read_text()
    second = ServerProcess(home=server.home)

    second.start()
    second.stop()

    assert config_file.read_text() == before
    assert (
        f"The CLI config {config_file} points at the server running at {server.url}, so it "
        f"is left unchanged. To use this server, pass --url {second.url}."
    ) in second.log


def test_other_database_same_port_keeps_config(server: ServerProcess, tmp_path: Path) -> None:
    """A scratch server on the port of a stopped one must not replace the first one's token."""
    server.start()
    server.stop()
    config_file = Path(server.env["TASKORA_CONFIG"])
    before = config_file.read_text()
    database = server.home / "data" / "taskora" / "taskora.db"
    scratch_dir = tmp_path / "scratch"
    scratch = ServerProcess(
        home=server.home, port=server.port, extra_args=("--data-dir", str(scratch_dir))
    )

    scratch.start()
    scratch.stop()

    assert config_file.read_text() == before
    assert tomllib.loads(before)["database"] == str(database)
    assert (
        f"The CLI config {config_file} holds a token of {database}, so it is left unchanged. "
        f"To use this server, print a token with `taskora users token local --data-dir "
        f"{scratch_dir}` and pass --url {scratch.url} --token TOKEN."
    ) in scratch.log


def test_recreated_database_gets_new_token(server: ServerProcess) -> None:
    """The config's own database file, deleted and created again, gets a new token."""
    server.start()
    old_token = server.saved_token()
    server.stop()
    for path in (server.home / "data" / "taskora").glob("taskora.db*"):
        path.unlink()

    server.start()
    new_token = server.saved_token()
    response = httpx.get(
        f"{server.url}/api/users/me", headers={"Authorization": f"Bearer {new_token}"}, timeout=10
    )
    server.stop()

    assert new_token != old_token
    assert response.status_code == 200


def test_new_port_updates_config_url(server: ServerProcess) -> None:
    server.start()
    token = server.saved_token()
    server.stop()
    moved = ServerProcess(home=server.home)

    moved.start()
    config = tomllib.loads(Path(moved.env["TASKORA_CONFIG"]).read_text())
    moved.stop()

    assert config["url"] == moved.url
    assert config["token"] == token


def test_users_create_with_timezone(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)

    created = run_taskora(env, "users", "create", "dora", "--timezone", "Europe/Berlin", "--json")
    rejected = run_taskora(env, "users", "create", "eve", "--timezone", "Mars/Base")

    assert created.returncode == 0
    assert rejected.returncode == 2
    assert rejected.stderr.strip() == (
        "Error: unknown time zone 'Mars/Base': use an IANA name such as 'Europe/Berlin' or 'UTC'"
    )


@pytest.mark.parametrize("command", [("db", "upgrade"), ("users", "list")])
def test_sqlite_url_misread_absolute_rejected(tmp_path: Path, command: tuple[str, str]) -> None:
    """sqlite:///tmp/x.db is relative: with no tmp/ folder here, four slashes were meant."""
    existing = tmp_path / "data"
    existing.mkdir()
    workdir = tmp_path / "work"
    workdir.mkdir()
    relative = f"{existing}/x.db".lstrip("/")

    result = subprocess.run(
        taskora_command(*command, "--database-url", f"sqlite:///{relative}"),
        env=isolated_env(tmp_path),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: the SQLite path {relative} is relative to the current directory {workdir}, "
        f"where the folder {Path(relative).parent} does not exist. For the file /{relative}, "
        f"write the URL with four slashes: sqlite:////{relative}. For a file under the current "
        f"directory, create {Path(relative).parent} first"
    )
    assert list(workdir.iterdir()) == []
    assert list(existing.iterdir()) == []


def test_sqlite_relative_url_logs_file(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    server = ServerProcess(
        home=tmp_path, extra_args=("--database-url", "sqlite:///tasks.db"), cwd=workdir
    )

    server.start()
    server.stop()

    assert f"Database: SQLite at {workdir / 'tasks.db'}" in server.log
    assert (workdir / "tasks.db").is_file()


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_unusable_data_dir_error(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory\n")
    data_dir = blocker if kind == "file" else blocker / "data"
    reason = f"{blocker} is a file, not a directory"

    result = run_taskora(
        isolated_env(tmp_path), "serve", "--port", str(free_port()), "--data-dir", str(data_dir)
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: cannot create the SQLite file {data_dir / 'taskora.db'}: {reason}. Pass a "
        "--data-dir (or a --database-url) in a directory you can write to"
    )
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a directory\n"

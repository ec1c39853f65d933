"""``taskora dapr components``: the files it writes, their modes and its output."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from component_schema import component_problems
from deploy_helpers import CliResult

RunTaskora = Callable[[Sequence[str]], CliResult]

COMPONENT_FILES = [
    "pubsub.yaml",
    "statestore.yaml",
    "secretstore.yaml",
    "recurrence-cron.yaml",
    "reminder-cron.yaml",
]


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Clear the variables that would change the names or the database URL."""
    for variable in (
        "TASKORA_DATABASE_URL",
        "TASKORA_DATABASE_PASSWORD",
        "TASKORA_DAPR_PUBSUB",
        "TASKORA_DAPR_STATE_STORE",
        "TASKORA_DAPR_SECRET_STORE",
    ):
        monkeypatch.delenv(variable, raising=False)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TASKORA_DATA_DIR", str(data_dir))
    return data_dir


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_components_json_listing(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out), "--json"])

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "directory": str(out),
        "components": [
            {"name": "pubsub", "kind": "pub/sub", "file": str(out / "pubsub.yaml")},
            {"name": "statestore", "kind": "state store", "file": str(out / "statestore.yaml")},
            {
                "name": "secretstore",
                "kind": "secret store",
                "file": str(out / "secretstore.yaml"),
            },
            {
                "name": "recurrence-cron",
                "kind": "input binding",
                "file": str(out / "recurrence-cron.yaml"),
            },
            {
                "name": "reminder-cron",
                "kind": "input binding",
                "file": str(out / "reminder-cron.yaml"),
            },
        ],
        "secrets_file": {"path": str(out / "secrets.json"), "written": True, "provided": False},
    }


def test_components_files_and_modes(
    run_taskora: RunTaskora, tmp_path: Path, isolated_settings: Path
) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted([*COMPONENT_FILES, "secrets.json"])
    for name in COMPONENT_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
        assert component_problems(load(out / name)) == [], name
    assert stat.S_IMODE((out / "secrets.json").stat().st_mode) == 0o600
    assert json.loads((out / "secrets.json").read_text()) == {
        "database-url": f"sqlite:///{isolated_settings / 'taskora.db'}"
    }


def test_components_options_reach_files(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(
        [
            "dapr",
            "components",
            "--output",
            str(out),
            "--redis-host",
            "redis.internal:6380",
            "--schedule",
            "@every 30s",
            "--consumer-id",
            "{podName}",
            "--pubsub-name",
            "events",
        ]
    )

    assert result.exit_code == 0, result.stderr
    pubsub = load(out / "events.yaml")
    assert pubsub["metadata"]["name"] == "events"
    assert pubsub["spec"]["metadata"] == [
        {"name": "redisHost", "value": "redis.internal:6380"},
        {"name": "consumerID", "value": "{podName}"},
        {"name": "maxLenApprox", "value": "10000"},
        {"name": "enableTLS", "value": "false"},
    ]
    for binding in ("recurrence-cron.yaml", "reminder-cron.yaml"):
        assert load(out / binding)["spec"]["metadata"][0] == {
            "name": "schedule",
            "value": "@every 30s",
        }


def test_components_names_from_environment(
    run_taskora: RunTaskora, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKORA_DAPR_STATE_STORE", "keys")
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    assert load(out / "keys.yaml")["spec"]["type"] == "state.redis"
    assert not (out / "statestore.yaml").exists()


def test_components_keep_existing_secrets(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"
    out.mkdir()
    (out / "secrets.json").write_text('{"database-url": "postgresql://mine@127.0.0.1/db"}')

    result = run_taskora(["dapr", "components", "--output", str(out), "--json"])

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["secrets_file"] == {
        "path": str(out / "secrets.json"),
        "written": False,
        "provided": False,
    }
    assert (out / "secrets.json").read_text() == (
        '{"database-url": "postgresql://mine@127.0.0.1/db"}'
    )


def test_components_database_url_option(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"
    url = "postgresql://taskora@127.0.0.1:5432/taskora"

    result = run_taskora(["dapr", "components", "--output", str(out), "--database-url", url])

    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "secrets.json").read_text()) == {"database-url": url}


def test_components_given_secrets_file(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(
        ["dapr", "components", "--output", str(out), "--secrets-file", "/secrets/taskora.json"]
    )

    assert result.exit_code == 0, result.stderr
    assert load(out / "secretstore.yaml")["spec"]["metadata"][0] == {
        "name": "secretsFile",
        "value": "/secrets/taskora.json",
    }
    assert not (out / "secrets.json").exists()
    assert result.stdout.splitlines()[-1] == (
        "Secrets file: /secrets/taskora.json (yours: the components point at it, and it was "
        "not read or checked)"
    )


def test_secrets_file_with_database_url_is_refused(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"
    url = "postgresql://taskora@127.0.0.1:5432/taskora"

    result = run_taskora(
        ["dapr", "components", "-o", str(out), "--secrets-file", "/s.json", "--database-url", url]
    )

    assert result.exit_code == 2
    assert "put the URL under 'database-url' in your file, or drop --secrets-file" in (
        result.stderr
    )
    assert not out.exists()


def test_components_table_output(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.split("│")][:2] for line in result.stdout.splitlines()[2:7]
    ]
    assert rows == [
        ["pubsub", "pub/sub"],
        ["statestore", "state store"],
        ["secretstore", "secret store"],
        ["recurrence-cron", "input binding"],
        ["reminder-cron", "input binding"],
    ]
    assert f"Secrets file: {out / 'secrets.json'} (written, mode 0600)" in result.stdout


def test_components_bad_schedule(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out), "--schedule", "*/5 * * * *"])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid cron schedule '*/5 * * * *': use '@every'")
    assert not out.exists()


def test_components_bad_redis_host(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out), "--redis-host", "redis"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: invalid Redis address 'redis': use HOST:PORT, such as 127.0.0.1:6379"
    )

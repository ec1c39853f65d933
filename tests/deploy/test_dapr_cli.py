"""``taskora dapr components``: the files it writes, their modes and its output."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from component_schema import component_problems
from deploy_helpers import CliResult
from rich.console import Console

from taskora.cli.dapr import print_components
from taskora.deploy.components import ComponentOptions, render_components

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
        "app_id": "taskora",
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
        "secrets_file": {
            "path": str(tmp_path / "components.secrets.json"),
            "written": True,
            "provided": False,
        },
    }


def test_components_files_and_modes(
    run_taskora: RunTaskora, tmp_path: Path, isolated_settings: Path
) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(COMPONENT_FILES)
    for name in COMPONENT_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
        assert component_problems(load(out / name)) == [], name
    secrets = tmp_path / "components.secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {
        "database-url": f"sqlite:///{isolated_settings / 'taskora.db'}"
    }
    assert load(out / "secretstore.yaml")["spec"]["metadata"][0] == {
        "name": "secretsFile",
        "value": str(secrets),
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
    secrets = tmp_path / "components.secrets.json"
    secrets.write_text('{"database-url": "postgresql://mine@127.0.0.1/db"}')

    result = run_taskora(["dapr", "components", "--output", str(out), "--json"])

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["secrets_file"] == {
        "path": str(secrets),
        "written": False,
        "provided": False,
    }
    assert secrets.read_text() == '{"database-url": "postgresql://mine@127.0.0.1/db"}'
    assert result.stderr == ""


def test_components_database_url_option(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"
    url = "postgresql://taskora@127.0.0.1:5432/taskora"

    result = run_taskora(["dapr", "components", "--output", str(out), "--database-url", url])

    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "components.secrets.json").read_text()) == {"database-url": url}


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
    assert not (tmp_path / "components.secrets.json").exists()
    assert result.stdout.splitlines()[-2] == (
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


def test_components_piped_output_lines(run_taskora: RunTaskora, tmp_path: Path) -> None:
    """Piped output has one line per component, so long paths are never wrapped."""
    out = tmp_path / ("a-rather-long-directory-name-" * 3) / "components"

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"pubsub\tpub/sub\t{out / 'pubsub.yaml'}",
        f"statestore\tstate store\t{out / 'statestore.yaml'}",
        f"secretstore\tsecret store\t{out / 'secretstore.yaml'}",
        f"recurrence-cron\tinput binding\t{out / 'recurrence-cron.yaml'}",
        f"reminder-cron\tinput binding\t{out / 'reminder-cron.yaml'}",
        f"Secrets file: {out}.secrets.json (written, mode 0600; keep it out of version control)",
        (
            "Start the service beside daprd with: dapr run --app-id taskora --app-port 8000 "
            f"--resources-path {out} -- taskora serve"
        ),
    ]


def test_components_piped_output_at_80_columns(
    run_taskora: RunTaskora, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / ("a-rather-long-directory-name-" * 3) / "components"
    monkeypatch.setenv("COLUMNS", "80")

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 7
    assert lines[0].split("\t") == ["pubsub", "pub/sub", str(out / "pubsub.yaml")]
    assert lines[5] == (
        f"Secrets file: {out}.secrets.json (written, mode 0600; keep it out of version control)"
    )


def test_components_terminal_table() -> None:
    """On a terminal the directory is printed once, so the table lists short file names."""
    directory = Path("/srv/" + "a-rather-long-directory-name-" * 3)
    rendered = render_components(ComponentOptions(secrets_file="/run/secrets.json"))
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, color_system=None, width=80, soft_wrap=True)

    print_components(console, rendered, directory)

    lines = output.getvalue().splitlines()
    assert lines[0] == f"Wrote 5 components to {directory}:"
    assert [cell.strip() for cell in lines[1].split("┃")] == ["component", "kind", "file"]
    rows = [[cell.strip() for cell in line.split("│")] for line in lines[3:]]
    assert rows == [
        ["pubsub", "pub/sub", "pubsub.yaml"],
        ["statestore", "state store", "statestore.yaml"],
        ["secretstore", "secret store", "secretstore.yaml"],
        ["recurrence-cron", "input binding", "recurrence-cron.yaml"],
        ["reminder-cron", "input binding", "reminder-cron.yaml"],
    ]


def test_components_app_id_option(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "-o", str(out), "--app-id", "tasks-eu"])

    assert result.exit_code == 0, result.stderr
    for name in COMPONENT_FILES:
        assert load(out / name)["scopes"] == ["tasks-eu"], name
    assert result.stdout.splitlines()[-1] == (
        "Start the service beside daprd with: dapr run --app-id tasks-eu --app-port 8000 "
        f"--resources-path {out} -- taskora serve"
    )


def test_components_app_id_in_json(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "-o", str(out), "--app-id", "tasks", "--json"])

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["app_id"] == "tasks"


@pytest.mark.parametrize("app_id", ["Taskora", "task_ora", "a" * 59])
def test_components_bad_app_id(run_taskora: RunTaskora, tmp_path: Path, app_id: str) -> None:
    out = tmp_path / "components"

    result = run_taskora(["dapr", "components", "-o", str(out), "--app-id", app_id])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: invalid app ID {app_id!r}: use at most 58 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit, such as 'taskora'"
    )
    assert not out.exists()
    assert not (tmp_path / "components.secrets.json").exists()


def test_components_current_directory_output(
    run_taskora: RunTaskora, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--output .` puts the secrets file beside the directory, named after it."""
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)

    result = run_taskora(["dapr", "components", "--output", ".", "--json"])

    assert result.exit_code == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["directory"] == str(project)
    assert listing["secrets_file"]["path"] == str(tmp_path / "project.secrets.json")
    assert sorted(path.name for path in project.iterdir()) == sorted(COMPONENT_FILES)


def test_components_root_output_rejected(run_taskora: RunTaskora) -> None:
    result = run_taskora(["dapr", "components", "--output", "/"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: cannot put the secrets file beside the directory '/', because it has no "
        "parent: choose another --output, or pass --secrets-file with a file that you provide"
    )


def test_components_secrets_path_is_directory(run_taskora: RunTaskora, tmp_path: Path) -> None:
    out = tmp_path / "components"
    (tmp_path / "components.secrets.json").mkdir()

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: the secrets file {tmp_path / 'components.secrets.json'} exists but is not a "
        "regular file: remove it, or pass --secrets-file with the path of the file that the "
        "sidecar should read"
    )
    assert not out.exists()


def test_components_warn_about_old_secrets_file(run_taskora: RunTaskora, tmp_path: Path) -> None:
    """A secrets.json that older versions wrote inside the directory is named, not deleted."""
    out = tmp_path / "components"
    out.mkdir()
    old = out / "secrets.json"
    old.write_text('{"database-url": "postgresql://mine@127.0.0.1/db"}')

    result = run_taskora(["dapr", "components", "--output", str(out)])

    assert result.exit_code == 0, result.stderr
    new = tmp_path / "components.secrets.json"
    assert result.stderr.strip() == (
        f"Warning: {old} is a secrets file inside the components directory, where older "
        f"versions wrote it. The components now read {new}. Move any entries you changed "
        f"there, then delete {old}: daprd logs a warning about it at each start, and the "
        "credentials should stay out of a directory that goes into version control."
    )
    assert old.read_text() == '{"database-url": "postgresql://mine@127.0.0.1/db"}'
    assert new.exists()


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

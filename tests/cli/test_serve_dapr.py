"""``taskora serve --dapr``: the ``dapr run`` and Docker command lines, signals and errors.

No daprd and no Docker engine can run on the test machines, so the two process boundaries
are replaced: a fake ``dapr`` executable on PATH that records its argv and environment, and
a mock of ``python_on_whales.docker`` whose calls are checked. Everything on this side of
those boundaries is real: the CLI, the rendered files, the service's child process.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from python_on_whales import DockerException

from taskora.cli import dapr_local
from taskora.cli.app import main
from taskora.cli.dapr_local import (
    CONTAINER_RUN_DIR,
    DAPRD_IMAGE,
    REDIS_IMAGE,
    SidecarRequest,
    run_with_sidecar,
)
from taskora.errors import TaskoraError
from tests.support.servers import free_port, isolated_env, taskora_command

RECORD_TIMEOUT_SECONDS = 30.0

FAKE_DAPR = """#!{python}
import json, os, signal, sys, time

record_path = os.environ["FAKE_DAPR_RECORD"]
names = ("TASKORA_DAPR", "TASKORA_DATABASE_URL", "DAPR_HTTP_PORT")
record = {{
    "argv": sys.argv[1:],
    "env": {{name: os.environ.get(name) for name in names}},
    "own_process_group": os.getpgrp() == os.getpid(),
}}

def stop(sig, frame):
    with open(record_path + ".signal", "w") as file:
        file.write(signal.Signals(sig).name)
    sys.exit(0)

signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
with open(record_path + ".tmp", "w") as file:
    json.dump(record, file)
os.replace(record_path + ".tmp", record_path)

mode = os.environ.get("FAKE_DAPR_MODE", "exit:0")
if mode == "wait":
    while True:
        time.sleep(0.05)
sys.exit(int(mode.split(":")[1]))
"""

FAKE_DOCKER = """#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""

# The service's stand-in in the Docker tests: it records its environment and exits.
FAKE_SERVICE = """
import json, os, sys
names = ("TASKORA_DAPR", "DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "TASKORA_DATABASE_URL")
with open(sys.argv[1], "w") as file:
    json.dump({name: os.environ.get(name) for name in names}, file)
sys.exit(int(sys.argv[2]))
"""


def write_executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def wait_for_file(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + RECORD_TIMEOUT_SECONDS
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"taskora exited with {process.returncode}: {process.stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} was not written in time")
        time.sleep(0.05)


class ServeDapr:
    """``taskora serve --dapr`` as a subprocess, with a fake ``dapr`` first on PATH."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.bin_dir = home / "bin"
        self.data_dir = home / "data"
        self.record = home / "dapr-record.json"
        self.port = free_port()
        self.env = isolated_env(home)
        self.env["FAKE_DAPR_RECORD"] = str(self.record)
        self.env["PATH"] = f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}"
        for name in (
            "TASKORA_DATABASE_PASSWORD",
            "TASKORA_CURSOR_KEY",
            "TASKORA_DAPR_PUBSUB",
            "TASKORA_LOG_LEVEL",
        ):
            self.env.pop(name, None)

    def install_dapr(self) -> None:
        write_executable(self.bin_dir / "dapr", FAKE_DAPR.format(python=sys.executable))

    def command(self, *extra: str) -> list[str]:
        return taskora_command(
            "serve", "--dapr", "--port", str(self.port), "--data-dir", str(self.data_dir), *extra
        )

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*extra),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def recorded(self) -> dict[str, Any]:
        return json.loads(self.record.read_text())


@pytest.fixture
def serve_dapr(tmp_path: Path) -> ServeDapr:
    return ServeDapr(tmp_path)


def test_dapr_run_command_line(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()

    result = serve_dapr.run()

    assert result.returncode == 0, result.stderr
    run_dir = serve_dapr.data_dir / "dapr"
    port = str(serve_dapr.port)
    assert serve_dapr.recorded()["argv"] == [
        "run",
        "--app-id",
        "taskora",
        "--app-port",
        port,
        "--app-protocol",
        "http",
        "--resources-path",
        str(run_dir / "components"),
        "--",
        sys.executable,
        "-m",
        "taskora",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--data-dir",
        str(serve_dapr.data_dir),
        "--log-level",
        "INFO",
    ]


def test_dapr_run_environment(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()
    url = "postgresql://taskora@127.0.0.1:5432/taskora"

    result = serve_dapr.run("--database-url", url)

    assert result.returncode == 0, result.stderr
    recorded = serve_dapr.recorded()
    assert recorded["env"] == {
        "TASKORA_DAPR": "1",
        "TASKORA_DATABASE_URL": url,
        "DAPR_HTTP_PORT": None,
    }
    assert url not in recorded["argv"]
    assert recorded["own_process_group"] is True


def test_dapr_run_renders_run_dir(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()
    run_dir = serve_dapr.data_dir / "dapr"
    run_dir.mkdir(parents=True)
    (run_dir / "components").mkdir()
    (run_dir / "components" / "old-binding.yaml").write_text("kind: Component\n")
    (run_dir / "components" / "older-binding.yml").write_text("kind: Component\n")

    result = serve_dapr.run("--schedule", "@every 30s", "--redis-host", "127.0.0.1:6390")

    assert result.returncode == 0, result.stderr
    components = run_dir / "components"
    assert sorted(path.name for path in components.iterdir()) == [
        "pubsub.yaml",
        "recurrence-cron.yaml",
        "reminder-cron.yaml",
        "secretstore.yaml",
        "statestore.yaml",
    ]
    for path in components.iterdir():
        assert yaml.safe_load(path.read_text())["scopes"] == ["taskora"], path.name
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    # The secrets file sits beside the resources directory, where daprd does not load it.
    assert sorted(path.name for path in run_dir.iterdir()) == ["components", "secrets.json"]
    secrets = run_dir / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {
        "database-url": f"sqlite:///{serve_dapr.data_dir / 'taskora.db'}"
    }
    secret_store = yaml.safe_load((components / "secretstore.yaml").read_text())
    assert secret_store["spec"]["metadata"][0] == {"name": "secretsFile", "value": str(secrets)}
    pubsub = yaml.safe_load((components / "pubsub.yaml").read_text())
    assert pubsub["spec"]["metadata"][:2] == [
        {"name": "redisHost", "value": "127.0.0.1:6390"},
        {"name": "consumerID", "value": f"taskora-{os.uname().nodename}-{serve_dapr.port}"},
    ]
    cron = yaml.safe_load((components / "reminder-cron.yaml").read_text())
    assert cron["spec"]["metadata"][0] == {"name": "schedule", "value": "@every 30s"}


def test_dapr_run_secrets_from_settings(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()
    serve_dapr.env["TASKORA_DATABASE_PASSWORD"] = "s3cret"
    serve_dapr.env["TASKORA_CURSOR_KEY"] = "k" * 32
    url = "postgresql://taskora@127.0.0.1:5432/taskora"

    result = serve_dapr.run("--database-url", url)

    assert result.returncode == 0, result.stderr
    secrets = json.loads((serve_dapr.data_dir / "dapr" / "secrets.json").read_text())
    assert secrets == {
        "database-url": url,
        "database-password": "s3cret",
        "cursor-key": "k" * 32,
    }
    assert "s3cret" not in result.stderr
    assert "s3cret" not in json.dumps(serve_dapr.recorded()["argv"])


def test_secret_keys_match_service() -> None:
    """The secrets file uses the keys that the service reads from the secret store."""
    from taskora.deploy import components
    from taskora.server import secrets

    assert components.DATABASE_URL_SECRET == secrets.DATABASE_URL_SECRET
    assert components.DATABASE_PASSWORD_SECRET == secrets.DATABASE_PASSWORD_SECRET
    assert components.CURSOR_KEY_SECRET == secrets.CURSOR_KEY_SECRET


def test_dapr_run_exit_code_passed_on(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()
    serve_dapr.env["FAKE_DAPR_MODE"] = "exit:3"

    result = serve_dapr.run()

    assert result.returncode == 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_dapr_run(serve_dapr: ServeDapr, sig: signal.Signals) -> None:
    serve_dapr.install_dapr()
    serve_dapr.env["FAKE_DAPR_MODE"] = "wait"
    process = serve_dapr.start()
    try:
        wait_for_file(serve_dapr.record, process)

        process.send_signal(sig)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert code == 0, process.stderr.read() if process.stderr else ""
    assert Path(f"{serve_dapr.record}.signal").read_text() == sig.name


def test_neither_dapr_nor_docker(serve_dapr: ServeDapr) -> None:
    serve_dapr.bin_dir.mkdir()
    serve_dapr.env["PATH"] = str(serve_dapr.bin_dir)

    result = serve_dapr.run()

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: cannot start a Dapr sidecar: the Dapr CLI is not on PATH and Docker is not "
        "available (no docker command on PATH). Install the Dapr CLI and run `dapr init` "
        "(https://docs.dapr.io/getting-started/install-dapr-cli/), or install and start "
        "Docker, then run `taskora serve --dapr` again. `taskora serve` without --dapr needs "
        "neither."
    )
    assert not (serve_dapr.data_dir / "dapr").exists()


def test_docker_engine_not_running(serve_dapr: ServeDapr) -> None:
    """A ``docker`` command that cannot reach its engine, as on a machine with Docker stopped."""
    write_executable(serve_dapr.bin_dir / "docker", FAKE_DOCKER)
    serve_dapr.env["PATH"] = str(serve_dapr.bin_dir)

    result = serve_dapr.run()

    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "Error: cannot start a Dapr sidecar: the Dapr CLI is not on PATH and Docker is not "
        "available (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is "
        "the docker daemon running?). Install the Dapr CLI"
    )


def test_invalid_schedule_starts_nothing(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()

    result = serve_dapr.run("--schedule", "every minute")

    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "Error: invalid cron schedule 'every minute': use '@every'"
    )
    assert not serve_dapr.record.exists()


def test_clashing_names_start_nothing(serve_dapr: ServeDapr) -> None:
    serve_dapr.install_dapr()
    serve_dapr.env["TASKORA_DAPR_STATE_STORE"] = "pubsub"

    result = serve_dapr.run()

    assert result.returncode == 2
    assert "the state store component name 'pubsub' is also the pub/sub" in result.stderr
    assert not serve_dapr.record.exists()


def test_sidecar_options_need_dapr(tmp_path: Path) -> None:
    result = subprocess.run(
        taskora_command(
            "serve",
            "--port",
            str(free_port()),
            "--schedule",
            "bogus",
            "--redis-host",
            "127.0.0.1:6380",
        ),
        env=isolated_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "Error: --redis-host, --schedule configure the local Dapr sidecar and work with --dapr only"
    )


# Docker: the python-on-whales calls, with the engine mocked.


@pytest.fixture
def no_dapr_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def docker() -> mock.MagicMock:
    """A stand-in for ``python_on_whales.docker``: ``run`` returns one mock per container."""
    client = mock.MagicMock(name="docker")
    client.run.side_effect = lambda *args, **kwargs: mock.MagicMock(name=kwargs["name"])
    return client


def container_request(tmp_path: Path, redis_host: str, exit_code: int = 0) -> SidecarRequest:
    return SidecarRequest(
        serve_command=[
            sys.executable,
            "-c",
            FAKE_SERVICE,
            str(tmp_path / "service.json"),
            str(exit_code),
        ],
        app_port=8123,
        run_dir=tmp_path / "data" / "dapr",
        secrets={"database-url": "sqlite:////tmp/taskora.db"},
        redis_host=redis_host,
        service_env={"TASKORA_DATABASE_URL": "sqlite:////tmp/taskora.db"},
    )


def daprd_call(request: SidecarRequest, http_port: str, grpc_port: str) -> Any:
    return mock.call(
        DAPRD_IMAGE,
        [
            "--app-id",
            "taskora",
            "--app-port",
            "8123",
            "--app-protocol",
            "http",
            "--app-channel-address",
            "127.0.0.1",
            "--dapr-listen-addresses",
            "127.0.0.1",
            "--dapr-http-port",
            http_port,
            "--dapr-grpc-port",
            grpc_port,
            "--resources-path",
            "/taskora-run/components",
            "--enable-metrics=false",
            "--log-level",
            "info",
        ],
        entrypoint="/daprd",
        name="taskora-daprd-8123",
        detach=True,
        remove=True,
        networks=["host"],
        user=f"{os.getuid()}:{os.getgid()}",
        volumes=[(str(request.run_dir), CONTAINER_RUN_DIR, "ro")],
    )


@pytest.mark.usefixtures("no_dapr_cli")
def test_containers_started_with_redis(tmp_path: Path, docker: mock.MagicMock) -> None:
    """Nothing listens on the Redis port, so a Redis container is started before daprd."""
    redis_port = free_port()
    request = container_request(tmp_path, f"127.0.0.1:{redis_port}")

    code = run_with_sidecar(request, docker_client=docker)

    assert code == 0
    service = json.loads((tmp_path / "service.json").read_text())
    assert service["TASKORA_DAPR"] == "1"
    assert service["TASKORA_DATABASE_URL"] == "sqlite:////tmp/taskora.db"
    assert docker.run.call_args_list == [
        mock.call(
            REDIS_IMAGE,
            name=f"taskora-redis-{redis_port}",
            detach=True,
            remove=True,
            publish=[(f"127.0.0.1:{redis_port}", 6379)],
        ),
        daprd_call(request, service["DAPR_HTTP_PORT"], service["DAPR_GRPC_PORT"]),
    ]
    stopped = [call.args[0]._extract_mock_name() for call in docker.stop.call_args_list]
    assert stopped == ["taskora-daprd-8123", f"taskora-redis-{redis_port}"]


@pytest.mark.usefixtures("no_dapr_cli")
def test_containers_reuse_running_redis(tmp_path: Path, docker: mock.MagicMock) -> None:
    """A listening socket at the Redis address means Redis runs, so only daprd starts."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        redis_host = f"127.0.0.1:{listener.getsockname()[1]}"
        request = container_request(tmp_path, redis_host, exit_code=4)

        code = run_with_sidecar(request, docker_client=docker)

    assert code == 4
    service = json.loads((tmp_path / "service.json").read_text())
    assert docker.run.call_args_list == [
        daprd_call(request, service["DAPR_HTTP_PORT"], service["DAPR_GRPC_PORT"])
    ]
    assert docker.stop.call_count == 1


@pytest.mark.usefixtures("no_dapr_cli")
def test_containers_secrets_path_inside_container(tmp_path: Path, docker: mock.MagicMock) -> None:
    request = container_request(tmp_path, f"127.0.0.1:{free_port()}")

    run_with_sidecar(request, docker_client=docker)

    secret_store = yaml.safe_load((request.run_dir / "components" / "secretstore.yaml").read_text())
    assert secret_store["spec"]["metadata"][0] == {
        "name": "secretsFile",
        "value": "/taskora-run/secrets.json",
    }
    secrets = request.run_dir / "secrets.json"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert json.loads(secrets.read_text()) == {"database-url": "sqlite:////tmp/taskora.db"}


@pytest.mark.usefixtures("no_dapr_cli")
def test_daprd_failure_stops_redis(tmp_path: Path, docker: mock.MagicMock) -> None:
    failure = DockerException(
        ["docker", "run"],
        125,
        stderr=b"Unable to find image 'daprio/daprd:1.14.4' locally\n"
        b"pull access denied for daprio/daprd\n",
    )
    redis = mock.MagicMock(name="redis")
    docker.run.side_effect = [redis, failure]
    request = container_request(tmp_path, f"127.0.0.1:{free_port()}")

    with pytest.raises(TaskoraError) as caught:
        run_with_sidecar(request, docker_client=docker)

    assert caught.value.message == (
        "cannot start the Dapr sidecar container: pull access denied for daprio/daprd. "
        f"Check that Docker can pull {DAPRD_IMAGE} and {REDIS_IMAGE}, or install the Dapr CLI."
    )
    assert docker.stop.call_args_list == [mock.call(redis)]
    assert not (tmp_path / "service.json").exists()


@pytest.mark.usefixtures("no_dapr_cli")
def test_serve_dapr_uses_python_on_whales(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    docker: mock.MagicMock,
) -> None:
    """``serve --dapr`` reaches ``python_on_whales.docker`` when no Dapr CLI is on PATH."""
    import python_on_whales

    redis = mock.MagicMock(name="redis")
    failure = DockerException(["docker", "run"], 125, stderr=b"no space left on device\n")
    docker.run.side_effect = [redis, failure]
    monkeypatch.setattr(python_on_whales, "docker", docker)
    monkeypatch.setenv("TASKORA_DAPRD_IMAGE", "daprio/daprd:1.15.0")
    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "taskora",
            "serve",
            "--dapr",
            "--port",
            "8124",
            "--data-dir",
            str(tmp_path / "data"),
            "--redis-host",
            f"127.0.0.1:{free_port()}",
        ],
    )

    with pytest.raises(SystemExit) as exit_info:
        main()

    assert exit_info.value.code == 1
    assert docker.info.call_count == 1
    assert [call.args[0] for call in docker.run.call_args_list] == [
        REDIS_IMAGE,
        "daprio/daprd:1.15.0",
    ]
    assert docker.stop.call_args_list == [mock.call(redis)]
    last_line = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_line == (
        "Error: cannot start the Dapr sidecar container: no space left on device. Check that "
        "Docker can pull daprio/daprd:1.15.0 and redis:7-alpine, or install the Dapr CLI."
    )


def test_local_consumer_ids_differ_per_port() -> None:
    assert dapr_local._local_consumer_id(8000) != dapr_local._local_consumer_id(8001)

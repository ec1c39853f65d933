"""Running the real ``taskora serve`` as a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0

# Variables of the developer's shell that would point the CLI or the service elsewhere.
CLIENT_VARIABLES = ("TASKORA_URL", "TASKORA_TOKEN", "TASKORA_CONFIG", "TASKORA_DATABASE_URL")


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_env(home: Path) -> dict[str, str]:
    """Return an environment whose data and config directories are inside ``home``."""
    env = {key: value for key, value in os.environ.items() if key not in CLIENT_VARIABLES}
    env["XDG_DATA_HOME"] = str(home / "data")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["TASKORA_CONFIG"] = str(home / "config" / "taskora" / "config.toml")
    env["TASKORA_SSE_PING_SECONDS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def taskora_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "taskora", *args]


@dataclass
class ServerProcess:
    """A ``taskora serve`` subprocess; ``log`` collects its output."""

    home: Path
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    extra_args: tuple[str, ...] = ()
    # Off by default, so that the service's own schedule does not race tests that count
    # what a check did. The tests of that schedule set a short interval.
    check_interval_seconds: float = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Working directory of the server, which relative SQLite paths are read from.
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = isolated_env(self.home)
        if self.database_url is not None:
            env["TASKORA_DATABASE_URL"] = self.database_url
        env["TASKORA_CHECK_INTERVAL_SECONDS"] = str(self.check_interval_seconds)
        env.update(self.extra_env)
        return env

    @property
    def log_path(self) -> Path:
        return self.home / "serve.log"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                taskora_command("serve", "--port", str(self.port), *self.extra_args),
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"taskora serve exited with {self.process.returncode}:\n{self.log}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"taskora serve did not become ready in time:\n{self.log}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stop the server with ``sig`` and return its exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def saved_token(self) -> str:
        """Return the token that the first start saved in the CLI config file."""
        import tomllib

        config = tomllib.loads(Path(self.env["TASKORA_CONFIG"]).read_text())
        return config["token"]

    def create_user(self, name: str) -> str:
        """Create the user ``name`` in the server's database and return its token.

        This calls the function behind ``taskora users create`` in this process, because a
        CLI subprocess per test user would dominate the suite's run time.
        """
        from taskora.config import Settings
        from taskora.server.runner import add_user

        settings = Settings(database_url=self.database_url, data_dir=self.home / "data" / "taskora")
        return add_user(settings, name)[1]

    def create_user_with_cli(self, name: str) -> str:
        """Create the user ``name`` with the real CLI and return its token."""
        result = subprocess.run(
            taskora_command("users", "create", name, "--json"),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"taskora users create failed: {result.stderr}")
        return json.loads(result.stdout)["token"]

"""Without Dapr the service runs as before: no Dapr routes, no sidecar, no errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.servers import ServerProcess


def test_without_dapr_nothing_changes(tmp_path: Path) -> None:
    server = ServerProcess(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'plain.db'}")
    server.start()
    try:
        token = server.create_user("plain")
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k"}
        created = httpx.post(f"{server.url}/api/tasks", json={"title": "x"}, headers=headers)
        replayed = httpx.post(f"{server.url}/api/tasks", json={"title": "x"}, headers=headers)
        subscribe = httpx.get(f"{server.url}/dapr/subscribe")
        cron = httpx.post(f"{server.url}/reminder-cron")
        ready = httpx.get(f"{server.url}/readyz").json()
    finally:
        server.stop()

    assert created.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert subscribe.status_code == 404
    assert cron.status_code == 404
    assert ready == {"status": "ready", "checks": {"database": "ok"}}
    assert "ERROR" not in server.log
    assert "WARNING" not in server.log
    assert "Dapr" not in server.log


def test_app_without_dapr_skips_sdk() -> None:
    code = (
        "import sys\n"
        "from taskora.config import Settings\n"
        "from taskora.server.app import create_app\n"
        "create_app(Settings())\n"
        "print(sorted(name for name in sys.modules if name == 'dapr' or name == 'grpc'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"

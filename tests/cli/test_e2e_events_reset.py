"""``taskora events tail`` when the retention window deleted the events it asks for."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx

from tests.support.events import prune_everything
from tests.support.servers import ServerProcess, taskora_command


def test_tail_reports_reset_then_continues(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'reset.db'}"
    server = ServerProcess(home=tmp_path, database_url=url)
    server.start()
    token = server.create_user("tail-reset")
    headers = {"Authorization": f"Bearer {token}"}
    for number in range(2):
        httpx.post(f"{server.url}/api/tasks", json={"title": f"old {number}"}, headers=headers)
    head, pruned_through = prune_everything(url)
    env = {**server.env, "TASKORA_URL": server.url, "TASKORA_TOKEN": token}

    tail = subprocess.Popen(
        taskora_command("events", "tail", "--json", "--since", "0"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        reset = json.loads(tail.stdout.readline())
        httpx.post(f"{server.url}/api/tasks", json={"title": "new"}, headers=headers)
        created = json.loads(tail.stdout.readline())
    finally:
        tail.send_signal(signal.SIGINT)
        code = tail.wait(timeout=15)
        server.stop()

    assert reset["type"] == "reset"
    assert reset["sequence"] == str(head)
    assert reset["data"]["oldest_available"] == pruned_through + 1
    assert created["type"] == "task.created"
    assert created["data"]["title"] == "new"
    assert int(created["sequence"]) == head + 1
    assert code == 0

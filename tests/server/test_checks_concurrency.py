"""Eight concurrent checks in each of three service processes create nothing twice."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from taskora.server.domain.tasks import Recurrence, TaskCreate, utc_now
from taskora.server.store.database import Database
from taskora.server.store.models import EventRecord, ReminderSent, Task
from taskora.server.store.tasks import create_task
from tests.support.postgres import temporary_database
from tests.support.servers import ServerProcess

RECURRING = 1500
REMINDED = 1500
PROCESSES = 3
CHECKS_PER_PROCESS = 8


def seed(url: str, user_id: int) -> None:
    """Completed recurring tasks without their next occurrence, and reminders now due."""
    database = Database(url)
    now = utc_now()
    with database.write() as session:
        for number in range(RECURRING):
            create_task(
                session,
                user_id,
                "UTC",
                TaskCreate(
                    title=f"series {number}",
                    due_at=now + timedelta(days=1),
                    recurrence=Recurrence(rule="FREQ=DAILY"),
                ),
            )
        for number in range(REMINDED):
            create_task(
                session,
                user_id,
                "UTC",
                TaskCreate(
                    title=f"reminder {number}",
                    due_at=now + timedelta(minutes=5),
                    remind_before="PT1H",
                ),
            )
        # Completed as if the service had died before creating the next occurrences.
        session.execute(
            update(Task)
            .where(Task.recurrence_rule.is_not(None))
            .values(status="completed", completed_at=now)
        )
    database.dispose()


def test_concurrent_checks_create_nothing_twice(tmp_path: Path) -> None:
    with temporary_database() as url:
        servers = [
            ServerProcess(home=tmp_path / f"replica{number}", database_url=url)
            for number in range(PROCESSES)
        ]
        for server in servers:
            server.start()
        token = servers[0].create_user("concurrency")
        me = httpx.get(
            f"{servers[0].url}/api/users/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        seed(url, me["id"])
        headers = {"Authorization": f"Bearer {token}"}
        created: list[int] = []
        sent: list[int] = []
        failures: list[str] = []
        lock = threading.Lock()

        def check(server: ServerProcess) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
                recurrence = client.post("/api/recurrence/check")
                reminders = client.post("/api/reminders/check")
            with lock:
                if recurrence.status_code != 200 or reminders.status_code != 200:
                    failures.append(f"{recurrence.status_code} {reminders.status_code}")
                    return
                created.append(recurrence.json()["created"])
                sent.append(reminders.json()["sent"])

        threads = [
            threading.Thread(target=check, args=(server,))
            for server in servers
            for _ in range(CHECKS_PER_PROCESS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for server in servers:
            server.stop()

        database = Database(url)
        with database.read() as session:
            successors = session.scalar(select(func.count()).where(Task.previous_id.is_not(None)))
            distinct_previous = session.scalar(select(func.count(func.distinct(Task.previous_id))))
            reminder_rows = session.scalar(select(func.count()).select_from(ReminderSent))
            recurred_events = session.scalar(
                select(func.count()).where(EventRecord.type == "task.recurred")
            )
            reminder_events = session.scalar(
                select(func.count()).where(EventRecord.type == "task.reminder")
            )
        database.dispose()

    assert failures == []
    assert sum(created) == RECURRING
    assert sum(sent) == REMINDED
    assert successors == RECURRING
    assert distinct_previous == RECURRING
    assert reminder_rows == REMINDED
    assert recurred_events == RECURRING
    assert reminder_events == REMINDED

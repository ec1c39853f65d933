"""Alembic migrations: in-place upgrades of existing data and the start-up check."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from taskora.server.store.database import normalize_url, upgrade
from tests.support.postgres import temporary_database
from tests.support.servers import isolated_env, taskora_command


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with temporary_database() as url:
        yield url


def run_taskora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        taskora_command(*args), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def revisions_after(revision: str) -> list[str]:
    from alembic.script import ScriptDirectory

    from taskora.server.store.database import MIGRATIONS_DIR

    script = ScriptDirectory(str(MIGRATIONS_DIR))
    newer = script.iterate_revisions("heads", revision)
    return [item.revision for item in reversed(list(newer))]


def migrate_to(url: str, revision: str) -> None:
    from alembic import command

    from taskora.server.store.database import _alembic_config

    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        config = _alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def seed_first_schema(url: str) -> None:
    """Write a user and a task as the first release of the schema stored them."""
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, name, created_at) VALUES (1, 'old', :now)"), {"now": now}
        )
        connection.execute(
            text(
                "INSERT INTO tasks (id, user_id, title, description, status, priority, "
                "created_at, updated_at, version) "
                "VALUES (7, 1, 'Groceries', 'eggs', 'pending', 2, :now, :now, 1)"
            ),
            {"now": now},
        )
        connection.execute(text("INSERT INTO task_tags (task_id, tag) VALUES (7, 'home')"))
    engine.dispose()


def test_db_upgrade_keeps_existing_tasks(database_url: str, tmp_path: Path) -> None:
    migrate_to(database_url, "0001")
    seed_first_schema(database_url)
    env = isolated_env(tmp_path)

    result = run_taskora(env, "db", "upgrade", "--database-url", database_url, "--json")
    again = run_taskora(env, "db", "upgrade", "--database-url", database_url, "--json")

    from taskora.server.store.cursors import CursorCodec
    from taskora.server.store.database import Database
    from taskora.server.store.tasks import TaskQuery, get_task, list_tasks

    database = Database(database_url)
    with database.read() as session:
        task = get_task(session, 1, 7)
        found, _ = list_tasks(session, 1, TaskQuery(search="groc"), CursorCodec(b"key"))
    database.dispose()

    assert json.loads(result.stdout) == {"applied": revisions_after("0001")}
    assert json.loads(again.stdout) == {"applied": []}
    assert task.title == "Groceries"
    assert task.tags == ["home"]
    assert task.timezone == "UTC"
    assert task.recurrence is None
    assert [item.id for item in found] == [7]


def test_no_migrate_rejects_outdated_database(database_url: str, tmp_path: Path) -> None:
    migrate_to(database_url, "0001")

    result = run_taskora(
        isolated_env(tmp_path),
        "serve",
        "--no-migrate",
        "--database-url",
        database_url,
        "--port",
        "0",
    )

    assert result.returncode == 1
    pending = ", ".join(revisions_after("0001"))
    assert (
        f"needs migrations {pending}: run `taskora db upgrade` with the same --database-url "
        "or --data-dir (or their TASKORA_* variables), or start with --migrate"
    ) in result.stderr.replace("\n", " ")


def test_no_migrate_without_database_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"

    result = run_taskora(
        isolated_env(tmp_path), "serve", "--no-migrate", "--data-dir", str(data), "--port", "0"
    )

    assert result.returncode == 1
    assert f"Error: no database at {data / 'taskora.db'}" in result.stderr.replace("\n", "")
    assert not data.exists()


def test_sqlite_rebuild_keeps_rows_and_never_reuses_ids(tmp_path: Path) -> None:
    """The SQLite rebuild keeps tasks, tags, sent reminders, search and cascades."""
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    migrate_to(url, "0005")
    engine = create_engine(normalize_url(url))
    stamp = "2026-12-01 12:00:00.000000"
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, name, timezone, created_at) VALUES (1, 'ann', 'UTC', :t)"),
            {"t": stamp},
        )
        for task_id, title in ((1, "Buy milk"), (2, "Call plumber"), (3, "Newest")):
            connection.execute(
                text(
                    "INSERT INTO tasks (id, user_id, title, description, status, priority, "
                    "created_at, updated_at, version, timezone) "
                    "VALUES (:id, 1, :title, '', 'pending', 1, :t, :t, 1, 'UTC')"
                ),
                {"id": task_id, "title": title, "t": stamp},
            )
        connection.execute(text("INSERT INTO task_tags (task_id, tag) VALUES (2, 'home')"))
        connection.execute(
            text("INSERT INTO reminders_sent (task_id, remind_at, sent_at) VALUES (2, :t, :t)"),
            {"t": stamp},
        )
        # Task 3 was the newest; deleting it used to hand id 3 to the next task. Its
        # event still names it.
        connection.execute(
            text(
                "INSERT INTO events (event_id, user_id, type, subject, time, payload) "
                "VALUES ('e-3', 1, 'task.deleted', '3', :t, '{}')"
            ),
            {"t": stamp},
        )
        connection.execute(text("DELETE FROM tasks WHERE id = 3"))
    engine.dispose()

    upgrade(url)

    engine = create_engine(normalize_url(url))
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        titles = connection.execute(text("SELECT id, title FROM tasks ORDER BY id")).all()
        found = connection.execute(
            text("SELECT rowid FROM tasks_search WHERE tasks_search MATCH 'plumb*'")
        ).all()
        new_id = connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, description, status, priority, created_at, "
                "updated_at, version, timezone) "
                "VALUES (1, 'Fresh', '', 'pending', 1, :t, :t, 1, 'UTC') RETURNING id"
            ),
            {"t": stamp},
        ).scalar_one()
        connection.execute(text("DELETE FROM tasks WHERE id = 2"))
        tags_left = connection.execute(text("SELECT count(*) FROM task_tags")).scalar_one()
        sent_left = connection.execute(text("SELECT count(*) FROM reminders_sent")).scalar_one()
        problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        indexes = connection.execute(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'")
        ).scalar_one()
    engine.dispose()

    assert titles == [(1, "Buy milk"), (2, "Call plumber")]
    assert found == [(2,)]
    assert new_id == 4
    assert tags_left == 0
    assert sent_left == 0
    assert problems == []
    assert indexes == 10

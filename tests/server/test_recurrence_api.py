"""Recurring tasks and reminders through the API: next occurrences and checks, exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import LiveServer


@pytest.fixture
def client(api_server: LiveServer) -> Iterator[httpx.Client]:
    token = api_server.create_user()
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def series(client: httpx.Client, series_id: int) -> list[dict]:
    items = client.get("/api/tasks", params={"limit": 200}).json()["items"]
    return [task for task in items if task["series_id"] == series_id]


def events_of(client: httpx.Client, event_type: str) -> list[dict]:
    """Replay the caller's events of one type from the log."""
    import json

    found: list[dict] = []
    with client.stream(
        "GET", "/api/events/stream", params={"since": 0, "types": event_type}
    ) as response:
        data = None
        for line in response.iter_lines():
            if line.startswith("data: "):
                data = json.loads(line[6:])
                found.append(data)
            if line.startswith(":"):
                break
    return found


def daily_task(client: httpx.Client, due: datetime, **extra: object) -> dict:
    body = {
        "title": "Water plants",
        "due_at": iso(due),
        "timezone": "Europe/Berlin",
        "recurrence": {"rule": "FREQ=DAILY"},
        **extra,
    }
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def tomorrow_at_nine_berlin() -> datetime:
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(days=1)
    return local.replace(hour=9, minute=0, second=0, microsecond=0)


def test_completing_creates_next_occurrence(client: httpx.Client) -> None:
    due = tomorrow_at_nine_berlin()
    task = daily_task(client, due)

    client.post(f"/api/tasks/{task['id']}/complete")
    members = series(client, task["id"])
    recurred = events_of(client, "task.recurred")

    assert task["series_id"] == task["id"]
    assert task["occurrence"] == 1
    assert [member["occurrence"] for member in members] == [1, 2]
    assert members[1]["due_at"] == iso(due + timedelta(days=1))
    assert members[1]["status"] == "pending"
    assert members[1]["recurrence"] == {"rule": "FREQ=DAILY", "anchor": "due"}
    assert len(recurred) == 1
    assert recurred[0]["data"]["previous_task_id"] == task["id"]
    assert recurred[0]["data"]["id"] == members[1]["id"]


def test_complete_reopen_complete_creates_one(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())

    client.post(f"/api/tasks/{task['id']}/complete")
    client.post(f"/api/tasks/{task['id']}/reopen")
    client.post(f"/api/tasks/{task['id']}/complete")

    assert len(series(client, task["id"])) == 2


def test_concurrent_completions_create_one(api_server: LiveServer, client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())
    headers = dict(client.headers)
    statuses: list[int] = []

    def complete() -> None:
        response = httpx.post(
            f"{api_server.url}/api/tasks/{task['id']}/complete", headers=headers, timeout=30
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=complete) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 6
    assert len(series(client, task["id"])) == 2


def test_late_completion_skips_to_after_now(client: httpx.Client) -> None:
    due = tomorrow_at_nine_berlin() - timedelta(days=30)
    task = daily_task(client, due)

    client.post(f"/api/tasks/{task['id']}/complete")
    members = series(client, task["id"])
    next_due = datetime.fromisoformat(members[1]["due_at"])

    assert len(members) == 2
    assert next_due > datetime.now(UTC)
    assert next_due <= datetime.now(UTC) + timedelta(days=1)


def test_count_ends_series(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin(), recurrence={"rule": "FREQ=DAILY;COUNT=2"})

    client.post(f"/api/tasks/{task['id']}/complete")
    second = series(client, task["id"])[1]
    client.post(f"/api/tasks/{second['id']}/complete")

    assert len(series(client, task["id"])) == 2


@contextmanager
def service_session(api_server: LiveServer) -> Iterator[Session]:
    """Yield a write session on the service's database, to change it behind its back."""
    from taskora.config import Settings
    from taskora.server.store.database import Database

    server = api_server.server
    settings = Settings(database_url=server.database_url, data_dir=server.home / "data" / "taskora")
    database = Database(settings.resolved_database_url)
    try:
        with database.write() as session:
            yield session
    finally:
        database.dispose()


def lose_follower(api_server: LiveServer, task_id: int) -> None:
    """Delete the next occurrence of ``task_id`` behind the service's back, with SQL, as a
    restore from an older backup or a failed import would leave it."""
    with service_session(api_server) as session:
        session.execute(text("DELETE FROM tasks WHERE previous_id = :id"), {"id": task_id})
        session.execute(
            text("UPDATE tasks SET next_occurrence_done = :done WHERE id = :id"),
            {"done": False, "id": task_id},
        )


def test_check_repairs_missing_occurrence_once(
    api_server: LiveServer, client: httpx.Client
) -> None:
    due = tomorrow_at_nine_berlin()
    task = daily_task(client, due)
    client.post(f"/api/tasks/{task['id']}/complete")
    lose_follower(api_server, task["id"])

    first = client.post("/api/recurrence/check").json()
    second = client.post("/api/recurrence/check").json()
    members = series(client, task["id"])

    assert first == {"examined": 1, "created": 1}
    assert second == {"examined": 0, "created": 0}
    assert [member["occurrence"] for member in members] == [1, 2]
    assert members[1]["due_at"] == iso(due + timedelta(days=1))


def test_deleting_an_occurrence_skips_it(client: httpx.Client) -> None:
    due = tomorrow_at_nine_berlin()
    task = daily_task(client, due, tags=["home"])
    client.post(f"/api/tasks/{task['id']}/complete")
    second = series(client, task["id"])[1]

    response = client.delete(f"/api/tasks/{second['id']}")
    check = client.post("/api/recurrence/check").json()
    members = series(client, task["id"])
    (recurred,) = [
        event
        for event in events_of(client, "task.recurred")
        if event["data"]["previous_task_id"] == second["id"]
    ]

    assert response.status_code == 204
    assert [member["occurrence"] for member in members] == [1, 3]
    third = members[1]
    assert response.headers["link"] == f'</api/tasks/{third["id"]}>; rel="next"'
    assert third["due_at"] == iso(due + timedelta(days=2))
    assert third["tags"] == ["home"]
    assert third["status"] == "pending"
    assert recurred["data"]["id"] == third["id"]
    assert check == {"examined": 0, "created": 0}


def test_deleting_a_reopened_occurrence_keeps_its_follower(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())
    client.post(f"/api/tasks/{task['id']}/complete")
    client.post(f"/api/tasks/{task['id']}/reopen")

    response = client.delete(f"/api/tasks/{task['id']}")
    members = series(client, task["id"])

    assert response.status_code == 204
    assert "link" not in response.headers
    assert [member["occurrence"] for member in members] == [2]


def test_deleting_the_last_occurrence_ends_the_series(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin(), recurrence={"rule": "FREQ=DAILY;COUNT=2"})
    client.post(f"/api/tasks/{task['id']}/complete")
    last = series(client, task["id"])[1]

    response = client.delete(f"/api/tasks/{last['id']}")

    assert response.status_code == 204
    assert "link" not in response.headers
    assert [member["id"] for member in series(client, task["id"])] == [task["id"]]


def test_completing_links_the_next_occurrence(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())

    completed = client.post(f"/api/tasks/{task['id']}/complete")
    again = client.post(f"/api/tasks/{task['id']}/complete")
    follower = series(client, task["id"])[1]
    plain = client.post(
        "/api/tasks", json={"title": "Once", "due_at": iso(tomorrow_at_nine_berlin())}
    ).json()
    once = client.post(f"/api/tasks/{plain['id']}/complete")

    assert completed.headers["link"] == f'</api/tasks/{follower["id"]}>; rel="next"'
    assert again.headers["link"] == completed.headers["link"]
    assert "link" not in once.headers


def test_delete_with_series_stops_it(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())
    client.post(f"/api/tasks/{task['id']}/complete")
    successor = series(client, task["id"])[1]

    response = client.delete(f"/api/tasks/{successor['id']}", params={"series": "true"})
    check = client.post("/api/recurrence/check").json()
    remaining = series(client, task["id"])

    assert response.status_code == 204
    assert check["created"] == 0
    assert [member["id"] for member in remaining] == [task["id"]]
    assert remaining[0]["recurrence"] is None


def test_preset_is_stored_as_rule(client: httpx.Client) -> None:
    response = client.post(
        "/api/tasks",
        json={
            "title": "Rent",
            "due_at": "2027-01-31T09:00:00+01:00",
            "timezone": "Europe/Berlin",
            "recurrence": {"preset": "monthly on the last day"},
        },
    )

    assert response.status_code == 201
    assert response.json()["recurrence"] == {"rule": "FREQ=MONTHLY;BYMONTHDAY=-1", "anchor": "due"}


def test_unknown_preset_is_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/tasks",
        json={"title": "x", "due_at": "2027-01-31", "recurrence": {"preset": "fortnightly-ish"}},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.recurrence.preset"


def test_occurrences_lists_next_dates(client: httpx.Client) -> None:
    task = client.post(
        "/api/tasks",
        json={
            "title": "Standup",
            "due_at": "2027-03-26T09:00:00+01:00",
            "timezone": "Europe/Berlin",
            "recurrence": {"rule": "FREQ=DAILY"},
        },
    ).json()

    dates = client.get(f"/api/tasks/{task['id']}/occurrences", params={"count": 3}).json()

    # Berlin moves to summer time on 2027-03-28, and 09:00 local stays 09:00.
    assert dates == {
        "dates": ["2027-03-27T08:00:00Z", "2027-03-28T07:00:00Z", "2027-03-29T07:00:00Z"]
    }


def test_reminder_sent_once_and_again_after_change(client: httpx.Client) -> None:
    due = datetime.now(UTC) + timedelta(minutes=14)
    task = client.post(
        "/api/tasks", json={"title": "Call", "due_at": iso(due), "remind_before": "PT15M"}
    ).json()

    first = client.post("/api/reminders/check").json()
    second = client.post("/api/reminders/check").json()
    client.patch(f"/api/tasks/{task['id']}", json={"due_at": iso(due + timedelta(minutes=1))})
    third = client.post("/api/reminders/check").json()
    reminders = events_of(client, "task.reminder")

    assert first == {"examined": 1, "sent": 1}
    assert second == {"examined": 0, "sent": 0}
    assert third == {"examined": 1, "sent": 1}
    assert len(reminders) == 2
    assert reminders[0]["data"]["late"] is False
    assert reminders[0]["data"]["remind_at"] == iso(due - timedelta(minutes=15))


def test_no_reminder_for_completed_task(client: httpx.Client) -> None:
    due = datetime.now(UTC) + timedelta(minutes=5)
    task = client.post(
        "/api/tasks", json={"title": "Done early", "due_at": iso(due), "remind_before": "PT1H"}
    ).json()
    client.post(f"/api/tasks/{task['id']}/complete")

    assert client.post("/api/reminders/check").json() == {"examined": 0, "sent": 0}


def test_missed_reminder_is_sent_late(client: httpx.Client) -> None:
    due = datetime.now(UTC) - timedelta(hours=2)
    client.post("/api/tasks", json={"title": "Missed", "due_at": iso(due), "remind_before": "PT1H"})

    result = client.post("/api/reminders/check").json()
    (reminder,) = events_of(client, "task.reminder")

    assert result == {"examined": 1, "sent": 1}
    assert reminder["data"]["late"] is True


def test_new_rule_starts_new_series(client: httpx.Client) -> None:
    task = daily_task(client, tomorrow_at_nine_berlin())
    client.post(f"/api/tasks/{task['id']}/complete")
    second = series(client, task["id"])[1]

    edited = client.patch(
        f"/api/tasks/{second['id']}", json={"recurrence": {"rule": "FREQ=WEEKLY;INTERVAL=2"}}
    ).json()
    dropped = client.patch(f"/api/tasks/{second['id']}", json={"recurrence": None}).json()

    assert second["occurrence"] == 2
    assert (edited["series_id"], edited["occurrence"]) == (second["id"], 1)
    assert edited["recurrence"] == {"rule": "FREQ=WEEKLY;INTERVAL=2", "anchor": "due"}
    assert (dropped["series_id"], dropped["occurrence"], dropped["recurrence"]) == (
        None,
        None,
        None,
    )


def test_stored_broken_rule_stops_no_other_series(
    api_server: LiveServer, client: httpx.Client
) -> None:
    """A rule stored before the current validation is logged and retried, not marked done."""
    good = daily_task(client, tomorrow_at_nine_berlin())
    bad = daily_task(client, tomorrow_at_nine_berlin())
    for task in (good, bad):
        client.post(f"/api/tasks/{task['id']}/complete")
        lose_follower(api_server, task["id"])
    with service_session(api_server) as session:
        session.execute(
            text("UPDATE tasks SET recurrence_rule = 'FREQ=MONTHLY;BYDAY=9FR' WHERE id = :id"),
            {"id": bad["id"]},
        )

    first = client.post("/api/recurrence/check").json()
    second = client.post("/api/recurrence/check").json()

    assert first == {"examined": 2, "created": 1}
    assert second == {"examined": 1, "created": 0}
    assert [member["occurrence"] for member in series(client, good["id"])] == [1, 2]
    assert f"Task {bad['id']} has a recurrence rule that cannot be evaluated" in (
        api_server.server.log
    )


def test_task_carries_reminder_time(client: httpx.Client) -> None:
    """P1D before 09:00 on the day after the spring change is 09:00 the day before."""
    body = {
        "title": "Dentist",
        "due_at": "2026-03-30T07:00:00Z",
        "timezone": "Europe/Berlin",
        "remind_before": "P1DT30M",
    }

    created = client.post("/api/tasks", json=body).json()
    cleared = client.patch(f"/api/tasks/{created['id']}", json={"remind_before": None}).json()

    assert created["remind_at"] == "2026-03-29T06:30:00Z"
    assert cleared["remind_at"] is None

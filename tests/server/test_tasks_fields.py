"""Task time zones, due dates given as dates, recurrence and reminders."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer


@pytest.fixture
def client(api_server: LiveServer) -> Iterator[httpx.Client]:
    token = api_server.create_user()
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("timezone", "date", "expected"),
    [
        ("UTC", "2026-12-24", "2026-12-24T23:59:59Z"),
        ("Europe/Berlin", "2026-12-24", "2026-12-24T22:59:59Z"),
        ("Europe/Berlin", "2026-07-01", "2026-07-01T21:59:59Z"),
        ("America/New_York", "2026-03-08", "2026-03-09T03:59:59Z"),
        ("Australia/Adelaide", "2026-01-15", "2026-01-15T13:29:59Z"),
    ],
)
def test_date_alone_is_end_of_day_in_task_zone(
    client: httpx.Client, timezone: str, date: str, expected: str
) -> None:
    task = client.post(
        "/api/tasks", json={"title": "x", "due_at": date, "timezone": timezone}
    ).json()

    assert task["due_at"] == expected
    assert task["timezone"] == timezone


def test_task_zone_defaults_to_user_zone(client: httpx.Client) -> None:
    updated = client.patch("/api/users/me", json={"timezone": "Asia/Tokyo"})
    task = client.post("/api/tasks", json={"title": "x", "due_at": "2026-12-24"}).json()

    assert updated.json()["timezone"] == "Asia/Tokyo"
    assert task["timezone"] == "Asia/Tokyo"
    assert task["due_at"] == "2026-12-24T14:59:59Z"


def test_user_zone_rejects_unknown_name(client: httpx.Client) -> None:
    response = client.patch("/api/users/me", json={"timezone": "Moon/Base"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.timezone"


def test_date_alone_on_patch_uses_task_zone(client: httpx.Client) -> None:
    task = client.post("/api/tasks", json={"title": "x", "timezone": "Europe/Berlin"}).json()

    updated = client.patch(f"/api/tasks/{task['id']}", json={"due_at": "2026-12-31"}).json()

    assert updated["due_at"] == "2026-12-31T22:59:59Z"


def test_recurrence_and_reminder_stored(client: httpx.Client) -> None:
    created = client.post(
        "/api/tasks",
        json={
            "title": "Standup",
            "due_at": "2026-12-07T09:00:00+01:00",
            "recurrence": {"rule": "rrule:freq=weekly;byday=mo,we"},
            "remind_before": "pt15m",
        },
    ).json()
    fetched = client.get(f"/api/tasks/{created['id']}").json()

    assert fetched["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "anchor": "due"}
    assert fetched["remind_before"] == "PT15M"


def test_patch_null_clears_recurrence_and_reminder(client: httpx.Client) -> None:
    created = client.post(
        "/api/tasks",
        json={
            "title": "Water plants",
            "due_at": "2026-12-07",
            "recurrence": {"rule": "FREQ=DAILY;INTERVAL=3", "anchor": "completion"},
            "remind_before": "P1D",
        },
    ).json()

    updated = client.patch(
        f"/api/tasks/{created['id']}", json={"recurrence": None, "remind_before": None}
    ).json()

    assert created["recurrence"] == {"rule": "FREQ=DAILY;INTERVAL=3", "anchor": "completion"}
    assert updated["recurrence"] is None
    assert updated["remind_before"] is None
    assert updated["version"] == 2


def test_clearing_due_of_recurring_task_is_rejected(client: httpx.Client) -> None:
    created = client.post(
        "/api/tasks",
        json={"title": "Rent", "due_at": "2027-01-01", "recurrence": {"rule": "FREQ=MONTHLY"}},
    ).json()

    response = client.patch(f"/api/tasks/{created['id']}", json={"due_at": None})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.recurrence", "message": "a recurring task needs a due_at"}
    ]
    assert client.get(f"/api/tasks/{created['id']}").json()["due_at"] == "2027-01-01T23:59:59Z"


def test_completed_at_follows_status(client: httpx.Client) -> None:
    created = client.post("/api/tasks", json={"title": "x"}).json()

    completed = client.patch(f"/api/tasks/{created['id']}", json={"status": "completed"}).json()
    reopened = client.patch(f"/api/tasks/{created['id']}", json={"status": "pending"}).json()

    assert completed["completed_at"] is not None
    assert completed["completed_at"] == completed["updated_at"]
    assert reopened["completed_at"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {
                "due_at": "2026-12-24",
                "recurrence": {"rule": "FREQ=DAILY;COUNT=2;UNTIL=20271231T000000Z"},
            },
            "body.recurrence.rule",
            "the recurrence rule 'FREQ=DAILY;COUNT=2;UNTIL=20271231T000000Z' has both COUNT and "
            "UNTIL, which RFC 5545 (section 3.3.10) does not allow: keep one of them",
        ),
        (
            {"due_at": "2026-12-24", "recurrence": {"rule": "FREQ=DAILY;COUNT=0"}},
            "body.recurrence.rule",
            "the recurrence rule 'FREQ=DAILY;COUNT=0' has COUNT=0: use a COUNT of 1 or more",
        ),
        (
            {
                "due_at": "2026-12-24T09:00:00Z",
                "recurrence": {"rule": "FREQ=DAILY;UNTIL=20200101T000000Z"},
            },
            "body.recurrence.rule",
            "the rule ends (UNTIL 2020-01-01T00:00:00+00:00) before the task is due "
            "(2026-12-24T09:00:00+00:00), so it never produces a date",
        ),
    ],
)
def test_rule_that_cannot_start_is_rejected(
    client: httpx.Client, body: dict, field: str, message: str
) -> None:
    response = client.post("/api/tasks", json={"title": "x", **body})

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": message}]


def test_resume_beyond_newest_event_gets_reset(client: httpx.Client) -> None:
    client.post("/api/tasks", json={"title": "x"})
    lines: list[str] = []
    with client.stream(
        "GET", "/api/events/stream", params={"since": 10**12}, timeout=httpx.Timeout(10, read=10)
    ) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break

    assert "event: reset" in lines
    assert "is beyond the newest event" in lines[-1]

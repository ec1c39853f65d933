"""Due times read in the account's or the task's time zone, with the real CLI and server.

Every CLI subprocess here runs with TZ=Asia/Tokyo, a zone that no account or task uses,
so a result that followed the machine's zone would be off by 14 or 8 hours.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from test_e2e import client_env, taskora_json

from tests.conftest import LiveServer

NEW_YORK = ZoneInfo("America/New_York")
FRIDAY = 4


def set_account_zone(live_server: LiveServer, token: str, zone: str) -> None:
    response = httpx.patch(
        f"{live_server.url}/api/users/me",
        json={"timezone": zone},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == zone


def user_env(live_server: LiveServer, machine_zone: str, account_zone: str) -> dict[str, str]:
    """Return the environment of a new user whose account is in ``account_zone``."""
    token = live_server.create_user()
    set_account_zone(live_server, token, account_zone)
    env = client_env(live_server, token)
    env["TZ"] = machine_zone
    return env


@pytest.fixture
def new_york_env(live_server: LiveServer) -> dict[str, str]:
    """A user in America/New_York, on a machine in Asia/Tokyo."""
    return user_env(live_server, "Asia/Tokyo", "America/New_York")


def add(env: dict[str, str], *options: str) -> dict[str, Any]:
    return dict(taskora_json(env, "tasks", "add", "Call", *options))


def next_friday_at_five_new_york() -> str:
    """Return next Friday (strictly after today in New York), 17:00 there, as the API's UTC."""
    today = datetime.now(NEW_YORK).date()
    friday = today + timedelta(days=(FRIDAY - today.weekday()) % 7 or 7)
    moment = datetime.combine(friday, time(17, 0), NEW_YORK).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_add_reads_due_in_account_zone(new_york_env: dict[str, str]) -> None:
    evening = add(new_york_env, "--due", "2026-12-24 17:00")
    whole_day = add(new_york_env, "--due", "2026-12-24")
    friday = add(new_york_env, "--due", "fri 17:00")

    assert evening["timezone"] == "America/New_York"
    assert evening["due_at"] == "2026-12-24T22:00:00Z"
    # The date goes to the server alone, which ends it at 23:59:59 in New York.
    assert whole_day["due_at"] == "2026-12-25T04:59:59Z"
    assert friday["due_at"] == next_friday_at_five_new_york()


def test_add_timezone_option_beats_account(new_york_env: dict[str, str]) -> None:
    task = add(new_york_env, "--due", "2026-12-24 17:00", "--timezone", "Europe/Berlin")
    whole_day = add(new_york_env, "--due", "2026-12-24", "--timezone", "Europe/Berlin")

    assert task["timezone"] == "Europe/Berlin"
    assert task["due_at"] == "2026-12-24T16:00:00Z"
    assert whole_day["due_at"] == "2026-12-24T22:59:59Z"


def test_edit_reads_due_in_task_zone(new_york_env: dict[str, str]) -> None:
    task_id = str(add(new_york_env, "--timezone", "Europe/Berlin")["id"])

    def edit(*options: str) -> dict[str, Any]:
        return dict(taskora_json(new_york_env, "tasks", "edit", task_id, *options))

    assert edit("--due", "2026-12-24 17:00")["due_at"] == "2026-12-24T16:00:00Z"
    assert edit("--due", "2026-12-24")["due_at"] == "2026-12-24T22:59:59Z"
    moved = edit("--due", "2026-12-24 17:00", "--timezone", "Asia/Tokyo")
    assert moved["timezone"] == "Asia/Tokyo"
    assert moved["due_at"] == "2026-12-24T08:00:00Z"


def test_edit_timezone_keeps_due_moment(new_york_env: dict[str, str]) -> None:
    """As the help describes, 17:00 in New York is 23:00 in Berlin after a zone change alone."""
    task_id = str(add(new_york_env, "--due", "2026-12-24 17:00")["id"])

    moved = taskora_json(new_york_env, "tasks", "edit", task_id, "--timezone", "Europe/Berlin")

    assert moved["timezone"] == "Europe/Berlin"
    assert moved["due_at"] == "2026-12-24T22:00:00Z"


def test_list_filters_in_account_zone(new_york_env: dict[str, str]) -> None:
    early = add(new_york_env, "--due", "2026-12-24T21:00:00Z")["id"]
    late = add(new_york_env, "--due", "2026-12-24T23:00:00Z")["id"]

    def ids(*options: str) -> list[int]:
        page = taskora_json(new_york_env, "tasks", "list", *options)
        return [task["id"] for task in page["items"]]

    # 17:00 in New York is 22:00Z, between the two tasks.
    assert ids("--due-before", "2026-12-24 17:00") == [early]
    assert ids("--due-after", "2026-12-24 17:00") == [late]
    # The day ends at 04:59:59Z on the 25th in New York, after both tasks.
    assert ids("--due-before", "2026-12-24") == [early, late]


@pytest.mark.parametrize("machine_zone", ["Asia/Tokyo", "UTC0", "America/Los_Angeles"])
def test_machine_zone_does_not_matter(live_server: LiveServer, machine_zone: str) -> None:
    env = user_env(live_server, machine_zone, "America/New_York")

    task = add(env, "--due", "2026-12-24 17:00")

    assert task["due_at"] == "2026-12-24T22:00:00Z"

"""List filters, search and sorting of GET /api/tasks, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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


def add(client: httpx.Client, **fields: object) -> int:
    response = client.post("/api/tasks", json=fields)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def listed(client: httpx.Client, **params: object) -> list[int]:
    response = client.get("/api/tasks", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [task["id"] for task in response.json()["items"]]


def test_search_matches_word_prefixes(client: httpx.Client) -> None:
    groceries = add(client, title="Groceries for the week")
    report = add(client, title="Quarterly report", description="Include the GROCERY budget")
    add(client, title="Call mum")

    assert listed(client, q="groc") == [groceries, report]
    assert listed(client, q="GROCERIES") == [groceries]
    assert listed(client, q="groc budg") == [report]
    assert listed(client, q="week groc") == [groceries]
    assert listed(client, q="nothing") == []


def test_search_finds_edited_title(client: httpx.Client) -> None:
    task = add(client, title="Old name")
    client.patch(f"/api/tasks/{task}", json={"title": "Renamed entirely"})

    assert listed(client, q="renamed") == [task]
    assert listed(client, q="old") == []


def test_search_ignores_query_syntax(client: httpx.Client) -> None:
    task = add(client, title="Fix the parser's quotes")

    assert listed(client, q='"parser" * & | ! :( -') == [task]
    assert listed(client, q="***") == [task]


def test_search_skips_deleted_task(client: httpx.Client) -> None:
    task = add(client, title="Ephemeral")
    client.delete(f"/api/tasks/{task}")

    assert listed(client, q="ephem") == []


def test_tag_modes(client: httpx.Client) -> None:
    home = add(client, title="a", tags=["home"])
    both = add(client, title="b", tags=["home", "work"])
    work = add(client, title="c", tags=["work"])
    add(client, title="d")

    assert listed(client, tag=["home", "work"]) == [both]
    assert listed(client, tag=["home", "work"], tag_mode="any") == [home, both, work]


def test_due_range_and_overdue(client: httpx.Client) -> None:
    now = datetime.now(UTC)
    past = add(client, title="past", due_at=(now - timedelta(days=2)).isoformat())
    done_past = add(client, title="done past", due_at=(now - timedelta(days=1)).isoformat())
    client.post(f"/api/tasks/{done_past}/complete")
    soon = add(client, title="soon", due_at=(now + timedelta(days=1)).isoformat())
    later = add(client, title="later", due_at=(now + timedelta(days=30)).isoformat())
    add(client, title="undated")
    boundary = (now + timedelta(days=1)).isoformat()

    assert listed(client, overdue="true") == [past]
    assert listed(client, due_before=now.isoformat()) == [past, done_past]
    assert listed(client, due_after=now.isoformat()) == [soon, later]
    assert listed(
        client, due_after=boundary, due_before=(now + timedelta(days=31)).isoformat()
    ) == [
        soon,
        later,
    ]


def test_sort_by_title_ignores_case(client: httpx.Client) -> None:
    banana = add(client, title="banana")
    apple = add(client, title="Apple")
    cherry = add(client, title="cherry")

    assert listed(client, sort="title") == [apple, banana, cherry]
    assert listed(client, sort="-title") == [cherry, banana, apple]


def test_sort_by_updated_at(client: httpx.Client) -> None:
    first = add(client, title="first")
    second = add(client, title="second")
    client.patch(f"/api/tasks/{first}", json={"priority": "high"})

    assert listed(client, sort="updated_at") == [second, first]
    assert listed(client, sort="-updated_at") == [first, second]


@pytest.mark.parametrize("sort", ["title", "-title", "updated_at", "-updated_at"])
def test_cursor_pages_for_new_sorts(client: httpx.Client, sort: str) -> None:
    for title in ["b", "B", "a", "c", "A", "b", "d"]:
        add(client, title=title)
    expected = listed(client, sort=sort)

    seen: list[int] = []
    params: dict[str, object] = {"sort": sort, "limit": 2}
    for _ in range(10):
        page = client.get("/api/tasks", params=params).json()
        seen += [task["id"] for task in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert seen == expected
    assert len(seen) == 7


def test_filters_combine(client: httpx.Client) -> None:
    match = add(client, title="Pay rent", priority="urgent", tags=["home"], due_at="2027-01-01")
    add(client, title="Pay rent later", priority="low", tags=["home"], due_at="2027-01-01")
    add(client, title="Pay gym", priority="urgent", tags=["sport"], due_at="2027-01-01")

    assert listed(client, q="pay", priority="urgent", tag="home", sort="-due_at") == [match]

"""The task routes, through real HTTP on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer


@pytest.fixture
def client(api_server: LiveServer) -> Iterator[httpx.Client]:
    """A client authenticated as a new user, so each test starts with no tasks."""
    token = api_server.create_user()
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def add(client: httpx.Client, **fields: object) -> dict:
    response = client.post("/api/tasks", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def ids(page: dict) -> list[int]:
    return [task["id"] for task in page["items"]]


def test_create_returns_normalized_task(client: httpx.Client) -> None:
    response = client.post(
        "/api/tasks",
        json={
            "title": "  Buy milk  ",
            "description": "two litres",
            "priority": "high",
            "tags": ["Home", "errands", "home"],
            "due_at": "2026-12-24T17:00:00+01:00",
        },
    )
    task = response.json()

    assert response.status_code == 201
    assert task["title"] == "Buy milk"
    assert task["description"] == "two litres"
    assert task["status"] == "pending"
    assert task["priority"] == "high"
    assert task["tags"] == ["errands", "home"]
    assert task["due_at"] == "2026-12-24T16:00:00Z"
    assert task["completed_at"] is None
    assert task["version"] == 1
    assert task["created_at"] == task["updated_at"]
    assert task["created_at"].endswith("Z")


def test_create_defaults(client: httpx.Client) -> None:
    task = add(client, title="Plain")

    assert task["description"] == ""
    assert task["priority"] == "medium"
    assert task["tags"] == []
    assert task["due_at"] is None


def test_get_returns_created_task(client: httpx.Client) -> None:
    created = add(client, title="Read", tags=["books"])

    response = client.get(f"/api/tasks/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "body.title", "Field required"),
        ({"title": "   "}, "body.title", "title must not be empty or only spaces"),
        ({"title": "x" * 501}, "body.title", "title is 501 characters long; the maximum is 500"),
        (
            {"title": "x", "priority": "soon"},
            "body.priority",
            "Input should be 'low', 'medium', 'high' or 'urgent'",
        ),
        ({"title": "x", "color": "red"}, "body.color", "unknown field"),
        (
            {"title": "x", "tags": ["a b"]},
            "body.tags",
            "tag 'a b' may contain only letters, digits and the characters - _ / : .",
        ),
        (
            {"title": "x", "due_at": "2026-12-24T17:00:00"},
            "body.due_at",
            "timestamp '2026-12-24T17:00:00' has no UTC offset: add one, such as Z or +01:00, "
            "or send a date alone",
        ),
        (
            {"title": "x", "due_at": "2026-02-30T17:00:00Z"},
            "body.due_at",
            "invalid timestamp '2026-02-30T17:00:00Z' (day is out of range for month): use "
            "RFC 3339, such as 2026-12-24T17:00:00+01:00, or a date alone",
        ),
        (
            {"title": "x", "due_at": "2026-02-30"},
            "body.due_at",
            "invalid date '2026-02-30': day is out of range for month",
        ),
        (
            {"title": "x", "due_at": 1767225600},
            "body.due_at",
            "due_at must be a string: an RFC 3339 timestamp or a date (YYYY-MM-DD)",
        ),
        (
            {"title": "x", "description": "d" * 20_001},
            "body.description",
            "String should have at most 20000 characters",
        ),
        (
            {"title": "x", "tags": ["t" * 65]},
            "body.tags",
            f"tag '{'t' * 65}' must be 1 to 64 characters long",
        ),
        (
            {"title": "x", "tags": [f"t{number}" for number in range(51)]},
            "body.tags",
            "a task has at most 50 tags, got 51",
        ),
        ({"title": "x", "tags": "home"}, "body.tags", "Input should be a valid list"),
        ({"title": 5}, "body.title", "Input should be a valid string"),
        ({"title": "a\u0000b"}, "body.title", "must not contain NUL characters (U+0000)"),
        (
            {"title": "x", "description": "\u0000"},
            "body.description",
            "must not contain NUL characters (U+0000)",
        ),
        (
            {"title": "x", "timezone": "Europe/Atlantis"},
            "body.timezone",
            "unknown time zone 'Europe/Atlantis': use an IANA name such as 'Europe/Berlin' or 'UTC'",
        ),
        (
            {"title": "x", "due_at": "2027-01-01", "remind_before": "15 minutes"},
            "body.remind_before",
            "invalid duration '15 minutes': use ISO 8601, such as PT15M, PT1H30M, P1D or P1W",
        ),
        (
            {"title": "x", "due_at": "2027-01-01", "recurrence": {"rule": "FREQ=FORTNIGHTLY"}},
            "body.recurrence.rule",
            "invalid recurrence rule 'FREQ=FORTNIGHTLY': FREQ=FORTNIGHTLY is not a frequency; "
            "use HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY",
        ),
        (
            {
                "title": "x",
                "due_at": "2027-01-01",
                "recurrence": {"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
            },
            "body.recurrence.rule",
            "the recurrence rule 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' never produces a date",
        ),
        (
            {
                "title": "x",
                "due_at": "2027-01-01",
                "recurrence": {"rule": "FREQ=DAILY", "anchor": "start"},
            },
            "body.recurrence.anchor",
            "Input should be 'due' or 'completion'",
        ),
        (
            {"title": "x", "recurrence": {"rule": "FREQ=DAILY"}},
            "body.recurrence",
            "a recurring task needs a due_at",
        ),
        (
            {"title": "x", "remind_before": "PT15M"},
            "body.remind_before",
            "a reminder needs a due_at",
        ),
    ],
)
def test_create_rejects_invalid_field(
    client: httpx.Client, body: dict, field: str, message: str
) -> None:
    response = client.post("/api/tasks", json=body)
    problem = response.json()

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["errors"] == [{"field": field, "message": message}]
    assert problem["detail"] == f"invalid {field}: {message}"


def test_create_rejects_body_that_is_not_json(client: httpx.Client) -> None:
    response = client.post(
        "/api/tasks", content=b"{title: x}", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert response.json()["errors"][0]["message"].startswith("the body is not valid JSON")


def test_invalid_input_creates_nothing(client: httpx.Client) -> None:
    client.post("/api/tasks", json={"title": "x", "priority": "soon"})

    assert client.get("/api/tasks").json() == {"items": [], "next_cursor": None}


def test_update_changes_only_given_fields(client: httpx.Client) -> None:
    created = add(client, title="Draft", priority="low", tags=["a"], due_at="2027-01-01T00:00:00Z")

    response = client.patch(f"/api/tasks/{created['id']}", json={"title": "Final", "due_at": None})
    task = response.json()

    assert response.status_code == 200
    assert task["title"] == "Final"
    assert task["due_at"] is None
    assert task["priority"] == "low"
    assert task["tags"] == ["a"]
    assert task["version"] == 2
    assert task["updated_at"] > created["updated_at"]


def test_update_without_change_keeps_version(client: httpx.Client) -> None:
    created = add(client, title="Same")

    response = client.patch(f"/api/tasks/{created['id']}", json={"title": "Same"})

    assert response.json()["version"] == 1


def test_update_rejects_null_title(client: httpx.Client) -> None:
    created = add(client, title="Keep")

    response = client.patch(f"/api/tasks/{created['id']}", json={"title": None})

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body.title", "message": "title cannot be null"}]


def test_complete_and_reopen(client: httpx.Client) -> None:
    created = add(client, title="Cycle")

    completed = client.post(f"/api/tasks/{created['id']}/complete").json()
    again = client.post(f"/api/tasks/{created['id']}/complete").json()
    reopened = client.post(f"/api/tasks/{created['id']}/reopen").json()

    assert completed["status"] == "completed"
    assert completed["completed_at"] is not None
    assert completed["version"] == 2
    assert again == completed
    assert reopened["status"] == "pending"
    assert reopened["completed_at"] is None
    assert reopened["version"] == 3


def test_delete_then_get_is_404(client: httpx.Client) -> None:
    created = add(client, title="Gone")

    deleted = client.delete(f"/api/tasks/{created['id']}")
    response = client.get(f"/api/tasks/{created['id']}")

    assert deleted.status_code == 204
    assert response.status_code == 404
    assert response.json()["detail"] == f"task {created['id']} not found"


def test_other_users_task_is_404(api_server: LiveServer, client: httpx.Client) -> None:
    created = add(client, title="Mine")
    other = {"Authorization": f"Bearer {api_server.create_user()}"}

    with httpx.Client(base_url=api_server.url, headers=other, timeout=10) as intruder:
        responses = [
            intruder.get(f"/api/tasks/{created['id']}"),
            intruder.patch(f"/api/tasks/{created['id']}", json={"title": "Theirs"}),
            intruder.post(f"/api/tasks/{created['id']}/complete"),
            intruder.delete(f"/api/tasks/{created['id']}"),
        ]
        listed = intruder.get("/api/tasks").json()

    assert [response.status_code for response in responses] == [404, 404, 404, 404]
    assert listed["items"] == []
    assert client.get(f"/api/tasks/{created['id']}").json()["title"] == "Mine"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer tko_not-a-real-token"}, {"Authorization": "Basic dTpw"}],
)
def test_requests_without_valid_token_are_401(api_server: LiveServer, headers: dict) -> None:
    response = httpx.get(f"{api_server.url}/api/tasks", headers=headers, timeout=10)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_list_filters(client: httpx.Client) -> None:
    low = add(client, title="low", priority="low", tags=["home"])
    high = add(client, title="high", priority="high", tags=["home", "work"])
    urgent = add(client, title="urgent", priority="urgent", tags=["work"])
    client.post(f"/api/tasks/{urgent['id']}/complete")

    assert ids(client.get("/api/tasks", params={"status": "pending"}).json()) == [
        low["id"],
        high["id"],
    ]
    assert ids(client.get("/api/tasks", params={"status": "completed"}).json()) == [urgent["id"]]
    assert ids(client.get("/api/tasks", params={"priority": ["low", "urgent"]}).json()) == [
        low["id"],
        urgent["id"],
    ]
    assert ids(client.get("/api/tasks", params={"tag": "home"}).json()) == [low["id"], high["id"]]
    assert ids(client.get("/api/tasks", params={"tag": ["HOME", "work"]}).json()) == [high["id"]]


def test_list_sorts_with_tasks_without_due_date_last(client: httpx.Client) -> None:
    late = add(client, title="late", priority="low", due_at="2027-03-01T00:00:00Z")
    undated = add(client, title="undated", priority="urgent")
    early = add(client, title="early", priority="high", due_at="2027-01-01T00:00:00Z")
    undated_too = add(client, title="undated too", priority="high")

    def order(sort: str) -> list[int]:
        return ids(client.get("/api/tasks", params={"sort": sort}).json())

    assert order("due_at") == [early["id"], late["id"], undated["id"], undated_too["id"]]
    assert order("-due_at") == [late["id"], early["id"], undated_too["id"], undated["id"]]
    assert order("priority") == [late["id"], early["id"], undated_too["id"], undated["id"]]
    assert order("-priority") == [undated["id"], undated_too["id"], early["id"], late["id"]]
    assert order("created_at") == [late["id"], undated["id"], early["id"], undated_too["id"]]
    assert order("-created_at") == [undated_too["id"], early["id"], undated["id"], late["id"]]


@pytest.mark.parametrize("sort", ["due_at", "-due_at", "priority", "-priority", "-created_at"])
def test_cursor_pages_cover_every_task_once(client: httpx.Client, sort: str) -> None:
    priorities = ["low", "medium", "high", "urgent"]
    for number in range(11):
        fields: dict[str, object] = {"title": f"t{number}", "priority": priorities[number % 4]}
        if number % 3:
            fields["due_at"] = f"2027-01-{1 + number % 5:02d}T09:00:00Z"
        add(client, **fields)
    expected = ids(client.get("/api/tasks", params={"sort": sort, "limit": 200}).json())

    seen: list[int] = []
    cursor = None
    for _ in range(20):
        params: dict[str, object] = {"sort": sort, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/tasks", params=params).json()
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(expected) == 11
    assert seen == expected


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"sort": "name"}, 422, "query.sort"),
        ({"due_before": "2027-01-01T00:00:00"}, 422, "query.due_before"),
        ({"overdue": "maybe"}, 422, "query.overdue"),
        ({"tag_mode": "some"}, 422, "query.tag_mode"),
        ({"limit": 0}, 422, "query.limit"),
        ({"limit": 201}, 422, "query.limit"),
        ({"status": "done"}, 422, "query.status"),
        ({"priority": "asap"}, 422, "query.priority.0"),
    ],
)
def test_list_rejects_invalid_query(
    client: httpx.Client, params: dict, status: int, field: str
) -> None:
    response = client.get("/api/tasks", params=params)

    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == field


def test_list_rejects_invalid_tag(client: httpx.Client) -> None:
    response = client.get("/api/tasks", params={"tag": "no spaces"})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "query.tag",
            "message": "tag 'no spaces' may contain only letters, digits and the characters - _ / : .",
        }
    ]


def test_list_rejects_tampered_cursor(client: httpx.Client) -> None:
    for number in range(3):
        add(client, title=f"t{number}")
    cursor = client.get("/api/tasks", params={"limit": 1}).json()["next_cursor"]

    tampered = client.get("/api/tasks", params={"limit": 1, "cursor": cursor[:-2] + "xx"})
    other_sort = client.get("/api/tasks", params={"limit": 1, "cursor": cursor, "sort": "priority"})

    assert tampered.status_code == 400
    assert tampered.json()["detail"] == "invalid query.cursor: cursor is not one this server issued"
    assert other_sort.status_code == 400
    assert other_sort.json()["detail"] == (
        "invalid query.cursor: cursor was issued for sort 'created_at', not 'priority': "
        "repeat the first request's sort or drop the cursor"
    )


def test_me_returns_caller(api_server: LiveServer) -> None:
    token = api_server.create_user("me-check-" + api_server.server.home.name[-6:])

    response = httpx.get(
        f"{api_server.url}/api/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    assert response.status_code == 200
    assert response.json()["name"] == "me-check-" + api_server.server.home.name[-6:]


def test_deleted_newest_id_is_never_reused(client: httpx.Client) -> None:
    first = client.post("/api/tasks", json={"title": "first"}).json()
    client.delete(f"/api/tasks/{first['id']}")
    second = client.post("/api/tasks", json={"title": "second"}).json()
    # A delete retried with the old task's version must not reach the new task.
    retried = client.delete(f"/api/tasks/{first['id']}", headers={"If-Match": '"1"'})

    assert second["id"] > first["id"]
    assert retried.status_code == 404
    assert client.get(f"/api/tasks/{second['id']}").status_code == 200

"""ETags and If-Match, Idempotency-Key, body size limits and bounds on ids."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer


@pytest.fixture
def token(api_server: LiveServer) -> str:
    return api_server.create_user()


@pytest.fixture
def client(api_server: LiveServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def event_types(client: httpx.Client, api_server: LiveServer) -> list[str]:
    """Return the types of the caller's events in the log, read by replaying the stream."""
    types: list[str] = []
    with client.stream("GET", "/api/events/stream", params={"since": 0}) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                types.append(line.removeprefix("event: "))
            # A ping after at least one event means the replay and the live tail are done.
            if line.startswith(":") and types:
                break
    return types


def test_etag_follows_version(client: httpx.Client) -> None:
    created = client.post("/api/tasks", json={"title": "x"})
    task_id = created.json()["id"]
    fetched = client.get(f"/api/tasks/{task_id}")
    patched = client.patch(f"/api/tasks/{task_id}", json={"title": "y"})

    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == f"/api/tasks/{task_id}"
    assert fetched.headers["etag"] == '"1"'
    assert patched.headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ['"1"', "1", "*"])
def test_if_match_current_version_applies(client: httpx.Client, if_match: str) -> None:
    task_id = client.post("/api/tasks", json={"title": "x"}).json()["id"]

    response = client.patch(
        f"/api/tasks/{task_id}", json={"title": "y"}, headers={"If-Match": if_match}
    )

    assert response.status_code == 200
    assert response.json()["title"] == "y"


def test_if_match_stale_version_is_412(client: httpx.Client) -> None:
    task_id = client.post("/api/tasks", json={"title": "original"}).json()["id"]
    client.patch(f"/api/tasks/{task_id}", json={"title": "first edit"})

    response = client.patch(
        f"/api/tasks/{task_id}", json={"title": "second edit"}, headers={"If-Match": '"1"'}
    )
    problem = response.json()

    assert response.status_code == 412
    assert response.headers["etag"] == '"2"'
    assert problem["current_version"] == 2
    assert problem["detail"] == (
        f"task {task_id} is at version 2, not 1: fetch it again and reapply the change"
    )
    assert client.get(f"/api/tasks/{task_id}").json()["title"] == "first edit"


def test_two_clients_cannot_overwrite_each_other(client: httpx.Client) -> None:
    task = client.post("/api/tasks", json={"title": "shared"}).json()
    etag = f'"{task["version"]}"'

    first = client.patch(
        f"/api/tasks/{task['id']}", json={"description": "from A"}, headers={"If-Match": etag}
    )
    second = client.patch(
        f"/api/tasks/{task['id']}", json={"description": "from B"}, headers={"If-Match": etag}
    )

    assert first.status_code == 200
    assert second.status_code == 412
    assert client.get(f"/api/tasks/{task['id']}").json()["description"] == "from A"


def test_delete_with_stale_if_match_keeps_task(client: httpx.Client) -> None:
    task_id = client.post("/api/tasks", json={"title": "keep"}).json()["id"]
    client.post(f"/api/tasks/{task_id}/complete")

    response = client.delete(f"/api/tasks/{task_id}", headers={"If-Match": '"1"'})

    assert response.status_code == 412
    assert client.get(f"/api/tasks/{task_id}").status_code == 200


def test_if_match_rejects_garbled_tag(client: httpx.Client) -> None:
    task_id = client.post("/api/tasks", json={"title": "x"}).json()["id"]

    response = client.patch(
        f"/api/tasks/{task_id}", json={"title": "y"}, headers={"If-Match": '"1", v2'}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "field": "header.If-Match",
            "message": "invalid entity tag 'v2': send the task's ETag, such as \"3\"",
        }
    ]


def test_if_match_weak_tag_never_matches(client: httpx.Client) -> None:
    task_id = client.post("/api/tasks", json={"title": "x"}).json()["id"]

    response = client.patch(
        f"/api/tasks/{task_id}", json={"title": "y"}, headers={"If-Match": 'W/"1"'}
    )

    assert response.status_code == 412
    assert response.json()["detail"] == (
        f'task {task_id} is at version 1, and a weak entity tag never matches; send "1": '
        "fetch it again and reapply the change"
    )
    assert client.get(f"/api/tasks/{task_id}").json()["title"] == "x"


def test_if_match_list_applies_when_one_matches(client: httpx.Client) -> None:
    task_id = client.post("/api/tasks", json={"title": "x"}).json()["id"]

    stale = client.patch(
        f"/api/tasks/{task_id}", json={"title": "y"}, headers={"If-Match": '"7", W/"1"'}
    )
    listed = client.patch(
        f"/api/tasks/{task_id}", json={"title": "y"}, headers={"If-Match": '"7", "1"'}
    )

    assert stale.status_code == 412
    assert "is at version 1, not 7:" in stale.json()["detail"]
    assert listed.status_code == 200
    assert listed.json()["version"] == 2


def test_idempotency_key_replays_first_response(
    client: httpx.Client, api_server: LiveServer
) -> None:
    headers = {"Idempotency-Key": "add-milk-1"}

    first = client.post("/api/tasks", json={"title": "Milk"}, headers=headers)
    retry = client.post("/api/tasks", json={"title": "Milk"}, headers=headers)
    tasks = client.get("/api/tasks").json()["items"]

    assert first.status_code == 201
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(tasks) == 1
    assert event_types(client, api_server) == ["task.created"]


def test_idempotency_key_with_other_body_is_rejected(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k-1"}
    client.post("/api/tasks", json={"title": "Milk"}, headers=headers)

    response = client.post("/api/tasks", json={"title": "Bread"}, headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert [task["title"] for task in client.get("/api/tasks").json()["items"]] == ["Milk"]


def test_idempotency_keys_are_per_user(api_server: LiveServer, client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    other = {"Authorization": f"Bearer {api_server.create_user()}", **headers}

    mine = client.post("/api/tasks", json={"title": "Mine"}, headers=headers)
    theirs = httpx.post(
        f"{api_server.url}/api/tasks", json={"title": "Mine"}, headers=other, timeout=10
    )

    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]
    assert "idempotent-replayed" not in theirs.headers


def test_concurrent_retries_create_one_task(api_server: LiveServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst"}
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        response = httpx.post(
            f"{api_server.url}/api/tasks", json={"title": "once"}, headers=headers, timeout=30
        )
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listing = httpx.get(
        f"{api_server.url}/api/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()

    assert [response.status_code for response in results] == [201] * 8
    assert len({response.json()["id"] for response in results}) == 1
    assert len(listing["items"]) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "ünïcode"])
def test_invalid_idempotency_key_is_rejected(client: httpx.Client, key: str) -> None:
    response = client.post(
        "/api/tasks", json={"title": "x"}, headers={"Idempotency-Key": key.encode()}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "header.Idempotency-Key", "message": "must be 1 to 255 visible ASCII characters"}
    ]


def test_ten_megabyte_body_is_413(client: httpx.Client) -> None:
    body = b'{"title": "' + b"x" * (10 * 1024 * 1024) + b'"}'

    response = client.post("/api/tasks", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "request body too large: the limit is 1048576 bytes (TASKORA_MAX_BODY_BYTES)"
    )


def test_streamed_body_over_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"title": "'
        for _ in range(3):
            yield b"x" * (512 * 1024)
        yield b'"}'

    response = client.post(
        "/api/tasks", content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert client.get("/api/tasks").json()["items"] == []


@pytest.mark.parametrize("task_id", ["0", "-1", str(2**63), "99999999999999999999", "abc"])
def test_out_of_range_task_id_is_422(client: httpx.Client, task_id: str) -> None:
    response = client.get(f"/api/tasks/{task_id}")

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.task_id"


def test_cursor_with_other_filters_is_rejected(client: httpx.Client) -> None:
    for number in range(3):
        client.post("/api/tasks", json={"title": f"t{number}"})
    cursor = client.get("/api/tasks", params={"limit": 1}).json()["next_cursor"]

    response = client.get(
        "/api/tasks", params={"limit": 1, "cursor": cursor, "status": "completed"}
    )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "invalid query.cursor: cursor was issued for other filters: repeat the first "
        "request's filters or drop the cursor"
    )


def test_concurrent_reuse_with_other_body_is_422(api_server: LiveServer, token: str) -> None:
    """Half the requests share a key with another body; none may fail with a 5xx."""
    results: list[int] = []
    lock = threading.Lock()

    def send(title: str) -> None:
        response = httpx.post(
            f"{api_server.url}/api/tasks",
            json={"title": title},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "contested"},
            timeout=30,
        )
        with lock:
            results.append(response.status_code)

    threads = [threading.Thread(target=send, args=(f"t{n % 2}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(set(results)) == [201, 422]
    assert results.count(422) == 4

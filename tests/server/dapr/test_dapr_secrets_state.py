"""Secrets from the Dapr secret store, idempotency keys in the Dapr state store, and
start-up against a sidecar that is missing or misconfigured.

The sidecar is a test double (tests/support/dapr_sidecar.py) because daprd cannot be
installed on the machines that run these tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from taskora.config import Settings
from taskora.server.runner import add_user, prepare_database
from tests.server.dapr.conftest import SECRET_STORE, DaprService, start_dapr_service
from tests.support.dapr_sidecar import TestSidecar
from tests.support.servers import ServerProcess, free_port

CURSOR_KEY = "cursor-key-from-the-store-0123456789abcdef"
PASSWORD = "pw-from-the-store-5f3a"


def _state_key(user_id: int, key: str) -> str:
    return f"idempotency-{user_id}-{hashlib.sha256(key.encode()).hexdigest()}"


def _signed_with(cursor: str, key: bytes) -> bool:
    """Return whether ``cursor`` carries the HMAC-SHA256 signature (12 bytes) of ``key``."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    signature, payload = raw[:12], raw[12:]
    return hmac.compare_digest(signature, hmac.new(key, payload, hashlib.sha256).digest()[:12])


def test_secrets_come_from_store(tmp_path: Path, sidecar: TestSidecar, postgres_url: str) -> None:
    # The local PostgreSQL trusts loopback connections, so any password connects; the test
    # checks that it never shows.
    store_url = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@")
    prepare_database(Settings(database_url=postgres_url))
    token = add_user(Settings(database_url=postgres_url), "secretive")[1]
    sidecar.add_secret(SECRET_STORE, "database-url", store_url)
    sidecar.add_secret(SECRET_STORE, "cursor-key", CURSOR_KEY)
    env_url = f"sqlite:///{tmp_path / 'environment.db'}"

    service = start_dapr_service(tmp_path, sidecar, database_url=env_url)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        for title in ("a", "b"):
            created = httpx.post(f"{service.url}/api/tasks", json={"title": title}, headers=headers)
            assert created.status_code == 201
        page = httpx.get(f"{service.url}/api/tasks", params={"limit": 1}, headers=headers).json()
        ready = httpx.get(f"{service.url}/readyz").text
    finally:
        service.server.stop()

    with psycopg.connect(postgres_url) as connection:
        titles = connection.execute(
            "SELECT title FROM tasks JOIN users ON users.id = tasks.user_id "
            "WHERE users.name = 'secretive' ORDER BY tasks.id"
        ).fetchall()
    assert titles == [("a",), ("b",)]
    assert not (tmp_path / "environment.db").exists()
    assert _signed_with(page["next_cursor"], CURSOR_KEY.encode())
    log = service.server.log
    assert "Read cursor-key, database-url from the Dapr secret store 'secretstore'" in log
    assert PASSWORD not in log
    assert CURSOR_KEY not in log
    assert PASSWORD not in ready


def test_sqlite_on_kubernetes_is_warned(tmp_path: Path, sidecar: TestSidecar) -> None:
    """The kubelet sets KUBERNETES_SERVICE_HOST in every pod; only its presence matters."""
    pod_env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1"}
    on_cluster = start_dapr_service(tmp_path / "pod", sidecar, extra_env=pod_env)
    on_cluster.server.stop()
    on_laptop = start_dapr_service(tmp_path / "laptop", sidecar)
    on_laptop.server.stop()

    warning = "Running on Kubernetes with the embedded SQLite database, so every replica"
    assert warning in on_cluster.server.log
    assert "store 'database-url' in the Dapr secret store 'secretstore'" in on_cluster.server.log
    assert warning not in on_laptop.server.log


def test_missing_secret_store_stops_start(tmp_path: Path) -> None:
    sidecar = TestSidecar()
    sidecar.start()
    server = ServerProcess(home=tmp_path, extra_env=sidecar.env)
    try:
        with pytest.raises(RuntimeError) as failure:
            server.start()
    finally:
        server.stop()
        sidecar.stop()

    message = str(failure.value)
    assert "failed finding secret store with key secretstore" in message
    assert "check TASKORA_DAPR_SECRET_STORE and the sidecar's components" in message


def test_absent_sidecar_stops_start(tmp_path: Path) -> None:
    nobody = TestSidecar()  # Its ports are free and never opened.
    server = ServerProcess(
        home=tmp_path,
        extra_env={**nobody.env, "TASKORA_DAPR_SIDECAR_WAIT_SECONDS": "1"},
    )
    try:
        with pytest.raises(RuntimeError) as failure:
            server.start()
    finally:
        server.stop()

    message = str(failure.value)
    assert f"127.0.0.1:{nobody.http_port}/v1.0/healthz/outbound was not ready within 1 s" in message
    assert "Listening on http://127.0.0.1" in message


def test_idempotency_key_in_state_store(tmp_path: Path, sidecar: TestSidecar) -> None:
    service = start_dapr_service(tmp_path, sidecar, extra_env={"TASKORA_IDEMPOTENCY_TTL": "PT1H"})
    try:
        client = service.create_user("keyholder")
        headers = {"Idempotency-Key": "order-17"}
        first = client.post("/api/tasks", json={"title": "once"}, headers=headers)
        again = client.post("/api/tasks", json={"title": "once"}, headers=headers)
        other_body = client.post("/api/tasks", json={"title": "twice"}, headers=headers)
        listed = client.get("/api/tasks").json()["items"]
    finally:
        service.server.stop()

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other_body.status_code == 422
    assert [task["title"] for task in listed] == ["once"]
    entry = sidecar.state_entry("statestore", _state_key(1, "order-17"))
    assert entry is not None
    assert entry.ttl_seconds == 3600
    record = json.loads(entry.value)
    assert (record["status"], record["body"]["id"]) == ("done", first.json()["id"])
    with sqlite3.connect(tmp_path / "service.db") as connection:
        assert connection.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)


def test_pending_key_is_conflict(service: DaprService) -> None:
    client = service.create_user("racer")
    body = {"title": "slow"}
    body_hash = hashlib.sha256(
        json.dumps(
            {**_full_body(client, body)}, sort_keys=True, separators=(",", ":"), default=str
        ).encode()
    ).hexdigest()
    pending = json.dumps({"status": "pending", "request_hash": body_hash}).encode()
    with service.sidecar.recorder.lock:
        service.sidecar.recorder.state[("statestore", _state_key(1, "k-1"))] = _entry(pending)

    response = client.post("/api/tasks", json=body, headers={"Idempotency-Key": "k-1"})

    assert response.status_code == 409
    assert "is still being processed" in response.json()["detail"]


def test_state_store_down_is_503(service: DaprService) -> None:
    client = service.create_user("offline")
    service.sidecar.stop()

    keyed = client.post("/api/tasks", json={"title": "k"}, headers={"Idempotency-Key": "k-2"})
    plain = client.post("/api/tasks", json={"title": "plain"})

    assert keyed.status_code == 503
    assert keyed.headers["Retry-After"] == "5"
    assert "in the Dapr state store 'statestore' failed (UNAVAILABLE" in keyed.json()["detail"]
    assert plain.status_code == 201


def test_concurrent_same_key_is_409(service: DaprService) -> None:
    """Eight requests with one key read the empty key together, then race to claim it."""
    client = service.create_user("crowd")
    service.sidecar.hold_reads(8)
    start = threading.Barrier(8)

    def post() -> httpx.Response:
        start.wait()
        return client.post("/api/tasks", json={"title": "once"}, headers={"Idempotency-Key": "k-8"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post(), range(8)))

    # Each loser reads the key again: pending while the winner runs, done after it.
    created = [
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    ]
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(created) == 1
    assert len(replayed) + len(conflicts) == 7
    assert all(response.json() == created[0].json() for response in replayed)
    assert all("is still being processed" in r.json()["detail"] for r in conflicts)
    assert [task["title"] for task in client.get("/api/tasks").json()["items"]] == ["once"]
    assert "Unhandled" not in service.server.log
    assert "Traceback" not in service.server.log


def test_failed_claim_is_503(service: DaprService) -> None:
    client = service.create_user("unlucky")
    service.sidecar.fail_saves(1)

    response = client.post("/api/tasks", json={"title": "k"}, headers={"Idempotency-Key": "k-3"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    detail = response.json()["detail"]
    assert "writing an Idempotency-Key in the Dapr state store 'statestore' failed" in detail
    assert "(UNAVAILABLE: failed saving state in state store statestore" in detail
    assert client.get("/api/tasks").json()["items"] == []


def test_failed_final_save_keeps_201(service: DaprService) -> None:
    """The task exists once the response is saved, so that save's failure is only logged."""
    client = service.create_user("halfway")
    service.sidecar.fail_saves(1, with_etag_only=True)

    response = client.post("/api/tasks", json={"title": "kept"}, headers={"Idempotency-Key": "k"})
    retry = client.post("/api/tasks", json={"title": "kept"}, headers={"Idempotency-Key": "k"})
    # The claim in the state store expires in 60 s, and the response kept in the database
    # must serve retries after that too. So the claim is removed here, as its expiry would.
    service.sidecar.recorder.state.clear()
    late = client.post("/api/tasks", json={"title": "kept"}, headers={"Idempotency-Key": "k"})

    assert response.status_code == 201
    assert (retry.status_code, retry.json()) == (201, response.json())
    assert retry.headers["idempotent-replayed"] == "true"
    assert (late.status_code, late.json()) == (201, response.json())
    assert [task["title"] for task in client.get("/api/tasks").json()["items"]] == ["kept"]
    log = service.server.log
    assert "Storing the Idempotency-Key response of user 1 in the state store failed" in log
    assert "(UNAVAILABLE: failed saving state in state store statestore" in log
    assert "keeping it in the database" in log
    assert "Traceback" not in log


def _full_body(client: httpx.Client, body: dict[str, str]) -> dict[str, object]:
    """Return the validated request body whose hash the service stores for a key."""
    from taskora.server.domain.tasks import TaskCreate

    return TaskCreate.model_validate(body).model_dump(mode="json")


def _entry(value: bytes):  # type: ignore[no-untyped-def]
    from tests.support.dapr_sidecar import StateEntry

    return StateEntry(value=value, etag="900", expires_at=None, ttl_seconds=60)


def test_store_database_skips_local_user(tmp_path: Path, sidecar: TestSidecar) -> None:
    """The local user and the CLI token belong to the embedded database only.

    The store names another database, so neither the embedded file nor a CLI token for it
    may appear: the token would be rejected by the service on the store's database.
    """
    other = tmp_path / "other" / "real.db"
    other.parent.mkdir()
    sidecar.add_secret(SECRET_STORE, "database-url", f"sqlite:///{other}")
    server = ServerProcess(home=tmp_path, extra_env=sidecar.env)
    try:
        server.start()
    finally:
        server.stop()

    assert not (tmp_path / "data" / "taskora" / "taskora.db").exists()
    assert not (tmp_path / "config" / "taskora" / "config.toml").exists()
    with sqlite3.connect(other) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert "Database: embedded SQLite" not in server.log
    assert f"Database: SQLite at {other}" in server.log
    assert f"Service started on the database sqlite:///{other}" in server.log


def test_store_default_database_gets_local_user(tmp_path: Path, sidecar: TestSidecar) -> None:
    """`serve --dapr` stores the embedded database's URL, which still gets the local user."""
    embedded = tmp_path / "data" / "taskora" / "taskora.db"
    sidecar.add_secret(SECRET_STORE, "database-url", f"sqlite:///{embedded}")
    server = ServerProcess(home=tmp_path, extra_env=sidecar.env)
    try:
        server.start()
        token = server.saved_token()
        listed = httpx.get(f"{server.url}/api/tasks", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.stop()

    assert listed.status_code == 200
    assert f"Database: embedded SQLite at {embedded}" in server.log


def test_unreachable_store_database_is_clear(tmp_path: Path, sidecar: TestSidecar) -> None:
    closed_port = free_port()
    url = f"postgresql://taskora@127.0.0.1:{closed_port}/taskora"
    sidecar.add_secret(SECRET_STORE, "database-url", url)
    server = ServerProcess(home=tmp_path, extra_env=sidecar.env)
    try:
        with pytest.raises(RuntimeError) as failure:
            server.start()
    finally:
        server.stop()

    message = str(failure.value)
    assert (
        f"cannot open the database postgresql://taskora@127.0.0.1:{closed_port}/taskora" in message
    )
    assert (
        "Check the URL (--database-url, TASKORA_DATABASE_URL, or in Dapr mode the secret 'database-url')"
        in message
    )
    assert "Traceback" not in message
    assert not (tmp_path / "config" / "taskora" / "config.toml").exists()

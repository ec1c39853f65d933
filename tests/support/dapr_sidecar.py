"""A test double of the Dapr sidecar (daprd) on loopback ports.

daprd cannot be installed on the machines that run these tests, so this double replaces
it at the process boundary. It implements the part of Dapr's API the service uses,
with the SDK's generated gRPC servicer (``dapr.proto.runtime.v1.dapr_pb2_grpc``):

- gRPC: PublishEvent, GetState, SaveState and DeleteState (ETags, first-write concurrency,
  ``ttlInSeconds``), GetSecret and GetBulkSecret. A save that loses on its ETag or on
  first-write fails with ABORTED and "possible etag mismatch", as daprd reports a state
  store's ETag mismatch;
- HTTP: ``/v1.0/healthz/outbound``;
- calls to the app as daprd makes them: ``GET /dapr/subscribe``, then each published
  message POSTed to its route as ``application/cloudevents+json``, and cron ticks POSTed
  to the binding routes, with the ``dapr-api-token`` header when an app token is set.

It records what it received and can fail publishing, refuse everything, or go down and
come back on the same ports, on demand. Messages are delivered when a test calls
:meth:`TestSidecar.deliver_pending`, so the tests decide the order of events.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import httpx
from dapr.proto import api_service_v1, api_v1, common_v1
from google.protobuf import empty_pb2

from tests.support.servers import free_port

HEALTH_PATH = "/v1.0/healthz/outbound"
# How long held GetState calls wait for the others before they go on alone.
GATE_SECONDS = 10.0


@dataclass(frozen=True)
class Published:
    """One message the sidecar acknowledged."""

    pubsub: str
    topic: str
    data: bytes
    content_type: str

    @property
    def cloud_event(self) -> dict[str, Any]:
        return json.loads(self.data)


@dataclass(frozen=True)
class DeliveryRecord:
    """One POST of a message to the app and the app's response."""

    event_id: str | None
    http_status: int
    status: str | None


@dataclass
class StateEntry:
    value: bytes
    etag: str
    expires_at: float | None
    ttl_seconds: int | None


@dataclass
class SidecarRecorder:
    """What the servicer shares with the test: stored data, failures to inject, records."""

    secrets: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    published: list[Published] = field(default_factory=list)
    state: dict[tuple[str, str], StateEntry] = field(default_factory=dict)
    failed_publishes: int = 0
    publish_failures_left: int = 0
    state_requests: list[str] = field(default_factory=list)
    save_failures_left: int = 0
    fail_etag_saves_only: bool = False
    read_gate: threading.Barrier | None = None
    held_reads_left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _etags: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_etag(self) -> str:
        return str(next(self._etags))


class DaprDouble(api_service_v1.DaprServicer):
    """The gRPC ``Dapr`` service, for the calls the service makes."""

    def __init__(self, recorder: SidecarRecorder) -> None:
        self.recorder = recorder

    def PublishEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.recorder.lock:
            if self.recorder.publish_failures_left > 0:
                self.recorder.publish_failures_left -= 1
                self.recorder.failed_publishes += 1
                context.abort(
                    grpc.StatusCode.INTERNAL,
                    f"error when publish to topic {request.topic} in pubsub "
                    f"{request.pubsub_name}: the broker is unreachable",
                )
            self.recorder.published.append(
                Published(
                    request.pubsub_name, request.topic, request.data, request.data_content_type
                )
            )
        return empty_pb2.Empty()

    def _live_entry(self, store: str, key: str) -> StateEntry | None:
        entry = self.recorder.state.get((store, key))
        if (
            entry is not None
            and entry.expires_at is not None
            and entry.expires_at <= time.monotonic()
        ):
            del self.recorder.state[(store, key)]
            return None
        return entry

    def GetState(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.recorder.lock:
            gate = self.recorder.read_gate
            if gate is not None and self.recorder.held_reads_left > 0:
                self.recorder.held_reads_left -= 1
            else:
                gate = None
        if gate is not None:
            # Outside the lock, so the held reads do not block each other.
            try:
                gate.wait(timeout=GATE_SECONDS)
            except threading.BrokenBarrierError:
                pass
        with self.recorder.lock:
            self.recorder.state_requests.append(f"get {request.key}")
            entry = self._live_entry(request.store_name, request.key)
            if entry is None:
                return api_v1.GetStateResponse()
            return api_v1.GetStateResponse(data=entry.value, etag=entry.etag)

    def SaveState(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.recorder.lock:
            with_etag = any(item.HasField("etag") for item in request.states)
            if self.recorder.save_failures_left > 0 and (
                with_etag or not self.recorder.fail_etag_saves_only
            ):
                self.recorder.save_failures_left -= 1
                context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"failed saving state in state store {request.store_name}: "
                    "the state store is unreachable",
                )
            for item in request.states:
                self.recorder.state_requests.append(f"save {item.key}")
                entry = self._live_entry(request.store_name, item.key)
                first_write = (
                    item.options.concurrency == common_v1.StateOptions.CONCURRENCY_FIRST_WRITE
                )
                # daprd maps a store's ETag mismatch, including a first-write save without
                # an ETag of a key that exists, to ABORTED with this message.
                if item.HasField("etag"):
                    lost = entry is None or entry.etag != item.etag.value
                else:
                    lost = first_write and entry is not None
                if lost:
                    context.abort(
                        grpc.StatusCode.ABORTED,
                        f"failed saving state in state store {request.store_name}: "
                        "possible etag mismatch. error from state store: ETag mismatch",
                    )
                ttl = item.metadata.get("ttlInSeconds")
                ttl_seconds = int(ttl) if ttl else None
                self.recorder.state[(request.store_name, item.key)] = StateEntry(
                    value=item.value,
                    etag=self.recorder.next_etag(),
                    expires_at=None if ttl_seconds is None else time.monotonic() + ttl_seconds,
                    ttl_seconds=ttl_seconds,
                )
        return empty_pb2.Empty()

    def DeleteState(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self.recorder.lock:
            self.recorder.state_requests.append(f"delete {request.key}")
            entry = self._live_entry(request.store_name, request.key)
            if request.HasField("etag") and (entry is None or entry.etag != request.etag.value):
                context.abort(grpc.StatusCode.ABORTED, "possible etag mismatch")
            self.recorder.state.pop((request.store_name, request.key), None)
        return empty_pb2.Empty()

    def GetSecret(self, request: Any, context: grpc.ServicerContext) -> Any:
        store = self.recorder.secrets.get(request.store_name)
        if store is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failed finding secret store with key {request.store_name}",
            )
        values = store.get(request.key)
        if values is None:
            # The error daprd returns for a key its local.file store lacks (ERR_SECRET_GET).
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"failed getting secret with key {request.key} from secret store "
                f"{request.store_name}: secret {request.key} not found",
            )
        return api_v1.GetSecretResponse(data=values)

    def GetBulkSecret(self, request: Any, context: grpc.ServicerContext) -> Any:
        store = self.recorder.secrets.get(request.store_name)
        if store is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"failed finding secret store with key {request.store_name}",
            )
        return api_v1.GetBulkSecretResponse(
            data={key: api_v1.SecretResponse(secrets=values) for key, values in store.items()}
        )


class _HealthHandler(BaseHTTPRequestHandler):
    server: _HealthServer

    def do_GET(self) -> None:
        if self.path != HEALTH_PATH:
            self.send_response(404)
        elif self.server.healthy:
            self.send_response(204)
        else:
            self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    healthy = True


class TestSidecar:
    """The double: its gRPC and HTTP servers, and the calls it makes to the app."""

    __test__ = False

    def __init__(self, app_api_token: str | None = None) -> None:
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.app_api_token = app_api_token
        self.recorder = SidecarRecorder()
        self.deliveries: list[DeliveryRecord] = []
        self.routes: dict[tuple[str, str], str] = {}
        self.app_url: str | None = None
        self._delivered = 0
        self._grpc: grpc.Server | None = None
        self._http: _HealthServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        """Variables that point the service at this sidecar, as daprd sets them."""
        env = {"DAPR_HTTP_PORT": str(self.http_port), "DAPR_GRPC_PORT": str(self.grpc_port)}
        if self.app_api_token is not None:
            env["APP_API_TOKEN"] = self.app_api_token
        return env

    @property
    def published(self) -> list[Published]:
        with self.recorder.lock:
            return list(self.recorder.published)

    def add_secret(self, store: str, key: str, value: str) -> None:
        """Store ``value`` as a local.file secret store would: one entry named ``key``."""
        self.recorder.secrets.setdefault(store, {})[key] = {key: value}

    def fail_publishes(self, count: int) -> None:
        """Fail the next ``count`` PublishEvent calls, as during a broker outage."""
        with self.recorder.lock:
            self.recorder.publish_failures_left = count

    def fail_saves(self, count: int, with_etag_only: bool = False) -> None:
        """Fail the next ``count`` SaveState calls with UNAVAILABLE, as a store that is down.

        With ``with_etag_only``, only saves that carry an ETag fail, so a first-write claim
        goes through and the update after it fails.
        """
        with self.recorder.lock:
            self.recorder.save_failures_left = count
            self.recorder.fail_etag_saves_only = with_etag_only

    def hold_reads(self, count: int) -> None:
        """Hold the next ``count`` GetState calls until all of them arrived.

        The requests behind them then read the same state before any of them writes, which
        makes a race between them certain instead of likely.
        """
        with self.recorder.lock:
            self.recorder.read_gate = threading.Barrier(count)
            self.recorder.held_reads_left = count

    def set_healthy(self, healthy: bool) -> None:
        if self._http is not None:
            self._http.healthy = healthy

    def start(self) -> None:
        """Start (or restart) both servers on this sidecar's ports."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        api_service_v1.add_DaprServicer_to_server(DaprDouble(self.recorder), server)
        server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        server.start()
        self._grpc = server

        self._http = _HealthServer(("127.0.0.1", self.http_port), _HealthHandler)
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._http_thread.start()

    def stop(self) -> None:
        """Stop both servers, as when the sidecar container dies."""
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join()
            self._http_thread = None

    def _app_headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {}
        if self.app_api_token is not None:
            headers["dapr-api-token"] = self.app_api_token
        if content_type is not None:
            headers["Content-Type"] = content_type
        return headers

    def connect_app(self, app_url: str) -> list[dict[str, Any]]:
        """Read the app's subscriptions as daprd does at start, and return them."""
        response = httpx.get(f"{app_url}/dapr/subscribe", headers=self._app_headers())
        response.raise_for_status()
        subscriptions = response.json()
        self.app_url = app_url
        self.routes = {(item["pubsubname"], item["topic"]): item["route"] for item in subscriptions}
        return subscriptions

    def post_to_app(self, route: str, body: bytes) -> DeliveryRecord:
        """POST one message to ``route`` of the app and record the response."""
        if self.app_url is None:
            raise RuntimeError("connect_app() first: the sidecar does not know the app yet")
        response = httpx.post(
            f"{self.app_url}{route}",
            content=body,
            headers=self._app_headers("application/cloudevents+json"),
            timeout=30.0,
        )
        try:
            event_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            event_id = None
        status = response.json().get("status") if response.status_code == 200 else None
        record = DeliveryRecord(event_id, response.status_code, status)
        self.deliveries.append(record)
        return record

    def _envelope(self, message: Published) -> bytes:
        """Return the message as daprd delivers a published CloudEvent: with its topic added."""
        event = message.cloud_event
        event["topic"] = message.topic
        event["pubsubname"] = message.pubsub
        event["traceid"] = "00-00000000000000000000000000000000-0000000000000000-00"
        return json.dumps(event).encode()

    def deliver_pending(self) -> list[DeliveryRecord]:
        """Deliver each published message not yet delivered, in order.

        A message whose response is RETRY (or an HTTP error) stays pending, and so do the
        ones behind it, as an ordered broker keeps them.
        """
        records = []
        for message in self.published[self._delivered :]:
            route = self.routes.get((message.pubsub, message.topic))
            if route is None:
                raise RuntimeError(
                    f"the app has no subscription to {message.pubsub}/{message.topic}"
                )
            record = self.post_to_app(route, self._envelope(message))
            records.append(record)
            if record.status in {"SUCCESS", "DROP"}:
                self._delivered += 1
                continue
            break
        return records

    def redeliver(self, index: int) -> DeliveryRecord:
        """Deliver the ``index``-th published message again, as after a lost ack."""
        message = self.published[index]
        return self.post_to_app(
            self.routes[(message.pubsub, message.topic)], self._envelope(message)
        )

    def fire(self, binding: str) -> httpx.Response:
        """POST a cron tick to the app's binding route, as a ``bindings.cron`` component does."""
        if self.app_url is None:
            raise RuntimeError("connect_app() first: the sidecar does not know the app yet")
        return httpx.post(
            f"{self.app_url}/{binding}",
            content=b"",
            headers=self._app_headers("application/json"),
            timeout=60.0,
        )

    def state_entry(self, store: str, key: str) -> StateEntry | None:
        with self.recorder.lock:
            return self.recorder.state.get((store, key))

    def state_keys(self, store: str) -> list[str]:
        with self.recorder.lock:
            return sorted(key for (name, key) in self.recorder.state if name == store)

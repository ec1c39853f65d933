"""Benchmark of the HTTP API: task creation against a minimal FastAPI baseline, and listing.

Usage:
    python bench/api.py [--quick] [--databases sqlite,postgresql] [--output docs/benchmarks.md]

For each database kind the script starts ``taskora serve`` and a baseline server as
subprocesses on free loopback ports. The baseline is a FastAPI app, defined below, that
only inserts the task row. One httpx client process loads both servers. Then the script
seeds two users with tasks through SQL and measures ``GET /api/tasks``. It prints a
Markdown section and, with ``--output``, replaces the part of that file between
API_SECTION_START and API_SECTION_END.

Every server, database and temporary directory it creates is removed before it exits.
PostgreSQL databases are created on ``--postgres-url`` as ``taskora_bench_<random>_...``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import platform
import random
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import AwareDatetime, BaseModel

logger = logging.getLogger("bench.api")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

API_SECTION_START = "<!-- api:start -->"
API_SECTION_END = "<!-- api:end -->"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE_KINDS = ("sqlite", "postgresql")

CONCURRENCY = 64
SERVER_START_TIMEOUT_SECONDS = 60.0
SERVER_STOP_TIMEOUT_SECONDS = 15.0
REQUEST_TIMEOUT_SECONDS = 30.0

# Targets of this benchmark.
CREATE_RATIO_TARGET = 0.6  # taskora create throughput / baseline create throughput, at least
LIST_P95_TARGET_MS = 15.0  # p95 of the large user's list, at most
LIST_SCALING_TARGET = 1.5  # large user's list p95 / small user's list p95, at most

# A client process above this share of one core is close to being the bottleneck.
CLIENT_CPU_WARNING = 0.85

# Before each phase, wait until other processes keep at most this share of all cores busy.
QUIET_MACHINE_BUSY_SHARE = 0.25

# The list requests to measure, as query parameters of GET /api/tasks. A repeated key is
# a repeated parameter. To measure a new filter, add an entry here: the EXPLAIN capture
# sends the same parameters through the real app, so it needs no other change.
LIST_QUERIES: dict[str, list[tuple[str, str]]] = {
    "sort=due_at": [
        ("status", "pending"),
        ("priority", "high"),
        ("priority", "urgent"),
        ("sort", "due_at"),
        ("limit", "50"),
    ],
    "sort=-priority": [
        ("status", "pending"),
        ("priority", "high"),
        ("priority", "urgent"),
        ("sort", "-priority"),
        ("limit", "50"),
    ],
}

PRIORITY_NAMES = ("low", "medium", "high", "urgent")


@dataclass(frozen=True)
class Profile:
    """Request counts, seed sizes and time limits of one run."""

    name: str
    create_warmup: int
    create_requests: int
    create_rounds: int
    list_warmup: int
    list_requests: int
    list_single_client_warmup: int
    list_single_client_requests: int
    large_user_tasks: int
    small_user_tasks: int
    phase_time_limit_seconds: float
    quiet_machine_wait_seconds: float


FULL_PROFILE = Profile(
    name="full",
    create_warmup=300,
    create_requests=3000,
    create_rounds=2,
    list_warmup=200,
    list_requests=2000,
    list_single_client_warmup=20,
    list_single_client_requests=300,
    large_user_tasks=100_000,
    small_user_tasks=1_000,
    phase_time_limit_seconds=180.0,
    quiet_machine_wait_seconds=20.0,
)

QUICK_PROFILE = Profile(
    name="quick",
    create_warmup=30,
    create_requests=200,
    create_rounds=1,
    list_warmup=30,
    list_requests=150,
    list_single_client_warmup=5,
    list_single_client_requests=30,
    large_user_tasks=10_000,
    small_user_tasks=1_000,
    phase_time_limit_seconds=10.0,
    quiet_machine_wait_seconds=0.0,
)


# --------------------------------------------------------------------------------------
# CPU accounting


def _clock_ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of ``pid`` from /proc, or 0.0 if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name in brackets may contain spaces, so split after its closing bracket.
    fields = raw[raw.rindex(")") + 2 :].split()
    return _clock_ticks_to_seconds(int(fields[11]) + int(fields[12]))


def postgres_cpu_by_process() -> dict[int, float]:
    """Return the CPU time of every process named ``postgres`` on this machine, by pid."""
    seconds = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                seconds[int(entry.name)] = process_cpu_seconds(int(entry.name))
        except OSError:
            continue
    return seconds


def cpu_growth(before: dict[int, float], after: dict[int, float]) -> float:
    """Return the CPU time that the processes in ``after`` used since ``before``.

    A process that started in between counts from zero. One that exited in between is
    missing from ``after``, so its last CPU time is lost and the figure is a lower bound.
    """
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def machine_busy_seconds() -> tuple[float, float]:
    """Return (busy, total) CPU seconds of all cores since boot, from /proc/stat."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    total = sum(values[:8])  # guest time is already counted in user time
    return _clock_ticks_to_seconds(total - idle), _clock_ticks_to_seconds(total)


@dataclass
class CpuSnapshot:
    """CPU seconds used so far by the client, the server, PostgreSQL and the whole machine."""

    client: float
    server: float
    database: dict[int, float]
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, server_pid: int, with_postgres: bool) -> CpuSnapshot:
        busy, total = machine_busy_seconds()
        return cls(
            client=time.process_time(),
            server=process_cpu_seconds(server_pid),
            database=postgres_cpu_by_process() if with_postgres else {},
            machine_busy=busy,
            machine_total=total,
        )


# --------------------------------------------------------------------------------------
# Load generation


@dataclass
class PhaseResult:
    """Latencies and CPU use of one measured phase. CPU figures are in core-seconds."""

    latencies: list[float] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    errors: int = 0
    first_error: str | None = None
    stopped_by_time_limit: bool = False
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    machine_busy_seconds: float = 0.0
    machine_total_seconds: float = 0.0

    def merge(self, other: PhaseResult) -> None:
        self.latencies.extend(other.latencies)
        self.elapsed_seconds += other.elapsed_seconds
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.stopped_by_time_limit |= other.stopped_by_time_limit
        self.client_cpu_seconds += other.client_cpu_seconds
        self.server_cpu_seconds += other.server_cpu_seconds
        self.database_cpu_seconds += other.database_cpu_seconds
        self.machine_busy_seconds += other.machine_busy_seconds
        self.machine_total_seconds += other.machine_total_seconds

    @property
    def throughput(self) -> float:
        """Successful requests per second of wall-clock time."""
        return len(self.latencies) / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def percentile_ms(self, percent: float) -> float:
        """Return the nearest-rank percentile of the successful requests' latency."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1] * 1000

    def share_of_one_core(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.elapsed_seconds if self.elapsed_seconds else 0.0

    @property
    def other_cpu_seconds(self) -> float:
        """CPU time of every process other than the client, the server and PostgreSQL."""
        own = self.client_cpu_seconds + self.server_cpu_seconds + self.database_cpu_seconds
        return max(0.0, self.machine_busy_seconds - own)


RequestSender = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class _Load:
    """Shared state of the workers of one bounded load phase."""

    send: RequestSender
    expected_status: int
    requests: int
    deadline: float
    next_index: int = 0
    errors: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)

    async def work(self, client: httpx.AsyncClient) -> None:
        while self.next_index < self.requests and time.monotonic() < self.deadline:
            index = self.next_index
            self.next_index += 1
            started = time.perf_counter()
            try:
                response = await self.send(client, index)
            except httpx.HTTPError as error:
                self._fail(f"{type(error).__name__}: {error}")
                continue
            finished = time.perf_counter()
            if response.status_code != self.expected_status:
                self._fail(f"HTTP {response.status_code}: {response.text[:300]}")
                continue
            self.latencies.append(finished - started)

    def _fail(self, description: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or description


async def _run_phases(
    base_url: str,
    headers: dict[str, str],
    send: RequestSender,
    expected_status: int,
    warmup: int,
    requests: int,
    concurrency: int,
    time_limit_seconds: float,
    take_snapshot: Callable[[], CpuSnapshot],
) -> tuple[_Load, float, CpuSnapshot, CpuSnapshot]:
    """Send ``warmup`` and then ``requests`` requests from ``concurrency`` workers.

    Each worker has its own AsyncClient with one keep-alive connection, which the warm-up
    opens. One AsyncClient with a shared pool of 64 connections cost 2 to 3 times more
    client CPU per request here (httpx 0.29, measured against a trivial FastAPI route),
    which made the client the bottleneck. Returns the measured load, its elapsed
    seconds, and the CPU snapshots before and after it.
    """
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(
            base_url=base_url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
        )
        for _ in range(concurrency)
    ]
    try:
        warm = _Load(send, expected_status, warmup, time.monotonic() + time_limit_seconds)
        await asyncio.gather(*(warm.work(client) for client in clients))
        if warm.errors:
            logger.error(
                "%d warm-up requests to %s failed; first: %s",
                warm.errors,
                base_url,
                warm.first_error,
            )

        load = _Load(send, expected_status, requests, time.monotonic() + time_limit_seconds)
        before = take_snapshot()
        started = time.perf_counter()
        await asyncio.gather(*(load.work(client) for client in clients))
        elapsed = time.perf_counter() - started
        after = take_snapshot()
    finally:
        for client in clients:
            await client.aclose()
    return load, elapsed, before, after


def _event_loop_runner() -> asyncio.Runner:
    """Return a runner on uvloop when it is installed, because it lowers the client's CPU use."""
    try:
        import uvloop
    except ImportError:
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def wait_for_quiet_machine(limit_seconds: float) -> float:
    """Wait until the other processes leave most of the CPU idle, for at most ``limit_seconds``.

    Other programs on a shared machine (such as a test suite) would skew the figures.
    Returns the busy share of all cores in the last half second sampled.
    """
    deadline = time.monotonic() + limit_seconds
    while True:
        busy_before, total_before = machine_busy_seconds()
        time.sleep(0.5)
        busy_after, total_after = machine_busy_seconds()
        busy = (busy_after - busy_before) / max(total_after - total_before, 1e-9)
        if busy <= QUIET_MACHINE_BUSY_SHARE:
            return busy
        if time.monotonic() >= deadline:
            logger.warning(
                "Other processes kept %.0f%% of the CPU busy for %.0f s; measuring anyway",
                busy * 100,
                limit_seconds,
            )
            return busy


def measure(
    base_url: str,
    headers: dict[str, str],
    send: RequestSender,
    expected_status: int,
    warmup: int,
    requests: int,
    concurrency: int,
    profile: Profile,
    server_pid: int,
    with_postgres: bool,
) -> PhaseResult:
    """Run a warm-up and one bounded measured phase, and return the measured figures."""
    time_limit_seconds = profile.phase_time_limit_seconds
    if profile.quiet_machine_wait_seconds > 0:
        wait_for_quiet_machine(profile.quiet_machine_wait_seconds)
    with _event_loop_runner() as runner:
        load, elapsed, before, after = runner.run(
            _run_phases(
                base_url,
                headers,
                send,
                expected_status,
                warmup,
                requests,
                concurrency,
                time_limit_seconds,
                lambda: CpuSnapshot.take(server_pid, with_postgres),
            )
        )
    result = PhaseResult(
        latencies=load.latencies,
        elapsed_seconds=elapsed,
        errors=load.errors,
        first_error=load.first_error,
        stopped_by_time_limit=load.next_index < requests,
        client_cpu_seconds=after.client - before.client,
        server_cpu_seconds=after.server - before.server,
        database_cpu_seconds=cpu_growth(before.database, after.database),
        machine_busy_seconds=after.machine_busy - before.machine_busy,
        machine_total_seconds=after.machine_total - before.machine_total,
    )
    if load.errors:
        logger.error(
            "%d of %d requests to %s failed; first: %s",
            load.errors,
            requests,
            base_url,
            load.first_error,
        )
    if result.stopped_by_time_limit:
        logger.warning(
            "The phase against %s stopped at its time limit of %.0f s before %d requests",
            base_url,
            time_limit_seconds,
            requests,
        )
    if result.share_of_one_core(result.client_cpu_seconds) > CLIENT_CPU_WARNING:
        logger.warning(
            "The client used %.0f%% of one core against %s, so it may have limited the throughput",
            result.share_of_one_core(result.client_cpu_seconds) * 100,
            base_url,
        )
    return result


def create_body(index: int) -> dict[str, Any]:
    """Return the body of the ``index``-th create request: no tags, so one task row."""
    due = None if index % 10 < 3 else f"2027-{index % 12 + 1:02d}-15T12:00:00Z"
    return {
        "title": f"Benchmark task {index}",
        "description": "Created by the API benchmark.",
        "priority": PRIORITY_NAMES[index % 4],
        "due_at": due,
    }


async def send_create(client: httpx.AsyncClient, index: int) -> httpx.Response:
    return await client.post("/api/tasks", json=create_body(index))


def list_sender(params: list[tuple[str, str]]) -> RequestSender:
    async def send(client: httpx.AsyncClient, _index: int) -> httpx.Response:
        return await client.get("/api/tasks", params=params)

    return send


# --------------------------------------------------------------------------------------
# Servers


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServerProcess:
    """A server subprocess on a loopback port, ready once ``GET /readyz`` returns 200."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server was not started"
        return self.process.pid

    def start(self) -> None:
        logger.info(
            "Starting the %s server on port %d: %s", self.name, self.port, shlex.join(self.command)
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log_path.parent,
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the {self.name} server exited with {self.process.returncode} during "
                    f"start-up; its log {self.log_path} ends with:\n{self._log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    logger.info("The %s server (pid %d) is ready", self.name, self.process.pid)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the {self.name} server was not ready after {SERVER_START_TIMEOUT_SECONDS:.0f} s; "
            f"its log {self.log_path} ends with:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server with SIGTERM, or SIGKILL when it does not exit in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SERVER_STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "The %s server (pid %d) ignored SIGTERM; killing it", self.name, self.pid
                )
                self.process.kill()
                self.process.wait()
        logger.info("Stopped the %s server (exit code %s)", self.name, self.process.returncode)
        self.process = None

    def _log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


def server_env(home: Path) -> dict[str, str]:
    """Return an environment whose config and data directories are inside ``home``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKORA_")}
    env["XDG_DATA_HOME"] = str(home / "data")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["TASKORA_CONFIG"] = str(home / "config" / "taskora" / "config.toml")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------------------
# The baseline server: FastAPI, one route, one INSERT, no authentication and no events.


class BaselineTask(BaseModel):
    """The baseline's create body: the fields that the benchmark sends."""

    title: str
    description: str = ""
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    due_at: AwareDatetime | None = None


def build_baseline_app(database_url: str, user_id: int) -> Any:
    """Build the baseline app: ``POST /api/tasks`` inserts one row into ``tasks``.

    It uses the service's table definition, a pool of 20 connections plus 20 overflow, and
    on SQLite the same WAL pragmas and ``BEGIN IMMEDIATE`` writes as taskora's store.
    """
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from sqlalchemy import create_engine, event, insert, text

    from taskora.server.store.database import normalize_url
    from taskora.server.store.models import Task

    url = normalize_url(database_url)
    engine = create_engine(url, pool_size=20, max_overflow=20)
    if url.drivername.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            for pragma in (
                "journal_mode=WAL",
                "busy_timeout=10000",
                "foreign_keys=ON",
                "synchronous=NORMAL",
            ):
                dbapi_connection.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    tasks = Task.__table__
    ranks = {name: rank for rank, name in enumerate(PRIORITY_NAMES)}

    app = FastAPI(title="Taskora API benchmark baseline")

    @app.post("/api/tasks", status_code=201)
    def create_task(body: BaselineTask) -> dict[str, Any]:
        now = datetime.now(UTC)
        statement = (
            insert(tasks)
            .values(
                user_id=user_id,
                title=body.title,
                description=body.description,
                status="pending",
                priority=ranks[body.priority],
                due_at=body.due_at,
                created_at=now,
                updated_at=now,
                completed_at=None,
                version=1,
            )
            .returning(*tasks.c)
        )
        with engine.begin() as connection:
            row = connection.execute(statement).mappings().one()
        return dict(row)

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return JSONResponse({"status": "ready"})

    return app


def serve_baseline(port: int, database_url: str, user_id: int) -> None:
    """Run the baseline app with the uvicorn settings of ``taskora serve``: one worker."""
    import uvicorn

    # taskora serve configures the root logger like this, so uvicorn's access log costs the same.
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)
    config = uvicorn.Config(
        build_baseline_app(database_url, user_id),
        host="127.0.0.1",
        port=port,
        log_config=None,
        timeout_graceful_shutdown=5,
        proxy_headers=True,
    )
    uvicorn.Server(config).run()


# --------------------------------------------------------------------------------------
# Databases


@dataclass
class BenchDatabases:
    """The throwaway databases of one database kind: one for taskora, one for the baseline."""

    kind: str
    taskora_url: str
    baseline_url: str
    version: str


@contextmanager
def sqlite_databases(workdir: Path) -> Iterator[BenchDatabases]:
    yield BenchDatabases(
        kind="sqlite",
        taskora_url=f"sqlite:///{workdir / 'taskora.db'}",
        baseline_url=f"sqlite:///{workdir / 'baseline.db'}",
        version=sqlite3.sqlite_version,
    )


@contextmanager
def postgres_databases(admin_url: str) -> Iterator[BenchDatabases]:
    """Create two databases named ``taskora_bench_<random>_*``, yield them, then drop them."""
    import psycopg
    from psycopg import sql

    prefix = f"taskora_bench_{uuid.uuid4().hex[:10]}"
    names = [f"{prefix}_service", f"{prefix}_baseline"]
    admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    created: list[str] = []
    try:
        version = admin.execute("SHOW server_version").fetchone()[0]
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            created.append(name)
            logger.info("Created the PostgreSQL database %s", name)
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        base = f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:{info.get('port', '5432')}"
        yield BenchDatabases(
            kind="postgresql",
            taskora_url=f"{base}/{names[0]}",
            baseline_url=f"{base}/{names[1]}",
            version=version,
        )
    finally:
        for name in created:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            logger.info("Dropped the PostgreSQL database %s", name)
        admin.close()


def create_baseline_schema(database_url: str) -> int:
    """Apply taskora's migrations to the baseline database and return a new user's id."""
    from sqlalchemy import insert

    from taskora.server.store import database as store_database
    from taskora.server.store.database import create_database_engine
    from taskora.server.store.models import User

    store_database.upgrade(database_url)
    engine = create_database_engine(database_url)
    try:
        with engine.begin() as connection:
            statement = insert(User.__table__).values(name="baseline", created_at=datetime.now(UTC))
            return connection.execute(statement.returning(User.__table__.c.id)).scalar_one()
    finally:
        engine.dispose()


def add_service_user(database_url: str, workdir: Path, name: str) -> tuple[int, str]:
    """Create a taskora user through the function behind ``taskora users create``."""
    from taskora.config import Settings
    from taskora.server.runner import add_user

    settings = Settings(database_url=database_url, data_dir=workdir / "data")
    return add_user(settings, name)


# --------------------------------------------------------------------------------------
# Seeding


TAG_NAMES = (
    "home",
    "work",
    "errands",
    "finance",
    "health",
    "travel",
    "reading",
    "garden",
    "car",
    "school",
    "team/ops",
    "q3",
)
TITLE_VERBS = ("Call", "Email", "Buy", "Fix", "Plan", "Review", "Book", "Pay", "Clean", "Write")
TITLE_OBJECTS = (
    "the plumber",
    "groceries",
    "the report",
    "flights",
    "the invoice",
    "the garage",
    "slides",
    "the dentist",
    "a birthday gift",
    "taxes",
)
PRIORITY_WEIGHTS = (0.25, 0.45, 0.20, 0.10)  # low, medium, high, urgent
COMPLETED_SHARE = 0.20
DUE_DATE_SHARE = 0.70
TAGGED_SHARE = 0.35
SEED_BATCH_ROWS = 10_000


def generate_tasks(
    rng: random.Random, user_id: int, first_id: int, count: int, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return ``count`` task rows created over the past year, and their tag rows."""
    tasks: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    year = timedelta(days=365)
    for offset in range(count):
        task_id = first_id + offset
        created = now - year + year * (offset + rng.random()) / count
        completed = rng.random() < COMPLETED_SHARE
        completed_at = min(now, created + timedelta(days=rng.uniform(0, 30))) if completed else None
        due = (
            created + timedelta(days=rng.uniform(-2, 120))
            if rng.random() < DUE_DATE_SHARE
            else None
        )
        tasks.append(
            {
                "id": task_id,
                "user_id": user_id,
                "title": f"{rng.choice(TITLE_VERBS)} {rng.choice(TITLE_OBJECTS)} #{offset}",
                "description": ""
                if rng.random() < 0.5
                else "Notes written when the task was added.",
                "status": "completed" if completed else "pending",
                "priority": rng.choices(range(4), PRIORITY_WEIGHTS)[0],
                "due_at": due,
                "created_at": created,
                "updated_at": completed_at or created,
                "completed_at": completed_at,
                "version": 2 if completed else 1,
            }
        )
        if rng.random() < TAGGED_SHARE:
            for tag in rng.sample(TAG_NAMES, rng.randint(1, 3)):
                tags.append({"task_id": task_id, "tag": tag})
    return tasks, tags


def seed_tasks(database_url: str, users: dict[int, int], seed: int) -> None:
    """Insert tasks for each ``user_id: count`` in ``users`` straight into the service's tables.

    Ids are assigned here so that tag rows can refer to them, and PostgreSQL's id sequence is
    moved past them afterwards. PostgreSQL tables are analyzed, as autovacuum would do soon
    after a bulk load. SQLite gets no ANALYZE because the service never runs one.
    """
    from sqlalchemy import func, insert, select, text

    from taskora.server.store.database import create_database_engine
    from taskora.server.store.models import Task, TaskTag

    rng = random.Random(seed)
    now = datetime.now(UTC)
    engine = create_database_engine(database_url)
    try:
        with engine.begin() as connection:
            next_id = (connection.execute(select(func.max(Task.id))).scalar() or 0) + 1
        for user_id, count in users.items():
            started = time.perf_counter()
            inserted = 0
            while inserted < count:
                batch = min(SEED_BATCH_ROWS, count - inserted)
                task_rows, tag_rows = generate_tasks(rng, user_id, next_id, batch, now)
                with engine.begin() as connection:
                    connection.execute(insert(Task.__table__), task_rows)
                    if tag_rows:
                        connection.execute(insert(TaskTag.__table__), tag_rows)
                next_id += batch
                inserted += batch
            logger.info(
                "Seeded %d tasks for user %d in %.1f s",
                count,
                user_id,
                time.perf_counter() - started,
            )
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence('tasks', 'id'), :last)"),
                    {"last": next_id - 1},
                )
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE tasks"))
                connection.execute(text("ANALYZE task_tags"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# EXPLAIN of the SQL behind a list request


@dataclass
class QueryPlan:
    statement: str
    plan: str
    median_ms: float


def capture_list_sql(
    database_url: str, workdir: Path, token: str, params: list[tuple[str, str]]
) -> list[tuple[str, Any]]:
    """Send one list request to the real app in this process and return the task queries it ran.

    The authentication query is left out. Each statement comes with the parameters that the
    driver received.
    """
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from taskora.config import Settings
    from taskora.server.app import create_app

    settings = Settings(
        database_url=database_url, data_dir=workdir / "data", migrate_on_start=False
    )
    app = create_app(settings)
    captured: list[tuple[str, Any]] = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if re.search(r"\bFROM tasks\b|\bFROM task_tags\b", statement):
            captured.append((statement, parameters))

    with TestClient(app) as client:
        engine = app.state.database.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = client.get(
                "/api/tasks", params=params, headers={"Authorization": f"Bearer {token}"}
            )
        finally:
            event.remove(engine, "before_cursor_execute", record)
    response.raise_for_status()
    return captured


def _render_sqlite_plan(rows: list[Any]) -> str:
    depth: dict[int, int] = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
    return "\n".join(lines)


def explain_statements(
    database_url: str, statements: list[tuple[str, Any]], repeats: int = 20
) -> list[QueryPlan]:
    """Return the plan of each statement and the median time of running it ``repeats`` times."""
    from taskora.server.store.database import create_database_engine

    engine = create_database_engine(database_url)
    plans = []
    try:
        with engine.connect() as connection:
            for statement, parameters in statements:
                if engine.dialect.name == "postgresql":
                    rows = connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    ).all()
                    plan = "\n".join(row[0] for row in rows)
                else:
                    rows = connection.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters
                    ).all()
                    plan = _render_sqlite_plan(rows)
                timings = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    connection.exec_driver_sql(statement, parameters).all()
                    timings.append(time.perf_counter() - started)
                timings.sort()
                plans.append(QueryPlan(statement, plan, timings[len(timings) // 2] * 1000))
            connection.rollback()
    finally:
        engine.dispose()
    return plans


def describe_plan(kind: str, plan: str) -> list[str]:
    """Return plain findings that a reader of the plan would look for first."""
    findings = []
    if kind == "sqlite":
        if "USE TEMP B-TREE FOR ORDER BY" in plan:
            findings.append(
                "SQLite sorts every matching row in a temporary B-tree before applying LIMIT."
            )
        for index in re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan):
            findings.append(f"SQLite searches the index {index}.")
        if re.search(r"SCAN tasks\b(?! USING)", plan):
            findings.append("SQLite scans the whole tasks table.")
    else:
        sort = re.search(r"Sort Method: ([\w\- ]+?)\s+Memory", plan)
        if sort:
            findings.append(
                f"PostgreSQL sorts the matching rows ({sort.group(1).strip()}) before applying LIMIT."
            )
        for index in sorted(
            set(re.findall(r"Index (?:Only )?Scan(?: Backward)? using (\w+)", plan))
        ):
            findings.append(f"PostgreSQL reads the index {index}.")
        for rows in re.findall(r"Rows Removed by Filter: (\d+)", plan):
            findings.append(f"A filter discards {int(rows):,} rows after they were read.")
        if "Seq Scan on tasks" in plan:
            findings.append("PostgreSQL scans the whole tasks table.")
    return findings


# --------------------------------------------------------------------------------------
# Running one database kind


@dataclass
class ListResult:
    user_label: str
    task_count: int
    query_name: str
    concurrency: int
    result: PhaseResult


@dataclass
class DatabaseReport:
    kind: str
    version: str
    baseline_create: PhaseResult
    taskora_create: PhaseResult
    lists: list[ListResult]
    # Query name, then the user's task count, then the plans of the statements it ran.
    plans: dict[str, dict[int, list[QueryPlan]]]
    large_tasks: int
    small_tasks: int

    @property
    def create_ratio(self) -> float:
        baseline = self.baseline_create.throughput
        return self.taskora_create.throughput / baseline if baseline else math.nan

    def list_result(self, task_count: int, query_name: str, concurrency: int) -> PhaseResult:
        for item in self.lists:
            if (item.task_count, item.query_name, item.concurrency) == (
                task_count,
                query_name,
                concurrency,
            ):
                return item.result
        raise KeyError((task_count, query_name, concurrency))

    def missed_list_queries(self) -> list[str]:
        """Return the names of the list queries that missed a latency target."""
        missed = []
        for name in LIST_QUERIES:
            large = self.list_result(self.large_tasks, name, CONCURRENCY).percentile_ms(95)
            small = self.list_result(self.small_tasks, name, CONCURRENCY).percentile_ms(95)
            if large > LIST_P95_TARGET_MS or large > LIST_SCALING_TARGET * small:
                missed.append(name)
        return missed


def run_database(
    databases: BenchDatabases, profile: Profile, workdir: Path, explain_always: bool
) -> DatabaseReport:
    """Measure creation against the baseline, then listing, on one database kind."""
    kind = databases.kind
    with_postgres = kind == "postgresql"
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(home)

    taskora_port = free_port()
    taskora_server = ServerProcess(
        name=f"taskora ({kind})",
        command=[
            sys.executable,
            "-m",
            "taskora",
            "serve",
            "--port",
            str(taskora_port),
            "--database-url",
            databases.taskora_url,
        ],
        port=taskora_port,
        log_path=workdir / "taskora-serve.log",
        env=env,
    )

    baseline_user_id = create_baseline_schema(databases.baseline_url)
    baseline_port = free_port()
    baseline_server = ServerProcess(
        name=f"baseline ({kind})",
        command=[
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-baseline",
            "--port",
            str(baseline_port),
            "--database-url",
            databases.baseline_url,
            "--baseline-user-id",
            str(baseline_user_id),
        ],
        port=baseline_port,
        log_path=workdir / "baseline-serve.log",
        env=env,
    )

    with running(taskora_server):
        _, creator_token = add_service_user(databases.taskora_url, workdir, "bench-create")
        large_user_id, large_token = add_service_user(databases.taskora_url, workdir, "bench-large")
        small_user_id, small_token = add_service_user(databases.taskora_url, workdir, "bench-small")
        creator_headers = {"Authorization": f"Bearer {creator_token}"}

        # Creation: alternate the two servers round by round, each round with its warm-up.
        baseline_create = PhaseResult()
        taskora_create = PhaseResult()
        with running(baseline_server):
            targets = (
                ("baseline", baseline_server, {}, baseline_create),
                ("taskora", taskora_server, creator_headers, taskora_create),
            )
            per_round = profile.create_requests // profile.create_rounds
            for round_number in range(1, profile.create_rounds + 1):
                for label, server, headers, total in targets:
                    logger.info(
                        "Round %d: %d creates on %s (%s)", round_number, per_round, label, kind
                    )
                    result = measure(
                        server.url,
                        headers,
                        send_create,
                        201,
                        profile.create_warmup,
                        per_round,
                        CONCURRENCY,
                        profile,
                        server.pid,
                        with_postgres,
                    )
                    total.merge(result)
                    logger.info("%s: %.0f req/s this round", label, result.throughput)

        # Listing: seed through SQL while the service is idle, then measure each query.
        seed_tasks(
            databases.taskora_url,
            {large_user_id: profile.large_user_tasks, small_user_id: profile.small_user_tasks},
            seed=20261204,
        )
        users = (
            (f"{profile.large_user_tasks:,} tasks", profile.large_user_tasks, large_token),
            (f"{profile.small_user_tasks:,} tasks", profile.small_user_tasks, small_token),
        )
        lists: list[ListResult] = []
        for query_name, params in LIST_QUERIES.items():
            send = list_sender(params)
            for user_label, task_count, token in users:
                headers = {"Authorization": f"Bearer {token}"}
                phases = (
                    (CONCURRENCY, profile.list_warmup, profile.list_requests),
                    (1, profile.list_single_client_warmup, profile.list_single_client_requests),
                )
                for concurrency, warmup, requests in phases:
                    logger.info(
                        "Listing %s for the user with %s, %d client(s) (%s)",
                        query_name,
                        user_label,
                        concurrency,
                        kind,
                    )
                    result = measure(
                        taskora_server.url,
                        headers,
                        send,
                        200,
                        warmup,
                        requests,
                        concurrency,
                        profile,
                        taskora_server.pid,
                        with_postgres,
                    )
                    lists.append(
                        ListResult(user_label, task_count, query_name, concurrency, result)
                    )
                    logger.info(
                        "%.0f req/s, p95 %.1f ms", result.throughput, result.percentile_ms(95)
                    )

        report = DatabaseReport(
            kind=kind,
            version=databases.version,
            baseline_create=baseline_create,
            taskora_create=taskora_create,
            lists=lists,
            plans={},
            large_tasks=profile.large_user_tasks,
            small_tasks=profile.small_user_tasks,
        )
        to_explain = list(LIST_QUERIES) if explain_always else report.missed_list_queries()
        for query_name in to_explain:
            logger.info("Capturing the SQL of %s for EXPLAIN (%s)", query_name, kind)
            report.plans[query_name] = {}
            for token, task_count in (
                (large_token, profile.large_user_tasks),
                (small_token, profile.small_user_tasks),
            ):
                statements = capture_list_sql(
                    databases.taskora_url, workdir, token, LIST_QUERIES[query_name]
                )
                plans = explain_statements(databases.taskora_url, statements)
                report.plans[query_name][task_count] = plans
                for plan in plans:
                    print(
                        f"\n-- {kind}, {query_name}, user with {task_count} tasks, {plan.median_ms:.2f} ms:\n{plan.statement}\n{plan.plan}\n",
                        flush=True,
                    )
    return report


# --------------------------------------------------------------------------------------
# Report


def machine_description() -> dict[str, str]:
    import taskora

    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu_model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "taskora": taskora.__version__,
        "taskora_path": str(Path(taskora.__file__).parent),
    }


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _result_cells(result: PhaseResult, with_postgres: bool) -> str:
    """Return the table cells shared by creation and listing rows, from requests to CPU."""
    database_cpu = result.share_of_one_core(result.database_cpu_seconds)
    return (
        f"{len(result.latencies):,} | {result.throughput:,.0f} | {_ms(result.percentile_ms(50))} "
        f"| {_ms(result.percentile_ms(95))} | {_ms(result.percentile_ms(99))} | {result.errors} "
        f"| {_percent(result.share_of_one_core(result.client_cpu_seconds))} "
        f"| {_percent(result.share_of_one_core(result.server_cpu_seconds))} "
        f"| {_percent(database_cpu) if with_postgres else '-'} "
        f"| {_percent(result.share_of_one_core(result.other_cpu_seconds))}"
    )


RESULT_HEADER = "requests | req/s | p50 ms | p95 ms | p99 ms | errors | client CPU | server CPU | PostgreSQL CPU | other CPU"
RESULT_ALIGNMENT = " ---: |" * 10


def _verdict_at_least(value: float, target: float) -> str:
    if value >= target:
        return "met"
    return f"missed by {(target - value) / target:.0%} ({value:.2f} against {target})"


def _verdict_at_most_ms(value: float, target: float) -> str:
    if value <= target:
        return "met"
    return f"missed by {value - target:.1f} ms ({value / target:.1f} times the target)"


def _verdict_at_most_ratio(value: float, target: float) -> str:
    if value <= target:
        return "met"
    return f"missed by {value - target:.2f}"


def render_database(report: DatabaseReport) -> list[str]:
    with_postgres = report.kind == "postgresql"
    title = "SQLite" if report.kind == "sqlite" else "PostgreSQL"
    lines = [f"### {title} {report.version}", ""]

    lines += [
        f"Creation, `POST /api/tasks`, {CONCURRENCY} concurrent clients:",
        "",
        f"| server | {RESULT_HEADER} |",
        f"| --- |{RESULT_ALIGNMENT}",
        f"| baseline | {_result_cells(report.baseline_create, with_postgres)} |",
        f"| taskora | {_result_cells(report.taskora_create, with_postgres)} |",
        "",
        (
            f"Create throughput taskora/baseline: **{report.create_ratio:.2f}**; target at least "
            f"{CREATE_RATIO_TARGET}: {_verdict_at_least(report.create_ratio, CREATE_RATIO_TARGET)}."
        ),
        "",
    ]

    lines += [
        (
            "Listing, `GET /api/tasks?status=pending&priority=high&priority=urgent&limit=50` with "
            "the sort shown:"
        ),
        "",
        f"| user | sort | clients | {RESULT_HEADER} |",
        f"| --- | --- | ---: |{RESULT_ALIGNMENT}",
    ]
    for item in report.lists:
        lines.append(
            f"| {item.user_label} | `{item.query_name}` | {item.concurrency} "
            f"| {_result_cells(item.result, with_postgres)} |"
        )
    lines.append("")

    lines.append(f"Listing targets at {CONCURRENCY} clients:")
    lines.append("")
    for name in LIST_QUERIES:
        large = report.list_result(report.large_tasks, name, CONCURRENCY).percentile_ms(95)
        small = report.list_result(report.small_tasks, name, CONCURRENCY).percentile_ms(95)
        ratio = large / small if small else math.nan
        lines.append(
            f"- `{name}`: p95 of the {report.large_tasks:,}-task user {large:.1f} ms, target under "
            f"{LIST_P95_TARGET_MS:.0f} ms: {_verdict_at_most_ms(large, LIST_P95_TARGET_MS)}. "
            f"Against the {report.small_tasks:,}-task user ({small:.1f} ms): {ratio:.2f} times, target at most "
            f"{LIST_SCALING_TARGET}: {_verdict_at_most_ratio(ratio, LIST_SCALING_TARGET)}."
        )
    lines.append("")

    if report.plans:
        lines += [
            (
                "Plans of the SQL that the service runs for the lists that missed a target, captured "
                "from the real app in the benchmark process and explained on the seeded database "
                "(`EXPLAIN (ANALYZE, BUFFERS)` on PostgreSQL, `EXPLAIN QUERY PLAN` on SQLite). The "
                "time is the median of 20 runs of the statement alone, without HTTP."
            ),
            "",
        ]
        for query_name, plans_by_user in report.plans.items():
            lines.append(f"`{query_name}`:")
            lines.append("")
            for task_count, plans in plans_by_user.items():
                for plan in plans:
                    table = (
                        "task_tags" if re.search(r"\bFROM task_tags\b", plan.statement) else "tasks"
                    )
                    lines.append(
                        f"- {task_count:,}-task user, query on {table}: {plan.median_ms:.2f} ms."
                    )
            large_plans = plans_by_user.get(report.large_tasks, [])
            for plan in large_plans:
                if re.search(r"\bFROM task_tags\b", plan.statement):
                    continue
                lines += ["", f"Plan for the {report.large_tasks:,}-task user:", ""]
                for finding in describe_plan(report.kind, plan.plan):
                    lines.append(f"- {finding}")
                lines += ["", "```sql", plan.statement.strip(), "```", "", "```", plan.plan, "```"]
            lines.append("")
    return lines


def render_section(
    reports: list[DatabaseReport], profile: Profile, command: str, started: datetime
) -> str:
    machine = machine_description()
    versions = ", ".join(
        f"{'SQLite' if report.kind == 'sqlite' else 'PostgreSQL'} {report.version}"
        for report in reports
    )
    lines = [
        API_SECTION_START,
        "## HTTP API",
        "",
        f"Run on {started:%Y-%m-%d %H:%M} UTC ({profile.name} profile) with:",
        "",
        "```",
        command,
        "```",
        "",
        (
            f"Machine: {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}, "
            f"Python {machine['python']}, {versions}. Measured code: taskora {machine['taskora']} "
            f"imported from `{machine['taskora_path']}`."
        ),
        "",
        (
            "Method. `bench/api.py` starts `taskora serve` and a baseline server as subprocesses "
            "on free loopback ports. Both are uvicorn with one worker and the same settings, and "
            "both log each request at INFO. The baseline is a FastAPI app in the same file whose "
            "one route validates the body with pydantic, runs one `INSERT ... RETURNING` into the "
            "service's own `tasks` table through SQLAlchemy Core and returns the row as JSON. Its "
            "pool has 20 connections plus 20 overflow and, on SQLite, WAL with the service's "
            "pragmas. It has no authentication, no event row, no outbox relay and, on PostgreSQL, "
            "no pool pre-ping. Each create body has a title, a description, a priority and, in 7 of "
            "10, a due date, but no tags. "
            f"Creation gets {profile.create_warmup} warm-up requests per server, then "
            f"{profile.create_requests:,} measured requests split into {profile.create_rounds} "
            "round(s) that alternate baseline and taskora, so drift hits both alike. For listing, "
            f"{profile.large_user_tasks:,} tasks of one user and {profile.small_user_tasks:,} of another are "
            "inserted with SQL into the service's tables after `taskora serve` applied the "
            "migrations: priorities low/medium/high/urgent 25/45/20/10%, 20% completed, 70% with a "
            "due date, 35% with 1 to 3 tags. PostgreSQL tables are analyzed after the load and "
            "SQLite ones are not, because the service never runs ANALYZE. Each list query and user "
            f"gets {profile.list_warmup} warm-up requests, then {profile.list_requests:,} requests "
            f"from {CONCURRENCY} clients and {profile.list_single_client_requests} from one client. "
            f"Every phase stops after its request count or {profile.phase_time_limit_seconds:.0f} s, "
            "whichever comes first."
        ),
        "",
        (
            f"Clients. One Python process sends all requests: {CONCURRENCY} workers on uvloop, "
            "each with its own httpx.AsyncClient and one keep-alive connection, opened during the "
            f"warm-up. In a trial, one AsyncClient with a shared pool of {CONCURRENCY} connections "
            "cost 2 to 3 times more client CPU per request and became the bottleneck. Latency "
            "runs from sending a request to receiving its full response, so it includes any wait "
            "for a free server thread. Throughput counts successful responses per second of "
            f"wall-clock time. The {machine['cores']} cores serve everything at once: the client, "
            "the server process, PostgreSQL and any other program on the machine. The CPU columns "
            "give each one's share of one core, read from /proc. Client is this script, server "
            "the uvicorn process, PostgreSQL all `postgres` processes, and other every remaining "
            "process, such as test suites run by other users of the machine. A client well below "
            "100% did not limit the throughput. Before each phase the script waits up to "
            f"{profile.quiet_machine_wait_seconds:.0f} s for the other processes to use at most "
            f"{QUIET_MACHINE_BUSY_SHARE:.0%} of all cores, then measures anyway."
        ),
        "",
        (
            f"With {CONCURRENCY} requests in flight, the mean latency equals {CONCURRENCY} divided "
            "by the throughput (Little's law). A p95 under "
            f"{LIST_P95_TARGET_MS:.0f} ms at {CONCURRENCY} clients therefore needs more than "
            f"{CONCURRENCY / LIST_P95_TARGET_MS * 1000:,.0f} req/s. The single-client rows show "
            "the time of one request without queueing, and the plans below show the time of the "
            "SQL alone."
        ),
        "",
    ]
    for report in reports:
        lines += render_database(report)
    lines.append(API_SECTION_END)
    return "\n".join(lines) + "\n"


def write_section(
    path: Path, section: str, start_marker: str, end_marker: str, notes_marker: str | None = None
) -> None:
    """Replace the section of ``path`` from ``start_marker`` to ``end_marker``, or append it.

    With ``notes_marker``, hand-written notes from that marker to the end marker are kept.
    """
    if path.exists():
        current = path.read_text()
    else:
        current = "# Benchmarks\n\nMeasured figures of Taskora. Each section names the script and command that produced it.\n\n"
    start = current.find(start_marker)
    end = current.find(end_marker)
    if start != -1 and end != -1 and end > start:
        notes = current.find(notes_marker, start, end) if notes_marker else -1
        if notes != -1:
            section = section.replace(end_marker, current[notes:end] + end_marker)
        updated = current[:start] + section + current[end + len(end_marker) :].lstrip("\n")
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)
    logger.info("Wrote the section %s of %s", start_marker, path)


# --------------------------------------------------------------------------------------
# Command line


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure task creation against a minimal FastAPI baseline and task listing."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Run a smaller smoke run (under a minute)."
    )
    parser.add_argument(
        "--databases",
        default=",".join(DATABASE_KINDS),
        help="Comma-separated database kinds to measure: sqlite, postgresql. [default: both]",
    )
    parser.add_argument("--output", type=Path, help="Markdown file whose API section is replaced.")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TASKORA_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server and a user that may create databases. The benchmark creates and "
        "drops its own. [default: $TASKORA_BENCH_POSTGRES_URL or %(default)s]",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="Explain the list queries even when they meet their targets.",
    )
    # Internal: the subprocess that runs the baseline server.
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--baseline-user-id", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    kinds = [kind.strip() for kind in arguments.databases.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in DATABASE_KINDS]
    if unknown or not kinds:
        parser.error(
            f"invalid --databases {arguments.databases!r}: use a comma-separated list of sqlite, postgresql"
        )
    arguments.kinds = kinds
    return arguments


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.serve_baseline:
        serve_baseline(arguments.port, arguments.database_url, arguments.baseline_user_id)
        return 0

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # httpx logs every request at INFO, which would cost the client CPU during load.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    profile = QUICK_PROFILE if arguments.quick else FULL_PROFILE
    started = datetime.now(UTC)
    command = shlex.join(["python", "bench/api.py", *argv])
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    reports = []
    for kind in arguments.kinds:
        with ExitStack() as stack:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix=f"taskora-bench-{kind}-"))
            )
            if kind == "sqlite":
                databases = stack.enter_context(sqlite_databases(workdir))
            else:
                databases = stack.enter_context(postgres_databases(arguments.postgres_url))
            reports.append(run_database(databases, profile, workdir, arguments.explain))

    section = render_section(reports, profile, command, started)
    print(section)
    if arguments.output is not None:
        write_section(arguments.output, section, API_SECTION_START, API_SECTION_END)
    logger.info("Finished in %.0f s", (datetime.now(UTC) - started).total_seconds())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

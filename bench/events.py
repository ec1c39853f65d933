"""Benchmark of the event stream: fan-out latency, memory per idle stream, and write throughput.

Usage:
    python bench/events.py [--quick] [--subscribers 1000] [--databases sqlite,postgresql]
                           [--output docs/benchmarks.md]

For each database kind the script runs two scenarios, each on a new database and a new
``taskora serve`` subprocess on a free loopback port. In the first, ``--subscribers``
streams belong to one user, so every task created fans out to all of them. In the second,
as many users have one stream each, so every task created reaches one stream. The script
creates the users in its own process. A second
subprocess, this script with ``--subscriber-process``, opens the streams
(``GET /api/events/stream``) on raw asyncio connections. This process is the writer and the
conductor, and its creates take the users in turn (round-robin). For each scenario it
measures:

1. the server's resident memory with no stream open and with all streams open and idle;
2. the time from each create's response, as the writer receives it, to each stream's receipt
   of its event, while creates arrive at a fixed rate;
3. the create throughput of a closed-loop burst with every stream open against the same
   burst with none open, in the order with, without, without, with.

It prints a Markdown section and, with ``--output``, replaces the part of that file
between EVENTS_SECTION_START and EVENTS_SECTION_END, or appends it. Helpers that
bench/api.py already has (server subprocess, CPU accounting, closed-loop load) are
imported from it. Every server, subprocess, database and temporary directory that the
script creates is removed before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import os
import re
import resource
import select
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

# bench/ is the script's directory, so it is first on sys.path and api.py imports as ``api``.
from api import (
    LOG_FORMAT,
    PhaseResult,
    ServerProcess,
    _event_loop_runner,
    _run_phases,
    add_service_user,
    cpu_growth,
    create_body,
    free_port,
    machine_busy_seconds,
    machine_description,
    postgres_cpu_by_process,
    process_cpu_seconds,
    running,
    server_env,
    wait_for_quiet_machine,
    write_section,
)

logger = logging.getLogger("bench.events")

EVENTS_SECTION_START = "<!-- events:start -->"
EVENTS_SECTION_END = "<!-- events:end -->"
# Text written by hand between this marker and EVENTS_SECTION_END survives a new run.
EVENTS_NOTES_START = "<!-- events:notes -->"

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE_KINDS = ("sqlite", "postgresql")

# Targets of this benchmark. The first two are upper limits, the ratio a lower one.
LATENCY_P99_TARGET_MS = 100.0  # p99 of commit to receipt over all (event, stream) pairs
IDLE_STREAM_MEMORY_TARGET_KIB = 64.0  # server RSS growth per idle open stream
THROUGHPUT_RATIO_TARGET = 0.8  # create req/s with all streams open / with none

# The server's default; set explicitly so that a TASKORA_ variable of the caller cannot change it.
SSE_PING_SECONDS = 15.0
# The server's default per-stream buffer. A burst never creates more events than this,
# so a stream that falls behind is never cut off during the measurement.
SSE_QUEUE_SIZE = 1000

REQUEST_TIMEOUT_SECONDS = 30.0
SUBSCRIBER_REPLY_TIMEOUT_SECONDS = 180.0
STREAM_OPEN_CONCURRENCY = 50
FIXED_RATE_CONNECTIONS = 8
# The server's open files: each stream is one socket, plus the database and log files.
FILE_DESCRIPTORS_PER_STREAM = 1
FILE_DESCRIPTORS_SPARE = 512
SUBJECT_PATTERN = re.compile(rb'"subject"\s*:\s*"(\d+)"')


@dataclass(frozen=True)
class Profile:
    """Counts, rates and time limits of one run."""

    name: str
    subscribers: int
    warmup_creates: int
    fixed_rate_writes: int
    writes_per_second: float
    burst_warmup: int
    burst_requests: int
    burst_writers: int
    settle_seconds: float
    drain_timeout_seconds: float
    phase_time_limit_seconds: float
    quiet_machine_wait_seconds: float


FULL_PROFILE = Profile(
    name="full",
    subscribers=1000,
    warmup_creates=50,
    fixed_rate_writes=600,
    writes_per_second=20.0,
    burst_warmup=50,
    burst_requests=600,
    burst_writers=16,
    settle_seconds=10.0,
    drain_timeout_seconds=180.0,
    phase_time_limit_seconds=120.0,
    quiet_machine_wait_seconds=20.0,
)

QUICK_PROFILE = Profile(
    name="quick",
    subscribers=100,
    warmup_creates=10,
    fixed_rate_writes=60,
    writes_per_second=20.0,
    burst_warmup=10,
    burst_requests=100,
    burst_writers=16,
    settle_seconds=2.0,
    drain_timeout_seconds=20.0,
    phase_time_limit_seconds=10.0,
    quiet_machine_wait_seconds=0.0,
)


# --------------------------------------------------------------------------------------
# The subscriber process: many streams on raw asyncio connections.
#
# At 1,000 streams and 20 creates per second the client receives 20,000 events per
# second. To keep its CPU per event low, this protocol skips httpx and h11, decodes the
# chunked body and the SSE framing itself, and keeps only each event's position.


class StreamProtocol(asyncio.Protocol):
    """One ``GET /api/events/stream`` connection that records when each event arrives."""

    def __init__(self, pool: SubscriberPool, index: int, user: int, request: bytes) -> None:
        self.pool = pool
        self.index = index
        self.user = user  # the conductor's index of the user whose token opened the stream
        self.request = request
        # uvloop's transports do not subclass asyncio.Transport, so this is typed loosely.
        self.transport: Any = None
        self.headers_done = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.raw = bytearray()  # bytes not decoded yet: the head, then chunk framing
        self.events = bytearray()  # decoded body bytes not yet split into events
        self.in_body = False
        self.ended_by_server = False
        self.positions = array("q")
        self.receipt_times = array("d")

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        received = time.monotonic()
        self.raw += data
        if not self.in_body and not self._read_head():
            return
        self._read_chunks()
        self._read_events(received)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.headers_done.done():
            self.headers_done.set_exception(
                ConnectionError(f"stream {self.index} closed before its response head: {exc}")
            )
        if not self.closed.done():
            self.closed.set_result(None)

    def _read_head(self) -> bool:
        end = self.raw.find(b"\r\n\r\n")
        if end == -1:
            return False
        head = bytes(self.raw[:end]).decode("latin-1")
        del self.raw[: end + 4]
        status_line, _, header_lines = head.partition("\r\n")
        if not status_line.startswith("HTTP/1.1 200"):
            self.headers_done.set_exception(
                ConnectionError(f"stream {self.index} received {status_line!r} instead of 200")
            )
            self.transport.close()
            return False
        if "transfer-encoding: chunked" not in header_lines.lower():
            self.headers_done.set_exception(
                ConnectionError(f"stream {self.index} is not chunked: {header_lines!r}")
            )
            self.transport.close()
            return False
        self.in_body = True
        self.headers_done.set_result(None)
        return True

    def _read_chunks(self) -> None:
        raw = self.raw
        start = 0
        while True:
            line_end = raw.find(b"\r\n", start)
            if line_end == -1:
                break
            size = int(raw[start:line_end].split(b";", 1)[0], 16)
            if size == 0:
                self.ended_by_server = True
                break
            chunk_end = line_end + 2 + size
            if len(raw) < chunk_end + 2:
                break
            self.events += raw[line_end + 2 : chunk_end]
            start = chunk_end + 2
        del raw[:start]

    def _read_events(self, received: float) -> None:
        buffer = self.events
        start = 0
        while True:
            end = buffer.find(b"\r\n\r\n", start)
            if end == -1:
                break
            # sse-starlette writes the id line first; pings are comment lines without one.
            if buffer.startswith(b"id: ", start):
                id_end = buffer.find(b"\r\n", start)
                position = int(buffer[start + 4 : id_end])
                self.positions.append(position)
                self.receipt_times.append(received)
                if position not in self.pool.subjects:
                    match = SUBJECT_PATTERN.search(buffer, start, end)
                    if match is not None:
                        self.pool.subjects[position] = int(match.group(1))
            start = end + 4
        del buffer[:start]


@dataclass
class SubscriberPool:
    """The open streams of the subscriber process, and the task id of each position seen."""

    host: str
    port: int
    streams: list[StreamProtocol] = field(default_factory=list)
    subjects: dict[int, int] = field(default_factory=dict)

    def _request(self, token: str) -> bytes:
        return (
            "GET /api/events/stream HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n"
            "\r\n"
        ).encode("ascii")

    async def open(self, owners: list[tuple[int, str]]) -> dict[str, Any]:
        """Open one more stream per (user index, token) pair of ``owners``, at most
        STREAM_OPEN_CONCURRENCY at a time."""
        loop = asyncio.get_running_loop()
        limiter = asyncio.Semaphore(STREAM_OPEN_CONCURRENCY)
        count = len(owners)
        failures: list[str] = []
        started = time.monotonic()

        async def open_one(index: int, user: int, token: str) -> None:
            request = self._request(token)
            async with limiter:
                try:
                    _, protocol = await loop.create_connection(
                        lambda: StreamProtocol(self, index, user, request), self.host, self.port
                    )
                    await asyncio.wait_for(protocol.headers_done, REQUEST_TIMEOUT_SECONDS)
                except (OSError, ConnectionError, TimeoutError) as error:
                    failures.append(f"{type(error).__name__}: {error}")
                    return
                self.streams.append(protocol)

        first = len(self.streams)
        await asyncio.gather(
            *(open_one(first + offset, user, token) for offset, (user, token) in enumerate(owners))
        )
        if failures:
            logger.error(
                "%d of %d streams failed to open; first: %s", len(failures), count, failures[0]
            )
        return {
            "opened": count - len(failures),
            "failed": len(failures),
            "first_error": failures[0] if failures else None,
            "seconds": time.monotonic() - started,
            "open": self.open_count(),
        }

    def open_count(self) -> int:
        return sum(1 for stream in self.streams if not stream.closed.done())

    def ended_by_server_count(self) -> int:
        return sum(1 for stream in self.streams if stream.ended_by_server or stream.closed.done())

    async def wait_for_counts(self, expected: dict[int, int], timeout: float) -> dict[str, Any]:
        """Wait until every open stream has received, since the last dump, at least as many
        events as ``expected`` gives for its user, or until ``timeout`` passes.

        A user missing from ``expected`` is expected to have no new event.
        """
        started = time.monotonic()
        deadline = started + timeout
        while True:
            behind = [
                stream
                for stream in self.streams
                if not stream.closed.done() and len(stream.positions) < expected.get(stream.user, 0)
            ]
            if not behind or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        last_receipt = max(
            (stream.receipt_times[-1] for stream in self.streams if stream.receipt_times),
            default=None,
        )
        return {
            "behind": len(behind),
            "waited_seconds": time.monotonic() - started,
            "last_receipt": last_receipt,
        }

    def dump(self, path: Path) -> dict[str, Any]:
        """Write every receipt since the last dump to ``path`` and forget them.

        The file contains three arrays of equal length (stream index, position, receipt time),
        each as its length in 8 bytes followed by its raw machine values, because JSON of a
        million receipts would take seconds to write and read.
        """
        indexes = array("i")
        positions = array("q")
        times = array("d")
        for stream in self.streams:
            indexes.extend([stream.index] * len(stream.positions))
            positions.extend(stream.positions)
            times.extend(stream.receipt_times)
            stream.positions = array("q")
            stream.receipt_times = array("d")
        with path.open("wb") as output:
            for values in (indexes, positions, times):
                output.write(len(values).to_bytes(8, "little"))
                output.write(values.tobytes())
        subjects_path = path.with_suffix(".subjects.json")
        subjects_path.write_text(json.dumps(self.subjects))
        return {"receipts": len(positions), "subjects": str(subjects_path)}

    async def close(self) -> dict[str, Any]:
        for stream in self.streams:
            if stream.transport is not None:
                stream.transport.close()
        await asyncio.gather(*(stream.closed for stream in self.streams))
        closed = len(self.streams)
        self.streams = []
        return {"closed": closed}


async def serve_subscriber_commands(host: str, port: int) -> None:
    """Read JSON commands from stdin and write one JSON reply per command to stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pool = SubscriberPool(host, port)
    try:
        while line := await reader.readline():
            command = json.loads(line)
            name = command["command"]
            if name == "open":
                owners = [(int(user), str(token)) for user, token in command["owners"]]
                reply = await pool.open(owners)
            elif name == "wait":
                # JSON object keys are strings; the users are integer indexes.
                expected = {int(user): count for user, count in command["expected"].items()}
                reply = await pool.wait_for_counts(expected, command["timeout"])
            elif name == "status":
                reply = {
                    "open": pool.open_count(),
                    "ended_by_server": pool.ended_by_server_count(),
                }
            elif name == "dump":
                reply = pool.dump(Path(command["path"]))
            elif name == "close":
                reply = await pool.close()
            elif name == "exit":
                break
            else:
                reply = {"error": f"unknown command {name!r}"}
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await pool.close()


def run_subscriber_process(url: str) -> None:
    """Run the subscriber side until stdin closes or an ``exit`` command arrives."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # The conductor raised the open-file limit before it started this process.
    target = httpx.URL(url)
    with _event_loop_runner() as runner:
        runner.run(serve_subscriber_commands(target.host, target.port or 80))


class SubscriberProcess:
    """The conductor's handle on the subscriber subprocess and its command pipe."""

    def __init__(self, url: str, workdir: Path) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--subscriber-process", url]
        self.workdir = workdir
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        logger.info("Started the subscriber process (pid %d)", self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def request(
        self, command: dict[str, Any], timeout: float = SUBSCRIBER_REPLY_TIMEOUT_SECONDS
    ) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(
                f"the subscriber process sent no reply to {command['command']!r} in {timeout:.0f} s"
            )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the subscriber process exited with {self.process.wait()} during {command!r}"
            )
        return json.loads(line)

    def read_receipts(self, name: str) -> tuple[array, array, array, dict[int, int]]:
        """Fetch and forget the receipts so far: stream indexes, positions, times, subjects."""
        path = self.workdir / f"{name}.receipts"
        reply = self.request({"command": "dump", "path": str(path)})
        arrays = []
        with path.open("rb") as source:
            for typecode in ("i", "q", "d"):
                values = array(typecode)
                count = int.from_bytes(source.read(8), "little")
                values.frombytes(source.read(count * values.itemsize))
                arrays.append(values)
        subjects = {
            int(key): value
            for key, value in json.loads(Path(reply["subjects"]).read_text()).items()
        }
        path.unlink()
        return arrays[0], arrays[1], arrays[2], subjects

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.request({"command": "close"}, timeout=60)
                assert self.process.stdin is not None
                self.process.stdin.write(b'{"command": "exit"}\n')
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, TimeoutError, RuntimeError, subprocess.TimeoutExpired) as error:
                logger.warning(
                    "The subscriber process (pid %d) did not exit cleanly (%s); killing it",
                    self.pid,
                    error,
                )
                self.process.kill()
                self.process.wait()
        logger.info("Stopped the subscriber process (exit code %s)", self.process.returncode)


@contextmanager
def subscriber_process(url: str, workdir: Path) -> Iterator[SubscriberProcess]:
    process = SubscriberProcess(url, workdir)
    try:
        yield process
    finally:
        process.stop()


# --------------------------------------------------------------------------------------
# Scenarios and their users


@dataclass(frozen=True)
class Scenario:
    """A split of the streams over users: ``users`` users with ``streams // users`` each."""

    key: str
    title: str
    users: int
    streams: int

    @property
    def streams_per_user(self) -> int:
        return self.streams // self.users


def scenarios_for(streams: int) -> list[Scenario]:
    """Return the two scenarios: every stream of one user, and one stream per user."""
    return [
        Scenario("one-user", f"One user, {streams:,} streams", 1, streams),
        Scenario("one-stream-per-user", f"{streams:,} users, one stream each", streams, streams),
    ]


@dataclass
class BenchUsers:
    """The scenario's users, whom the writers take in turn, and their creates since the last
    reset, which is what each of their streams must receive."""

    ids: list[int]
    tokens: list[str]
    next_user: int = 0
    created: Counter[int] = field(default_factory=Counter)

    def take_turn(self) -> int:
        """Return the index of the user who makes the next create (round-robin)."""
        user = self.next_user
        self.next_user = (self.next_user + 1) % len(self.tokens)
        return user

    def headers(self, user: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def record(self, user: int, status: int) -> None:
        if status == 201:
            self.created[user] += 1

    def reset(self) -> None:
        self.created.clear()

    def stream_owners(self, streams: int) -> list[tuple[int, str]]:
        """Return (user index, token) for each of ``streams`` streams, spread evenly."""
        return [
            (index % len(self.tokens), self.tokens[index % len(self.tokens)])
            for index in range(streams)
        ]


def add_bench_users(database_url: str, workdir: Path, count: int) -> BenchUsers:
    """Create ``count`` users in one transaction, with the functions behind
    ``taskora users create`` (as bench/api.py does for its few users)."""
    from taskora.config import Settings
    from taskora.server.runner import prepare_database
    from taskora.server.store.database import Database
    from taskora.server.store.users import create_user

    if count == 1:
        user_id, token = add_service_user(database_url, workdir, "bench-events")
        return BenchUsers([user_id], [token])

    settings = Settings(database_url=database_url, data_dir=workdir / "data")
    prepare_database(settings)
    database = Database(settings.resolved_database_url)
    # create_user logs one INFO line per user; a thousand of them would bury the run's log.
    users_logger = logging.getLogger("taskora.server.store.users")
    level = users_logger.level
    users_logger.setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        with database.write() as session:
            created = [create_user(session, f"bench-events-{index}") for index in range(count)]
            ids = [user.id for user, _token in created]
            tokens = [token for _user, token in created]
    finally:
        users_logger.setLevel(level)
        database.dispose()
    logger.info("Created %d users in %.1f s", count, time.monotonic() - started)
    return BenchUsers(ids, tokens)


# --------------------------------------------------------------------------------------
# Server-side readings


def raise_open_file_limit(needed: int) -> None:
    """Raise this process's soft limit on open files to ``needed``, or to the hard limit.

    Subprocesses started afterwards, such as the server, inherit the new limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        logger.info("Raised the open-file limit from %d to %d", soft, target)
    if target < needed:
        logger.warning("The open-file limit is %d, below the %d needed", target, needed)


def resident_kib(pid: int) -> int:
    """Return VmRSS of ``pid`` in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")


def read_metrics(base_url: str) -> dict[str, float]:
    """Return the unlabelled samples of the server's /metrics page, by name."""
    response = httpx.get(f"{base_url}/metrics", timeout=REQUEST_TIMEOUT_SECONDS)
    response.raise_for_status()
    samples = {}
    for line in response.text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples


def open_streams_per_metrics(base_url: str) -> int:
    return int(read_metrics(base_url)["taskora_sse_streams"])


def wait_for_delivery(
    users: BenchUsers, subscribers: SubscriberProcess, timeout: float
) -> dict[str, Any]:
    """Wait until every open stream has received the event of each create that its user
    made since the streams were opened or last dumped.

    Only creates that returned 201 are counted. A create whose request failed on the
    client side but was committed anyway makes the wait end one event early.
    """
    started = time.monotonic()
    reply = subscribers.request(
        {"command": "wait", "expected": dict(users.created), "timeout": timeout},
        timeout=timeout + 30,
    )
    if reply["behind"]:
        logger.warning(
            "%d streams had not received every event of their user after %.0f s",
            reply["behind"],
            timeout,
        )
    return {
        "behind": reply["behind"],
        "last_receipt": reply["last_receipt"],
        "seconds": time.monotonic() - started,
    }


def settle(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)


# --------------------------------------------------------------------------------------
# CPU accounting of a phase


@dataclass
class CpuShares:
    """CPU seconds of each process during one phase, and the phase's wall-clock seconds."""

    elapsed_seconds: float = 0.0
    writer: float = 0.0
    subscribers: float = 0.0
    server: float = 0.0
    database: float = 0.0
    machine_busy: float = 0.0

    @property
    def other(self) -> float:
        own = self.writer + self.subscribers + self.server + self.database
        return max(0.0, self.machine_busy - own)

    def share(self, seconds: float) -> float:
        return seconds / self.elapsed_seconds if self.elapsed_seconds else 0.0

    def merge(self, other: CpuShares) -> None:
        self.elapsed_seconds += other.elapsed_seconds
        self.writer += other.writer
        self.subscribers += other.subscribers
        self.server += other.server
        self.database += other.database
        self.machine_busy += other.machine_busy


@dataclass
class CpuReading:
    """CPU seconds used so far by each process, taken at one moment."""

    monotonic: float
    writer: float
    subscribers: float
    server: float
    database: dict[int, float]
    machine_busy: float

    @classmethod
    def take(cls, server_pid: int, subscriber_pid: int | None, with_postgres: bool) -> CpuReading:
        return cls(
            monotonic=time.monotonic(),
            writer=time.process_time(),
            subscribers=process_cpu_seconds(subscriber_pid) if subscriber_pid else 0.0,
            server=process_cpu_seconds(server_pid),
            database=postgres_cpu_by_process() if with_postgres else {},
            machine_busy=machine_busy_seconds()[0],
        )

    def until(self, later: CpuReading) -> CpuShares:
        return CpuShares(
            elapsed_seconds=later.monotonic - self.monotonic,
            writer=later.writer - self.writer,
            subscribers=later.subscribers - self.subscribers,
            server=later.server - self.server,
            database=cpu_growth(self.database, later.database),
            machine_busy=later.machine_busy - self.machine_busy,
        )


# --------------------------------------------------------------------------------------
# Writes at a fixed rate, and the latency of their events


@dataclass
class WriteRecord:
    """One create of the fixed-rate phase, on the machine's monotonic clock."""

    task_id: int | None
    user: int
    sent: float
    answered: float
    status: int


async def write_at_fixed_rate(
    base_url: str, users: BenchUsers, count: int, rate: float, time_limit: float
) -> list[WriteRecord]:
    """Send ``count`` creates, one every 1/``rate`` s, without waiting for earlier responses.

    The users take turns, so each create carries the token of the next user.
    """
    limits = httpx.Limits(
        max_connections=FIXED_RATE_CONNECTIONS, max_keepalive_connections=FIXED_RATE_CONNECTIONS
    )
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:

        async def create(index: int, user: int) -> WriteRecord:
            sent = time.monotonic()
            try:
                response = await client.post(
                    "/api/tasks", json=create_body(index), headers=users.headers(user)
                )
            except httpx.HTTPError as error:
                logger.error("Create %d failed: %s: %s", index, type(error).__name__, error)
                return WriteRecord(None, user, sent, time.monotonic(), 0)
            answered = time.monotonic()
            users.record(user, response.status_code)
            task_id = response.json()["id"] if response.status_code == 201 else None
            if task_id is None:
                logger.error(
                    "Create %d returned HTTP %d: %s",
                    index,
                    response.status_code,
                    response.text[:300],
                )
            return WriteRecord(task_id, user, sent, answered, response.status_code)

        # Open the keep-alive connections first, so no create pays for a TCP handshake.
        await asyncio.gather(*(client.get("/healthz") for _ in range(FIXED_RATE_CONNECTIONS)))
        started = time.monotonic()
        deadline = started + time_limit
        pending = []
        for index in range(count):
            due = started + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() >= deadline:
                logger.warning(
                    "The fixed-rate phase stopped at its time limit after %d creates", index
                )
                break
            pending.append(asyncio.create_task(create(1_000_000 + index, users.take_turn())))
        return list(await asyncio.gather(*pending))


def percentile(ordered: list[float], percent: float) -> float:
    """Return the nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class LatencyResult:
    """Commit-to-receipt latency of the fixed-rate phase, in seconds."""

    writes: int
    failed_writes: int
    streams: int
    rate: float
    latencies: list[float]
    expected_pairs: int
    first_receipts: list[float]
    last_receipts: list[float]
    create_latencies: list[float]
    cpu: CpuShares

    @property
    def missing_pairs(self) -> int:
        return self.expected_pairs - len(self.latencies)

    @property
    def early_pairs(self) -> int:
        """Pairs whose event arrived before the create's response did."""
        return sum(1 for value in self.latencies if value < 0)


def compute_latencies(
    writes: list[WriteRecord],
    streams: int,
    streams_per_user: int,
    receipts: tuple[array, array, array, dict[int, int]],
    rate: float,
    cpu: CpuShares,
) -> LatencyResult:
    """Pair each receipt with the create of its task and subtract the create's response time.

    Each create is expected once on each of the ``streams_per_user`` streams of its user.
    """
    _indexes, positions, times, subjects = receipts
    answered_by_task = {
        write.task_id: write.answered for write in writes if write.task_id is not None
    }
    latencies: list[float] = []
    by_position: dict[int, list[float]] = {}
    for position, received in zip(positions, times, strict=True):
        task_id = subjects.get(position)
        answered = answered_by_task.get(task_id)
        if answered is None:
            continue
        latency = received - answered
        latencies.append(latency)
        by_position.setdefault(position, []).append(latency)
    latencies.sort()
    first = sorted(min(values) for values in by_position.values())
    last = sorted(max(values) for values in by_position.values())
    create_latencies = sorted(
        write.answered - write.sent for write in writes if write.task_id is not None
    )
    return LatencyResult(
        writes=len(answered_by_task),
        failed_writes=len(writes) - len(answered_by_task),
        streams=streams,
        rate=rate,
        latencies=latencies,
        expected_pairs=len(answered_by_task) * streams_per_user,
        first_receipts=first,
        last_receipts=last,
        create_latencies=create_latencies,
        cpu=cpu,
    )


# --------------------------------------------------------------------------------------
# Closed-loop bursts of creates


@dataclass
class BurstResult:
    """One closed-loop burst of creates, with or without the streams open."""

    streams: int
    phase: PhaseResult
    cpu: CpuShares
    drain_seconds: float | None
    streams_behind: int


def run_burst(
    base_url: str,
    users: BenchUsers,
    profile: Profile,
    server_pid: int,
    subscribers: SubscriberProcess | None,
    streams: int,
    with_postgres: bool,
) -> BurstResult:
    """Send a warm-up and then ``profile.burst_requests`` creates from ``profile.burst_writers``
    workers, and wait until the open streams received every event of it.

    The users take turns over the creates, as in the fixed-rate phase.
    """
    if profile.quiet_machine_wait_seconds > 0:
        wait_for_quiet_machine(profile.quiet_machine_wait_seconds)
    subscriber_pid = subscribers.pid if subscribers is not None else None
    readings: list[CpuReading] = []

    def take_snapshot() -> Any:
        readings.append(CpuReading.take(server_pid, subscriber_pid, with_postgres))
        return readings[-1]

    async def send_create_as_next_user(client: httpx.AsyncClient, index: int) -> httpx.Response:
        user = users.take_turn()
        response = await client.post(
            "/api/tasks", json=create_body(index), headers=users.headers(user)
        )
        users.record(user, response.status_code)
        return response

    with _event_loop_runner() as runner:
        load, elapsed, _before, _after = runner.run(
            _run_phases(
                base_url,
                {},
                send_create_as_next_user,
                201,
                profile.burst_warmup,
                profile.burst_requests,
                profile.burst_writers,
                profile.phase_time_limit_seconds,
                take_snapshot,
            )
        )
    last_answer = time.monotonic()
    cpu = readings[0].until(readings[1])
    phase = PhaseResult(
        latencies=load.latencies,
        elapsed_seconds=elapsed,
        errors=load.errors,
        first_error=load.first_error,
        stopped_by_time_limit=load.next_index < profile.burst_requests,
    )
    if load.errors:
        logger.error(
            "%d of %d creates failed; first: %s",
            load.errors,
            profile.burst_requests,
            load.first_error,
        )
    if phase.stopped_by_time_limit:
        logger.warning(
            "The burst stopped at its time limit of %.0f s", profile.phase_time_limit_seconds
        )

    drain_seconds = None
    behind = 0
    if subscribers is not None:
        delivery = wait_for_delivery(users, subscribers, profile.drain_timeout_seconds)
        behind = delivery["behind"]
        if delivery["last_receipt"] is not None:
            drain_seconds = max(0.0, delivery["last_receipt"] - last_answer)
        # The receipts of a burst are not analysed; drop them so they use no memory.
        subscribers.read_receipts("burst")
    users.reset()
    return BurstResult(streams, phase, cpu, drain_seconds, behind)


# --------------------------------------------------------------------------------------
# Databases


@dataclass
class BenchDatabase:
    kind: str
    url: str
    version: str


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[BenchDatabase]:
    import sqlite3

    yield BenchDatabase("sqlite", f"sqlite:///{workdir / 'taskora.db'}", sqlite3.sqlite_version)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[BenchDatabase]:
    """Create a database named ``taskora_events_bench_<random>``, yield it, then drop it."""
    import psycopg
    from psycopg import sql

    name = f"taskora_events_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=10)
    created = False
    try:
        version = admin.execute("SHOW server_version").fetchone()[0]
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created = True
        logger.info("Created the PostgreSQL database %s", name)
        info = psycopg.conninfo.conninfo_to_dict(admin_url)
        base = (
            f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}"
            f":{info.get('port', '5432')}"
        )
        yield BenchDatabase("postgresql", f"{base}/{name}", version)
    finally:
        if created:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            logger.info("Dropped the PostgreSQL database %s", name)
        admin.close()


# --------------------------------------------------------------------------------------
# Running one database kind


@dataclass
class ScenarioReport:
    """Every figure of one scenario on one database kind."""

    kind: str
    version: str
    scenario: Scenario
    users_seconds: float
    subscribers_requested: int
    streams_open_per_metrics: int
    open_seconds: float
    rss_without_streams_kib: int
    rss_with_streams_kib: int
    rss_after_close_kib: int
    latency: LatencyResult
    bursts: list[BurstResult]

    @property
    def memory_per_stream_kib(self) -> float:
        growth = self.rss_with_streams_kib - self.rss_without_streams_kib
        return growth / self.streams_open_per_metrics if self.streams_open_per_metrics else math.nan

    def throughput(self, with_streams: bool) -> float:
        """Return the create req/s over every burst with (or without) the streams open."""
        matching = [burst for burst in self.bursts if (burst.streams > 0) == with_streams]
        requests = sum(len(burst.phase.latencies) for burst in matching)
        seconds = sum(burst.phase.elapsed_seconds for burst in matching)
        return requests / seconds if seconds else math.nan

    @property
    def throughput_ratio(self) -> float:
        without = self.throughput(False)
        return self.throughput(True) / without if without else math.nan


def start_server(database: BenchDatabase, workdir: Path) -> ServerProcess:
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(home)
    env["TASKORA_SSE_PING_SECONDS"] = str(SSE_PING_SECONDS)
    env["TASKORA_SSE_QUEUE_SIZE"] = str(SSE_QUEUE_SIZE)
    port = free_port()
    return ServerProcess(
        name=f"taskora ({database.kind})",
        command=[
            sys.executable,
            "-m",
            "taskora",
            "serve",
            "--port",
            str(port),
            "--database-url",
            database.url,
        ],
        port=port,
        log_path=workdir / "taskora-serve.log",
        env=env,
    )


def warm_up(base_url: str, headers: dict[str, str], creates: int) -> None:
    """Send a few creates and open and close one stream, so that lazy imports are done."""
    with httpx.Client(
        base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:
        for index in range(creates):
            client.post("/api/tasks", json=create_body(index)).raise_for_status()
        with client.stream("GET", "/api/events/stream") as response:
            response.raise_for_status()
        client.get("/metrics").raise_for_status()


def open_streams(
    server: ServerProcess,
    subscribers: SubscriberProcess,
    users: BenchUsers,
    count: int,
    settle_seconds: float,
) -> tuple[int, float]:
    """Open ``count`` streams spread evenly over the users, and return how many /metrics
    counts after they settle and the seconds that opening took."""
    reply = subscribers.request({"command": "open", "owners": users.stream_owners(count)})
    if reply["failed"]:
        raise RuntimeError(
            f"{reply['failed']} of {count} streams failed to open; first: {reply['first_error']}"
        )
    logger.info("Opened %d streams in %.1f s", reply["opened"], reply["seconds"])
    users.reset()
    settle(settle_seconds)
    streams = open_streams_per_metrics(server.url)
    if streams != count:
        logger.warning("/metrics counts %d open streams, expected %d", streams, count)
    return streams, reply["seconds"]


def close_streams(server: ServerProcess, subscribers: SubscriberProcess) -> None:
    subscribers.request({"command": "close"})
    deadline = time.monotonic() + 30
    while open_streams_per_metrics(server.url) and time.monotonic() < deadline:
        time.sleep(0.2)
    remaining = open_streams_per_metrics(server.url)
    if remaining:
        logger.warning("/metrics still counts %d open streams 30 s after closing them", remaining)


def run_scenario(
    database: BenchDatabase, scenario: Scenario, profile: Profile, workdir: Path
) -> ScenarioReport:
    """Measure memory, latency and write throughput of one scenario on a fresh server."""
    with_postgres = database.kind == "postgresql"
    logger.info("Scenario on %s: %s", database.kind, scenario.title)
    server = start_server(database, workdir)
    with running(server):
        users_started = time.monotonic()
        users = add_bench_users(database.url, workdir, scenario.users)
        users_seconds = time.monotonic() - users_started
        warm_up(server.url, users.headers(0), profile.warmup_creates)

        with subscriber_process(server.url, workdir) as subscribers:
            # Memory: the same process with no stream open, then with all of them idle.
            settle(profile.settle_seconds)
            if open_streams_per_metrics(server.url) != 0:
                raise RuntimeError("/metrics counts open streams before the benchmark opened any")
            rss_without = resident_kib(server.pid)
            streams, open_seconds = open_streams(
                server, subscribers, users, scenario.streams, profile.settle_seconds
            )
            rss_with = resident_kib(server.pid)
            logger.info(
                "RSS %d KiB with no stream, %d KiB with %d idle streams",
                rss_without,
                rss_with,
                streams,
            )

            # Latency: creates at a fixed rate while every stream is open.
            subscribers.read_receipts("before-latency")
            users.reset()
            logger.info(
                "Sending %d creates at %.0f/s to %d streams (%s)",
                profile.fixed_rate_writes,
                profile.writes_per_second,
                streams,
                scenario.title,
            )
            before = CpuReading.take(server.pid, subscribers.pid, with_postgres)
            with _event_loop_runner() as runner:
                writes = runner.run(
                    write_at_fixed_rate(
                        server.url,
                        users,
                        profile.fixed_rate_writes,
                        profile.writes_per_second,
                        profile.phase_time_limit_seconds,
                    )
                )
            delivery = wait_for_delivery(users, subscribers, profile.drain_timeout_seconds)
            cpu = before.until(CpuReading.take(server.pid, subscribers.pid, with_postgres))
            latency = compute_latencies(
                writes,
                streams,
                scenario.streams_per_user,
                subscribers.read_receipts("latency"),
                profile.writes_per_second,
                cpu,
            )
            users.reset()
            logger.info(
                "Latency p50 %.1f ms, p99 %.1f ms over %d pairs (%d missing, %d streams behind)",
                percentile(latency.latencies, 50) * 1000,
                percentile(latency.latencies, 99) * 1000,
                len(latency.latencies),
                latency.missing_pairs,
                delivery["behind"],
            )

            # Throughput: with, without, without, with, so that drift hits both alike.
            bursts = []
            bursts.append(
                run_burst(
                    server.url, users, profile, server.pid, subscribers, streams, with_postgres
                )
            )
            logger.info("Burst with %d streams: %.0f req/s", streams, bursts[-1].phase.throughput)
            close_streams(server, subscribers)
            settle(profile.settle_seconds)
            rss_after_close = resident_kib(server.pid)
            for _ in range(2):
                bursts.append(
                    run_burst(server.url, users, profile, server.pid, None, 0, with_postgres)
                )
                logger.info("Burst with no stream: %.0f req/s", bursts[-1].phase.throughput)
            reopened, _ = open_streams(
                server, subscribers, users, scenario.streams, profile.settle_seconds
            )
            bursts.append(
                run_burst(
                    server.url, users, profile, server.pid, subscribers, reopened, with_postgres
                )
            )
            logger.info("Burst with %d streams: %.0f req/s", reopened, bursts[-1].phase.throughput)
            status = subscribers.request({"command": "status"})
            if status["ended_by_server"]:
                logger.warning(
                    "The server ended %d streams during the run", status["ended_by_server"]
                )
            close_streams(server, subscribers)

    return ScenarioReport(
        kind=database.kind,
        version=database.version,
        scenario=scenario,
        users_seconds=users_seconds,
        subscribers_requested=scenario.streams,
        streams_open_per_metrics=streams,
        open_seconds=open_seconds,
        rss_without_streams_kib=rss_without,
        rss_with_streams_kib=rss_with,
        rss_after_close_kib=rss_after_close,
        latency=latency,
        bursts=bursts,
    )


# --------------------------------------------------------------------------------------
# Report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _cpu_cells(cpu: CpuShares, with_postgres: bool) -> str:
    database = _percent(cpu.share(cpu.database)) if with_postgres else "-"
    return (
        f"{_percent(cpu.share(cpu.writer))} | {_percent(cpu.share(cpu.subscribers))} "
        f"| {_percent(cpu.share(cpu.server))} | {database} | {_percent(cpu.share(cpu.other))}"
    )


CPU_HEADER = "writer CPU | subscriber CPU | server CPU | PostgreSQL CPU | other CPU"


def _verdict_under(value: float, target: float, unit: str) -> str:
    if value < target:
        return "met"
    return f"missed by {value - target:.1f} {unit} ({value / target:.1f} times the target)"


def _verdict_at_least(value: float, target: float) -> str:
    if value >= target:
        return "met"
    return f"missed by {target - value:.2f} ({(target - value) / target:.0%} below the target)"


def render_database(reports: list[ScenarioReport], profile: Profile) -> list[str]:
    """Render one database kind: both scenarios side by side, then each one in detail."""
    first = reports[0]
    title = "SQLite" if first.kind == "sqlite" else "PostgreSQL"
    lines = [f"### {title} {first.version}", ""]

    def cells(figure: Any) -> str:
        return " | ".join(figure(report) for report in reports)

    def p50_cell(report: ScenarioReport) -> str:
        return f"{_ms(percentile(report.latency.latencies, 50))} ms"

    def p99_cell(report: ScenarioReport) -> str:
        p99 = percentile(report.latency.latencies, 99)
        verdict = _verdict_under(p99 * 1000, LATENCY_P99_TARGET_MS, "ms")
        return f"{_ms(p99)} ms, {verdict}"

    def memory_cell(report: ScenarioReport) -> str:
        verdict = _verdict_under(report.memory_per_stream_kib, IDLE_STREAM_MEMORY_TARGET_KIB, "KiB")
        return f"{report.memory_per_stream_kib:.1f} KiB, {verdict}"

    def ratio_cell(report: ScenarioReport) -> str:
        verdict = _verdict_at_least(report.throughput_ratio, THROUGHPUT_RATIO_TARGET)
        return (
            f"{report.throughput(True):,.0f} / {report.throughput(False):,.0f} req/s = "
            f"**{report.throughput_ratio:.2f}**, {verdict}"
        )

    def fan_out_cell(report: ScenarioReport) -> str:
        return f"{report.scenario.streams_per_user:,}"

    lines += [
        "| figure | target | " + " | ".join(report.scenario.title for report in reports) + " |",
        "| --- | --- |" + " --- |" * len(reports),
        "| streams that each create reaches | | " + cells(fan_out_cell) + " |",
        "| commit-to-receipt p50 | | " + cells(p50_cell) + " |",
        f"| commit-to-receipt p99 | under {LATENCY_P99_TARGET_MS:.0f} ms | "
        + cells(p99_cell)
        + " |",
        (
            f"| server RSS per idle stream | under {IDLE_STREAM_MEMORY_TARGET_KIB:.0f} KiB | "
            + cells(memory_cell)
            + " |"
        ),
        (
            f"| create req/s with streams / without | at least {THROUGHPUT_RATIO_TARGET} | "
            + cells(ratio_cell)
            + " |"
        ),
        "",
    ]
    for report in reports:
        lines += render_scenario(report, profile)
    return lines


def render_scenario(report: ScenarioReport, profile: Profile) -> list[str]:
    """Render the detailed figures of one scenario."""
    with_postgres = report.kind == "postgresql"
    scenario = report.scenario
    latency = report.latency
    p50 = percentile(latency.latencies, 50)
    p99 = percentile(latency.latencies, 99)
    over_target = sum(1 for value in latency.latencies if value * 1000 >= LATENCY_P99_TARGET_MS)
    lines = [f"#### {scenario.title}", ""]

    users_sentence = (
        f"{scenario.users:,} users created in {report.users_seconds:.1f} s, "
        if scenario.users > 1
        else ""
    )
    lines += [
        (
            f"Streams: {users_sentence}{report.subscribers_requested:,} streams requested, "
            f"{report.streams_open_per_metrics:,} open according to `taskora_sse_streams` in "
            f"/metrics, opened in {report.open_seconds:.1f} s."
        ),
        "",
    ]

    lines += [
        (
            f"Latency, {latency.writes:,} creates at {latency.rate:.0f}/s while "
            f"{latency.streams:,} streams were open, each create reaching "
            f"{scenario.streams_per_user:,} of them ({len(latency.latencies):,} event-stream "
            "pairs):"
        ),
        "",
        "| measure | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: |",
        (
            f"| every pair: receipt minus create response | {_ms(p50)} | {_ms(p99)} "
            f"| {_ms(latency.latencies[-1] if latency.latencies else math.nan)} |"
        ),
    ]
    if scenario.streams_per_user > 1:
        lines += [
            (
                f"| first stream of each event | {_ms(percentile(latency.first_receipts, 50))} "
                f"| {_ms(percentile(latency.first_receipts, 99))} "
                f"| {_ms(latency.first_receipts[-1] if latency.first_receipts else math.nan)} |"
            ),
            (
                f"| last stream of each event | {_ms(percentile(latency.last_receipts, 50))} "
                f"| {_ms(percentile(latency.last_receipts, 99))} "
                f"| {_ms(latency.last_receipts[-1] if latency.last_receipts else math.nan)} |"
            ),
        ]
    lines += [
        (
            f"| create request, send to response | {_ms(percentile(latency.create_latencies, 50))} "
            f"| {_ms(percentile(latency.create_latencies, 99))} "
            f"| {_ms(latency.create_latencies[-1] if latency.create_latencies else math.nan)} |"
        ),
        "",
        (
            f"Pairs at or over {LATENCY_P99_TARGET_MS:.0f} ms: {over_target:,} "
            f"({over_target / max(len(latency.latencies), 1):.1%}). Pairs whose event arrived "
            f"before the create's response: {latency.early_pairs:,}. Pairs never received: "
            f"{latency.missing_pairs:,} of {latency.expected_pairs:,}. Failed creates: "
            f"{latency.failed_writes}. CPU during the phase, as a share of one core: "
            f"{_cpu_sentence(latency.cpu, with_postgres)}. Server CPU time per create: "
            f"{_server_microseconds_per_create(latency):,.0f} µs, or "
            f"{_server_microseconds_per_pair(latency):,.0f} µs per event-stream pair, the "
            "creates' own work included."
        ),
        "",
    ]

    lines += [
        (
            f"Memory, VmRSS of the server process: {report.rss_without_streams_kib:,} KiB with no "
            f"stream open, {report.rss_with_streams_kib:,} KiB with "
            f"{report.streams_open_per_metrics:,} idle streams "
            f"({report.rss_with_streams_kib - report.rss_without_streams_kib:+,} KiB), "
            f"{report.rss_after_close_kib:,} KiB after they were closed and the fixed-rate phase "
            "and the first burst had run."
        ),
        "",
    ]

    lines += [
        (
            f"Throughput, `POST /api/tasks` from {profile.burst_writers} closed-loop writers, in "
            "run order:"
        ),
        "",
        f"| open streams | requests | req/s | p50 ms | p99 ms | errors | last event received after | {CPU_HEADER} |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * 5,
    ]
    for burst in report.bursts:
        drain = "-" if burst.drain_seconds is None else f"{burst.drain_seconds:.1f} s"
        if burst.streams_behind:
            drain += f" ({burst.streams_behind} streams behind)"
        lines.append(
            f"| {burst.streams:,} | {len(burst.phase.latencies):,} | {burst.phase.throughput:,.0f} "
            f"| {_ms(burst.phase.percentile_ms(50) / 1000)} | {_ms(burst.phase.percentile_ms(99) / 1000)} "
            f"| {burst.phase.errors} | {drain} | {_cpu_cells(burst.cpu, with_postgres)} |"
        )
    lines += [
        "",
        (
            f"Create throughput with {report.streams_open_per_metrics:,} streams open: "
            f"{report.throughput(True):,.0f} req/s; with none: {report.throughput(False):,.0f} req/s; "
            f"ratio **{report.throughput_ratio:.2f}**."
        ),
        "",
    ]
    return lines


def _server_microseconds_per_create(latency: LatencyResult) -> float:
    if not latency.writes:
        return math.nan
    return latency.cpu.server / latency.writes * 1_000_000


def _server_microseconds_per_pair(latency: LatencyResult) -> float:
    if not latency.latencies:
        return math.nan
    return latency.cpu.server / len(latency.latencies) * 1_000_000


def _cpu_sentence(cpu: CpuShares, with_postgres: bool) -> str:
    parts = [
        f"server {_percent(cpu.share(cpu.server))}",
        f"subscriber process {_percent(cpu.share(cpu.subscribers))}",
        f"writer {_percent(cpu.share(cpu.writer))}",
    ]
    if with_postgres:
        parts.append(f"PostgreSQL {_percent(cpu.share(cpu.database))}")
    parts.append(f"other processes {_percent(cpu.share(cpu.other))}")
    return ", ".join(parts)


def render_section(
    reports: list[ScenarioReport],
    profile: Profile,
    command: str,
    started: datetime,
    commit: str,
) -> str:
    machine = machine_description()
    by_kind: dict[str, list[ScenarioReport]] = {}
    for report in reports:
        by_kind.setdefault(report.kind, []).append(report)
    versions = ", ".join(
        f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} {kind_reports[0].version}"
        for kind, kind_reports in by_kind.items()
    )
    scenarios = by_kind[reports[0].kind] if reports else []
    titles = " and ".join(f"*{report.scenario.title}*" for report in scenarios)
    lines = [
        EVENTS_SECTION_START,
        "## Event stream",
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
            f"at commit {commit}, imported from `{machine['taskora_path']}`."
        ),
        "",
        (
            f"Method. `bench/events.py` runs two scenarios, {titles}, one after the other "
            "on each database kind. Each runs on a new database and a new `taskora serve` (one "
            f"uvicorn process, default settings, ping every {SSE_PING_SECONDS:.0f} s, "
            f"{SSE_QUEUE_SIZE:,} events buffered per stream, INFO logging) on a free loopback "
            "port. The script creates the scenario's users in its own process, with the "
            "functions behind `taskora users create`. A subscriber process opens the streams, "
            "spread evenly over the users. It speaks HTTP/1.1 on raw asyncio connections on "
            "uvloop, decodes the chunked body and the SSE framing itself and records, per "
            "stream, each event's `id:` and the time its bytes arrived. The script itself is "
            "the writer, in a third process. Its creates take the users in turn (round-robin), "
            "each with that user's token. The server sends an event only to the streams of the "
            "task's owner, so in the first scenario each create reaches every stream and in "
            "the second it reaches one."
        ),
        "",
        (
            "Memory is VmRSS from /proc/PID/status of the server process, read after "
            f"{profile.warmup_creates} creates and one stream opened and closed, {profile.settle_seconds:.0f} s "
            "after the last request, first with no stream and then with every stream open and "
            f"idle for {profile.settle_seconds:.0f} s. The growth divided by the number of open "
            "streams is the figure per idle stream."
        ),
        "",
        (
            f"Latency. The writer sends {profile.fixed_rate_writes:,} creates at a fixed "
            f"{profile.writes_per_second:.0f} per second, each without waiting for the ones "
            f"before, over {FIXED_RATE_CONNECTIONS} keep-alive connections. A create's commit time "
            "is when its response reached the writer, so the figure includes the response's "
            "trip and can be negative when the event overtook it. Each event's `subject` names "
            "its task, which ties it to its create. Writer and subscribers are separate "
            "processes that both read `time.monotonic()`, which on Linux is CLOCK_MONOTONIC, "
            "one clock for the whole machine. Latency is receipt minus commit for every pair "
            "of event and stream. The first and last rows take, per event, the earliest and "
            "the latest stream."
        ),
        "",
        (
            f"Throughput. {profile.burst_writers} writers in the script's process (httpx, one "
            f"keep-alive connection each, as in bench/api.py) send {profile.burst_warmup} "
            f"warm-up creates, then {profile.burst_requests:,} measured ones, each writer sending "
            "its next create as soon as the last one is answered. Four bursts run in the order "
            "with streams, without, without, with, and the ratio compares the req/s over the "
            "two bursts of each kind. Both kinds of burst use the same users in the same "
            "round-robin order. After a burst with streams the script waits until every "
            "stream received one event for each create of its user that was answered with "
            "201, before the next phase. The time column gives how long after the last "
            "create's response the last of those events arrived. A burst makes at most "
            f"{profile.burst_warmup + profile.burst_requests:,} "
            "events, fewer than a stream buffers, so no stream is cut off for falling behind. "
            f"Before each burst the script waits up to {profile.quiet_machine_wait_seconds:.0f} s "
            "for other processes to leave the CPU mostly idle."
        ),
        "",
        (
            f"CPU. The {machine['cores']} cores serve the server, the subscriber process, the "
            "writer, PostgreSQL and any other program at once. CPU figures are each one's share "
            "of one core during the phase, from /proc. Other is every remaining process, such "
            "as test suites of other users of the machine."
        ),
        "",
    ]
    for kind_reports in by_kind.values():
        lines += render_database(kind_reports, profile)
    lines.append(EVENTS_SECTION_END)
    return "\n".join(lines) + "\n"


def measured_commit() -> str:
    """Return the commit of the checkout that the measured taskora package was imported from."""
    import taskora

    package_dir = Path(taskora.__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "-C", str(package_dir), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not imported from a git checkout; pass --commit)"
    return result.stdout.strip()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure event stream fan-out latency, memory per idle stream and write "
        "throughput with many subscribers."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Run a smoke run with 100 streams and small counts (about a minute).",
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        help="Streams to open in each scenario: all of one user, then one per user with as "
        "many users. [default: 1000, or 100 with --quick]",
    )
    parser.add_argument(
        "--databases",
        default="sqlite",
        help="Comma-separated database kinds to measure: sqlite, postgresql. [default: sqlite]",
    )
    parser.add_argument(
        "--output", type=Path, help="Markdown file whose events section is replaced."
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TASKORA_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="PostgreSQL server and a user that may create databases. The benchmark creates and "
        "drops its own. [default: $TASKORA_BENCH_POSTGRES_URL or %(default)s]",
    )
    parser.add_argument(
        "--commit",
        help="Commit that the measured code was exported from, shown in the report. "
        "[default: HEAD of the checkout that taskora is imported from]",
    )
    # Internal: the subprocess that keeps the streams open.
    parser.add_argument("--subscriber-process", metavar="URL", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    kinds = [kind.strip() for kind in arguments.databases.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in DATABASE_KINDS]
    if unknown or not kinds:
        parser.error(
            f"invalid --databases {arguments.databases!r}: use a comma-separated list of "
            "sqlite, postgresql"
        )
    arguments.kinds = kinds
    if arguments.subscribers is not None and arguments.subscribers < 1:
        parser.error(f"invalid --subscribers {arguments.subscribers}: it must be at least 1")
    return arguments


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.subscriber_process:
        run_subscriber_process(arguments.subscriber_process)
        return 0

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # httpx logs every request at INFO, which would cost the writer CPU during load.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    profile = QUICK_PROFILE if arguments.quick else FULL_PROFILE
    if arguments.subscribers is not None:
        profile = dataclasses.replace(profile, subscribers=arguments.subscribers)
    # The server inherits this limit; it needs one socket per stream.
    raise_open_file_limit(
        profile.subscribers * FILE_DESCRIPTORS_PER_STREAM + FILE_DESCRIPTORS_SPARE
    )

    started = datetime.now(UTC)
    command = shlex.join(["python", "bench/events.py", *argv])
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    commit = arguments.commit or measured_commit()
    reports = []
    for kind in arguments.kinds:
        for scenario in scenarios_for(profile.subscribers):
            with ExitStack() as stack:
                workdir = Path(
                    stack.enter_context(
                        tempfile.TemporaryDirectory(prefix=f"taskora-events-{kind}-{scenario.key}-")
                    )
                )
                if kind == "sqlite":
                    database = stack.enter_context(sqlite_database(workdir))
                else:
                    database = stack.enter_context(postgres_database(arguments.postgres_url))
                reports.append(run_scenario(database, scenario, profile, workdir))

    section = render_section(reports, profile, command, started, commit)
    print(section)
    if arguments.output is not None:
        write_section(
            arguments.output, section, EVENTS_SECTION_START, EVENTS_SECTION_END, EVENTS_NOTES_START
        )
    logger.info("Finished in %.0f s", (datetime.now(UTC) - started).total_seconds())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

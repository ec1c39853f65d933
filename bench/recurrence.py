"""Benchmark of the recurrence and reminder checks over 100,000 tasks.

For each database it starts ``taskora serve`` and inserts 100,000 tasks of one user with
SQL: 10,000 completed recurring tasks whose next occurrence is missing, 10,000 pending
tasks whose reminder is due, and 80,000 others. Then it times over HTTP one recurrence
check and one reminder check that do all the due work, and repeated checks with nothing due.
Targets: a check over the due work under 5 s, a check with nothing due under 50 ms.

Run from the repository root:

    python bench/recurrence.py [--quick] [--databases sqlite,postgresql] [--output docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

# bench/ is the script's directory, so it is first on sys.path and api.py imports as ``api``.
from api import (
    ServerProcess,
    add_service_user,
    free_port,
    machine_description,
    postgres_databases,
    running,
    server_env,
    sqlite_databases,
    write_section,
)

logger = logging.getLogger("bench.recurrence")

SECTION_START = "<!-- recurrence:start -->"
SECTION_END = "<!-- recurrence:end -->"
# Hand-written notes from this marker to the end of the section survive a new run.
NOTES_START = "<!-- recurrence:notes -->"
DUE_TARGET_SECONDS = 5.0
IDLE_TARGET_MS = 50.0
IDLE_RUNS = 20


def seed(database_url: str, user_id: int, total: int, due: int) -> None:
    """Insert ``total`` tasks: ``due`` recurring ones to repair, ``due`` reminders to send."""
    from sqlalchemy import insert, update

    from taskora.server.store.database import create_database_engine
    from taskora.server.store.models import Task

    now = datetime.now(UTC)
    rows = []
    for number in range(total):
        row = {
            "user_id": user_id,
            "title": f"task {number}",
            "description": "",
            "status": "pending",
            "priority": number % 4,
            "due_at": now + timedelta(days=1 + number % 30),
            "timezone": "UTC",
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "version": 1,
            "recurrence_rule": None,
            "recurrence_anchor": None,
            "remind_before": None,
            "remind_at": None,
            "occurrence": None,
            "series_start": None,
        }
        if number < due:
            # Completed recurring tasks whose next occurrence was never created.
            row.update(
                status="completed",
                completed_at=now,
                recurrence_rule="FREQ=DAILY",
                recurrence_anchor="due",
                occurrence=1,
                series_start=row["due_at"],
            )
        elif number < 2 * due:
            # Pending tasks whose reminder time has passed.
            row.update(
                due_at=now + timedelta(minutes=5),
                remind_before="PT1H",
                remind_at=now - timedelta(minutes=55),
            )
        elif number % 10 == 0:
            # Reminders and recurring tasks that are not due, so the checks must skip them.
            row.update(
                remind_before="PT1H",
                remind_at=row["due_at"] - timedelta(hours=1),
                recurrence_rule="FREQ=WEEKLY",
                recurrence_anchor="due",
                occurrence=1,
                series_start=row["due_at"],
            )
        rows.append(row)

    engine = create_database_engine(database_url)
    try:
        with engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                connection.execute(insert(Task.__table__), rows[start : start + 5000])
            connection.execute(
                update(Task.__table__)
                .where(Task.__table__.c.recurrence_rule.is_not(None))
                .values(series_id=Task.__table__.c.id)
            )
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE tasks")
    finally:
        engine.dispose()


def timed_post(client: httpx.Client, path: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post(path, params={"limit": 100_000})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json()


def run_database(kind: str, databases, workdir: Path, total: int, due: int) -> dict:
    url = databases.taskora_url
    home = workdir / kind
    home.mkdir(parents=True, exist_ok=True)
    env = server_env(home)
    env["TASKORA_DATABASE_URL"] = url
    port = free_port()
    server = ServerProcess(
        name="taskora",
        command=[sys.executable, "-m", "taskora", "serve", "--port", str(port)],
        port=port,
        log_path=home / "serve.log",
        env=env,
    )
    with running(server):
        user_id, token = add_service_user(url, home, "recurrence-bench")
        logger.info("Seeding %d tasks on %s", total, kind)
        seed(url, user_id, total, due)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
            recurrence_seconds, recurrence = timed_post(client, "/api/recurrence/check")
            reminders_seconds, reminders = timed_post(client, "/api/reminders/check")
            idle_recurrence = [
                timed_post(client, "/api/recurrence/check")[0] * 1000 for _ in range(IDLE_RUNS)
            ]
            idle_reminders = [
                timed_post(client, "/api/reminders/check")[0] * 1000 for _ in range(IDLE_RUNS)
            ]
    return {
        "kind": kind,
        "version": databases.version,
        "recurrence_seconds": recurrence_seconds,
        "recurrence": recurrence,
        "reminders_seconds": reminders_seconds,
        "reminders": reminders,
        "idle_recurrence_ms": statistics.median(idle_recurrence),
        "idle_recurrence_max_ms": max(idle_recurrence),
        "idle_reminders_ms": statistics.median(idle_reminders),
        "idle_reminders_max_ms": max(idle_reminders),
    }


def verdict(value: float, target: float) -> str:
    return (
        "met" if value < target else f"missed by {value - target:.2f} ({value / target:.1f} times)"
    )


def render(results: list[dict], total: int, due: int, command: str) -> str:
    machine = machine_description()
    lines = [
        SECTION_START,
        "## Recurrence and reminder checks",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()) + ".",
        "",
        f"Method. `bench/recurrence.py` inserts {total:,} tasks of one user with SQL after "
        f"`taskora serve` applied its migrations: {due:,} completed daily tasks whose next "
        f"occurrence is missing, {due:,} pending tasks whose reminder is due, and the rest "
        "pending, a tenth of them with a weekly rule and a reminder that is not due yet. It "
        "then times, from one client over loopback HTTP, one `POST /api/recurrence/check` and "
        "one `POST /api/reminders/check` that do all the due work, and then "
        f"{IDLE_RUNS} checks of each with nothing due (median and maximum).",
        "",
        "| database | recurrence check | created | reminder check | sent | idle recurrence check, median / max | idle reminder check, median / max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        lines.append(
            f"| {result['kind']} {result['version']} | {result['recurrence_seconds']:.2f} s | "
            f"{result['recurrence']['created']:,} | {result['reminders_seconds']:.2f} s | "
            f"{result['reminders']['sent']:,} | {result['idle_recurrence_ms']:.1f} / "
            f"{result['idle_recurrence_max_ms']:.1f} ms | {result['idle_reminders_ms']:.1f} / "
            f"{result['idle_reminders_max_ms']:.1f} ms |"
        )
    lines += ["", "Targets:", ""]
    for result in results:
        kind = result["kind"]
        lines.append(
            f"- {kind}: recurrence check {verdict(result['recurrence_seconds'], DUE_TARGET_SECONDS)} "
            f"(under {DUE_TARGET_SECONDS:.0f} s); reminder check "
            f"{verdict(result['reminders_seconds'], DUE_TARGET_SECONDS)}; idle checks "
            f"{verdict(max(result['idle_recurrence_ms'], result['idle_reminders_ms']), IDLE_TARGET_MS)} "
            f"(median under {IDLE_TARGET_MS:.0f} ms)."
        )
    lines += ["", SECTION_END, ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 tasks instead of 100,000.")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--output", type=Path, help="Write the section into this Markdown file.")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )

    total, due = (10_000, 1_000) if arguments.quick else (100_000, 10_000)
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="taskora-recurrence-bench-") as scratch,
        ExitStack() as stack,
    ):
        workdir = Path(scratch)
        for kind in arguments.databases.split(","):
            if kind == "sqlite":
                databases = stack.enter_context(sqlite_databases(workdir))
            else:
                databases = stack.enter_context(postgres_databases(arguments.postgres_url))
            results.append(run_database(kind, databases, workdir, total, due))

    section = render(results, total, due, "python bench/recurrence.py " + " ".join(argv))
    print(section)
    if arguments.output:
        write_section(arguments.output, section, SECTION_START, SECTION_END, NOTES_START)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

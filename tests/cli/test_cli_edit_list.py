"""``tasks list`` filters and paging, ``tasks edit``, retries of ``tasks add`` and completion."""

from __future__ import annotations

import json

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task, make_user
from typer.testing import CliRunner

from taskora.cli import tasks
from taskora.cli.client import Connection, TaskoraClient, VersionConflict
from taskora.errors import ExitCode, TaskoraError


def options(server: ScriptedServer) -> list[str]:
    return ["--url", server.url, "--token", "t"]


# --- list ------------------------------------------------------------------------------


def test_build_list_params_every_filter() -> None:
    params = tasks.build_list_params(
        tasks.Status.pending,
        [tasks.Priority.high, tasks.Priority.urgent],
        ["work", "home"],
        tasks.Sort.by_title_desc,
        20,
        "abc",
        any_tag=True,
        search="groc milk",
        due_before="2026-12-24T23:59:59-05:00",
        due_after="2026-12-01T00:00:00+00:00",
        overdue=True,
    )

    assert params == [
        ("status", "pending"),
        ("priority", "high"),
        ("priority", "urgent"),
        ("tag", "work"),
        ("tag", "home"),
        ("tag_mode", "any"),
        ("q", "groc milk"),
        ("due_before", "2026-12-24T23:59:59-05:00"),
        ("due_after", "2026-12-01T00:00:00+00:00"),
        ("overdue", "true"),
        ("sort", "-title"),
        ("limit", "20"),
        ("cursor", "abc"),
    ]


def test_build_list_params_defaults_empty() -> None:
    assert tasks.build_list_params() == []


def test_list_options_reach_query(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    # The filters are read in the account's time zone. This test once set the machine's TZ
    # to New York for the same offsets, but the machine's zone no longer matters.
    account = make_user("America/New_York")
    scripted_server.add("GET", "/api/users/me", ScriptedResponse(200, account))
    empty_page = {"items": [], "next_cursor": None}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, empty_page))

    result = runner.invoke(
        cli,
        [
            "tasks", "list", "-t", "work", "-t", "home", "--any-tag", "-q", "groc",
            "--due-before", "2026-12-24", "--due-after", "2026-12-01 08:00", "--overdue",
            "--sort", "-updated_at", "--limit", "7", *options(scripted_server),
        ],
    )

    assert result.exit_code == 0, result.output
    assert scripted_server.requests[-1].query == [
        ("tag", "work"),
        ("tag", "home"),
        ("tag_mode", "any"),
        ("q", "groc"),
        ("due_before", "2026-12-24T23:59:59-05:00"),
        ("due_after", "2026-12-01T08:00:00-05:00"),
        ("overdue", "true"),
        ("sort", "-updated_at"),
        ("limit", "7"),
    ]


def test_list_any_tag_needs_tag(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "list", "--any-tag", "--token", "t"])

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "--any-tag needs at least one --tag." in message


def test_list_invalid_due_before(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "list", "--due-before", "soon", "--token", "t"])

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--due-before': 'soon' is not a valid time." in message


def test_list_all_follows_cursors(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "GET",
        "/api/tasks",
        ScriptedResponse(
            200, {"items": [make_task(1, "a"), make_task(2, "b")], "next_cursor": "c1"}
        ),
        ScriptedResponse(200, {"items": [make_task(3, "c")], "next_cursor": "c2"}),
        ScriptedResponse(200, {"items": [], "next_cursor": None}),
    )

    result = runner.invoke(
        cli, ["tasks", "list", "--all", "--json", "--status", "pending", *options(scripted_server)]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        '{"items": ['
        + ", ".join(
            json.dumps(task)
            for task in (make_task(1, "a"), make_task(2, "b"), make_task(3, "c"))
        )
        + '], "next_cursor": null}\n'
    )
    queries = [request.query for request in scripted_server.requests]
    assert queries == [
        [("status", "pending"), ("limit", "200")],
        [("status", "pending"), ("limit", "200"), ("cursor", "c1")],
        [("status", "pending"), ("limit", "200"), ("cursor", "c2")],
    ]
    # CliRunner's stderr is not a terminal, so no progress line is drawn.
    assert result.stderr == ""


def test_list_all_stops_on_repeated_cursor(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "GET", "/api/tasks", ScriptedResponse(200, {"items": [], "next_cursor": "same"})
    )

    result = runner.invoke(cli, ["tasks", "list", "--all", *options(scripted_server)])

    assert isinstance(result.exception, TaskoraError)
    assert "returned the same next_cursor twice" in result.exception.message
    # The second page repeats the first page's cursor, which ends the listing.
    assert len(scripted_server.requests) == 2


# --- edit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "add", "remove", "expected", "missing"),
    [
        (["home"], ["work"], [], ["home", "work"], []),
        (["home", "work"], [], ["Home"], ["work"], []),
        (["home"], [" Errands ", "errands"], ["gone"], ["errands", "home"], ["gone"]),
        ([], [], ["a", "a"], [], ["a"]),
        (["b", "a"], ["a"], [], ["a", "b"], []),
    ],
)
def test_compute_tags(
    current: list[str], add: list[str], remove: list[str], expected: list[str], missing: list[str]
) -> None:
    assert tasks.compute_tags(current, add, remove) == (expected, missing)


def test_build_edit_fields_every_field() -> None:
    current = make_task(4, "Old", tags=["home"])

    fields, missing = tasks.build_edit_fields(
        current,
        title="New",
        description="",
        priority=tasks.Priority.urgent,
        add_tags=["work"],
        due_at="2026-12-24T17:00:00+01:00",
        timezone_name="Europe/Berlin",
        status=tasks.Status.completed,
    )

    assert fields == {
        "title": "New",
        "description": "",
        "priority": "urgent",
        "status": "completed",
        "timezone": "Europe/Berlin",
        "due_at": "2026-12-24T17:00:00+01:00",
        "tags": ["home", "work"],
    }
    assert missing == []


def test_build_edit_fields_clearing() -> None:
    current = make_task(4, "Old", tags=["home"], due_at="2026-12-24T16:00:00Z")

    fields, _ = tasks.build_edit_fields(current, no_tags=True, no_due=True)

    assert fields == {"tags": [], "due_at": None}


def test_build_edit_fields_replaces_tags() -> None:
    fields, _ = tasks.build_edit_fields(make_task(4, "Old", tags=["home"]), tags=["a", "b"])

    assert fields == {"tags": ["a", "b"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to change. Give at least one of --title"),
        (["--no-tags", "--tag", "a"], "--no-tags cannot be combined with --tag"),
        (["--tag", "a", "--add-tag", "b"], "--tag replaces every tag"),
        (["--add-tag", "A", "--remove-tag", "a"], "tag a is given to both --add-tag and"),
        (["--due", "fri", "--no-due"], "--due and --no-due cannot be combined."),
    ],
)
def test_edit_usage_errors(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    args: list[str],
    message: str,
) -> None:
    result = runner.invoke(cli, ["tasks", "edit", "4", *args, *options(scripted_server)])

    assert isinstance(result.exception, TaskoraError), result.output
    assert result.exception.exit_code == ExitCode.USAGE
    assert message in result.exception.message
    assert scripted_server.requests == []


def test_edit_sends_if_match_from_etag(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    current = make_task(42, "Milk", tags=["home", "errands"], version=3)
    updated = make_task(42, "Milk", tags=["errands", "shop"], version=4)
    scripted_server.add(
        "GET", "/api/tasks/42", ScriptedResponse(200, current, headers={"ETag": '"4"'})
    )
    scripted_server.add("PATCH", "/api/tasks/42", ScriptedResponse(200, updated))

    result = runner.invoke(
        cli,
        [
            "tasks", "edit", "42", "--add-tag", "Shop", "--remove-tag", "home",
            "--remove-tag", "absent", "--json", *options(scripted_server),
        ],
    )

    assert result.exit_code == 0, result.output
    patch = scripted_server.requests[-1]
    assert patch.method == "PATCH"
    # The ETag wins over the body's version because it comes with the same response.
    assert patch.headers["if-match"] == '"4"'
    assert patch.body == {"tags": ["errands", "shop"]}
    assert json.loads(result.stdout) == updated
    assert "task 42 has no tag 'absent', so there was nothing to remove." in result.stderr


def test_edit_version_from_body_without_etag(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    read = make_task(42, "x", version=7)
    scripted_server.add("GET", "/api/tasks/42", ScriptedResponse(200, read))
    scripted_server.add("PATCH", "/api/tasks/42", ScriptedResponse(200, make_task(42, "y")))

    result = runner.invoke(cli, ["tasks", "edit", "42", "--title", "y", *options(scripted_server)])

    assert result.exit_code == 0, result.output
    assert scripted_server.requests[-1].headers["if-match"] == '"7"'
    assert "title        y" in result.stdout


def test_edit_conflict_message(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """A 412 is scripted here because the real server returns it only after a race."""
    read = make_task(42, "x", version=4)
    scripted_server.add("GET", "/api/tasks/42", ScriptedResponse(200, read))
    scripted_server.add(
        "PATCH",
        "/api/tasks/42",
        ScriptedResponse(
            412,
            {"type": "about:blank", "title": "Precondition Failed", "status": 412,
             "detail": "Task 42 is at version 5", "current_version": 5},
            content_type="application/problem+json",
        ),
    )

    result = runner.invoke(cli, ["tasks", "edit", "42", "--title", "y", *options(scripted_server)])

    assert isinstance(result.exception, VersionConflict)
    assert result.exception.exit_code == ExitCode.CONFLICT
    assert result.exception.message == (
        "task 42 was changed by someone else (it is at version 5, you edited version 4). "
        'Run "taskora tasks show 42" and edit again.'
    )
    # A PATCH that reached the server is never sent twice.
    assert [request.method for request in scripted_server.requests] == ["GET", "PATCH"]


def test_conflict_without_current_version() -> None:
    error = VersionConflict(9, 2, None)

    assert error.message == (
        "task 9 was changed by someone else since version 2, which you edited. "
        'Run "taskora tasks show 9" and edit again.'
    )


# --- retries ---------------------------------------------------------------------------


def test_add_retries_with_same_key(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "POST",
        "/api/tasks",
        ScriptedResponse(503, {"title": "Service Unavailable", "status": 503}),
        ScriptedResponse(201, make_task(5, "Pay rent")),
    )

    result = runner.invoke(cli, ["tasks", "add", "Pay rent", *options(scripted_server)])

    assert result.exit_code == 0, result.output
    assert result.stdout == 'Added task 5 "Pay rent".\n'
    keys = [request.headers.get("idempotency-key") for request in scripted_server.requests]
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    assert [request.body for request in scripted_server.requests] == [{"title": "Pay rent"}] * 2


def test_add_new_key_per_invocation(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(5, "x")))

    for _ in range(2):
        runner.invoke(cli, ["tasks", "add", "x", *options(scripted_server)])

    keys = {request.headers["idempotency-key"] for request in scripted_server.requests}
    assert len(keys) == 2


def test_retry_gives_up_after_three_attempts(scripted_server: ScriptedServer) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(502, None))
    waits: list[float] = []
    connection = Connection(scripted_server.url, "--url", "t", "--token")

    with TaskoraClient(connection, sleep=waits.append) as client:
        with pytest.raises(TaskoraError) as caught:
            client.create_task({"title": "x"}, idempotency_key="key-1")

    assert len(scripted_server.requests) == 3
    assert waits == [0.25, 0.5]
    assert "returned 502 Bad Gateway for POST /api/tasks" in caught.value.message


def test_post_without_key_not_retried_on_503(scripted_server: ScriptedServer) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(503, None))
    connection = Connection(scripted_server.url, "--url", "t", "--token")

    with TaskoraClient(connection, sleep=lambda seconds: None) as client:
        with pytest.raises(TaskoraError):
            client.create_task({"title": "x"})

    assert len(scripted_server.requests) == 1


def test_retry_is_logged(
    scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.add(
        "GET", "/api/tasks/1", ScriptedResponse(504, None), ScriptedResponse(200, make_task(1, "x"))
    )
    connection = Connection(scripted_server.url, "--url", "secret-token", "--token")

    with caplog.at_level("WARNING"), TaskoraClient(connection, sleep=lambda s: None) as client:
        client.get_task(1)

    assert caplog.messages == [
        "GET /api/tasks/1 failed (504 Gateway Timeout); retrying in 0.25 s (attempt 2 of 3)"
    ]


# --- show and completion ---------------------------------------------------------------


def test_show_schedule_fields(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    task = make_task(
        3,
        "Water plants",
        timezone="Europe/Berlin",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "anchor": "completion"},
        remind_before="PT15M",
    )
    scripted_server.add("GET", "/api/tasks/3", ScriptedResponse(200, task))
    scripted_server.add("GET", "/api/tasks/3/occurrences", ScriptedResponse(200, {"dates": []}))

    result = runner.invoke(cli, ["tasks", "show", "3", *options(scripted_server)])

    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert result.exit_code == 0, result.output
    assert "timezone     Europe/Berlin" in lines
    assert "recurrence   FREQ=WEEKLY;BYDAY=MO,WE, counted from the completion" in lines
    assert "reminder     15 minutes before the due time" in lines


def test_show_omits_unset_schedule_fields(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    task = make_task(3, "x", recurrence=None, remind_before=None)
    scripted_server.add("GET", "/api/tasks/3", ScriptedResponse(200, task))

    result = runner.invoke(cli, ["tasks", "show", "3", *options(scripted_server)])

    assert result.exit_code == 0, result.output
    assert "recurrence" not in result.stdout
    assert "reminder" not in result.stdout


class FakeContext:
    """The part of a Click context that completion callbacks read."""

    def __init__(self, **params: str) -> None:
        self.params = params


def test_complete_task_id(scripted_server: ScriptedServer) -> None:
    page = {"items": [make_task(12, "Milk"), make_task(3, "Bread"), make_task(15, "Eggs")]}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, page))
    ctx = FakeContext(url=scripted_server.url, token="t")

    candidates = tasks.complete_task_id(ctx, "1")  # type: ignore[arg-type]

    assert candidates == [("12", "Milk"), ("15", "Eggs")]
    assert scripted_server.requests[-1].query == [
        ("status", "pending"), ("sort", "-created_at"), ("limit", "50")
    ]


def test_complete_tag(scripted_server: ScriptedServer) -> None:
    page = {"items": [make_task(1, "a", tags=["work", "home"]), make_task(2, "b", tags=["web"])]}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, page))
    ctx = FakeContext(url=scripted_server.url, token="t")

    assert tasks.complete_tag(ctx, "W") == ["web", "work"]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response",
    [
        ScriptedResponse(500, None),
        ScriptedResponse(401, None),
        ScriptedResponse(200, b"not json", content_type="text/plain"),
        ScriptedResponse(200, {"items": [{"title": "no id"}]}),
    ],
)
def test_completion_failures_return_nothing(
    scripted_server: ScriptedServer, response: ScriptedResponse, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted_server.add("GET", "/api/tasks", response)
    ctx = FakeContext(url=scripted_server.url, token="t")

    assert tasks.complete_task_id(ctx, "") == []  # type: ignore[arg-type]
    assert tasks.complete_tag(ctx, "") == []  # type: ignore[arg-type]
    assert capsys.readouterr() == ("", "")
    # One attempt each: completion never waits for retries.
    assert len(scripted_server.requests) == 2


def test_completion_without_token_returns_nothing() -> None:
    ctx = FakeContext(url="http://127.0.0.1:1")

    assert tasks.complete_task_id(ctx, "") == []  # type: ignore[arg-type]


def test_completion_through_shell_protocol(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    page = {"items": [make_task(12, "Milk"), make_task(3, "Bread")]}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, page))

    result = runner.invoke(
        cli,
        [],
        prog_name="taskora",
        env={
            "_TASKORA_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": f"taskora tasks show --url {scripted_server.url} --token t 1",
        },
    )

    assert result.exit_code == 0, result.output
    assert "12" in result.stdout
    assert "Milk" in result.stdout
    assert "Bread" not in result.stdout


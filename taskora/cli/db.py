"""``taskora db``: manage the service's database schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from taskora.cli.logs import configure_logging
from taskora.cli.settings import build_settings
from taskora.errors import TaskoraError

app = typer.Typer(help="Manage the service's database schema.", no_args_is_help=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        envvar="TASKORA_DATABASE_URL",
        help="sqlite:///FILE (relative to the current directory), sqlite:////ABSOLUTE/FILE "
        "or postgresql://USER@HOST:PORT/DB.",
        show_default="taskora.db in --data-dir",
        show_envvar=True,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        envvar="TASKORA_DATA_DIR", metavar="DIR", help="Directory of the embedded database."
    ),
]


@app.command(
    "upgrade",
    epilog="Examples:\n\n  taskora db upgrade\n\n"
    "  taskora db upgrade --database-url postgresql://taskora@127.0.0.1:5432/taskora",
)
def upgrade(
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the applied revisions as JSON.")
    ] = False,
) -> None:
    """Apply every pending migration, in place, keeping the data."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    configure_logging("WARNING")

    from taskora.server import runner

    try:
        applied = runner.prepare_database(settings)
    except runner.DatabaseError as error:
        raise TaskoraError(str(error)) from None

    if as_json:
        typer.echo(json.dumps({"applied": applied}))
    elif applied:
        Console().print(f"Applied migrations {', '.join(applied)}.", highlight=False)
    else:
        Console().print("The database is up to date.")

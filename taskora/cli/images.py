"""``taskora images build``: build the service image with Docker buildx and push it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from taskora.cli.json_errors import json_errors
from taskora.deploy import assets
from taskora.deploy.errors import DeployError
from taskora.errors import ExitCode

EPILOG = (
    "Examples:\n\n"
    "  taskora images build --cloud doks -f prod.yaml --push\n\n"
    "  taskora images build --repository registry.digitalocean.com/acme/taskora --tag 0.2.0\n\n"
    "  taskora images build --cloud gke -f prod.yaml --push --platform linux/amd64 "
    "--platform linux/arm64\n\n"
    "  taskora images build --repository ghcr.io/acme/taskora --base-image "
    "python:3.11-slim-trixie@sha256:DIGEST\n\n"
    "The repository is --repository, else image.repository of the cloud profile with your "
    "-f files and --set values over it, as taskora deploy layers them. Needs the docker "
    "command with the buildx plugin and a running Docker engine."
)

app = typer.Typer(help="Build and push the Taskora service image.", rich_markup_mode="rich")


@app.callback()
def images() -> None:
    """Build and push the Taskora service image."""


@app.command("build", epilog=EPILOG)
@json_errors
def build(
    push: Annotated[
        bool, typer.Option("--push", help="Push the image to its registry after building.")
    ] = False,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            help="Image tag. Repeatable.",
            show_default="the taskora version and the short git commit, as 0.1.0-g1a2b3c4",
        ),
    ] = None,
    platforms: Annotated[
        list[str] | None,
        typer.Option(
            "--platform",
            help="Target platform such as linux/amd64. Repeatable; several need --push.",
            show_default="the Docker engine's platform",
        ),
    ] = None,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            help=f"Cloud profile whose registry receives the image: {', '.join(assets.known_clouds())}.",
            show_default=False,
        ),
    ] = None,
    values_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--values",
            "-f",
            metavar="FILE",
            help="Values file layered over the profile, as for taskora deploy. Repeatable.",
            show_default=False,
        ),
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="KEY=VALUE over the values files. Repeatable.",
            show_default=False,
        ),
    ] = None,
    repository: Annotated[
        str | None,
        typer.Option(
            "--repository",
            help="Image repository without a tag; overrides the profile's image.repository.",
            show_default=False,
        ),
    ] = None,
    base_image: Annotated[
        str | None,
        typer.Option(
            "--base-image",
            metavar="IMAGE",
            help="Python 3.11 base image of both stages, such as "
            "python:3.11-slim-trixie@sha256:DIGEST to pin one image exactly. It must stay on "
            "Python 3.11, for which requirements/image.txt is locked.",
            show_default="the Dockerfile's PYTHON_IMAGE, python:3.11-slim-trixie",
        ),
    ] = None,
    dockerfile: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Dockerfile to build.", show_default="Dockerfile in the source directory"
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--directory",
            metavar="DIR",
            help="Build context: a checkout of the taskora repository.",
            show_default="the checkout containing the working directory, else the checkout "
            "of an editable install (pip install -e)",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the built image references as JSON on stdout, and an error as a JSON "
            "object with the keys error and exit_code on stderr.",
        ),
    ] = False,
) -> None:
    """Build the service image from the project's Dockerfile with buildx, and push it."""
    from taskora.deploy import images as images_module
    from taskora.deploy.plan import chart_app_version

    source = directory or images_module.find_source_dir(Path.cwd())
    resolved_repository = repository or _profile_repository(cloud, values_files, set_values)
    warning = ""
    if not tags:
        tag, warning = images_module.default_tag(chart_app_version(), source)
        tags = [tag]
    request = images_module.BuildRequest(
        repository=resolved_repository,
        tags=tuple(tags),
        platforms=tuple(platforms or ()),
        push=push,
        context_dir=source,
        dockerfile=dockerfile or source / "Dockerfile",
        base_image=base_image,
    )
    # Invalid input fails before the warning, which would only distract from the error.
    images_module.check_build_request(request)
    if warning:
        typer.echo(f"{typer.style('Warning:', fg='yellow')} {warning}", err=True)
    references = images_module.build_image(request, on_log=_write_log)
    if json_output:
        typer.echo(json.dumps({"images": references, "pushed": push}))
        return
    verb = "Built and pushed" if push else "Built"
    typer.echo(f"{verb} {', '.join(references)}.")
    typer.echo(f"Deploy it with: taskora deploy --image-tag {request.tags[0]} ...")


def _write_log(line: str) -> None:
    # Each log line ends in a newline, so that an error printed after the log, such as the
    # JSON object of --json, starts on a line of its own.
    sys.stderr.write(line if line.endswith("\n") else line + "\n")
    sys.stderr.flush()


def _profile_repository(
    cloud: str | None, values_files: list[Path] | None, set_values: list[str] | None
) -> str:
    from taskora.deploy.plan import DeployRequest, merge_request_values
    from taskora.deploy.values import PLACEHOLDER_MARKER

    if cloud is None:
        raise DeployError(
            "no image repository: pass --cloud with a values file that sets image.repository, "
            "or --repository",
            exit_code=ExitCode.USAGE,
        )
    values = merge_request_values(
        DeployRequest(
            cloud=cloud,
            values_files=tuple(values_files or ()),
            set_arguments=tuple(set_values or ()),
        )
    )
    repository = str((values.values.get("image") or {}).get("repository") or "")
    if not repository or PLACEHOLDER_MARKER in repository.lower():
        raise DeployError(
            f"image.repository is still the profile placeholder {repository!r} "
            f"(set by {values.source_of('image.repository')}): set it with -f FILE, "
            "--set image.repository=REPOSITORY or --repository",
            exit_code=ExitCode.USAGE,
        )
    return repository

"""``taskora deploy``: install or upgrade the Helm chart on DOKS, GKE or AKS.

The command only parses options and prints. :mod:`taskora.deploy.plan` does the work and
raises :class:`~taskora.deploy.errors.DeployError`, which ``taskora.cli.app.main`` turns
into one line on stderr and an exit code.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from taskora.deploy import assets
from taskora.deploy.errors import DeployError
from taskora.deploy.plan import (
    DEFAULT_NAMESPACE,
    DEFAULT_RELEASE,
    DEFAULT_TIMEOUT,
    DeployPlan,
    DeployRequest,
    apply,
    build_plan,
    check_no_placeholders,
    merge_request_values,
    normalize_request,
    render,
    write_values_file,
)
from taskora.deploy.values import PLACEHOLDER_MARKER, MergedValues
from taskora.errors import ExitCode

EPILOG = (
    "Examples:\n\n"
    "  taskora deploy --cloud doks --dry-run\n\n"
    "  taskora deploy --cloud gke -f prod.yaml --image-tag 0.2.0\n\n"
    "  taskora deploy --cloud aks --set replicaCount=3 --set ingress.host=tasks.example.org\n\n"
    "  taskora deploy --cloud doks -f prod.yaml --explain\n\n"
    "  taskora deploy --cloud doks -f prod.yaml --dry-run --values-out merged.yaml\n\n"
    "Values are layered, later wins: chart defaults, the cloud profile, each -f file, "
    "each --set, then --image-tag. Helm is taken from TASKORA_HELM, else from PATH."
)

app = typer.Typer(
    help="Deploy Taskora to Kubernetes with its Helm chart and a cloud profile.",
    rich_markup_mode="rich",
    # A group, so that later subcommands such as status or rollback fit in, but with none yet
    # the usage line shows no COMMAND.
    subcommand_metavar="",
)


@app.callback(invoke_without_command=True, epilog=EPILOG)
def deploy(
    ctx: typer.Context,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            help=f"Cloud profile to apply, in any case: {', '.join(assets.known_clouds())}.",
            show_default=False,
        ),
    ] = None,
    release: Annotated[str, typer.Option("--release", help="Helm release name.")] = DEFAULT_RELEASE,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="Kubernetes namespace, created if missing.")
    ] = DEFAULT_NAMESPACE,
    image_tag: Annotated[
        str | None,
        typer.Option(
            "--image-tag",
            help="Image tag to deploy, applied after every --set.",
            show_default="the chart's appVersion, which is the taskora version",
        ),
    ] = None,
    values_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--values",
            "-f",
            help="YAML values file layered over the profile. Repeatable; later files win.",
            show_default=False,
        ),
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE layered over the values files, as in helm --set "
            "(dotted keys, list index as name\\[0]). Repeatable.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the merged values, the helm command and the manifests from "
            "helm template, and change nothing in the cluster. Keys whose value still "
            f"contains {PLACEHOLDER_MARKER!r} are listed on stderr.",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print which layer set each value and exit without running helm, so "
            "nothing is rendered or deployed, even with --dry-run.",
        ),
    ] = False,
    values_out: Annotated[
        Path | None,
        typer.Option(
            "--values-out",
            metavar="FILE",
            help="Write the merged values to FILE as YAML, replacing it, and pass that file "
            "to helm, so that the helm command printed by --dry-run can be run again.",
            show_default=False,
        ),
    ] = None,
    kube_context: Annotated[
        str | None,
        typer.Option(
            "--kube-context",
            help="kubeconfig context to deploy to.",
            show_default="the current context",
        ),
    ] = None,
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout", help="How long helm waits for the pods to become ready (Go duration)."
        ),
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Install or upgrade Taskora on DigitalOcean (doks), Google (gke) or Azure (aks) Kubernetes."""
    if ctx.invoked_subcommand is not None:
        return
    if cloud is None:
        raise DeployError(
            f"missing option --cloud: use one of {', '.join(assets.known_clouds())}",
            exit_code=ExitCode.USAGE,
        )

    request = DeployRequest(
        cloud=cloud,
        release=release,
        namespace=namespace,
        image_tag=image_tag,
        values_files=tuple(values_files or ()),
        set_arguments=tuple(set_values or ()),
        kube_context=kube_context,
        timeout=timeout,
        values_out=values_out,
    )
    if explain:
        # Explaining needs only the values layers, so it works before helm is installed.
        request = normalize_request(request)
        values = merge_request_values(request)
        if request.values_out is not None:
            write_values_file(values, request.values_out)
        _print_explanation(values)
        return

    plan = build_plan(request)
    if dry_run:
        _print_dry_run(plan)
    else:
        _deploy(plan)


def _print_explanation(values: MergedValues) -> None:
    typer.echo("# Source of each value (later layers win)")
    for key, source in values.explain():
        typer.echo(f"{key}: {source}")


def _print_dry_run(plan: DeployPlan) -> None:
    # Render first, so that a schema error stops the run before anything is printed.
    result = render(plan)
    typer.echo("# Merged values")
    typer.echo(plan.values.to_yaml(), nl=False)
    typer.echo()
    if plan.request.values_out is None:
        typer.echo(
            "# Helm command (its values file was temporary and is already removed, so "
            "pass --values-out FILE to keep the merged values and get a command you can run)"
        )
    else:
        typer.echo("# Helm command")
    typer.echo(shlex.join(result.upgrade_command))
    typer.echo()
    typer.echo("# Manifests rendered by helm template")
    typer.echo(result.manifests, nl=False)

    placeholders = plan.values.placeholder_keys()
    if placeholders:
        _print_placeholder_warning(placeholders)


def _print_placeholder_warning(keys: list[str]) -> None:
    if len(keys) == 1:
        subject = "1 key still contains"
    else:
        subject = f"{len(keys)} keys still contain"
    message = (
        f"{subject} the profile placeholder {PLACEHOLDER_MARKER!r}: {', '.join(keys)}. "
        "A deploy without --dry-run fails until each is set with -f FILE or --set KEY=VALUE."
    )
    # Key paths such as hosts[0] would read as Rich markup unless escaped.
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[yellow]Warning:[/] {escape(message)}"
    )


def _deploy(plan: DeployPlan) -> None:
    request = plan.request
    # apply() checks this too, but checking first keeps "Deploying ..." off the screen.
    check_no_placeholders(plan.values)
    stderr = Console(stderr=True, highlight=False)
    stderr.print(
        f"Deploying release {request.release} to namespace {request.namespace} "
        f"with profile {request.cloud}; helm waits up to {request.timeout} for the pods.",
        markup=False,
    )
    status = apply(plan)
    revision = status.revision if status.revision is not None else "unknown"
    state = status.status or "unknown"
    typer.echo(
        f"Release {status.name} in namespace {status.namespace}: "
        f"revision {revision}, status {state}."
    )
    if status.notes:
        typer.echo()
        typer.echo(status.notes)

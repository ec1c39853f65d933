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
    render,
)
from taskora.errors import ExitCode

EPILOG = (
    "Examples:\n\n"
    "  taskora deploy --cloud doks --dry-run\n\n"
    "  taskora deploy --cloud gke -f prod.yaml --image-tag 0.2.0\n\n"
    "  taskora deploy --cloud aks --set replicaCount=3 --set ingress.host=tasks.example.org\n\n"
    "  taskora deploy --cloud doks --explain --dry-run\n\n"
    "Values are layered, later wins: chart defaults, the cloud profile, each -f file, "
    "each --set, then --image-tag. Helm is taken from TASKORA_HELM, else from PATH."
)

app = typer.Typer(
    help="Deploy Taskora to Kubernetes with its Helm chart and a cloud profile.",
    rich_markup_mode="rich",
)


@app.callback(invoke_without_command=True, epilog=EPILOG)
def deploy(
    ctx: typer.Context,
    cloud: Annotated[
        str | None,
        typer.Option(
            "--cloud",
            help=f"Cloud profile to apply: {', '.join(assets.known_clouds())}.",
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
            help="Image tag to deploy, applied after every --set. "
            "Default: the chart's appVersion (the taskora version).",
            show_default=False,
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
            "helm template; change nothing in the cluster.",
        ),
    ] = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print which layer set each value.")
    ] = False,
    kube_context: Annotated[
        str | None,
        typer.Option(
            "--kube-context",
            help="kubeconfig context to deploy to. Default: the current context.",
            show_default=False,
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
    )
    plan = build_plan(request)
    if explain:
        _print_explanation(plan)
    if dry_run:
        _print_dry_run(plan)
    else:
        _deploy(plan)


def _print_explanation(plan: DeployPlan) -> None:
    typer.echo("# Source of each value (later layers win)")
    for key, source in plan.values.explain():
        typer.echo(f"{key}: {source}")
    typer.echo()


def _print_dry_run(plan: DeployPlan) -> None:
    # Render first, so that a schema error stops the run before anything is printed.
    result = render(plan)
    typer.echo("# Merged values")
    typer.echo(plan.values.to_yaml(), nl=False)
    typer.echo()
    typer.echo("# Helm command (the values file is temporary and already removed)")
    typer.echo(shlex.join(result.upgrade_command))
    typer.echo()
    typer.echo("# Manifests rendered by helm template")
    typer.echo(result.manifests, nl=False)


def _deploy(plan: DeployPlan) -> None:
    request = plan.request
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

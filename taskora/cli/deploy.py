"""``taskora deploy``: preflight, diff, install or upgrade, status and rollback of the chart.

The commands only parse options and print. :mod:`taskora.deploy.plan` and
:mod:`taskora.deploy.release` do the work and raise
:class:`~taskora.deploy.errors.DeployError`, which ``taskora.cli.app.main`` turns into one
message on stderr and an exit code. Rich is imported only where output needs it, so that
``--dry-run`` starts quickly.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskora.cli.json_errors import errors_as_json, json_errors
from taskora.deploy import assets
from taskora.deploy.errors import DeployError
from taskora.deploy.plan import (
    DEFAULT_NAMESPACE,
    DEFAULT_RELEASE,
    DEFAULT_TIMEOUT,
    DeployPlan,
    DeployRequest,
    build_plan,
    chart_app_version,
    check_no_placeholders,
    merge_request_values,
    normalize_request,
    render,
    write_values_file,
)
from taskora.deploy.values import PLACEHOLDER_DESCRIPTION, MergedValues, ValueOrigin
from taskora.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from taskora.deploy.helm import ReleaseStatus
    from taskora.deploy.preflight import PreflightReport
    from taskora.deploy.release import ReleaseReport

logger = logging.getLogger(__name__)

EPILOG = (
    "Examples:\n\n"
    "  taskora deploy --cloud doks --dry-run\n\n"
    "  taskora deploy --cloud gke -f prod.yaml --image-tag 0.2.0\n\n"
    "  taskora deploy --cloud gke -f prod.yaml --diff\n\n"
    "  taskora deploy --cloud aks -f prod.yaml --set replicaCount=3 "
    "--set ingress.host=tasks.example.org\n\n"
    "  taskora deploy --cloud gke -f prod.yaml --set-string image.tag=1.20\n\n"
    "  taskora deploy --cloud doks -f prod.yaml --explain\n\n"
    "  taskora deploy --cloud doks -f prod.yaml --dry-run --values-out merged.yaml\n\n"
    "  taskora deploy status --namespace prod\n\n"
    "  taskora deploy rollback 3 --namespace prod\n\n"
    "Values are layered, later wins: chart defaults, the cloud profile, each -f file, "
    "each --set, each --set-string, then --image-tag. Before a deploy, preflight checks helm, "
    "kubectl, the values (placeholders, and a local helm template), the context, the cluster, "
    "Dapr, the namespace, the Secrets the values name and the image. "
    "Helm is taken from TASKORA_HELM and kubectl from TASKORA_KUBECTL, else from PATH.\n\n"
    "With --json, an error is printed on stderr as one JSON object with the keys error (the "
    "message) and exit_code, and the command exits with that code. Errors in the options "
    "themselves, such as an unknown option, stay plain text."
)

ReleaseOption = Annotated[str, typer.Option("--release", help="Helm release name.")]
NamespaceOption = Annotated[
    str, typer.Option("--namespace", "-n", help="Kubernetes namespace of the release.")
]
ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        "--kube-context",
        help="kubeconfig context of the cluster.",
        show_default="the current context",
    ),
]
TimeoutOption = Annotated[
    str,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="How long helm waits for the pods to become ready (Go duration).",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the result as JSON on stdout, and an error as a JSON object with the "
        "keys error and exit_code on stderr.",
    ),
]

app = typer.Typer(
    help="Deploy Taskora to Kubernetes with its Helm chart and a cloud profile.",
    rich_markup_mode="rich",
)


@app.callback(invoke_without_command=True, epilog=EPILOG)
@json_errors
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
    release: ReleaseOption = DEFAULT_RELEASE,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    image_tag: Annotated[
        str | None,
        typer.Option(
            "--image-tag",
            metavar="TAG",
            help="Image tag to deploy, applied after every --set.",
            show_default="the chart's appVersion, which is the taskora version",
        ),
    ] = None,
    values_files: Annotated[
        list[Path] | None,
        typer.Option(
            "--values",
            "-f",
            metavar="FILE",
            help="YAML values file layered over the profile. Repeatable; later files win.",
            show_default=False,
        ),
    ] = None,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="KEY=VALUE layered over the values files, as in helm --set "
            "(dotted keys, list index as name\\[0]). Repeatable.",
            show_default=False,
        ),
    ] = None,
    set_string_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set-string",
            metavar="KEY=VALUE",
            help="KEY=VALUE whose value always stays a string, as in helm --set-string, "
            "applied after every --set. Repeatable.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the merged values, the helm command and the manifests from "
            "helm template, and change nothing in the cluster. Keys whose value is still "
            f"{PLACEHOLDER_DESCRIPTION} are listed on stderr.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Print what a deploy would change in the release, per resource, and change "
            "nothing. Uses the helm-diff plugin when installed, else compares helm get "
            "manifest with the new render.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Run the preflight checks only, and change nothing. It also checks the "
            "values for placeholders and renders them with a local helm template.",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Print each merged value and the layer that set it, and exit without "
            "running helm, so nothing is rendered or deployed, even with --dry-run. Values "
            "of keys named like secrets (password, token) are hidden.",
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
    kube_context: ContextOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    skip_image_check: Annotated[
        bool,
        typer.Option(
            "--skip-image-check",
            help="Do not ask the registry whether the image exists, for example when "
            "docker has no credentials for it.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Install or upgrade Taskora on DigitalOcean (doks), Google (gke) or Azure (aks) Kubernetes."""
    if ctx.invoked_subcommand is not None:
        # status and rollback reject deploy options typed before them, after their own --help.
        return
    if cloud is None:
        raise DeployError(
            f"missing option --cloud: use one of {', '.join(assets.known_clouds())}",
            exit_code=ExitCode.USAGE,
        )
    modes = [
        name
        for name, given in (("--dry-run", dry_run), ("--diff", diff), ("--check", check))
        if given
    ]
    if len(modes) > 1:
        raise DeployError(
            f"{_join(modes, 'and')} cannot be combined: pass one of them",
            exit_code=ExitCode.USAGE,
        )

    request = DeployRequest(
        cloud=cloud,
        release=release,
        namespace=namespace,
        image_tag=image_tag,
        values_files=tuple(values_files or ()),
        set_arguments=tuple(set_values or ()),
        set_string_arguments=tuple(set_string_values or ()),
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
        _print_explanation(values, json_output)
        return

    # --check reports a missing helm as a failed check, together with the other checks.
    plan = build_plan(request, require_helm=not check)
    if dry_run:
        _print_dry_run(plan, json_output)
    elif diff:
        _print_diff(plan, json_output)
    elif check:
        report = _preflight(
            plan, check_image=not skip_image_check, json_output=json_output, check_values=True
        )[1]
        if not json_output:
            skipped = sum(check.status.value == "skipped" for check in report.checks)
            _stderr().print(
                f"No check failed: {len(report.checks) - skipped} passed, {skipped} "
                "skipped. Nothing was changed.",
                highlight=False,
            )
    else:
        _deploy(plan, check_image=not skip_image_check, json_output=json_output)


def _reject_options_before(ctx: typer.Context) -> None:
    """Raise a usage error for deploy options typed before this subcommand, which it ignores.

    ``taskora deploy -n prod status`` gives -n to the deploy itself, so status would show
    the release in the default namespace without a word.
    """
    parent = ctx.parent
    if parent is None:
        return
    subcommand = ctx.info_name
    typed_options = [
        parameter
        for parameter in parent.command.params
        if parameter.name is not None
        and getattr(parent.get_parameter_source(parameter.name), "name", "") == "COMMANDLINE"
    ]
    if not typed_options:
        return
    subcommand_names = {name for parameter in ctx.command.params for name in parameter.opts}
    accepted = [parameter for parameter in typed_options if parameter.opts[0] in subcommand_names]
    others = [
        parameter.opts[0]
        for parameter in typed_options
        if parameter.opts[0] not in subcommand_names
    ]
    message = (
        f"{_join([parameter.opts[0] for parameter in typed_options], 'and')} before the "
        f"subcommand {subcommand} would be ignored."
    )
    if accepted:
        example = " ".join(
            f"{parameter.opts[0]} {parameter.metavar or ''}".strip() for parameter in accepted
        )
        message += f" Put options after it: taskora deploy {subcommand} {example}."
    if others:
        message += f" The {subcommand} command does not take {_join(others, 'or')}."
    # --json typed before the subcommand still requests the error as JSON.
    with errors_as_json(bool(parent.params.get("json_output"))):
        raise DeployError(message, exit_code=ExitCode.USAGE)


def _join(words: list[str], conjunction: str) -> str:
    """Join ``["a", "b", "c"]`` as ``a, b and c`` (or ``a, b or c``)."""
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


@app.command("status")
@json_errors
def status(
    ctx: typer.Context,
    release: ReleaseOption = DEFAULT_RELEASE,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    kube_context: ContextOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the release's state and its recent revisions."""
    from taskora.deploy.release import ReleaseRef, release_status

    _reject_options_before(ctx)
    report = release_status(ReleaseRef(release, namespace, kube_context))
    _print_release(report, json_output)


@app.command("rollback")
@json_errors
def rollback(
    ctx: typer.Context,
    revision: Annotated[
        int | None,
        typer.Argument(
            help="Revision to return to, from `taskora deploy status`.",
            show_default="the previous revision",
        ),
    ] = None,
    release: ReleaseOption = DEFAULT_RELEASE,
    namespace: NamespaceOption = DEFAULT_NAMESPACE,
    kube_context: ContextOption = None,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    json_output: JsonOption = False,
) -> None:
    """Roll the release back to REVISION, or to the previous revision, and wait for the pods."""
    from taskora.deploy import release as release_module

    _reject_options_before(ctx)
    ref = release_module.ReleaseRef(release, namespace, kube_context)
    release_module.check_ref(ref, timeout)
    target = f"revision {revision}" if revision is not None else "the previous revision"
    with _progress(f"helm rollback to {target}: waiting up to {timeout} for the pods"):
        report = release_module.rollback(ref, revision, timeout=timeout)
    _print_release(report, json_output)


def _print_explanation(values: MergedValues, json_output: bool) -> None:
    rows = values.origins()
    if json_output:
        _write_json(
            [
                {"key": row.key, "value": row.value, "source": row.source, "masked": row.masked}
                for row in rows
            ]
        )
        return
    typer.echo("# Each value as JSON, then the layer that set it (later layers win)")
    for row in rows:
        typer.echo(f"{row.key}: {_explained_value(row)}  # {row.source}")


def _explained_value(row: ValueOrigin) -> str:
    """Write a value as JSON, so that a string "7200" and a number 7200 look different."""
    if row.masked:
        return str(row.value)
    return json.dumps(row.value, ensure_ascii=False, default=str)


def _print_dry_run(plan: DeployPlan, json_output: bool) -> None:
    # Render first, so that a schema error stops the run before anything is printed.
    result = render(plan, read_helm_version=True)
    placeholders = plan.values.placeholder_keys()
    if json_output:
        from taskora.deploy.preflight import image_reference

        _write_json(
            {
                "values": plan.values.values,
                # The image the pods would run, with the chart's appVersion for an empty tag.
                "image": image_reference(plan.values.values, chart_app_version()),
                "command": result.upgrade_command,
                "manifests": result.manifests,
                "placeholders": placeholders,
            }
        )
    else:
        typer.echo("# Merged values")
        if _runs_app_version(plan):
            typer.echo(
                f"# image.tag is empty, so the pods run the chart's appVersion, "
                f"{chart_app_version()}.\n# Pass --image-tag TAG to deploy another build."
            )
        typer.echo(plan.values.to_yaml(), nl=False)
        typer.echo()
        typer.echo("# Helm command")
        if plan.request.values_out is None:
            typer.echo(
                "# Its values file was temporary and is already removed. Pass --values-out FILE\n"
                "# to keep the merged values and get a command you can run."
            )
        typer.echo(
            "# taskora adds --output json to read the result. Leave it out to get helm's text."
        )
        if result.helm_major is None:
            typer.echo(
                "# helm's version could not be read, so this is Helm 3's form. With Helm 4, a "
                "deploy passes --rollback-on-failure in place of --atomic."
            )
        typer.echo(shlex.join(result.upgrade_command))
        typer.echo()
        typer.echo("# Manifests rendered by helm template")
        typer.echo(result.manifests, nl=False)

    if placeholders:
        _print_placeholder_warning(placeholders)


def _print_placeholder_warning(keys: list[str]) -> None:
    if len(keys) == 1:
        subject = "1 key still contains"
    else:
        subject = f"{len(keys)} keys still contain"
    message = (
        f"{subject} {PLACEHOLDER_DESCRIPTION}: {', '.join(keys)}. "
        "A deploy without --dry-run fails until each is set with -f FILE or --set KEY=VALUE."
    )
    # typer.style rather than Rich, whose import would slow every dry run down.
    typer.echo(f"{typer.style('Warning:', fg='yellow')} {message}", err=True)


def _print_diff(plan: DeployPlan, json_output: bool) -> None:
    from taskora.deploy.plan import diff

    result = diff(plan)
    if json_output:
        _write_json(
            {
                "method": result.method,
                "changes": [change.as_dict() for change in result.changes],
                "plugin_output": result.plugin_output,
            }
        )
        return
    if result.method == "helm-diff":
        typer.echo(result.plugin_output, nl=False)
        return
    if not result.changes:
        typer.echo(f"No changes: release {plan.request.release} matches the new render.")
        return
    for change in result.changes:
        typer.echo(f"# {change.resource}: {change.change.value}")
        typer.echo(change.diff, nl=False)
    counts = {
        kind: sum(1 for c in result.changes if c.change.value == kind)
        for kind in ("added", "changed", "removed")
    }
    typer.echo(
        f"# {counts['added']} added, {counts['changed']} changed, {counts['removed']} removed "
        f"(compared with helm get manifest of release {plan.request.release})"
    )


def _preflight(
    plan: DeployPlan, *, check_image: bool, json_output: bool, check_values: bool = False
) -> tuple[DeployPlan, PreflightReport]:
    from taskora.deploy.plan import run_preflight
    from taskora.deploy.preflight import PreflightError

    try:
        plan, report = run_preflight(plan, check_image=check_image, check_values=check_values)
    except PreflightError as error:
        _print_checks(error.report, json_output)
        raise
    _print_checks(report, json_output)
    return plan, report


def _print_checks(report: PreflightReport, json_output: bool) -> None:
    if json_output:
        _write_json(
            {"checks": [check.as_dict() for check in report.checks], "context": report.context}
        )
        return
    from rich.markup import escape

    from taskora.deploy.preflight import indent_continuation

    marks = {"passed": "[green]ok[/]", "failed": "[red]FAILED[/]", "skipped": "[yellow]skipped[/]"}
    console = _stderr()
    console.print("Preflight:")
    for check in report.checks:
        detail = indent_continuation(check.detail, "    ")
        console.print(f"  {marks[check.status.value]} {escape(check.name)}: {escape(detail)}")


def _deploy(plan: DeployPlan, *, check_image: bool, json_output: bool) -> None:
    request = plan.request
    check_no_placeholders(plan.values)
    from taskora.deploy.plan import apply
    from taskora.deploy.preflight import image_reference

    app_version = chart_app_version()
    # Before preflight, so that it also explains a failed image check.
    if _runs_app_version(plan):
        _stderr().print(
            f"[yellow]Warning:[/] no image tag is set, so this deploys the chart's appVersion, "
            f"{app_version}. A deploy does not keep the tag of the running release: "
            "pass --image-tag TAG to deploy another build.",
            highlight=False,
        )
    # The local render runs with the cluster's checks, so that values which fail the chart's
    # schema are reported together with an unreachable cluster, not one run after it.
    plan = _preflight(plan, check_image=check_image, json_output=False, check_values=True)[0]
    _stderr().print(
        f"Deploying release {request.release} to namespace {request.namespace} "
        f"(context {plan.request.kube_context}) with profile {request.cloud}, image "
        f"{image_reference(plan.values.values, app_version)}.",
        markup=False,
    )
    with _progress(
        f"helm upgrade --install {request.release}: waiting up to {request.timeout} for the pods"
    ):
        status = apply(plan)
    _print_summary(plan, status, json_output)


def _runs_app_version(plan: DeployPlan) -> bool:
    """Return whether the values set neither an image tag nor a digest, so appVersion is used."""
    image = plan.values.values.get("image") or {}
    return not image.get("tag") and not image.get("digest")


def _print_summary(plan: DeployPlan, status: ReleaseStatus, json_output: bool) -> None:
    from taskora.deploy.preflight import image_reference

    values = plan.values.values
    ingress = values.get("ingress") or {}
    summary: dict[str, Any] = {
        "release": status.name,
        "namespace": status.namespace,
        "context": plan.request.kube_context,
        "revision": status.revision,
        "status": status.status,
        "cloud": plan.request.cloud,
        "image": image_reference(values, chart_app_version()),
        "replicas": values.get("replicaCount"),
        "host": ingress.get("host") if ingress.get("enabled") else None,
        "notes": status.notes,
    }
    if json_output:
        _write_json(summary)
        return
    revision = status.revision if status.revision is not None else "unknown"
    typer.echo(
        f"Release {status.name} in namespace {status.namespace}: "
        f"revision {revision}, status {status.status or 'unknown'}."
    )
    for label in ("context", "cloud", "image", "replicas", "host"):
        if summary[label] not in (None, ""):
            typer.echo(f"  {label}: {summary[label]}")
    if status.notes:
        typer.echo()
        typer.echo(status.notes)


def _print_release(report: ReleaseReport, json_output: bool) -> None:
    details = report.details
    if json_output:
        _write_json(
            {
                "release": details.name,
                "namespace": details.namespace,
                "revision": details.revision,
                "status": details.status,
                "chart": details.chart,
                "app_version": details.app_version,
                "image": details.image or None,
                "last_deployed": details.last_deployed,
                "description": details.description,
                "history": [vars(entry) for entry in report.history],
            }
        )
        return
    typer.echo(
        f"Release {details.name} in namespace {details.namespace}: revision {details.revision}, "
        f"status {details.status}, chart {details.chart}, app version {details.app_version}."
    )
    if details.image:
        typer.echo(f"Image: {details.image}")
    if details.last_deployed:
        typer.echo(f"Last deployed {details.last_deployed}: {details.description}")
    if report.history:
        _print_history(report)


HISTORY_HEADERS = ("revision", "updated", "status", "chart", "app version", "description")


def _print_history(report: ReleaseReport, console: Console | None = None) -> None:
    """Print the revisions as a table on a terminal, else as aligned plain lines.

    Neither form cuts a value: the table wraps long cells within their column, and plain
    lines, for a pipe or a file, are as wide as their longest value.
    """
    from rich.console import Console

    console = console or Console(highlight=False, soft_wrap=True)
    rows = [
        (
            str(entry.revision),
            entry.updated,
            entry.status,
            entry.chart,
            entry.app_version,
            entry.description,
        )
        for entry in report.history
    ]
    if not console.is_terminal:
        for line in aligned_lines(HISTORY_HEADERS, rows):
            console.out(line, highlight=False)
        return

    from rich.table import Table

    # Lines between the rows keep apart the wrapped cells of neighbouring revisions.
    table = Table(show_lines=True)
    for header in HISTORY_HEADERS:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def aligned_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Format rows as columns separated by two spaces, each as wide as its longest cell."""
    widths = [
        max([len(header), *(len(row[index]) for row in rows)])
        for index, header in enumerate(headers)
    ]
    lines = []
    for row in [tuple(headers), *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _progress(description: str) -> Any:
    """Show a spinner and the elapsed time on stderr while helm waits; gone when it ends.

    Off a terminal it shows nothing, because Rich would still end with an empty line.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = _stderr()
    if not console.is_terminal:
        return nullcontext()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    progress.add_task(description, total=None)
    return progress


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _write_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()

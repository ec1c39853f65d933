"""Fixtures of the deploy tests: a real helm binary and a runner of the ``taskora`` CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from chart_tools import ToolInstallError, ensure_checkov, ensure_helm4
from deploy_helpers import CliResult, HelmInstallError, ensure_helm
from fake_cluster import FakeCluster

from taskora.cli.app import main


@pytest.fixture(scope="session")
def helm_path() -> Path:
    """A real helm binary: ``$TASKORA_HELM``, or Helm 3.19 downloaded into ``.cache/tools``.

    A failed installation fails the tests that need helm instead of skipping them.
    """
    failure: HelmInstallError | None = None
    try:
        return ensure_helm()
    except HelmInstallError as error:
        failure = error
    # Failing outside the except block keeps the report to this one message.
    pytest.fail(f"cannot provide helm for the deploy tests: {failure}", pytrace=False)


@pytest.fixture
def real_helm(helm_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``TASKORA_HELM`` at the real helm for one test."""
    monkeypatch.setenv("TASKORA_HELM", str(helm_path))
    return helm_path


@pytest.fixture
def run_taskora(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[Sequence[str]], CliResult]:
    """Run ``taskora ARGS`` through ``main()``, the CLI's real entry point, and capture it."""
    # Rich wraps stderr at the terminal width; a wide one keeps each error on one line.
    monkeypatch.setenv("COLUMNS", "1000")

    def run(args: Sequence[str]) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["taskora", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        code = exit_info.value.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            code = 1
        return CliResult(exit_code=code, stdout=captured.out, stderr=captured.err)

    return run


@pytest.fixture
def fake_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helm_path: Path) -> FakeCluster:
    """Fake helm, kubectl and docker first on ``PATH``, with no scripted replies yet.

    No cluster, registry or Docker engine runs on the test machine: see ``fake_cluster.py``.
    ``helm template`` needs no cluster, so it runs the real helm unless a test scripts it.
    ``TASKORA_HELM`` and ``TASKORA_KUBECTL`` are removed so that ``PATH`` decides.
    """
    fake = FakeCluster.create(tmp_path / "cluster")
    fake.passthrough("helm", "template", executable=helm_path)
    monkeypatch.setenv("PATH", f"{fake.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("TASKORA_HELM", raising=False)
    monkeypatch.delenv("TASKORA_KUBECTL", raising=False)
    monkeypatch.setenv("COLUMNS", "1000")
    return fake


@pytest.fixture(scope="session")
def helm4_path() -> Path:
    """A real Helm 4 binary: ``$TASKORA_HELM4``, or Helm 4.2 downloaded into ``.cache/tools``.

    A failed installation fails the tests that need it instead of skipping them.
    """
    failure: ToolInstallError | None = None
    try:
        return ensure_helm4()
    except ToolInstallError as error:
        failure = error
    pytest.fail(f"cannot provide Helm 4 for the chart tests: {failure}", pytrace=False)


@pytest.fixture(scope="session")
def checkov_path() -> Path:
    """checkov in its own virtual environment under ``.cache``, installed from PyPI if missing.

    A failed installation fails the tests that need it instead of skipping them.
    """
    failure: ToolInstallError | None = None
    try:
        return ensure_checkov()
    except ToolInstallError as error:
        failure = error
    pytest.fail(f"cannot provide checkov for the chart tests: {failure}", pytrace=False)

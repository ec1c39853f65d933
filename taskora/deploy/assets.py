"""Locate the Helm chart and the cloud profiles that ship inside the package."""

from __future__ import annotations

from pathlib import Path

from taskora.deploy.errors import DeployError
from taskora.errors import ExitCode

# Helm reads the chart from a directory, so the package must be installed as files on disk
# (the normal case for pip and setuptools), not imported from a zip archive.
PACKAGE_DIR = Path(__file__).resolve().parent
CHART_DIR = PACKAGE_DIR / "chart"
PROFILES_DIR = PACKAGE_DIR / "profiles"


def known_clouds() -> list[str]:
    """Return the names of the shipped cloud profiles, sorted (``aks``, ``doks``, ``gke``)."""
    return sorted(path.stem for path in PROFILES_DIR.glob("*.yaml"))


def profile_path(cloud: str) -> Path:
    """Return the profile file of ``cloud`` in any case (``GKE`` is ``gke``).

    Raises :class:`DeployError` for an unknown cloud. The file's stem is the canonical name.
    """
    clouds = known_clouds()
    name = cloud.lower()
    if name not in clouds:
        raise DeployError(
            f"unknown cloud {cloud!r}: use one of {', '.join(clouds)}",
            exit_code=ExitCode.USAGE,
        )
    return PROFILES_DIR / f"{name}.yaml"


def chart_values_path() -> Path:
    """Return the chart's ``values.yaml``, the first and lowest layer of values."""
    return CHART_DIR / "values.yaml"

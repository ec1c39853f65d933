"""Benchmark of ``taskora deploy --cloud doks --dry-run`` against ``helm template`` alone.

Both render the same chart with the same values. taskora layers the chart's values.yaml
and the DOKS profile itself and then runs ``helm template`` with the merged file. The
baseline passes the profile to ``helm template`` with ``-f`` and lets helm do the layering. Each repetition runs both as new processes, one after the other, in an order
that alternates, so that load from other processes hits both alike. The script compares
the medians. Target: taskora takes at most 1.2 times as long as helm template.

It also times a bare Python start (``python -c pass``), helm's own start (``helm
version``), and a Python process that does nothing but run the same ``helm template``:
the floor of any command written in Python that renders with helm.

Run from the repository root:

    python bench/deploy.py [--repetitions 40] [--output docs/benchmarks.md]

helm comes from TASKORA_HELM, else .cache/tools/helm (the test suite installs it there),
else PATH. The taskora side runs ``python -m taskora`` with this checkout first on
PYTHONPATH, so it measures the working tree.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

# bench/ is the script's directory, so it is first on sys.path and api.py imports as ``api``.
from api import write_section

logger = logging.getLogger("bench.deploy")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHART_DIR = REPO_ROOT / "taskora" / "deploy" / "chart"
PROFILE = REPO_ROOT / "taskora" / "deploy" / "profiles" / "doks.yaml"
SECTION_START = "<!-- deploy:start -->"
SECTION_END = "<!-- deploy:end -->"
TARGET_RATIO = 1.2
FLOOR_LABEL = "python running helm template"
# The floor: an interpreter that starts, runs the command in its arguments and exits.
RUN_ARGUMENTS = "import subprocess, sys; subprocess.run(sys.argv[1:], check=True)"
WARMUP_RUNS = 3


@dataclass(frozen=True)
class Timings:
    """Wall-clock seconds of every measured run of one command."""

    label: str
    command: list[str]
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        """Median run time in milliseconds."""
        return statistics.median(self.seconds) * 1000

    def percentile_ms(self, share: float) -> float:
        """Run time in milliseconds below which ``share`` of the runs fall (nearest rank)."""
        ordered = sorted(self.seconds)
        index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
        return ordered[index] * 1000


def find_helm() -> Path:
    """Return helm: TASKORA_HELM, else the test suite's download, else PATH."""
    configured = os.environ.get("TASKORA_HELM")
    if configured:
        return Path(configured)
    cached = REPO_ROOT / ".cache" / "tools" / "helm"
    if cached.is_file():
        return cached
    found = shutil.which("helm")
    if found is None:
        sys.exit("helm not found: set TASKORA_HELM, or run the deploy tests once to download it")
    return Path(found)


def run_once(command: list[str], env: dict[str, str]) -> float:
    """Run ``command`` to completion and return its wall-clock time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with exit code {completed.returncode}: "
            f"{completed.stderr.decode(errors='replace')[-2000:]}"
        )
    return elapsed


def check_same_manifests(taskora: list[str], helm: list[str], env: dict[str, str]) -> int:
    """Fail unless both commands render the same manifests; return how many there are."""
    taskora_output = subprocess.run(taskora, env=env, capture_output=True, text=True, check=True)
    helm_output = subprocess.run(helm, env=env, capture_output=True, text=True, check=True)
    _, _, taskora_manifests = taskora_output.stdout.partition(
        "# Manifests rendered by helm template\n"
    )
    taskora_documents = [doc for doc in yaml.safe_load_all(taskora_manifests) if doc]
    helm_documents = [doc for doc in yaml.safe_load_all(helm_output.stdout) if doc]
    if taskora_documents != helm_documents:
        raise RuntimeError(
            "taskora deploy --dry-run and helm template rendered different manifests"
        )
    return len(helm_documents)


def measure(
    commands: list[tuple[str, list[str]]], repetitions: int, env: dict[str, str]
) -> list[Timings]:
    """Run every command ``repetitions`` times, interleaved, in an order that rotates."""
    for _ in range(WARMUP_RUNS):
        for _, command in commands:
            run_once(command, env)

    seconds: dict[str, list[float]] = {label: [] for label, _ in commands}
    for repetition in range(repetitions):
        shift = repetition % len(commands)
        for label, command in commands[shift:] + commands[:shift]:
            seconds[label].append(run_once(command, env))
    return [Timings(label, command, seconds[label]) for label, command in commands]


def machine_description() -> str:
    """Describe the CPU, cores, kernel, Python and measured code in one line."""
    # The same checkout that the measured processes import.
    sys.path.insert(0, str(REPO_ROOT))
    import taskora

    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return (
        f"{cpu_model}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
        f"{platform.python_version()}. Measured code: taskora {taskora.__version__} imported "
        f"from `{Path(taskora.__file__).parent}`"
    )


def render(
    results: list[Timings], helm_version: str, documents: int, repetitions: int, command: str
) -> str:
    by_label = {result.label: result for result in results}
    taskora = by_label["taskora deploy --cloud doks --dry-run"]
    helm = by_label["helm template"]
    ratio = taskora.median_ms / helm.median_ms
    if ratio <= TARGET_RATIO:
        verdict = f"met: {ratio:.2f} times helm template (at most {TARGET_RATIO})."
    else:
        verdict = f"missed: {ratio:.2f} times helm template (at most {TARGET_RATIO})."
    python_start = by_label["python -c pass"].median_ms
    floor_ratio = by_label[FLOOR_LABEL].median_ms / helm.median_ms
    if floor_ratio >= TARGET_RATIO:
        floor_verdict = (
            f"already above the target of {TARGET_RATIO}, so no command that starts this "
            "Python and then helm can meet it"
        )
    else:
        floor_verdict = (
            f"which leaves {TARGET_RATIO - floor_ratio:.2f} times helm template for "
            "everything else the dry run does"
        )
    lines = [
        SECTION_START,
        "## Deploy dry run",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        f"Machine: {machine_description()}. Helm {helm_version}.",
        "",
        "Method. `bench/deploy.py` times, as new processes, `python -m taskora deploy "
        "--cloud doks --dry-run` and `helm template taskora CHART --namespace taskora -f "
        "profiles/doks.yaml`, which render the same "
        f"{documents} manifests (the script checks that they are equal). It runs "
        f"{WARMUP_RUNS} warm-up rounds, then {repetitions} rounds in which every command "
        "runs once, in an order that rotates each round, and compares medians. It also "
        "times `python -c pass` and `helm version`, the start-up floors of each side, and "
        f"`{FLOOR_LABEL}`: a Python process that only runs the same helm template, the floor "
        "of any Python command that renders with helm.",
        "",
        "| command | median | p90 | min |",
        "| --- | ---: | ---: | ---: |",
    ]
    for result in results:
        lines.append(
            f"| `{result.label}` | {result.median_ms:.1f} ms | {result.percentile_ms(0.9):.1f} ms "
            f"| {min(result.seconds) * 1000:.1f} ms |"
        )
    lines += [
        "",
        f"Target (dry run at most {TARGET_RATIO} times helm template): {verdict}",
        "",
        f"The dry run is one helm template plus a Python process. Starting the interpreter "
        f"alone takes {python_start:.1f} ms, {python_start / helm.median_ms:.2f} times helm "
        "template, including the `.pth` start-up hooks of its environment (an editable "
        "install of taskora adds one). A Python process that does nothing but run helm "
        f"template takes {floor_ratio:.2f} times helm template, {floor_verdict}. "
        "Of the dry run's time above that floor, most is imports: typer, which loads "
        "pydantic to convert options, and PyYAML. `taskora` imports only the module of the "
        "command it runs, and the dry run reads and writes YAML with libyaml and prints "
        "without Rich.",
        "",
        SECTION_END,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=40, help="Measured rounds (default 40).")
    parser.add_argument("--output", type=Path, help="Write the section into this Markdown file.")
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )

    helm = find_helm()
    env = dict(os.environ)
    env["TASKORA_HELM"] = str(helm)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    helm_version = subprocess.run(
        [str(helm), "version", "--short"], capture_output=True, text=True, check=True
    ).stdout.strip()

    taskora_command = [sys.executable, "-m", "taskora", "deploy", "--cloud", "doks", "--dry-run"]
    helm_command = [
        str(helm),
        "template",
        "taskora",
        str(CHART_DIR),
        "--namespace",
        "taskora",
        "-f",
        str(PROFILE),
    ]
    documents = check_same_manifests(taskora_command, helm_command, env)
    commands = [
        ("taskora deploy --cloud doks --dry-run", taskora_command),
        ("helm template", helm_command),
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("helm version", [str(helm), "version", "--short"]),
        (FLOOR_LABEL, [sys.executable, "-c", RUN_ARGUMENTS, *helm_command]),
    ]
    logger.info("Timing %d rounds of %d commands", arguments.repetitions, len(commands))
    results = measure(commands, arguments.repetitions, env)

    section = render(
        results,
        helm_version,
        documents,
        arguments.repetitions,
        "python bench/deploy.py " + " ".join(argv),
    )
    print(section)
    if arguments.output:
        write_section(arguments.output, section, SECTION_START, SECTION_END)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

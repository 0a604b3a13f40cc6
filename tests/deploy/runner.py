"""Run ansible-playbook with the JSON callback and read the per-host results; build wheelhouses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.targets import ANSIBLE_DIR, ROOT, VENV_BIN

DEMO_VAULT_PASSWORD_FILE = ANSIBLE_DIR / "demo-vault-password.txt"
EXAMPLE_INVENTORY = ANSIBLE_DIR / "inventory" / "kota-metro"


@dataclass
class PlayResult:
    """Outcome of one ansible-playbook run, read from the JSON callback's output."""

    returncode: int
    stats: dict[str, dict[str, int]]
    changed_tasks: list[str]
    failed_tasks: list[str]
    stderr: str

    def describe(self) -> str:
        return (
            f"exit code {self.returncode}; stats {self.stats}; changed {self.changed_tasks}; "
            f"failed {self.failed_tasks}; stderr tail: {self.stderr[-2000:]}"
        )


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env["ANSIBLE_CONFIG"] = str(ANSIBLE_DIR / "ansible.cfg")
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run_playbook(
    playbook: str,
    test_inventory: dict[str, Any],
    extra_vars: dict[str, Any],
    workdir: Path,
    limit: str | None = None,
    timeout: float = 600,
) -> PlayResult:
    """Apply ``playbook`` with the example inventory plus ``test_inventory`` (connection details)."""
    inventory_file = workdir / "test-inventory.yml"
    inventory_file.write_text(yaml.safe_dump(test_inventory))
    vars_file = workdir / "test-vars.yml"
    vars_file.write_text(yaml.safe_dump(extra_vars))

    command = [
        str(VENV_BIN / "ansible-playbook"), playbook,
        "-i", str(EXAMPLE_INVENTORY), "-i", str(inventory_file),
        "--vault-password-file", str(DEMO_VAULT_PASSWORD_FILE),
        "-e", f"@{vars_file}",
    ]
    if limit:
        command += ["--limit", limit]
    env = ansible_env()
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    result = subprocess.run(command, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return PlayResult(result.returncode, {}, [], [f"no JSON output: {result.stdout[-2000:]}"], result.stderr)
    changed, failed = [], []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, outcome in task.get("hosts", {}).items():
                label = f"{host}: {task['task']['name']}"
                if outcome.get("changed"):
                    changed.append(label)
                if outcome.get("failed") or outcome.get("unreachable"):
                    detail = " ".join(
                        str(outcome.get(key, ""))[-1500:] for key in ("msg", "stdout", "stderr")
                    )
                    failed.append(f"{label}: {detail}")
    return PlayResult(result.returncode, report.get("stats", {}), changed, failed, result.stderr)


def build_wheelhouse(dest: Path, extras: str = "", requirements: tuple[str, ...] = ()) -> Path:
    """Build the project wheel and every dependency wheel into ``dest``, as a technician would.

    The project is copied without .venv and caches, so the build does not touch the
    shared working tree.
    """
    source = dest.parent / f"{dest.name}-src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("metro_common", "edge_agent", "hub"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    target = f"{source}[{extras}]" if extras else str(source)
    command = [str(VENV_BIN / "pip"), "wheel", "--quiet", "--wheel-dir", str(dest), target, *requirements]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip wheel failed with exit code {result.returncode}: {result.stderr[-3000:]}")
    shutil.rmtree(source)
    return dest

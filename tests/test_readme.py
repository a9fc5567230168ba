"""The README's two opening commands are the ones CI runs and the ones that exist."""

from __future__ import annotations

import re

from conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_build_and_test_commands() -> None:
    build, test = _readme_commands()
    assert build.endswith("python -m ranker.build")
    assert test == "bash scripts/test.sh"
    script = (REPO / "scripts" / "test.sh").read_text()
    assert "TORCH=2.13.0" in script and '"torch==$TORCH"' in script
    assert "python -m pytest -ra" in script  # the skip summary, printed


def test_one_torch_version_everywhere() -> None:
    """scripts/test.sh, the lock's pin and the locked CPU build name the same torch."""
    assert "torch==2.13.0\n" in (REPO / "requirements" / "torch.txt").read_text()
    for lock in ("eval.txt", "test.txt"):
        assert "\ntorch==2.13.0+cpu \\\n" in (REPO / "requirements" / lock).read_text()


def test_ci_runs_the_readme_test_command() -> None:
    _, test = _readme_commands()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert test in ci

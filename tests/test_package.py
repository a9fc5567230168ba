"""What a fresh machine gets: the wheel (templates and assets as package data, the site built
from an installed package outside the checkout), and a test run that refuses to pass with tests
quietly skipped (RANKER_REQUIRE_ALL=1, tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from conftest import REPO

SOURCE = ("pyproject.toml", "README.md", "ranker")  # what the build reads


def _run(*args: str | Path, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)


def _wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the source (the build writes build/ and egg-info beside it)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCE:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy(REPO / name, src / name)
    out = tmp_path / "wheels"
    proc = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                "--no-index", "-w", out, src)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("ranker-*.whl")
    return wheel


def _venv_with_dev_libraries(path: Path) -> Path:
    """A clean venv that sees this venv's libraries (jinja2, pandas...: no download) but not
    its editable ranker: a plain path in a .pth file runs none of that folder's .pth hooks."""
    proc = _run(sys.executable, "-m", "venv", "--without-pip", path)
    assert proc.returncode == 0, proc.stderr
    python = path / "bin" / "python"
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    Path(site.stdout.strip(), "dev-libraries.pth").write_text(sysconfig.get_paths()["purelib"])
    return python


def test_the_wheel_installs_and_builds_the_site_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    python = _venv_with_dev_libraries(tmp_path / "venv")
    proc = _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
                "--no-index", wheel)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    elsewhere = tmp_path / "elsewhere"  # no checkout here: nothing to find by a relative path
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    where = _run(python, "-c", "import ranker; print(ranker.__file__)", cwd=elsewhere, env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv"), where.stdout

    # one version, written once (ranker.__version__; pyproject reads it): the wheel's is it
    version = _run(python, "-c", "import ranker; print(ranker.__version__)", cwd=elsewhere, env=env)
    assert wheel.name.startswith(f"ranker-{version.stdout.strip()}-"), (wheel.name, version)

    ranker = tmp_path / "venv" / "bin" / "ranker"
    site = elsewhere / "site"
    proc = _run(ranker, "build", "--data", REPO / "data", "--out", site, cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built " in proc.stdout
    page = (site / "arch" / "roberta-base.html").read_text()
    assert "static/vendor/datatables/dataTables.min.js" in page
    shipped = REPO / "ranker" / "templates" / "static"
    for asset in (p for p in shipped.rglob("*") if p.is_file()):  # every asset, byte for byte
        assert (site / "static" / asset.relative_to(shipped)).read_bytes() == asset.read_bytes()


def test_the_version_is_written_once() -> None:
    """pyproject.toml reads `ranker.__version__` (setuptools' `attr`) and writes none itself."""
    import tomllib

    import ranker

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ranker.__version__"}
    assert ranker.__version__.count(".") == 2


def test_no_template_is_left_outside_the_package() -> None:
    """Templates live in ranker/templates/ only: a second copy at the root would drift."""
    assert not (REPO / "templates").exists()
    assert (REPO / "ranker" / "templates" / "base.html").is_file()


# -- RANKER_REQUIRE_ALL: a skip is a failure, but for a `gpu` test without CUDA ---------------

PROBE = textwrap.dedent(
    """
    import pytest


    def test_runs():
        pass


    def test_needs_something_missing():
        pytest.skip("the something is not here")


    @pytest.mark.gpu
    @pytest.mark.skipif(True, reason="no CUDA device here")
    def test_on_gpu():
        pass


    @pytest.mark.xfail(reason="known")
    def test_known_failure():
        assert False
    """
)


def _pytest_with_our_conftest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    (tests / "test_probe_skips.py").write_text(PROBE)
    full = {**os.environ, "PYTHONPATH": str(REPO), **env}
    full.pop("PYTEST_ADDOPTS", None)
    return _run(sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
                "--rootdir", tmp_path, tests, cwd=tmp_path, env=full)  # fmt: skip


def test_a_skip_fails_the_run_when_every_test_is_required(tmp_path: Path) -> None:
    proc = _pytest_with_our_conftest(tmp_path, RANKER_REQUIRE_ALL="1")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAILED tests/test_probe_skips.py::test_needs_something_missing" in out
    assert "the something is not here" in out and "RANKER_REQUIRE_ALL=1" in out
    has_cuda = _run(sys.executable, "-c", "import torch; print(torch.cuda.is_available())")
    if has_cuda.stdout.strip() == "True":  # a gpu test must run where there is a GPU
        assert "FAILED tests/test_probe_skips.py::test_on_gpu" in out
        assert "1 xfailed" in out and "2 failed" in out
    else:
        assert "SKIPPED [1] tests/test_probe_skips.py" in out and "no CUDA device here" in out
        assert "1 failed, 1 passed, 1 skipped, 1 xfailed" in out


def test_without_the_requirement_a_skip_stays_a_skip(tmp_path: Path) -> None:
    proc = _pytest_with_our_conftest(tmp_path, RANKER_REQUIRE_ALL="")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 passed, 2 skipped, 1 xfailed" in out


@pytest.mark.parametrize("script", ["scripts/test.sh", ".github/workflows/ci.yml"])
def test_the_test_command_requires_every_test(script: str) -> None:
    assert "RANKER_REQUIRE_ALL" in (REPO / script).read_text()

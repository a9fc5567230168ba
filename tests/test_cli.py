"""The CLI: one-line errors with non-zero exits, nothing in data/ modified."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from ranker.cli import main


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_m_ranker_build_writes_site(imported_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run("-m", "ranker.build", "--data", str(imported_store), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "built 2702 pages for 2691 models" in proc.stdout
    assert (out / "arch" / "roberta-base.html").exists()


def test_build_does_not_import_torch(imported_store: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from ranker.cli import main; "
        f"main(['build', '--data', {str(imported_store)!r}, '--out', {str(tmp_path / 's')!r}]); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    proc = _run("-c", code)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: shutil.rmtree(d), "data directory not found"),
        (lambda d: (d / "architectures.toml").write_text("[[architecture"), "architectures.toml: malformed TOML"),
        (lambda d: (d / "legacy/models.csv").write_text("model_id\nx\n"), "models.csv:1: missing columns: architecture"),
        (lambda d: (d / "results.jsonl").write_text("{]\n"), "results.jsonl:1: not valid JSON"),
    ],
)  # fmt: skip
def test_bad_input_gives_one_line_error(
    imported_store: Path, tmp_path: Path, capsys, setup, message
) -> None:
    data = tmp_path / "data"
    shutil.copytree(imported_store, data)
    setup(data)
    snapshot = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} if data.exists() else {}
    code = main(["build", "--data", str(data), "--out", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1 and err.startswith("ranker build: error:")
    assert {p: p.read_bytes() for p in snapshot} == snapshot
    assert not (tmp_path / "site").exists()


def test_import_legacy_unknown_architecture(legacy_source: Path, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "architectures.toml").write_text(
        (REPO / "data/architectures.toml").read_text().split('[[architecture]]\nid = "t5-base"')[0]
    )
    code = main(["import-legacy", str(legacy_source), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 1 and "unknown architecture 't5-base'" in err and "models_tested.csv:" in err
    assert sorted(p.name for p in data.iterdir()) == ["architectures.toml"]

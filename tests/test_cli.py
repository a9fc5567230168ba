"""The CLI: one-line errors with non-zero exits, nothing in data/ modified."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from ranker.cli import build_parser, main


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_m_ranker_build_writes_site(imported_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run("-m", "ranker.build", "--data", str(imported_store), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "built 2710 pages for 2691 models" in proc.stdout
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
        (lambda d: ((d / "results").mkdir(), (d / "results/00.jsonl").write_text("{]\n")), "00.jsonl:1: not valid JSON"),
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


# -- help: every option explained, with its default ------------------------------------------


def _subparsers(parser: argparse.ArgumentParser, prefix: str = "ranker"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, f"{prefix} {name}")


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    commands = dict(_subparsers(build_parser()))
    assert {"ranker evaluate", "ranker update", "ranker request check"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help"
            shown = not any(action.default is v for v in (None, False, argparse.SUPPRESS))
            if action.option_strings and shown:
                rendered = parser._get_formatter()._expand_help(action)
                assert "default" in rendered, f"{name} {action.option_strings}: {rendered!r}"
        assert "(default: None)" not in text and "(default: False)" not in text, name


@pytest.mark.parametrize(
    ("option", "default"),
    [("--train-size N", "(default: 5000)"), ("--eval-size M", "(default: 5000)"),
     ("--seed SEED", "(default: 0)"), ("--max-params MAX_PARAMS", "(default: 1000000000)")],
)  # fmt: skip
def test_evaluate_help_explains_the_probe_sizes(capsys, option: str, default: str) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if f"{line} ".startswith(f"  {option} "))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("  -"))
    entry = " ".join(" ".join(lines[start:end]).split())
    assert default in entry and len(entry) > len(option) + len(default) + 10, entry


# -- evaluate: local folders -------------------------------------------------------------------


@pytest.fixture
def no_probe_data(monkeypatch):
    """Fail the test if the MNLI probe data is loaded (the check must come first)."""

    def refuse(*args, **kwargs):
        raise AssertionError("the probe data was loaded before the model was checked")

    monkeypatch.setattr("ranker.evaluate.data.load_probe_data", refuse)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("./nosuch-folder", "no such folder: ./nosuch-folder"),
        ("../nosuch-folder", "no such folder: ../nosuch-folder"),
        ("~/nosuch-ranker-folder", "no such folder: ~/nosuch-ranker-folder"),
        ("/nosuch/folder", "no such folder: /nosuch/folder"),
        ("org/model; rm -rf", "invalid hub repo id 'org/model; rm -rf'"),
    ],
)
def test_evaluate_says_no_such_folder_for_a_missing_local_path(
    store_dir: Path, tmp_path: Path, monkeypatch, capsys, no_probe_data, model: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", model, "--data", str(store_dir)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"ranker evaluate: error: {message}\n"
    assert "invalid hub repo id" not in err or model.startswith("org/")
    assert sorted(p.name for p in store_dir.iterdir()) == ["architectures.toml"]


def test_evaluate_refuses_a_folder_that_is_not_a_model_before_loading_data(
    store_dir: Path, tmp_path: Path, monkeypatch, capsys, no_probe_data
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "README.md").write_text("hi")
    (tmp_path / "weights.bin").write_bytes(b"x")
    for model, message in [
        ("./not-a-model", "./not-a-model: not a model folder: it has no config.json"),
        ("./weights.bin", "./weights.bin: not a folder"),
        ("--path=not-a-model", "./not-a-model: not a model folder: it has no config.json"),
    ]:
        code = main(["evaluate", model, "--data", str(store_dir)])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith(f"ranker evaluate: error: {message}"), err
        assert err.count("\n") == 1


def test_a_bare_name_is_a_hub_id_even_when_a_folder_has_that_name(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    """Only the form decides (`./x` or --path: a folder), never what the disk holds: the same
    command means the same model on every machine. The folder's owner is told how to name it."""
    from ranker.cli.evaluate import check_local

    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-model").mkdir()
    assert check_local("not-a-model") is None
    assert "not-a-model is read as a hub id" in capsys.readouterr().err
    assert check_local("org/model") is None and capsys.readouterr().err == ""


# -- handoff: the nightly's crawl files, handed from stage to stage (scripts/nightly.sh) ---------


def _catalog_entry(model: str, last_seen: str):
    import hashlib

    from ranker.records import CatalogEntry

    sha = hashlib.sha1((model + last_seen).encode()).hexdigest()
    return CatalogEntry(schema_version=1, model_id=model, architecture="roberta-base", sha=sha,
                        status="ok", first_seen=last_seen, last_seen=last_seen)  # fmt: skip


def test_handoff_save_then_take_carries_the_crawl_files_byte_for_byte(
    store_dir: Path, tmp_path: Path
) -> None:
    from ranker.store import Store

    store = Store(store_dir)
    store.write_catalog([_catalog_entry("org/a", "2026-11-01T00:00:00Z")])
    store.write_mnli_revision("a" * 40)
    hand = tmp_path / "work" / "crawl" / "data"
    assert main(["handoff", "save", str(hand), "--data", str(store_dir)]) == 0
    assert "architectures.toml" not in {p.name for p in hand.iterdir()}  # git's, not handed on
    shard = tmp_path / "shard"
    shard.mkdir()
    shutil.copyfile(store_dir / "architectures.toml", shard / "architectures.toml")
    assert main(["handoff", "take", str(hand), "--data", str(shard)]) == 0
    for path in hand.rglob("*"):
        if path.is_file():
            assert (shard / path.relative_to(hand)).read_bytes() == path.read_bytes()
    assert Store(shard).catalog() == store.catalog() and Store(shard).mnli_revision() == "a" * 40


def test_handoff_take_refuses_links(store_dir: Path, tmp_path: Path, capsys) -> None:
    from ranker.store import CATALOG

    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / CATALOG).symlink_to(store_dir / "architectures.toml")
    assert main(["handoff", "take", str(hand), "--data", str(store_dir)]) == 2
    assert "is a link" in capsys.readouterr().err
    assert sorted(p.name for p in store_dir.iterdir()) == ["architectures.toml"]


def test_handoff_merge_merges_by_key_and_keeps_the_newer_main(
    store_dir: Path, tmp_path: Path, capsys
) -> None:
    from ranker.store import Store

    main_store, crawl = Store(store_dir), Store(tmp_path / "crawl")
    crawl.root.mkdir()
    main_store.write_catalog([_catalog_entry("org/pushed", "2026-11-02T00:00:00Z")])
    main_store.write_mnli_revision("b" * 40)
    crawl.write_catalog([_catalog_entry("org/crawled", "2026-11-03T00:00:00Z")])
    crawl.write_mnli_revision("c" * 40)
    assert main(["handoff", "merge", str(crawl.root), "--data", str(store_dir)]) == 0
    assert "(catalog): 1 new" in capsys.readouterr().out
    assert {e.model_id for e in main_store.catalog()} == {"org/pushed", "org/crawled"}
    assert main_store.mnli_revision() == "b" * 40  # main's pin is kept


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--repo-url", "javascript:alert(1)"), ("--repo-url", "http://github.com/o/r"),
     ("--site-url", "https://o.github.io/r/}")],
)  # fmt: skip
def test_build_refuses_a_bad_repository_or_site_url(
    store_dir: Path, tmp_path: Path, capsys, flag: str, value: str
) -> None:
    code = main(["build", "--data", str(store_dir), "--out", str(tmp_path / "site"), flag, value])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("ranker build: error:") and flag in err
    assert not (tmp_path / "site").exists()


def test_build_links_the_repository_actions_names_and_only_then(
    store_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    for name in ("RANKER_REPO_URL", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "RANKER_SITE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["build", "--data", str(store_dir), "--out", str(tmp_path / "local")]) == 0
    local = (tmp_path / "local" / "index.html").read_text()
    assert "issues/new" not in local and "ask for an evaluation</a>" not in local
    missing = (tmp_path / "local" / "missing.html").read_text()  # says in words where to ask
    assert "issues/new" not in missing and "“Ask for an evaluation” form in" in missing
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/ranker")
    assert main(["build", "--data", str(store_dir), "--out", str(tmp_path / "actions")]) == 0
    page = (tmp_path / "actions" / "missing.html").read_text()
    assert 'href="https://github.com/someone/ranker"' in page
    assert "https://github.com/someone/ranker/issues/new?template=request-evaluation.yml" in page

"""Shared fixtures: repo paths, temp stores, the real legacy data imported once, and one
loopback hub server and the tiny models, built once per session.

Everything a test reads is in the repository (the 2023 source files are committed under
`data/legacy/source/`), so a fresh clone runs the whole suite. With RANKER_REQUIRE_ALL=1
(scripts/test.sh and CI set it) a skipped test is turned into a failure, unless it is marked
`gpu` and this machine has no CUDA device: a missing part of the set-up must not pass as a
green run with tests quietly left out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ranker.records import LEGACY_TASKS, LegacyBaseline, LegacyModel
from ranker.testing.hub import FakeHub

REPO = Path(__file__).resolve().parents[1]
# IBM's published 2023 files (Apache-2.0, with their NOTICE), committed with the store
LEGACY_SOURCE = REPO / "data" / "legacy" / "source"
REQUIRE_ALL = "RANKER_REQUIRE_ALL"
GPU_MARK = "gpu"  # the one kind of test that may skip under REQUIRE_ALL, and only without CUDA


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{GPU_MARK}: needs a CUDA device; the only skip RANKER_REQUIRE_ALL=1 allows"
    )


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def skip_allowed(item: pytest.Item, require_all: bool, has_cuda: bool) -> bool:
    """Whether a skip of `item` may stand: always, unless every test is required; then only a
    `gpu` test on a machine without CUDA."""
    if not require_all:
        return True
    return item.get_closest_marker(GPU_MARK) is not None and not has_cuda


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item):
    """Under RANKER_REQUIRE_ALL=1, a skip that is not allowed becomes a failure naming why."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    require_all = os.environ.get(REQUIRE_ALL) == "1"
    if skip_allowed(item, require_all, _has_cuda() if require_all else False):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"{item.nodeid} skipped ({reason}), and {REQUIRE_ALL}=1 allows no skip but a `{GPU_MARK}`"
        " test on a machine without CUDA: install what it needs (scripts/test.sh)"
    )


@pytest.fixture(scope="session")
def legacy_source() -> Path:
    if not (LEGACY_SOURCE / "models_tested.csv").is_file():  # a broken checkout: fail, not skip
        pytest.fail(f"{LEGACY_SOURCE}/models_tested.csv is missing from the checkout")
    return LEGACY_SOURCE


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty store holding only the repo's architectures.toml."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(REPO / "data" / "architectures.toml", data / "architectures.toml")
    return data


@pytest.fixture(scope="session")
def imported_store(tmp_path_factory: pytest.TempPathFactory, legacy_source: Path) -> Path:
    """A store with the published 2023 results imported; treat as read-only."""
    from ranker.store.legacy_import import import_legacy

    data = tmp_path_factory.mktemp("imported") / "data"
    data.mkdir()
    shutil.copyfile(REPO / "data" / "architectures.toml", data / "architectures.toml")
    import_legacy(legacy_source, data)
    return data


def make_legacy_model(model_id: str, architecture: str = "roberta-base", **kw) -> LegacyModel:
    """A complete legacy row with every task at `score` (default 0.5)."""
    score = kw.pop("score", 0.5)
    values = {
        "params": 124_000_000,
        "tokenizer": model_id,
        "model_type": "roberta",
        "last_modified": "2023-01-01T00:00:00.000Z",
        "mnli_lp": 0.55,
        "scores": dict.fromkeys(LEGACY_TASKS, score),
        "avg": score,
        "gain": score - 0.5,
        "flags": (),
    }
    values.update(kw)
    return LegacyModel(model_id=model_id, architecture=architecture, **values)


def make_baselines(architecture: str = "roberta-base", mean: float = 0.5) -> list[LegacyBaseline]:
    return [
        LegacyBaseline(architecture=architecture, metric=m, mean=mean, std=0.01, n_seeds=20)
        for m in ("avg", *LEGACY_TASKS)
    ]


@pytest.fixture(scope="session")
def hub_server() -> Iterator[FakeHub]:
    """The loopback hub, started once; use the `hub` fixture, which empties it per test.

    Telemetry off, so huggingface_hub sends no request of its own (its agent detection
    fetches a registry from the default endpoint once per process).
    """
    from huggingface_hub import constants

    telemetry = constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_DISABLE_TELEMETRY = True
    try:
        with FakeHub() as hub:
            yield hub
    finally:
        constants.HF_HUB_DISABLE_TELEMETRY = telemetry


@pytest.fixture
def hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    """The session's loopback hub with no repos, faults or counts."""
    hub_server.reset()
    yield hub_server
    hub_server.reset()


@pytest.fixture(scope="session")
def tiny_files() -> dict[str, dict[str, bytes]]:
    """Files of tiny random models with real tokenizers (torch + transformers, ~seconds)."""
    pytest.importorskip("transformers")
    from ranker.testing.models import tiny_set

    return tiny_set()


@pytest.fixture(scope="session")
def big_site(imported_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 2023 data plus 5,000 synthetic probe results for roberta-base, built once a session
    (tests/browsing.py)."""
    from browsing import make_big_site

    return make_big_site(imported_store, tmp_path_factory)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium, launched once a session (skipped or failed as browsing.py says)."""
    from browsing import launch_browser

    yield from launch_browser()


@pytest.fixture(scope="session")
def verify_models(tiny_files: dict[str, dict[str, bytes]]) -> dict[str, dict[str, bytes]]:
    """Issue 21's tiny models for `ranker verify` (ranker/testing/targets.py): the tiny BERT
    base, a copy trained to help the synthetic target suite, a noised copy of that, and a plain
    finetune; built once a session (~5 s of training)."""
    from ranker.testing.targets import verify_models as build

    return build(tiny_files["bert"], tiny_files["bert-cls"])

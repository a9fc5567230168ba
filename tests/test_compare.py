"""The compare view's data: 2023 per-task gains per model, and the page's configuration."""

from __future__ import annotations

import json

import numpy as np

from ranker.build.compare import MAX_MODELS, compare_page, task_gains, write_compare
from ranker.build.pairs import SHARD_MODELS, decode_bits, pair_data, shard_of, write_pairs
from ranker.build.ranks import (
    compare_probe_results,
    legacy_threshold,
)
from ranker.build.resamples import (
    RESAMPLES,
    SEED,
    resample_counts,
    resampled_correct,
)
from ranker.build.rows import page_scheme
from ranker.protocol import PROTOCOL_VERSION
from ranker.records import LEGACY_TASKS, Architecture, LegacyModel
from ranker.testing.synthetic import synthetic_models
from ranker.urls import model_page

ARCH = Architecture(id="roberta-base", slug="roberta-base", title="RoBERTa-base",
                    model_type="roberta", hidden_size=768, num_layers=12, vocab_size=50265,
                    intermediate_size=3072)  # fmt: skip


def _legacy(model_id: str, scores: dict, flags: tuple = (), arch: str = "roberta-base"):
    return LegacyModel(model_id=model_id, architecture=arch, params=None, tokenizer="t",
                       model_type="roberta", last_modified="2023-01-01", mnli_lp=None,
                       scores=scores, avg=None, gain=None, flags=flags)  # fmt: skip


def test_task_gains_are_points_over_the_base_per_task_in_task_order() -> None:
    first, second = LEGACY_TASKS[0], LEGACY_TASKS[1]
    base = {first: 0.80, second: 0.50}
    models = [
        _legacy("a/x", {first: 0.825, second: None}),
        _legacy("a/none", {}),
        _legacy("roberta-base", {first: 0.8}, flags=("pretrained",)),
        _legacy("b/other-arch", {first: 0.9}, arch="bert-base-cased"),
    ]
    gains = task_gains(models, base, ARCH)
    assert list(gains) == ["a/x"]
    assert len(gains["a/x"]) == len(LEGACY_TASKS)
    assert gains["a/x"][0] == 2.5 and gains["a/x"][1] is None


def test_the_page_points_at_every_chunk_and_the_tasks_file() -> None:
    written: dict[str, str] = {}
    pages = []
    write_compare(lambda *a, **kw: pages.append((a, kw)), written.__setitem__, ARCH,
                  fields=("model_id",), chunks=["rows/roberta-base/0.js"],
                  tasks={"a/x": [1.0]},
                  tasks_path="rows/roberta-base/tasks.js")  # fmt: skip
    text = written["rows/roberta-base/tasks.js"]
    assert text.startswith("rankerTasks(") and text.endswith(");\n")
    data = json.loads(text[len("rankerTasks(") : -3])
    assert data == {"tasks": list(LEGACY_TASKS), "gains": {"a/x": [1.0]}}
    ((args, kw),) = pages
    assert args == (compare_page(ARCH), "compare.html") == ("compare/roberta-base.html",
                                                              "compare.html")  # fmt: skip
    assert kw["config"]["chunks"] == ["rows/roberta-base/0.js"]
    assert kw["config"]["max"] == MAX_MODELS == 4


def _page(scheme: dict, model_id: str) -> str:
    """What the pages' scripts do with the scheme (ranker.js, `modelPage`)."""
    name = scheme["page_name"]
    return scheme["pages"] + model_id.replace("/", name["slash"]) + name["suffix"]


def test_the_scripts_get_the_model_page_scheme_as_data() -> None:
    """The scripts link model pages from data made of ranker.urls, never from their own rule."""
    scheme = page_scheme(ARCH)
    for model_id in ("a/x", "roberta-base", "Org-1/model.v2_final"):
        assert _page(scheme, model_id) == model_page(ARCH, model_id)
    pages = []
    write_compare(lambda *a, **kw: pages.append(kw), lambda *a: None, ARCH, fields=("model_id",),
                  chunks=[], tasks={}, tasks_path="rows/roberta-base/tasks.js")  # fmt: skip
    (kw,) = pages
    assert {k: kw["config"][k] for k in scheme} == scheme


def test_shards_are_found_by_fnv1a_of_the_id() -> None:
    """compare.js finds a model's shard from its id alone: FNV-1a (32 bits) over UTF-16 code
    units, which for ASCII ids are the published byte vectors."""
    assert shard_of("", 2**32) == 0x811C9DC5
    assert shard_of("a", 2**32) == 0xE40C292C
    assert shard_of("foobar", 2**32) == 0xBF9CF968
    assert {shard_of(f"o/m{i}", 7) for i in range(200)} == set(range(7))


def _comparison(models: int = 70):
    results, _ = synthetic_models("roberta-base", models, n_eval=400)
    return compare_probe_results(r for r in results if r.protocol_version == PROTOCOL_VERSION)


def test_pair_shards_hold_the_ranked_models_bits() -> None:
    """Each ranked model's entry: its right answers and its n_eval per-pair bits, from which
    the ranks' shared resamples give back exactly the resampled counts the ranks tested."""
    comparison = _comparison()
    assert comparison.resampled is not None
    ranked = comparison.keys[:-5]  # the last five have no rank here: no entry for them
    written: dict[str, str] = {}
    config = write_pairs(written.__setitem__, ARCH, pair_data(comparison, ranked), 0.004)
    probe = config["probe"]
    assert probe["shards"] == len(written) == -(-len(ranked) // SHARD_MODELS)
    assert probe["n_eval"] == 400 and probe["resamples"] == RESAMPLES and probe["seed"] == SEED
    assert probe["limit"] == 24  # floor(0.025 * 999): the ranks' "lower" quantile index
    assert config["legacy"] == {"threshold": legacy_threshold(0.004), "sigma": 0.004}
    found: dict[str, list] = {}
    for k in range(probe["shards"]):
        text = written[f"{probe['prefix']}{k}.js"]
        head = f"rankerPairs({k},"
        assert text.startswith(head) and text.endswith(");\n")
        shard = json.loads(text[len(head) : -3])
        assert all(shard_of(m, probe["shards"]) == k for m in shard)
        found.update(shard)
    assert sorted(found) == sorted(m for m, _ in ranked)
    for i, (model_id, _) in enumerate(comparison.keys[:-5]):
        right, text = found[model_id]
        assert right == round(comparison.accuracy[i] * 400)
        assert len(text) == 4 * -(-(400 // 8) // 3)  # 68 characters: the bits, no more
        correct = decode_bits(text, 400)
        assert correct.sum() == right
        again = resampled_correct(correct[None, :], resample_counts(400, RESAMPLES, SEED))
        assert np.array_equal(again[0], comparison.resampled[i])


def test_no_probe_rank_no_shards() -> None:
    comparison = _comparison(3)
    assert pair_data(comparison, []) is None
    written: dict[str, str] = {}
    config = write_pairs(written.__setitem__, ARCH, None, None)
    assert written == {} and config["probe"] is None
    assert config["legacy"] == {"threshold": 0.0, "sigma": None}

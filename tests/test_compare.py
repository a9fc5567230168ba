"""The compare view's data: 2023 per-task gains per model, and the page's configuration."""

from __future__ import annotations

import json

from ranker.build.compare import MAX_MODELS, compare_page, task_gains, write_compare
from ranker.build.rows import page_scheme
from ranker.records import LEGACY_TASKS, Architecture, LegacyModel
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

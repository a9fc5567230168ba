"""Families: near-duplicates of one author collapse; unrelated models stay apart."""

from __future__ import annotations

from ranker.build.families import families, lineage_parents, stem


def test_stem_takes_off_iteration_seed_and_version_counters() -> None:
    assert stem("ibm/ColD-Fusion-itr13-seed2") == "ibm/ColD-Fusion"
    assert stem("ibm/ColD-Fusion") == "ibm/ColD-Fusion"
    assert stem("someone/bert-squad-v2") == "someone/bert-squad"
    assert stem("someone/model_epoch_3") == "someone/model"
    assert stem("someone/roberta-base-mnli") == "someone/roberta-base-mnli"
    assert stem("t5-base") == "t5-base"  # a legacy id without an author
    assert stem("someone/2023") == "someone/2023"  # nothing would be left


def test_one_authors_iterations_form_one_family_and_others_stay_alone() -> None:
    ids = [f"ibm/ColD-Fusion-itr{i}-seed{s}" for i in range(3) for s in range(2)]
    ids += ["ibm/ColD-Fusion", "other/ColD-Fusion-itr1-seed0", "ibm/roberta-base-mnli"]
    fam = families(ids)
    assert {fam[i] for i in ids[:7]} == {"ibm/ColD-Fusion"}
    assert fam["other/ColD-Fusion-itr1-seed0"] == "other/ColD-Fusion"  # another author
    assert fam["ibm/roberta-base-mnli"] == "ibm/roberta-base-mnli"


def test_lineage_joins_a_finetune_to_its_parent_but_not_to_the_shared_base() -> None:
    ids = ["a/sentiment-model", "b/sentiment-model-further", "c/unrelated"]
    parents = {
        "b/sentiment-model-further": ["a/sentiment-model"],
        "c/unrelated": ["roberta-base"],  # the pretrained base: not a family member
        "a/sentiment-model": ["roberta-base"],
    }
    fam = families(ids, parents)
    assert fam["a/sentiment-model"] == fam["b/sentiment-model-further"] == "a/sentiment-model"
    assert fam["c/unrelated"] == "c/unrelated"


def test_family_names_do_not_depend_on_order() -> None:
    ids = ["x/m-seed1", "x/m-seed0", "y/n", "y/n-v2"]
    assert families(ids) == families(list(reversed(ids)))


def test_lineage_parents_reads_the_hubs_base_model_tags() -> None:
    tags = ["base_model:finetune:FacebookAI/roberta-base", "base_model:a/b", "license:mit",
            "base_model:quantized:x/y:z"]  # fmt: skip
    assert lineage_parents(tags) == ["FacebookAI/roberta-base", "a/b"]


def test_lineage_parents_ignore_what_is_not_a_repo_id() -> None:
    tags = ["base_model:Finetune:a/b", "base_model:finetune:" + "a/" * 30_000, "base_model:/b",
            "base_model:a/", "base_model:a/b\u202e", "base_model:x:y:a/b", "base_model:c/d"]  # fmt: skip
    assert lineage_parents(tags) == ["c/d"]

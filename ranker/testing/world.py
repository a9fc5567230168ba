"""A small hub world for tests and `ranker demo`: good models of the two tiny architectures,
one repo of each kind the crawler must exclude, and decoys it must not pick up.

`EXPECTED` says what a crawl with `max_params=MAX_PARAMS` (and no token) must make of it.
"""

from __future__ import annotations

from ranker.testing.hub import FakeHub
from ranker.testing.models import (
    TINY_BERT,
    TINY_ROBERTA,
    fake_model,
    register,
    with_config,
    with_custom_code,
)

BERT, ROBERTA = TINY_BERT.base_id, TINY_ROBERTA.base_id
MAX_PARAMS = 10_000_000

# model id -> (architecture, status, reason, found_by)
EXPECTED: dict[str, tuple[str, str, str | None, str]] = {
    BERT: (BERT, "ok", None, "config"),
    "org/bert-ft": (BERT, "ok", None, "lineage"),
    "org/bert-ft-alias": (BERT, "ok", None, "lineage"),
    "old/bert-untagged": (BERT, "ok", None, "config"),
    ROBERTA: (ROBERTA, "ok", None, "config"),
    "org/roberta-ft": (ROBERTA, "ok", None, "lineage"),
    "old/roberta-untagged": (ROBERTA, "ok", None, "config"),
    "x/roberta-peft": (ROBERTA, "excluded", "adapter", "lineage"),
    "x/roberta-gguf": (ROBERTA, "excluded", "quantized", "lineage"),
    "x/roberta-merge": (ROBERTA, "excluded", "merge", "lineage"),
    "x/roberta-gated": (ROBERTA, "excluded", "gated", "lineage"),
    "x/roberta-custom": (ROBERTA, "excluded", "custom-code", "lineage"),
    "x/roberta-pickle": (ROBERTA, "excluded", "no-safetensors", "lineage"),
    "x/roberta-huge": (ROBERTA, "excluded", "too-large", "config"),
    "x/roberta-disabled": (ROBERTA, "excluded", "disabled", "lineage"),
    "x/roberta-wrong-dims": (ROBERTA, "excluded", "config-mismatch", "lineage"),
    "x/roberta-no-config": (ROBERTA, "excluded", "no-config", "lineage"),
}
# Listed by the hub but never catalogued: private (no token), unsafe id, other dimensions.
NOT_CATALOGUED = ("x/roberta-private", "bad/a--b", "other/bert-wide")


def populate_world(hub: FakeHub, tiny: dict[str, dict[str, bytes]], page_size: int = 4) -> None:
    """Add the world's repos to `hub`; `tiny` is `ranker.testing.models.tiny_set()`."""
    hub.page_size = page_size  # several pages per listing
    bert, roberta = tiny["bert-cls"], tiny["roberta-cls"]
    register(hub, BERT, tiny["bert"], model_type="bert", pipeline_tag="fill-mask", downloads=900)
    register(hub, "org/bert-ft", bert, model_type="bert", base_id=BERT, downloads=50, likes=3)
    register(hub, "org/bert-ft-alias", bert, model_type="bert", base_id=BERT + "-alias")
    register(hub, "old/bert-untagged", bert, model_type="bert", license=None,
             card_data={"license": "mit"})  # fmt: skip
    wide = fake_model(TINY_BERT, hidden_size=64)  # same model_type, other dimensions
    register(hub, "other/bert-wide", wide, model_type="bert")

    register(hub, ROBERTA, tiny["roberta"], model_type="roberta", pipeline_tag="fill-mask")
    register(hub, "org/roberta-ft", roberta, model_type="roberta", base_id=ROBERTA)
    register(hub, "old/roberta-untagged", roberta, model_type="roberta")
    lineage = {"model_type": "roberta", "base_id": ROBERTA}
    register(hub, "x/roberta-peft", roberta, extra_tags=("peft",), **lineage)
    register(hub, "x/roberta-gguf", roberta, extra_tags=("gguf",), **lineage)
    register(hub, "x/roberta-merge", roberta, extra_tags=("merge", "mergekit"), **lineage)
    register(hub, "x/roberta-gated", roberta, gated="manual", **lineage)
    register(hub, "x/roberta-private", roberta, private=True, **lineage)
    custom = with_custom_code(roberta)
    register(hub, "x/roberta-custom", custom, extra_tags=("custom_code",), **lineage)
    register(hub, "x/roberta-pickle", tiny["roberta-pickle"], **lineage)
    huge = fake_model(TINY_ROBERTA, params=2 * MAX_PARAMS)
    register(hub, "x/roberta-huge", huge, model_type="roberta")
    register(hub, "x/roberta-disabled", roberta, disabled=True, **lineage)
    narrow = with_config(roberta, num_hidden_layers=3)  # claims the lineage, wrong depth
    register(hub, "x/roberta-wrong-dims", narrow, **lineage)
    no_config = {k: v for k, v in roberta.items() if k != "config.json"}
    register(hub, "x/roberta-no-config", no_config, **lineage)
    register(hub, "bad/a--b", roberta, **lineage)  # an id that is unsafe to use

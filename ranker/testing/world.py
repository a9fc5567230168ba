"""A small hub world for tests and `ranker demo`, shaped like the real hub (see
`../shared/hub-contract.md`): four tiny architectures, finetunes with and without lineage tags,
pickle-only and SentencePiece-only repos, every kind of repo the crawler must exclude, decoys
it must not pick up, and repos the evaluator must refuse.

`EXPECTED` says what a crawl with `max_params=MAX_PARAMS` (and no token) must make of it;
`SCORED` and `REFUSED` what an evaluation of the catalogued models must make of them.
"""

from __future__ import annotations

import builtins
import io
from pathlib import Path

from ranker.testing.hub import FakeHub
from ranker.testing.models import (
    TINY_BERT,
    TINY_DEBERTA,
    TINY_ROBERTA,
    TINY_T5,
    architectures_toml,
    fake_model,
    register,
    with_config,
    with_custom_code,
)

SPECS = (TINY_BERT, TINY_ROBERTA, TINY_DEBERTA, TINY_T5)
BERT, ROBERTA = TINY_BERT.base_id, TINY_ROBERTA.base_id
DEBERTA, T5 = TINY_DEBERTA.base_id, TINY_T5.base_id
MAX_PARAMS = 10_000_000
OWNER_TOKEN = "hf_test_token"  # the token of x/roberta-private's owner (FakeHub.add_token it)

# model id -> (architecture, status, reason, found_by)
EXPECTED: dict[str, tuple[str, str, str | None, str]] = {
    BERT: (BERT, "ok", None, "config"),
    "org/bert-ft": (BERT, "ok", None, "lineage"),
    "org/bert-ft-alias": (BERT, "ok", None, "lineage"),
    "old/bert-untagged": (BERT, "ok", None, "config"),
    "other/bert-wide": (BERT, "excluded", "config-mismatch", "config"),
    "x/bert-subfolder": (BERT, "ok", None, "lineage"),
    "x/bert-evil-pickle": (BERT, "ok", None, "lineage"),
    ROBERTA: (ROBERTA, "ok", None, "config"),
    "org/roberta-ft": (ROBERTA, "ok", None, "lineage"),
    "old/roberta-untagged": (ROBERTA, "ok", None, "config"),
    "x/roberta-pickle": (ROBERTA, "ok", None, "lineage"),
    "x/roberta-peft": (ROBERTA, "excluded", "adapter", "lineage"),
    "x/roberta-gguf": (ROBERTA, "excluded", "quantized", "lineage"),
    "x/roberta-merge": (ROBERTA, "excluded", "merge", "lineage"),
    "x/roberta-gated": (ROBERTA, "excluded", "gated", "lineage"),
    "x/roberta-custom": (ROBERTA, "excluded", "custom-code", "lineage"),
    "x/roberta-disabled": (ROBERTA, "excluded", "disabled", "lineage"),
    "x/roberta-wrong-dims": (ROBERTA, "excluded", "config-mismatch", "lineage"),
    "x/roberta-no-config": (ROBERTA, "excluded", "no-config", "lineage"),
    DEBERTA: (DEBERTA, "ok", None, "config"),
    "org/deberta-ft": (DEBERTA, "ok", None, "lineage"),
    T5: (T5, "ok", None, "config"),
    "org/t5-ft": (T5, "ok", None, "config"),
}
# Listed but never catalogued: private (no token), unsafe id, malformed rows, a model_type
# listing's model that its listing already rules out (too large).
NOT_CATALOGUED = (
    "x/roberta-private", "bad/a--b", "x/roberta-typo", "x/roberta-sha-path", "x/roberta-huge",
)  # fmt: skip
REJECTED = ("x/roberta-typo", "x/roberta-sha-path")  # malformed rows the crawl reports
# After evaluation: models scored (with their weight format), and refused with their reason.
SCORED: dict[str, str] = {
    BERT: "safetensors", "org/bert-ft": "safetensors", "org/bert-ft-alias": "safetensors",
    "old/bert-untagged": "safetensors", ROBERTA: "safetensors",
    "org/roberta-ft": "safetensors", "old/roberta-untagged": "safetensors",
    "x/roberta-pickle": "pickle", DEBERTA: "pickle", "org/deberta-ft": "safetensors",
    T5: "safetensors", "org/t5-ft": "safetensors",
}  # fmt: skip
REFUSED: dict[str, str] = {
    "x/bert-subfolder": "subfolder-only",
    "x/bert-evil-pickle": "unsafe-pickle",
}


def world_toml() -> str:
    """The architectures.toml that tracks the world's four tiny architectures."""
    return architectures_toml(SPECS)


def as_pickle(files: dict[str, bytes]) -> dict[str, bytes]:
    """The same model with its safetensors weights replaced by a `pytorch_model.bin`."""
    import torch
    from safetensors.torch import load

    out = {k: v for k, v in files.items() if not k.endswith(".safetensors")}
    buf = io.BytesIO()
    torch.save(load(files["model.safetensors"]), buf)
    out["pytorch_model.bin"] = buf.getvalue()
    return out


class _Payload:
    """Unpickling this opens `marker` for writing: the proof that pickle code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (builtins.open, (self.marker, "w"))


def evil_pickle(files: dict[str, bytes], marker: Path) -> dict[str, bytes]:
    """A pickle-only model whose weights file would create `marker` if it were unpickled."""
    import torch
    from safetensors.torch import load

    out = {k: v for k, v in files.items() if not k.endswith(".safetensors")}
    state = dict(load(files["model.safetensors"]))
    buf = io.BytesIO()
    torch.save({**state, "payload": _Payload(str(marker))}, buf)
    out["pytorch_model.bin"] = buf.getvalue()
    return out


def in_subfolder(files: dict[str, bytes], folder: str = "checkpoint-500") -> dict[str, bytes]:
    """The weights only in a subfolder (a training checkpoint); config and tokenizer at root."""
    return {(f"{folder}/{k}" if k.endswith(".safetensors") else k): v for k, v in files.items()}


def populate_world(
    hub: FakeHub,
    tiny: dict[str, dict[str, bytes]],
    page_size: int = 4,
    marker: Path | None = None,
) -> None:
    """Add the world's repos to `hub`; `tiny` is `ranker.testing.models.tiny_set()`.

    `marker` is where the evil pickle would write if it ever ran (default: a temp path).
    """
    import tempfile

    from ranker.testing.spm import spm_only_model

    hub.page_size = page_size  # several pages per listing
    bert, roberta = tiny["bert-cls"], tiny["roberta-cls"]
    register(hub, BERT, tiny["bert"], model_type="bert", pipeline_tag="fill-mask", downloads=900)
    register(hub, "org/bert-ft", bert, model_type="bert", base_id=BERT, downloads=50, likes=3)
    register(hub, "org/bert-ft-alias", bert, model_type="bert", base_id=BERT + "-alias")
    register(hub, "old/bert-untagged", bert, model_type="bert", license=None,
             card_data={"license": "mit"})  # fmt: skip
    wide = fake_model(TINY_BERT, hidden_size=48, params=30_000)  # same type, other dimensions
    register(hub, "other/bert-wide", wide, model_type="bert")
    register(hub, "x/bert-subfolder", in_subfolder(bert), model_type="bert", base_id=BERT)
    marker = marker or Path(tempfile.gettempdir()) / "ranker-evil-pickle-ran"
    register(hub, "x/bert-evil-pickle", evil_pickle(bert, marker), model_type="bert",
             base_id=BERT)  # fmt: skip
    register(hub, ROBERTA, tiny["roberta"], model_type="roberta", pipeline_tag="fill-mask")
    register(hub, "org/roberta-ft", roberta, model_type="roberta", base_id=ROBERTA)
    register(hub, "old/roberta-untagged", roberta, model_type="roberta")
    lineage = {"model_type": "roberta", "base_id": ROBERTA}
    register(hub, "x/roberta-peft", roberta, extra_tags=("peft",), **lineage)
    register(hub, "x/roberta-gguf", roberta, extra_tags=("gguf",), **lineage)
    register(hub, "x/roberta-merge", roberta, extra_tags=("merge", "mergekit"), **lineage)
    register(hub, "x/roberta-gated", roberta, gated="manual", **lineage)
    owner = frozenset({OWNER_TOKEN})
    register(hub, "x/roberta-private", roberta, private=True, readers=owner, **lineage)
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
    register(hub, "x/roberta-typo", roberta, **lineage)
    hub.set_listing_field("x/roberta-typo", "downloads", "lots")
    register(hub, "x/roberta-sha-path", roberta, **lineage)
    hub.set_listing_field("x/roberta-sha-path", "sha", "../../../../outside")

    deberta = spm_only_model("deberta-v2")  # SentencePiece only: spm.model, no tokenizer.json
    register(hub, DEBERTA, as_pickle(deberta), model_type="deberta-v2", pipeline_tag="fill-mask")
    register(hub, "org/deberta-ft", deberta, model_type="deberta-v2", base_id=DEBERTA)
    t5 = spm_only_model("t5")  # spiece.model, no tokenizer.json
    register(hub, T5, t5, model_type="t5", pipeline_tag="text2text-generation")
    register(hub, "org/t5-ft", t5, model_type="t5", downloads=7)

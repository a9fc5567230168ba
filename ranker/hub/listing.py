"""A listing row (`/api/models?expand=...`, or one model's info with the same fields), validated.

Pure: no I/O. `parse_listing` never raises: a row is a `Listing` or a `Rejected` with the
reason, and a value the crawl can do without (a tag, a date) is dropped with a note
(`Listing.problems`), so one value cannot stop a crawl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ranker.hub.wire import (
    COUNT_MAX,
    TAG_RE,
    Bad,
    check_sha,
    count,
    date,
    flag,
    lenient,
    show,
    strings,
    text,
)
from ranker.records import is_valid_repo_id
from ranker.repofiles import needs_remote_code

LISTING_LIMIT = 1000  # rows a listing page asks for: the hub's maximum

# What a listing returns per model: enough to classify and catalogue without model_info.
EXPAND: tuple[str, ...] = (
    "config", "sha", "lastModified", "downloads", "likes", "tags", "cardData", "library_name",
    "pipeline_tag", "safetensors", "gated", "private", "disabled", "baseModels",
)  # fmt: skip


@dataclass(frozen=True)
class Listing:
    """One validated listing row (plain values: classification needs no huggingface_hub)."""

    model_id: str
    sha: str
    last_modified: str | None = None
    downloads: int | None = None
    likes: int | None = None
    tags: tuple[str, ...] = ()
    card_license: str | None = None
    library: str | None = None
    pipeline_tag: str | None = None
    # the sum of `safetensors.parameters` (per dtype; `total` where that is missing); None
    # when the repo has no safetensors
    params: int | None = None
    params_disagree: bool = False  # `safetensors.total` differs from that sum: read config.json
    gated: bool = False
    private: bool = False
    disabled: bool = False
    model_type: str | None = None  # from the reduced config: the hub never lists dimensions
    architectures: tuple[str, ...] = ()
    remote_code: bool = False  # `auto_map` in the reduced config
    quantized: bool = False  # `quantization_config` in the reduced config
    base_models: tuple[str, ...] = ()  # `baseModels.models[].id`
    base_relation: str | None = None  # `baseModels.relation`
    problems: tuple[str, ...] = ()  # values dropped as malformed (a tag, a date): the row stays

    @property
    def license(self) -> str | None:
        for tag in self.tags:
            if tag.startswith("license:"):
                return tag.removeprefix("license:")
        return self.card_license


@dataclass(frozen=True)
class Rejected:
    """A listing row that failed validation: kept with the problem, never half-used."""

    model_id: str | None  # None (or unsafe) when the id itself is what is wrong
    problem: str


@dataclass(frozen=True)
class Page:
    """One listing page: its rows, and the cursor URL of the next page (None: the last).

    A crawl that fails on a later page saves `next` of the last page it has and resumes with
    `Hub.list_pages(tag, start=cursor)`."""

    rows: list[Listing | Rejected]
    next: str | None


def parse_listing(row: Any) -> Listing | Rejected:
    """Validate one raw listing row (`/api/models` JSON) into a Listing, or say what is wrong.

    Never raises: any input is a Listing or a Rejected with the reason."""
    if not isinstance(row, dict):
        return Rejected(None, f"expected a JSON object, got {show(row)}")
    model_id = row.get("id", row.get("modelId"))
    if not is_valid_repo_id(model_id):
        return Rejected(None, f"unsafe or invalid repo id {show(model_id)}")
    try:
        return _parse_listing(row, model_id)
    except Bad as exc:
        return Rejected(model_id, str(exc))


def _parse_listing(row: dict[str, Any], model_id: str) -> Listing:
    problems: list[str] = []
    tags = _tags(row.get("tags"), problems)
    card_license = _card_license(row.get("cardData"))
    params, disagree = _params(row.get("safetensors"))
    config, model_type = _config(row.get("config"))
    base_models, relation = _base(row.get("baseModels"))
    return Listing(
        model_id=model_id,
        sha=check_sha(row.get("sha")),
        last_modified=lenient(problems, lambda: date(row, "lastModified"), None),
        downloads=count(row, "downloads"),
        likes=count(row, "likes"),
        tags=tags,
        card_license=card_license,
        library=text(row, "library_name", limit=100),
        pipeline_tag=text(row, "pipeline_tag", limit=100),
        params=params,
        params_disagree=disagree,
        gated=flag(row, "gated"),
        private=flag(row, "private"),
        disabled=flag(row, "disabled"),
        model_type=model_type,
        architectures=strings(config.get("architectures"), "config.architectures"),
        remote_code=needs_remote_code(config),
        quantized="quantization_config" in config,
        base_models=base_models,
        base_relation=relation,
        problems=tuple(problems),
    )


def _tags(value: Any, problems: list[str]) -> tuple[str, ...]:
    """The row's tags; malformed ones are dropped with a note."""
    tags = strings(value, "tags")
    bad = [t for t in tags if not TAG_RE.fullmatch(t)]
    if bad:
        problems.append(f"tags: dropped {len(bad)} malformed, e.g. {show(bad[0])}")
        tags = tuple(t for t in tags if TAG_RE.fullmatch(t))
    return tags


def _card_license(card: Any) -> str | None:
    """The license the model card's metadata names, if it is a plain tag-like name."""
    if card is not None and not isinstance(card, dict):
        raise Bad(f"cardData: expected a mapping, got {show(card)}")
    lic = (card or {}).get("license")
    if isinstance(lic, list):
        lic = lic[0] if lic else None
    return lic if isinstance(lic, str) and TAG_RE.fullmatch(lic) else None


def _config(config: Any) -> tuple[dict[str, Any], str | None]:
    """(the reduced config, its `model_type`)."""
    if config is not None and not isinstance(config, dict):
        raise Bad(f"config: expected a mapping, got {show(config)}")
    config = config or {}
    model_type = config.get("model_type")
    if model_type is not None and not (
        isinstance(model_type, str) and TAG_RE.fullmatch(model_type)
    ):
        raise Bad(f"config.model_type: expected a name, got {show(model_type)}")
    return config, model_type


def _params(st: Any) -> tuple[int | None, bool]:
    """(parameter count, whether `total` disagrees with the per-dtype sum).

    `total` is not a stable number on the hub (sometimes the index metadata's, sometimes a sum
    over subfolder checkpoints too), so the per-dtype `parameters` are the evidence."""
    if st is None:
        return None, False
    if not isinstance(st, dict):
        raise Bad(f"safetensors: expected a mapping, got {show(st)}")
    total = count(st, "total")
    per = st.get("parameters")
    if per is None:
        return total, False
    if not isinstance(per, dict):
        raise Bad(f"safetensors.parameters: expected a mapping, got {show(per)}")
    counts = [count(per, str(k)) for k in per]
    summed = sum(c for c in counts if c is not None)
    if summed > COUNT_MAX:
        raise Bad("safetensors.parameters: the sum is beyond what the store can hold")
    return summed, total is not None and total != summed


def _base(base: Any) -> tuple[tuple[str, ...], str | None]:
    """(base model ids, relation) from `baseModels`; unsafe ids are left out."""
    if base is None:
        return (), None
    if not isinstance(base, dict):
        raise Bad(f"baseModels: expected a mapping, got {show(base)}")
    relation = text(base, "relation", limit=40)
    models = base.get("models") or []
    if not isinstance(models, list):
        raise Bad(f"baseModels.models: expected a list, got {show(models)}")
    ids = tuple(m["id"] for m in models if isinstance(m, dict) and is_valid_repo_id(m.get("id")))
    return ids, relation

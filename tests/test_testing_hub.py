"""The loopback hub, exercised through the real huggingface_hub client and transformers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ranker.testing.hub import FakeHub, safetensors_params
from ranker.testing.models import TINY_BERT, TINY_ROBERTA, fake_model, register


def _api(hub: FakeHub, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=hub.url, token=token)


def _download(hub: FakeHub, repo: str, name: str, cache: Path, **kw: object) -> Path:
    return Path(
        hf_hub_download(repo, name, cache_dir=cache, endpoint=hub.url, token=False, **kw)  # type: ignore[arg-type]
    )


@pytest.fixture
def small(hub: FakeHub) -> FakeHub:
    """Five cheap models (no torch) with distinct downloads, tags and authors."""
    hub.page_size = 2
    for i in range(5):
        register(hub, f"org{i % 2}/m{i}", fake_model(TINY_BERT, params=100 + i),
                 model_type="bert", base_id=TINY_BERT.base_id if i < 3 else None,
                 downloads=10 * i, likes=5 - i)  # fmt: skip
    return hub


def test_listing_filters_sorts_paginates_and_expands(small: FakeHub) -> None:
    api = _api(small)
    lineage = "base_model:finetune:" + TINY_BERT.base_id
    assert [m.id for m in api.list_models(filter=[lineage])] == ["org0/m0", "org0/m2", "org1/m1"]
    assert [m.id for m in api.list_models(filter=["bert", lineage], author="org1")] == ["org1/m1"]
    assert [m.id for m in api.list_models(search="M4")] == ["org0/m4"]
    ranked = api.list_models(filter="bert", sort="downloads", limit=3)
    assert [m.id for m in ranked] == ["org0/m4", "org1/m3", "org0/m2"]
    assert small.counts["GET /api/models"] == 2 + 1 + 1 + 2  # limit=3 with pages of 2

    small.reset_counts()
    (m,) = api.list_models(search="m3", expand=["sha", "safetensors", "config", "gated"])
    assert m.sha == small.model("org1/m3").sha and m.safetensors.total == 103
    assert m.config["intermediate_size"] == TINY_BERT.intermediate_size and m.gated is False
    assert m.downloads is None and m.tags is None  # only what was asked for
    (m,) = api.list_models(search="m3", full=True)
    assert m.siblings is not None and m.tags and m.last_modified and m.config is None
    assert small.counts == {"GET /api/models": 2}
    with pytest.raises(Exception, match="404"):
        list(_api(small).list_spaces())
    assert small.counts["unrouted"] == 1


def test_model_info_revisions_and_tree(small: FakeHub) -> None:
    api = _api(small)
    first = small.model("org0/m0").sha
    second = small.commit("org0/m0", {"sub/notes.txt": b"hello"})
    info = api.model_info("org0/m0")
    assert info.sha == second and len(second) == 40
    assert {s.rfilename for s in info.siblings} == {"config.json", "model.safetensors",
                                                    "sub/notes.txt"}  # fmt: skip
    assert info.safetensors.total == 100 and info.config["model_type"] == "bert"
    old = api.model_info("org0/m0", revision=first)
    assert old.sha == first and "sub/notes.txt" not in {s.rfilename for s in old.siblings}
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org0/m0", revision="f" * 40)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    tree = {f.path: f for f in api.list_repo_tree("org0/m0")}
    assert set(tree) == {"config.json", "model.safetensors", "sub"}
    assert tree["model.safetensors"].lfs is not None and tree["config.json"].lfs is None
    assert [f.path for f in api.list_repo_tree("org0/m0", path_in_repo="sub")] == ["sub/notes.txt"]
    assert small.per_repo("GET /api/models/{repo}") == {"org0/m0": 3, "nobody/nothing": 1}


def test_private_and_gated_repos(hub: FakeHub, tmp_path: Path) -> None:
    register(hub, "me/private", fake_model(TINY_BERT), model_type="bert", private=True)
    register(hub, "corp/gated", fake_model(TINY_BERT), model_type="bert", gated="manual")
    assert [m.id for m in _api(hub).list_models()] == ["corp/gated"]
    assert {m.id for m in _api(hub, "hf_x").list_models()} == {"corp/gated", "me/private"}
    with pytest.raises(RepositoryNotFoundError):
        _api(hub).model_info("me/private")
    assert _api(hub, "hf_x").model_info("me/private").private is True
    assert _api(hub).model_info("corp/gated").gated == "manual"
    with pytest.raises(GatedRepoError) as err:
        _download(hub, "corp/gated", "config.json", tmp_path)
    assert err.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as err:
        hf_hub_download("corp/gated", "config.json", cache_dir=tmp_path, endpoint=hub.url,
                        token="hf_x")  # fmt: skip
    assert err.value.response.status_code == 403


def test_download_and_load_a_tiny_model_with_transformers(
    hub: FakeHub, tiny_files: dict[str, dict[str, bytes]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import torch
    from transformers import AutoModel, AutoTokenizer

    repo = register(hub, "org/roberta-ft", tiny_files["roberta-cls"], model_type="roberta",
                    base_id=TINY_ROBERTA.base_id)  # fmt: skip
    hub.patch_endpoint(monkeypatch)
    tokenizer = AutoTokenizer.from_pretrained("org/roberta-ft", revision=repo.sha,
                                              cache_dir=tmp_path)  # fmt: skip
    model = AutoModel.from_pretrained("org/roberta-ft", revision=repo.sha, cache_dir=tmp_path)
    batch = tokenizer(["a good movie", "the lazy dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    assert out.shape[-1] == TINY_ROBERTA.hidden_size
    assert model.config.intermediate_size == TINY_ROBERTA.intermediate_size
    assert hub.counts["GET /{repo}/resolve"] >= 2  # config, weights, tokenizer files
    bert = register(hub, "org/bert", tiny_files["bert"], model_type="bert")
    assert (
        AutoTokenizer.from_pretrained("org/bert", revision=bert.sha, cache_dir=tmp_path)(
            "Hello world"
        )["input_ids"][0]
        == 2
    )  # [CLS]


def test_resolve_headers_and_ranges(hub: FakeHub, tmp_path: Path) -> None:
    import httpx2

    repo = register(hub, "org/m", fake_model(TINY_BERT, params=7), model_type="bert")
    url = f"{hub.url}/org/m/resolve/main/model.safetensors"
    head = httpx2.head(url)
    assert head.headers["X-Repo-Commit"] == repo.sha
    assert int(head.headers["Content-Length"]) == len(repo.files["model.safetensors"])
    assert head.headers["ETag"] == head.headers["X-Linked-Etag"]
    part = httpx2.get(url, headers={"Range": "bytes=8-"})
    assert part.status_code == 206 and part.content == repo.files["model.safetensors"][8:]
    assert safetensors_params(repo.files["model.safetensors"]) == {"F32": 7}


def test_faults(hub: FakeHub, tmp_path: Path) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    weights = repo.files["model.safetensors"]
    # A missing file.
    hub.fail(404, repo="org/m", path="config.json")
    with pytest.raises(EntryNotFoundError):
        _download(hub, "org/m", "config.json", tmp_path / "a")
    # A download cut short once is resumed; cut short every time, it fails.
    hub.truncate("org/m", "model.safetensors", times=1)
    assert _download(hub, "org/m", "model.safetensors", tmp_path / "b").read_bytes() == weights
    hub.clear_faults()
    # A corrupt safetensors header: the listing still reports parameters, the file is garbage.
    hub.corrupt_safetensors("org/m")
    bad = _download(hub, "org/m", "model.safetensors", tmp_path / "d").read_bytes()
    assert safetensors_params(bad) is None and repo.safetensors is not None
    hub.clear_faults()
    # A stalled answer, then a 503 the listing's backoff retries.
    hub.stall(0.3, route="GET /api/models/{repo}")
    start = time.monotonic()
    assert _api(hub).model_info("org/m").sha == repo.sha
    assert time.monotonic() - start >= 0.3
    fault = hub.fail(503, route="GET /api/models", retry_after=0)
    assert [m.id for m in _api(hub).list_models()] == ["org/m"]
    assert fault.fired == 1 and hub.counts["GET /api/models"] == 2


def test_a_download_cut_short_every_time_fails(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd.time, "sleep", lambda seconds: None)  # skip the resume waits
    register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    hub.truncate("org/m", "model.safetensors", times=None)
    with pytest.raises(Exception, match=r"peer closed|incomplete|Consistency"):
        _download(hub, "org/m", "model.safetensors", tmp_path)
    assert hub.counts["GET /{repo}/resolve"] > 1  # it did retry


def test_dataset_files(hub: FakeHub, tmp_path: Path) -> None:
    rows = b"".join(json.dumps({"text": t, "label": i % 2}).encode() + b"\n"
                    for i, t in enumerate(["good", "bad", "fine"]))  # fmt: skip
    ds = hub.add_dataset("probe/sst2-mini", {"train.jsonl": rows, "README.md": b"# probe"})
    path = hf_hub_download("probe/sst2-mini", "train.jsonl", repo_type="dataset",
                           cache_dir=tmp_path, endpoint=hub.url, token=False)  # fmt: skip
    assert Path(path).read_bytes() == rows
    info = _api(hub).dataset_info("probe/sst2-mini")
    assert info.sha == ds.sha and {s.rfilename for s in info.siblings} == {"train.jsonl",
                                                                           "README.md"}  # fmt: skip
    assert hub.counts["HEAD /datasets/{repo}/resolve"] == 1
    assert hub.counts["GET /datasets/{repo}/resolve"] == 1


def test_tiny_t5_and_deberta_are_served_crawled_and_loaded(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from ranker.crawl import crawl
    from ranker.crawl.hub import HubClient
    from ranker.store import Store
    from ranker.testing.models import SPECS, TINY_DEBERTA, TINY_T5, architectures_toml, tiny_model

    register(hub, "old/t5-ft", tiny_model("t5", head="classification"), model_type="t5")
    register(hub, "org/deberta-ft", tiny_model("deberta-v2", head="classification"),
             model_type="deberta-v2", base_id=TINY_DEBERTA.base_id)  # fmt: skip
    register(hub, "old/t5-v1_1-like", fake_model(TINY_T5, d_ff=99), model_type="t5")
    store = Store(tmp_path / "data")
    store.root.mkdir()
    (store.root / "architectures.toml").write_text(architectures_toml(tuple(SPECS.values())))
    summary = crawl(store, HubClient(endpoint=hub.url, token=False), now="2026-01-01T00:00:00Z")
    got = {e.model_id: (e.architecture, e.status, e.found_by) for e in store.catalog()}
    assert got == {
        "old/t5-ft": (TINY_T5.base_id, "ok", "config"),  # matched by d_model / d_ff names
        "org/deberta-ft": (TINY_DEBERTA.base_id, "ok", "lineage"),
    }
    assert summary.requests == hub.counts["GET /api/models"]

    hub.patch_endpoint(monkeypatch)
    for repo in ("old/t5-ft", "org/deberta-ft"):
        tokenizer = AutoTokenizer.from_pretrained(repo, cache_dir=tmp_path / "cache")
        model = AutoModel.from_pretrained(repo, cache_dir=tmp_path / "cache")
        batch = tokenizer(["a good movie"], return_tensors="pt")
        body = model.encoder if repo == "old/t5-ft" else model
        assert body(**batch).last_hidden_state.shape[-1] == 32

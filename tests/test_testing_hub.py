"""The loopback hub, exercised through the real huggingface_hub client and transformers.

It must answer as the real hub does (/work/shared/hub-contract.md): a reduced `config`,
lineage only from the card, LFS files from a second origin (the CDN), renames, the faults.
"""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import hf_raise_for_status

from ranker.testing.hub import ANONYMOUS, FakeHub, Quota, safetensors_params
from ranker.testing.models import TINY_BERT, TINY_ROBERTA, fake_model, register, with_config
from ranker.testing.quota import Limiter

# Keys of config.json the API never carries (the dimensions, whatever a family calls them).
DIMENSION_KEYS = {
    "hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size", "d_model", "d_ff",
    "num_layers", "num_attention_heads", "max_position_embeddings", "d_kv", "num_heads",
    "n_embd", "n_layer", "type_vocab_size",
}  # fmt: skip


def _api(hub: FakeHub, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=hub.url, token=token)


def _download(hub: FakeHub, repo: str, name: str, cache: Path, **kw: object) -> Path:
    return Path(
        hf_hub_download(repo, name, cache_dir=cache, endpoint=hub.url, token=False, **kw)  # type: ignore[arg-type]
    )


def _safetensors(values: list[float]) -> bytes:
    """A real safetensors file: one F32 tensor holding `values`."""
    spec = {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, 4 * len(values)]}
    header = json.dumps({"w": spec}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack(f"<{len(values)}f", *values)


def _keys(value: Any) -> set[str]:
    """Every dict key anywhere inside a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip huggingface_hub's backoff waits (Retry-After + 1 s, resume waits)."""
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda seconds: None)


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
    # The listing's config is reduced: no dimensions, whatever config.json holds.
    assert m.config == {"model_type": "bert", "tokenizer_config": {}} and m.gated is False
    assert m.downloads is None and m.tags is None  # only what was asked for
    (m,) = api.list_models(search="m3", full=True)
    assert m.siblings is not None and m.tags and m.last_modified and m.config is None
    assert small.counts == {"GET /api/models": 2}
    with pytest.raises(Exception, match="404"):
        list(_api(small).list_spaces())
    assert small.counts["unrouted"] == 1


def test_listings_and_info_never_carry_dimensions(hub: FakeHub) -> None:
    bert = with_config(fake_model(TINY_BERT), architectures=["BertForMaskedLM"])
    t5 = with_config(fake_model(TINY_BERT.__class__("t/t5", "t5", 32, 2, 128, 43)),
                     architectures=["T5ForConditionalGeneration"])  # fmt: skip
    custom = with_config(bert, auto_map={"AutoModel": "modeling_x.X"})
    quant = with_config(bert, quantization_config={"quant_method": "gptq", "bits": 4})
    for repo_id, files in (("a/bert", bert), ("a/t5", t5), ("a/custom", custom), ("a/q", quant)):
        register(hub, repo_id, files, model_type=json.loads(files["config.json"])["model_type"])
    assert "d_ff" in json.loads(t5["config.json"]) and "hidden_size" in json.loads(
        bert["config.json"]
    )

    api = _api(hub)
    rows = list(api.list_models(expand=["config", "safetensors", "cardData"]))
    rows += list(api.list_models(full=True, fetch_config=True))
    infos = [api.model_info(r) for r in ("a/bert", "a/t5", "a/custom", "a/q")]
    infos += [api.model_info("a/t5", expand=["config"])]
    raw = httpx2.get(f"{hub.url}/api/models", params=[("expand[]", "config")]).json()
    raw += [httpx2.get(f"{hub.url}/api/models/{r}").json() for r in ("a/bert", "a/t5")]
    assert len(rows) == 8 and len(raw) == 6
    for config in [m.config for m in rows + infos] + [r["config"] for r in raw]:
        assert config is not None and not DIMENSION_KEYS & _keys(config), config
    for row in raw:  # nor anywhere else in a row
        assert not DIMENSION_KEYS & _keys(row), row

    configs = {m.id: m.config for m in infos}
    assert configs["a/bert"] == {"architectures": ["BertForMaskedLM"], "model_type": "bert",
                                 "tokenizer_config": {}}  # fmt: skip
    assert configs["a/t5"]["architectures"] == ["T5ForConditionalGeneration"]
    assert configs["a/custom"]["auto_map"] == {"AutoModel": "modeling_x.X"}
    assert configs["a/q"]["quantization_config"] == {"quant_method": "gptq", "bits": 4}
    assert "auto_map" not in configs["a/bert"] and "quantization_config" not in configs["a/bert"]
    # The dimensions are in config.json itself, one file away.
    url = f"{hub.url}/a/t5/resolve/main/config.json"
    assert json.loads(httpx2.get(url, follow_redirects=True).content)["d_ff"] == 43


def test_safetensors_only_when_the_repo_holds_safetensors(hub: FakeHub) -> None:
    register(hub, "a/st", fake_model(TINY_BERT, params=11), model_type="bert")
    register(hub, "a/pickle", fake_model(TINY_BERT, safetensors=False), model_type="bert")
    sub = fake_model(TINY_BERT, params=5)
    sub["checkpoint-500/model.safetensors"] = sub.pop("model.safetensors")
    register(hub, "a/sub-only", {**sub, "pytorch_model.bin": b"PK pickle"}, model_type="bert")
    both = fake_model(TINY_BERT, params=7)
    both["checkpoint-500/model.safetensors"] = both["model.safetensors"]
    register(hub, "a/both", both, model_type="bert")

    api = _api(hub)
    listed = {m.id: m.safetensors for m in api.list_models(expand=["safetensors"])}
    info = {r: api.model_info(r).safetensors for r in listed}
    for got in (listed, info):
        assert got["a/pickle"] is None  # absent, not empty
        assert got["a/st"].parameters == {"F32": 11} and got["a/st"].total == 11
        # Subfolder checkpoints count (the misleading choice): present for a repo whose root
        # holds only pickle, and summed with the root weights.
        assert got["a/sub-only"].total == 5
        assert got["a/both"].total == 14
    raw = httpx2.get(f"{hub.url}/api/models", params={"expand": "safetensors"}).json()
    assert "safetensors" not in next(r for r in raw if r["id"] == "a/pickle")


def test_lineage_tags_and_base_models_come_from_the_card(hub: FakeHub) -> None:
    base = TINY_BERT.base_id
    ft = register(hub, "a/ft", fake_model(TINY_BERT), model_type="bert", base_id=base,
                  card_data={"license": "mit"})  # fmt: skip
    assert ft.card_data == {"license": "mit", "base_model": base}  # merged, not replaced
    register(hub, "a/none", fake_model(TINY_BERT), model_type="bert")
    register(hub, "a/adapter", fake_model(TINY_BERT), model_type="bert",
             card_data={"base_model": base, "base_model_relation": "adapter"})  # fmt: skip
    peft = {**fake_model(TINY_BERT), "adapter_config.json": b"{}"}
    register(hub, "a/peft", peft, model_type="bert", base_id=base)  # inferred: adapter
    register(hub, "a/merge", fake_model(TINY_BERT), model_type="bert",
             card_data={"base_model": [base, "other/bert"]})  # fmt: skip
    # Hand-written lineage tags without a card mean nothing to the hub.
    hub.add_model("a/handmade", fake_model(TINY_BERT), tags=["bert", f"base_model:{base}"])

    rows = {m.id: m for m in _api(hub).list_models(expand=["tags", "baseModels", "cardData"])}
    lineage = {i: sorted(t for t in m.tags if t.startswith("base_model:")) for i, m in rows.items()}
    assert lineage == {
        "a/ft": [f"base_model:finetune:{base}", f"base_model:{base}"],
        "a/none": [],
        "a/adapter": [f"base_model:adapter:{base}", f"base_model:{base}"],
        "a/peft": [f"base_model:adapter:{base}", f"base_model:{base}"],
        "a/merge": sorted([f"base_model:merge:{base}", "base_model:merge:other/bert",
                           f"base_model:{base}", "base_model:other/bert"]),
        "a/handmade": [],
    }  # fmt: skip
    assert rows["a/ft"].base_models == {"relation": "finetune", "models": [{"id": base}]}
    assert rows["a/adapter"].base_models["relation"] == "adapter"
    assert rows["a/merge"].base_models["models"] == [{"id": base}, {"id": "other/bert"}]
    assert rows["a/none"].base_models is None and rows["a/handmade"].base_models is None
    assert rows["a/ft"].card_data["base_model"] == base
    # Filtering by a lineage tag finds only repos whose card declares it.
    found = [m.id for m in _api(hub).list_models(filter=f"base_model:{base}")]
    assert found == ["a/adapter", "a/ft", "a/merge", "a/peft"]
    # A card that changes changes the tags: they are derived, not stored.
    ft.card_data = {"license": "mit"}
    assert not any(t.startswith("base_model:") for t in _api(hub).model_info("a/ft").tags)


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

    # Tree ids: `oid` is the git blob sha of what git holds (the LFS pointer for LFS files),
    # `lfs.oid` the content's sha256.
    files = small.model("org0/m0").files
    weights, config = files["model.safetensors"], files["config.json"]
    pointer = (b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
               % (hashlib.sha256(weights).hexdigest().encode(), len(weights)))  # fmt: skip
    assert tree["model.safetensors"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert tree["model.safetensors"].lfs.size == tree["model.safetensors"].size == len(weights)
    assert tree["model.safetensors"].blob_id == hashlib.sha1(
        b"blob %d\0" % len(pointer) + pointer).hexdigest()  # fmt: skip
    assert tree["config.json"].blob_id == hashlib.sha1(b"blob %d\0" % len(config) + config
                                                       ).hexdigest()  # fmt: skip
    (entry,) = api.get_paths_info("org0/m0", ["model.safetensors"])
    assert entry.lfs.sha256 == tree["model.safetensors"].lfs.sha256


def test_error_codes(hub: FakeHub) -> None:
    register(hub, "a/m", fake_model(TINY_BERT), model_type="bert")
    register(hub, "a/private", fake_model(TINY_BERT), model_type="bert", private=True)
    register(hub, "a/gated", fake_model(TINY_BERT), model_type="bert", gated="auto")
    register(hub, "a/disabled", fake_model(TINY_BERT), model_type="bert", disabled=True)
    hub.add_token("hf_x")
    token = {"Authorization": "Bearer hf_x"}
    bad = {"Authorization": "Bearer hf_expired"}
    cases = [
        ("/api/models/no/such", {}, 401, "RepoNotFound", RepositoryNotFoundError),
        ("/api/models/no/such", token, 404, "RepoNotFound", RepositoryNotFoundError),
        ("/api/models/a/private", {}, 401, "RepoNotFound", RepositoryNotFoundError),
        ("/a/private/resolve/main/config.json", {}, 401, "RepoNotFound", RepositoryNotFoundError),
        ("/a/gated/resolve/main/config.json", {}, 401, "GatedRepo", GatedRepoError),
        ("/a/gated/resolve/main/config.json", token, 403, "GatedRepo", GatedRepoError),
        # Disabled: 403 on API and resolve routes, named only by the message.
        ("/a/disabled/resolve/main/config.json", {}, 403, None, DisabledRepoError),
        ("/api/models/a/disabled", {}, 403, None, DisabledRepoError),
        ("/api/models/a/disabled/tree/main", {}, 403, None, DisabledRepoError),
        # A token the hub does not know: 401 on a public repo too, no error code, and not
        # mistaken for a missing repo by huggingface_hub.
        ("/api/models/a/m", bad, 401, None, HfHubHTTPError),
        ("/a/m/resolve/main/config.json", bad, 401, None, HfHubHTTPError),
        ("/api/models", bad, 401, None, HfHubHTTPError),
        ("/a/m/resolve/main/nothing.json", {}, 404, "EntryNotFound", EntryNotFoundError),
        ("/a/m/resolve/" + "f" * 40 + "/config.json", {}, 404, "RevisionNotFound",
         RevisionNotFoundError),
        ("/api/models/a/m/revision/" + "f" * 40, {}, 404, "RevisionNotFound",
         RevisionNotFoundError),
        ("/api/models/a/m/tree/main/nowhere", {}, 404, "EntryNotFound", EntryNotFoundError),
    ]  # fmt: skip
    for path, headers, status, code, error in cases:
        response = httpx2.get(hub.url + path, headers=headers)
        assert (response.status_code, response.headers.get("X-Error-Code")) == (status, code), path
        assert response.headers.get("X-Error-Message"), path
        with pytest.raises(error) as raised:
            hf_raise_for_status(response)
        if code is None and status == 401:
            assert not isinstance(raised.value, RepositoryNotFoundError), path
            assert response.headers["X-Error-Message"] == (
                "Invalid credentials in Authorization header"
            )
    # Metadata of gated repos is public, their files are not; a disabled repo is only listed.
    assert _api(hub).model_info("a/gated").gated == "auto"
    listed = {m.id: m for m in _api(hub).list_models(expand=["disabled"])}
    assert listed["a/disabled"].disabled is True


def test_private_and_gated_repos(hub: FakeHub, tmp_path: Path) -> None:
    register(hub, "me/private", fake_model(TINY_BERT), model_type="bert", private=True,
             readers=frozenset({"hf_x"}))  # fmt: skip
    register(hub, "corp/gated", fake_model(TINY_BERT), model_type="bert", gated="manual")
    hub.add_token("hf_x")
    hub.add_token("hf_someone_else")
    assert [m.id for m in _api(hub).list_models()] == ["corp/gated"]
    assert {m.id for m in _api(hub, "hf_x").list_models()} == {"corp/gated", "me/private"}
    # another user's valid token sees no more than anonymous does (and a 404, not a 401)
    assert [m.id for m in _api(hub, "hf_someone_else").list_models()] == ["corp/gated"]
    with pytest.raises(RepositoryNotFoundError) as err:
        _api(hub, "hf_someone_else").model_info("me/private")
    assert err.value.response.status_code == 404
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
    with pytest.raises(GatedRepoError):
        _download(hub, "corp/gated", "model.safetensors", tmp_path)  # no 302 for LFS either
    assert hub.counts["GET cdn"] == 0


def test_lfs_files_redirect_to_the_cdn(hub: FakeHub, tmp_path: Path) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT, params=7), model_type="bert")
    weights = repo.files["model.safetensors"]
    sha256 = hashlib.sha256(weights).hexdigest()
    head = httpx2.head(f"{hub.url}/org/m/resolve/main/model.safetensors")
    assert head.status_code == 302
    location = head.headers["Location"]
    assert location.startswith(hub.cdn_url + "/") and hub.cdn_url != hub.url
    assert head.headers["X-Linked-Etag"] == f'"{sha256}"'
    assert head.headers["X-Linked-Size"] == str(len(weights))
    assert head.headers["X-Repo-Commit"] == repo.sha
    assert head.headers["ETag"] not in ("", head.headers["X-Linked-Etag"])  # the pointer's
    # The CDN serves the bytes, with ranges; HEAD too.
    assert httpx2.get(location).content == weights
    part = httpx2.get(location, headers={"Range": "bytes=8-"})
    assert part.status_code == 206 and part.content == weights[8:]
    assert part.headers["Content-Range"] == f"bytes 8-{len(weights) - 1}/{len(weights)}"
    cdn_head = httpx2.head(location)
    assert cdn_head.status_code == 200 and cdn_head.headers["Content-Length"] == str(len(weights))
    assert "X-Repo-Commit" not in cdn_head.headers
    assert httpx2.get(location.replace(sha256, "0" * 64)).status_code == 403
    assert safetensors_params(weights) == {"F32": 7}

    # The real client follows: one HEAD on the hub, one GET on the CDN.
    hub.reset_counts()
    path = _download(hub, "org/m", "model.safetensors", tmp_path)
    assert path.read_bytes() == weights
    assert hub.counts == {"HEAD /{repo}/resolve": 1, "GET cdn": 1}
    assert hub.per_repo("GET cdn") == {"org/m": 1}
    # The same by commit sha: LFS files are always on the CDN.
    sha_path = _download(hub, "org/m", "model.safetensors", tmp_path / "b", revision=repo.sha)
    assert sha_path.read_bytes() == weights and hub.counts["GET cdn"] == 2
    assert hub.counts["GET /{repo}/resolve"] == 0


def test_small_files_redirect_through_the_resolve_cache(hub: FakeHub, tmp_path: Path) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    config = repo.files["config.json"]
    blob = hashlib.sha1(b"blob %d\0" % len(config) + config).hexdigest()
    cache = f"/api/resolve-cache/models/org/m/{repo.sha}/config.json"
    for revision in ("main", repo.sha):  # a pinned sha redirects too
        head = httpx2.head(f"{hub.url}/org/m/resolve/{revision}/config.json")
        assert head.status_code == 307, revision
        assert head.headers["Location"].startswith(cache + "?")  # relative, same host
        cached = httpx2.head(hub.url + head.headers["Location"])
        assert cached.status_code == 200 and cached.headers["X-Repo-Commit"] == repo.sha
        assert cached.headers["ETag"] == f'"{blob}"' and "X-Linked-Etag" not in cached.headers
        assert cached.headers["RateLimit"].startswith('"resolvers"')
    assert httpx2.get(hub.url + cache).content == config
    # The cache answers only by commit sha, and keeps the access rules.
    assert httpx2.get(f"{hub.url}/api/resolve-cache/models/org/m/main/config.json"
                      ).status_code == 404  # fmt: skip
    assert httpx2.get(hub.url + cache.replace("config.json", "nope.json")).status_code == 404

    hub.reset_counts()
    assert _download(hub, "org/m", "config.json", tmp_path).read_bytes() == config
    assert hub.counts == {"HEAD /{repo}/resolve": 1,
                          "HEAD /api/resolve-cache/models/{repo}": 1,
                          "GET /api/resolve-cache/models/{repo}": 1}  # fmt: skip
    assert hub.bucket_counts == {"resolvers": 3}
    assert hub.log[-1][0] == "GET" and hub.log[-1][1].startswith(cache)
    # The door's way, a GET that follows: two resolver hits.
    hub.reset_counts()
    assert httpx2.get(f"{hub.url}/org/m/resolve/{repo.sha}/config.json",
                      follow_redirects=True).content == config  # fmt: skip
    assert hub.bucket_counts == {"resolvers": 2}
    # An old commit still serves its own bytes.
    first = repo.sha
    assert hub.commit("org/m", {"config.json": b'{"model_type": "bert", "v": 2}'}) != first
    old = _download(hub, "org/m", "config.json", tmp_path / "old", revision=first)
    assert old.read_bytes() == config
    assert _download(hub, "org/m", "config.json", tmp_path / "new").read_bytes().endswith(b"2}")
    # Datasets likewise.
    data = hub.add_dataset("org/d", {"README.md": b"# d"})
    head = httpx2.head(f"{hub.url}/datasets/org/d/resolve/main/README.md")
    assert head.headers["Location"].startswith(f"/api/resolve-cache/datasets/org/d/{data.sha}/")
    got = hf_hub_download("org/d", "README.md", repo_type="dataset", cache_dir=tmp_path / "d",
                          endpoint=hub.url, token=False)  # fmt: skip
    assert Path(got).read_bytes() == b"# d"


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
    # config, tokenizer files: a HEAD on the resolver, the GET from the resolve cache
    assert hub.counts["GET /api/resolve-cache/models/{repo}"] >= 2
    assert hub.counts["GET cdn"] == 1  # the weights
    bert = register(hub, "org/bert", tiny_files["bert"], model_type="bert")
    assert (
        AutoTokenizer.from_pretrained("org/bert", revision=bert.sha, cache_dir=tmp_path)(
            "Hello world"
        )["input_ids"][0]
        == 2
    )  # [CLS]


def test_rate_limits_on_every_route(hub: FakeHub, tmp_path: Path, no_sleep: None) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    hub.add_dataset("org/d", {"train.parquet": b"PAR1 rows PAR1", "README.md": b"# d"})
    cdn = httpx2.head(f"{hub.url}/org/m/resolve/main/model.safetensors").headers["Location"]
    requests = {
        "GET /api/models": ("GET", f"{hub.url}/api/models"),
        "GET /api/models/{repo}": ("GET", f"{hub.url}/api/models/org/m"),
        "GET /api/models/{repo}/tree": ("GET", f"{hub.url}/api/models/org/m/tree/main"),
        "POST /api/models/{repo}/paths-info": ("POST",
                                               f"{hub.url}/api/models/org/m/paths-info/main"),
        "HEAD /{repo}/resolve": ("HEAD", f"{hub.url}/org/m/resolve/main/config.json"),
        "GET /{repo}/resolve": ("GET", f"{hub.url}/org/m/resolve/{repo.sha}/config.json"),
        "GET /api/resolve-cache/models/{repo}": (
            "GET", f"{hub.url}/api/resolve-cache/models/org/m/{repo.sha}/config.json"),
        "GET /api/datasets": ("GET", f"{hub.url}/api/datasets"),
        "GET /api/datasets/{repo}": ("GET", f"{hub.url}/api/datasets/org/d"),
        "HEAD /datasets/{repo}/resolve": ("HEAD",
                                          f"{hub.url}/datasets/org/d/resolve/main/README.md"),
        "GET /datasets/{repo}/resolve": ("GET",
                                         f"{hub.url}/datasets/org/d/resolve/main/README.md"),
        "GET cdn": ("GET", cdn),
        "HEAD cdn": ("HEAD", cdn),
    }  # fmt: skip
    for route, (method, url) in requests.items():
        hub.reset_counts()
        fault = hub.fail(429, route=route, retry_after=7)
        limited = httpx2.request(method, url)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7", route
        if route.endswith("cdn"):
            assert "X-Error-Code" not in limited.headers
        else:
            assert limited.headers["RateLimit"].endswith("r=0;t=7"), route
        assert httpx2.request(method, url).status_code in (200, 302, 307), route
        assert fault.fired == 1 and hub.counts[route] == 2, route

    # huggingface_hub's downloads back off and retry, on the hub and on the CDN alike.
    hub.reset_counts()
    hub.fail(429, route="GET cdn", retry_after=0)
    hub.fail(429, route="HEAD /{repo}/resolve", retry_after=0)
    weights = _download(hub, "org/m", "model.safetensors", tmp_path).read_bytes()
    assert weights == repo.files["model.safetensors"]
    assert hub.counts == {"HEAD /{repo}/resolve": 2, "GET cdn": 2}


def test_faults(hub: FakeHub, tmp_path: Path, no_sleep: None) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    weights = repo.files["model.safetensors"]
    # A missing file.
    hub.fail(404, repo="org/m", path="config.json")
    with pytest.raises(EntryNotFoundError):
        _download(hub, "org/m", "config.json", tmp_path / "a")
    # A download cut short once (on the CDN) is resumed with a Range request.
    hub.truncate("org/m", "model.safetensors", times=1)
    assert _download(hub, "org/m", "model.safetensors", tmp_path / "b").read_bytes() == weights
    assert hub.counts["GET cdn"] == 2
    hub.truncate("org/m", "config.json", times=1)  # a small file, served by the resolver
    assert _download(hub, "org/m", "config.json", tmp_path / "c").read_bytes() == repo.files[
        "config.json"]  # fmt: skip
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
    assert hub.counts["GET cdn"] > 1  # it did retry, on the CDN
    assert hub.counts["GET /{repo}/resolve"] == 0


def test_corrupt_bytes_keep_the_length_and_the_true_sha256(hub: FakeHub, tmp_path: Path) -> None:
    weights = _safetensors([float(i) for i in range(64)])
    pickle = b"PK\x03\x04" + bytes(range(256)) * 2
    repo = register(hub, "org/m", {"config.json": b'{"model_type": "bert"}',
                                   "model.safetensors": weights, "pytorch_model.bin": pickle},
                    model_type="bert")  # fmt: skip
    true = hashlib.sha256(weights).hexdigest()
    hub.corrupt_bytes("org/m", "model.safetensors")
    # The metadata (HEAD, tree) still names the true content while the CDN serves other bytes.
    url = hf_hub_url("org/m", "model.safetensors", endpoint=hub.url)
    assert get_hf_file_metadata(url, token=False).etag == true
    (entry,) = _api(hub).get_paths_info("org/m", ["model.safetensors"])
    assert entry.lfs.sha256 == true
    got = _download(hub, "org/m", "model.safetensors", tmp_path / "a").read_bytes()
    assert len(got) == len(weights) and got != weights
    assert hashlib.sha256(got).hexdigest() != true
    (n,) = struct.unpack("<Q", weights[:8])
    assert got[: 8 + n] == weights[: 8 + n]  # the header is intact: the file still loads
    assert safetensors_params(got) == safetensors_params(weights) == {"F32": 64}
    # After `times`, the true bytes.
    again = _download(hub, "org/m", "model.safetensors", tmp_path / "b", force_download=True)
    assert again.read_bytes() == weights and hub.counts["GET cdn"] == 2
    # A pickle: changed in the middle, same length, same ends.
    hub.corrupt_bytes("org/m", "pytorch_model.bin", times=1)
    bad = _download(hub, "org/m", "pytorch_model.bin", tmp_path / "c").read_bytes()
    assert len(bad) == len(pickle) and bad != pickle
    assert bad[:64] == pickle[:64] and bad[-64:] == pickle[-64:]
    assert repo.files["pytorch_model.bin"] == pickle  # the repo itself is unchanged


def test_dropped_connections(hub: FakeHub, tmp_path: Path, no_sleep: None) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    hub.drop(route="HEAD /{repo}/resolve", repo="org/m")
    # A HEAD dropped surfaces as a raw httpx error, not an HfHubHTTPError.
    with pytest.raises(httpx2.RemoteProtocolError) as err:
        _download(hub, "org/m", "config.json", tmp_path)
    assert not isinstance(err.value, HfHubHTTPError)
    assert hub.log[-1] == ("HEAD", "/org/m/resolve/main/config.json", 0)
    assert _download(hub, "org/m", "config.json", tmp_path).read_bytes() == repo.files[
        "config.json"]  # fmt: skip
    # model_info does not retry; the paginated listing does.
    hub.drop(route="GET /api/models/{repo}")
    with pytest.raises(httpx2.RemoteProtocolError):
        _api(hub).model_info("org/m")
    hub.reset_counts()
    fault = hub.drop(route="GET /api/models")
    assert [m.id for m in _api(hub).list_models()] == ["org/m"]
    assert fault.fired == 1 and hub.counts["GET /api/models"] == 2
    # A drop on the CDN.
    hub.drop(route="GET cdn", times=None)
    with pytest.raises(httpx2.HTTPError):
        _download(hub, "org/m", "model.safetensors", tmp_path / "b")


def test_a_stall_that_never_answers_does_not_block_shutdown() -> None:
    own = FakeHub().start()
    register(own, "org/m", fake_model(TINY_BERT), model_type="bert")
    url = f"{own.url}/api/models/org/m"
    own.stall(route="GET /api/models/{repo}", times=None)  # forever
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.get(url, timeout=0.5)

    outcomes: list[BaseException | int] = []

    def waiting() -> None:
        try:
            outcomes.append(httpx2.get(url, timeout=30).status_code)
        except httpx2.HTTPError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=waiting) for _ in range(2)]
    threads[0].start()
    time.sleep(0.2)
    own.clear_faults()  # releases the stalled request: closed unanswered
    threads[0].join(5)
    assert not threads[0].is_alive() and isinstance(outcomes[0], httpx2.RemoteProtocolError)
    own.stall(route="GET /api/models/{repo}", times=None)
    threads[1].start()
    time.sleep(0.2)
    start = time.monotonic()
    own.stop()
    assert time.monotonic() - start < 3
    threads[1].join(5)
    assert not threads[1].is_alive() and isinstance(outcomes[1], httpx2.HTTPError)


def test_renamed_repos_redirect(hub: FakeHub, tmp_path: Path) -> None:
    repo = register(hub, "old/name", fake_model(TINY_BERT), model_type="bert", base_id="b/base")
    sha = repo.sha
    hub.rename("old/name", "new/name")
    assert [m.id for m in _api(hub).list_models()] == ["new/name"]
    moved = httpx2.get(f"{hub.url}/api/models/old/name?expand=sha")
    assert moved.status_code == 307
    assert moved.headers["Location"] == "/api/models/new/name?expand=sha"
    tree = httpx2.get(f"{hub.url}/api/models/old/name/tree/main")
    assert tree.headers["Location"] == "/api/models/new/name/tree/main"
    resolve = httpx2.head(f"{hub.url}/old/name/resolve/main/config.json")
    assert resolve.status_code == 307
    assert resolve.headers["Location"] == "/new/name/resolve/main/config.json"
    # The real client follows.
    info = _api(hub).model_info("old/name")
    assert info.id == "new/name" and info.sha == sha
    assert [f.path for f in _api(hub).list_repo_tree("old/name")] == ["config.json",
                                                                      "model.safetensors"]  # fmt: skip
    for name in ("config.json", "model.safetensors"):
        assert _download(hub, "old/name", name, tmp_path).read_bytes() == repo.files[name]
    # Counted under the id asked for: the raw GET and model_info's first hop, then its second.
    assert hub.per_repo("GET /api/models/{repo}") == {"old/name": 2, "new/name": 1}
    # Renamed again: the first id goes straight to the latest; a new repo may take an old id.
    hub.rename("new/name", "newer/name")
    assert httpx2.head(f"{hub.url}/old/name/resolve/main/config.json").headers["Location"] == (
        "/newer/name/resolve/main/config.json")  # fmt: skip
    register(hub, "old/name", fake_model(TINY_BERT), model_type="bert")
    assert httpx2.get(f"{hub.url}/api/models/old/name").status_code == 200
    assert {m.id for m in _api(hub).list_models()} == {"old/name", "newer/name"}
    # A renamed private repo stays hidden from anonymous requests.
    register(hub, "me/secret", fake_model(TINY_BERT), model_type="bert", private=True,
             readers=frozenset({"hf_me"}))  # fmt: skip
    hub.rename("me/secret", "me/hidden")
    assert httpx2.get(f"{hub.url}/api/models/me/secret").status_code == 401
    hub.add_token("hf_me")
    authorized = httpx2.get(f"{hub.url}/api/models/me/secret",
                            headers={"Authorization": "Bearer hf_me"})  # fmt: skip
    assert authorized.status_code == 307


def test_listing_fields_served_raw(hub: FakeHub) -> None:
    register(hub, "org/bad", fake_model(TINY_BERT), model_type="bert")
    register(hub, "org/good", fake_model(TINY_BERT), model_type="bert", downloads=3)
    wrong = {"downloads": "lots", "lastModified": "yesterday", "cardData": "a string",
             "safetensors": {"total": "many"}, "sha": "../../../../outside"}  # fmt: skip
    for name, value in wrong.items():
        hub.set_listing_field("org/bad", name, value)
    params = [("expand[]", name) for name in wrong]
    rows = {r["id"]: r for r in httpx2.get(f"{hub.url}/api/models", params=params).json()}
    assert {k: rows["org/bad"][k] for k in wrong} == wrong
    assert rows["org/good"]["downloads"] == 3 and rows["org/good"]["sha"] == hub.model(
        "org/good").sha  # fmt: skip
    info = httpx2.get(f"{hub.url}/api/models/org/bad").json()
    assert {k: info[k] for k in wrong} == wrong
    # Only when asked for: a listing without `sha` has none.
    (plain,) = [r for r in httpx2.get(f"{hub.url}/api/models").json() if r["id"] == "org/bad"]
    assert plain["downloads"] == "lots" and "sha" not in plain
    hub.clear_faults()
    info = httpx2.get(f"{hub.url}/api/models/org/bad").json()
    assert info["downloads"] == 0 and info["sha"] == hub.model("org/bad").sha


def test_reset_forgets_renames_overrides_and_blobs(hub: FakeHub) -> None:
    register(hub, "a/m", fake_model(TINY_BERT), model_type="bert")
    cdn = httpx2.head(f"{hub.url}/a/m/resolve/main/model.safetensors").headers["Location"]
    hub.rename("a/m", "b/m")
    hub.set_listing_field("b/m", "downloads", "lots")
    hub.stall(route="GET /api/models")
    hub.reset()
    assert hub.renames == {} and hub.listing_overrides == {} and hub.faults == []
    assert httpx2.get(f"{hub.url}/api/models/a/m").status_code == 401  # gone, not moved
    assert httpx2.get(cdn).status_code == 403
    register(hub, "b/m", fake_model(TINY_BERT), model_type="bert")
    assert httpx2.get(f"{hub.url}/api/models/b/m", timeout=5).json()["downloads"] == 0
    # Tokens added and quotas changed are forgotten, and the windows open afresh.
    hub.add_token("hf_t")
    hub.quota = Quota(api=1, resolvers=1, pages=1, window=60)
    assert httpx2.get(f"{hub.url}/api/models/b/m").status_code == 429  # the window's spent
    hub.reset()
    assert hub.quota == ANONYMOUS and hub.bucket_counts == {} and hub.rate_limited == 0
    fresh = httpx2.get(f"{hub.url}/api/models", headers={"Authorization": "Bearer hf_t"})
    assert fresh.status_code == 401
    assert _limit(fresh)[1] == ANONYMOUS.api - 1  # counted as the IP's, in a new window


def test_dataset_files(hub: FakeHub, tmp_path: Path) -> None:
    rows = b"".join(json.dumps({"text": t, "label": i % 2}).encode() + b"\n"
                    for i, t in enumerate(["good", "bad", "fine"]))  # fmt: skip
    parquet = b"PAR1" + bytes(100) + b"PAR1"
    ds = hub.add_dataset("probe/sst2-mini", {"train.jsonl": rows, "README.md": b"# probe",
                                             "data/train.parquet": parquet})  # fmt: skip
    path = hf_hub_download("probe/sst2-mini", "train.jsonl", repo_type="dataset",
                           cache_dir=tmp_path, endpoint=hub.url, token=False)  # fmt: skip
    assert Path(path).read_bytes() == rows
    info = _api(hub).dataset_info("probe/sst2-mini")
    assert info.sha == ds.sha and {s.rfilename for s in info.siblings} == {
        "train.jsonl", "README.md", "data/train.parquet"}  # fmt: skip
    # main: 307 to the resolve cache, where the HEAD and the GET land
    assert hub.counts["HEAD /datasets/{repo}/resolve"] == 1
    assert hub.counts["HEAD /api/resolve-cache/datasets/{repo}"] == 1
    assert hub.counts["GET /api/resolve-cache/datasets/{repo}"] == 1
    # Parquet is LFS: a 302 to the CDN.
    got = hf_hub_download("probe/sst2-mini", "data/train.parquet", repo_type="dataset",
                          cache_dir=tmp_path, endpoint=hub.url, token=False)  # fmt: skip
    assert Path(got).read_bytes() == parquet
    assert hub.counts["HEAD /datasets/{repo}/resolve"] == 2 and hub.counts["GET cdn"] == 1
    assert hub.per_repo("GET cdn") == {"probe/sst2-mini": 1}
    head = httpx2.head(f"{hub.url}/datasets/probe/sst2-mini/resolve/main/data/train.parquet")
    assert head.status_code == 302 and head.headers["X-Linked-Size"] == str(len(parquet))
    tree = {f.path: f for f in _api(hub).list_repo_tree("probe/sst2-mini", repo_type="dataset",
                                                        recursive=True)}  # fmt: skip
    assert tree["data/train.parquet"].lfs.sha256 == hashlib.sha256(parquet).hexdigest()


def test_tiny_t5_and_deberta_are_served_and_loaded(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModel, AutoTokenizer

    from ranker.testing.models import TINY_DEBERTA, TINY_T5, tiny_model

    register(hub, "old/t5-ft", tiny_model("t5", head="classification"), model_type="t5")
    register(hub, "org/deberta-ft", tiny_model("deberta-v2", head="classification"),
             model_type="deberta-v2", base_id=TINY_DEBERTA.base_id)  # fmt: skip
    # The listing gives the type and lineage, never the dimensions: those are in config.json.
    rows = {m.id: m for m in _api(hub).list_models(expand=["config", "tags"])}
    assert rows["old/t5-ft"].config["model_type"] == "t5"
    assert not DIMENSION_KEYS & set(rows["old/t5-ft"].config)
    assert f"base_model:finetune:{TINY_DEBERTA.base_id}" in rows["org/deberta-ft"].tags
    config = json.loads(_download(hub, "old/t5-ft", "config.json", tmp_path).read_text())
    assert (config["d_model"], config["d_ff"]) == (TINY_T5.hidden_size, TINY_T5.intermediate_size)

    hub.patch_endpoint(monkeypatch)
    for repo in ("old/t5-ft", "org/deberta-ft"):
        tokenizer = AutoTokenizer.from_pretrained(repo, cache_dir=tmp_path / "cache")
        model = AutoModel.from_pretrained(repo, cache_dir=tmp_path / "cache")
        batch = tokenizer(["a good movie"], return_tensors="pt")
        body = model.encoder if repo == "old/t5-ft" else model
        assert body(**batch).last_hidden_state.shape[-1] == 32
    assert hub.per_repo("GET cdn") == {"old/t5-ft": 1, "org/deberta-ft": 1}


# -- quotas (hub-contract.md, "Rate limits") -------------------------------------------------

QUICK = Quota(api=3, resolvers=4, pages=2, window=1.0)


def _frozen(hub: FakeHub) -> list[float]:
    """Run the hub's rate-limit windows on a clock the test moves (`clock[0] += seconds`), so
    a slow machine cannot close a window between two requests."""
    clock = [0.0]
    hub.limiter = Limiter(clock=lambda: clock[0])
    return clock


def _limit(response: httpx2.Response) -> tuple[str, int, int]:
    """(bucket, remaining, reset) from a RateLimit header."""
    bucket, remaining, reset = response.headers["RateLimit"].split(";")
    return bucket.strip('"'), int(remaining[2:]), int(reset[2:])


def test_every_answer_carries_its_buckets_rate_limit(hub: FakeHub) -> None:
    repo = register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    cases = {
        "/api/models": "api",
        "/api/models/org/m": "api",
        "/api/models/org/m/tree/main": "api",
        "/api/models/no/such": "api",  # errors too
        "/org/m/resolve/main/config.json": "resolvers",
        "/org/m/resolve/main/model.safetensors": "resolvers",
        f"/api/resolve-cache/models/org/m/{repo.sha}/config.json": "resolvers",
        "/org/m": "pages",  # no such route here: still counted, still told
    }
    for n, (path, bucket) in enumerate(cases.items(), start=1):
        response = httpx2.get(hub.url + path)
        name, remaining, reset = _limit(response)
        quota = getattr(ANONYMOUS, bucket)
        assert name == bucket and 0 < reset <= 300, path
        assert remaining == quota - hub.bucket_counts[bucket], path
        policy = f'"fixed window";"{bucket}";q={quota};w=300'
        assert response.headers["RateLimit-Policy"] == policy, path
        assert sum(hub.bucket_counts.values()) == n
    # The CDN is not counted in the hub's buckets.
    cdn = httpx2.head(hub.url + "/org/m/resolve/main/model.safetensors").headers["Location"]
    before = dict(hub.bucket_counts)
    assert "RateLimit" not in httpx2.get(cdn).headers
    assert hub.bucket_counts == before


def test_a_quota_spent_answers_429_until_its_window_resets() -> None:
    with FakeHub(quota=QUICK) as hub:
        clock = _frozen(hub)
        register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
        info = f"{hub.url}/api/models/org/m"
        answers = [httpx2.get(info) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert [_limit(a)[1] for a in answers] == [2, 1, 0, 0, 0]
        limited = answers[-1]
        assert "Retry-After" not in limited.headers  # undocumented: not sent
        assert "X-Error-Code" not in limited.headers
        assert hub.rate_limited == 2 and hub.bucket_counts == {"api": 5}
        with pytest.raises(HfHubHTTPError) as err:
            hf_raise_for_status(limited)
        assert "rate limit" in str(err.value)  # huggingface_hub read the headers as the reason
        # Other buckets have their own quota.
        assert httpx2.head(f"{hub.url}/org/m/resolve/main/config.json").status_code == 307
        # Fixed windows: after `t` seconds the quota is whole again, not before.
        assert _limit(limited)[2] == 1
        clock[0] += 0.9
        assert httpx2.get(info).status_code == 429
        clock[0] += 0.1
        fresh = httpx2.get(info)
        assert fresh.status_code == 200 and _limit(fresh)[1] == QUICK.api - 1


def test_quotas_per_token_and_per_ip() -> None:
    pro = Quota(api=5, resolvers=4, pages=2, window=60)
    with FakeHub(quota=QUICK, token_quota=Quota(api=4, resolvers=4, pages=2, window=60),
                 tokens={"hf_a": QUICK, "hf_pro": pro}) as hub:  # fmt: skip
        _frozen(hub)
        hub.add_token("hf_b")  # the default token quota
        register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
        url = f"{hub.url}/api/models/org/m"

        def statuses(token: str | None, n: int) -> list[int]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return [httpx2.get(url, headers=headers).status_code for _ in range(n)]

        assert statuses(None, 4) == [200, 200, 200, 429]  # anonymous: the IP's quota
        assert statuses("hf_a", 4) == [200, 200, 200, 429]  # a token's own quota...
        assert statuses("hf_a", 1) == [429]  # ...shared by every job that uses it
        assert statuses("hf_b", 5) == [200] * 4 + [429]
        assert statuses("hf_pro", 6) == [200] * 5 + [429]
        assert statuses("hf_nobody", 1) == [401]  # never a token's quota
        assert hub.rate_limited == 5
        hub.quota = None  # no limits, no headers (tokens are still checked)
        answers = [httpx2.get(url) for _ in range(QUICK.api + 1)]
        assert {a.status_code for a in answers} == {200}
        assert "RateLimit" not in answers[0].headers
        assert statuses("hf_nobody", 1) == [401]
    with pytest.raises(ValueError, match="window"):
        Quota(api=1, resolvers=1, pages=1, window=0)


def test_retry_after_only_when_asked_for() -> None:
    with FakeHub(quota=QUICK, retry_after=True) as hub:
        _frozen(hub)
        for _ in range(QUICK.api):
            httpx2.get(f"{hub.url}/api/models")
        limited = httpx2.get(f"{hub.url}/api/models")
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == str(_limit(limited)[2])


def test_trees_paginate(hub: FakeHub) -> None:
    files = {f"data/{i:04d}.json": b"{}" for i in range(1001)}
    hub.add_model("org/many", {"config.json": b"{}", **files})
    first = httpx2.get(f"{hub.url}/api/models/org/many/tree/main?recursive=true")
    assert len(first.json()) == 1000 and 'rel="next"' in first.headers["Link"]
    expanded = httpx2.get(f"{hub.url}/api/models/org/many/tree/main?recursive=true&expand=true")
    assert len(expanded.json()) == 50
    hub.reset_counts()
    tree = list(_api(hub).list_repo_tree("org/many", recursive=True))
    assert len(tree) == 1002 and hub.counts["GET /api/models/{repo}/tree"] == 2
    hub.reset_counts()
    tree = list(_api(hub).list_repo_tree("org/many", recursive=True, expand=True))
    assert len(tree) == 1002 and hub.counts["GET /api/models/{repo}/tree"] == 21
    bad = httpx2.get(f"{hub.url}/api/models/org/many/tree/main?cursor=zz")
    assert bad.status_code == 400


def test_an_unknown_expand_name_fails_the_request(hub: FakeHub) -> None:
    register(hub, "org/m", fake_model(TINY_BERT), model_type="bert")
    for path in ("/api/models", "/api/models/org/m"):
        bad = httpx2.get(hub.url + path, params=[("expand[]", "sha"), ("expand[]", "dims")])
        assert bad.status_code == 400 and "dims" in bad.headers["X-Error-Message"], path
        assert "X-Error-Code" not in bad.headers
        ok = httpx2.get(hub.url + path, params=[("expand[]", "sha"), ("expand[]", "config")])
        assert ok.status_code == 200, path
    with pytest.raises(HfHubHTTPError):
        _api(hub).model_info("org/m", expand=["sha", "dims"])  # type: ignore[list-item]
    hub.add_dataset("org/d", {"README.md": b"# d"})
    assert httpx2.get(hub.url + "/api/datasets/org/d?expand=config").status_code == 400


def test_xet_backed_files(hub: FakeHub, tmp_path: Path) -> None:
    files = fake_model(TINY_BERT, params=5)
    files["pytorch_model.bin"] = b"pickle bytes"
    repo = hub.add_model("org/x", files, xet={"model.safetensors"})  # per file
    weights = files["model.safetensors"]
    head = httpx2.head(f"{hub.url}/org/x/resolve/main/model.safetensors")
    assert head.status_code == 302 and len(head.headers["X-Xet-Hash"]) == 64
    assert head.headers["X-Xet-Hash"] != hashlib.sha256(weights).hexdigest()
    assert head.headers["X-Linked-Etag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
    assert "/xet-bridge/" in head.headers["Location"]
    assert "X-Xet-Hash" not in httpx2.head(f"{hub.url}/org/x/resolve/main/pytorch_model.bin"
                                           ).headers  # fmt: skip
    tree = {f.path: f for f in _api(hub).list_repo_tree("org/x")}
    assert tree["model.safetensors"].xet_hash == head.headers["X-Xet-Hash"]
    assert tree["model.safetensors"].lfs.sha256 == hashlib.sha256(weights).hexdigest()
    assert tree["pytorch_model.bin"].xet_hash is None
    assert _download(hub, "org/x", "model.safetensors", tmp_path).read_bytes() == weights
    every = hub.add_model("org/all", files, xet=True)
    raw = httpx2.get(f"{hub.url}/api/models/org/all/tree/{every.sha}").json()
    assert {e["path"] for e in raw if "xetHash" in e} == {"model.safetensors",
                                                          "pytorch_model.bin"}  # fmt: skip
    assert repo.is_xet("model.safetensors") and not repo.is_xet("config.json")
